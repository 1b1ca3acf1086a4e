"""Memory of ``python -m artrack_jax.track`` over a long video: it should stay flat.

Writes a long video of tiny frames (default 3000 frames of 48 x 64, H.264), then tracks it the
way the command does (``track.run``: decoding, the networks, the tracker, rendering into the
mp4) with the tiny random-weight SpatialNet + TemporalNet of ``tests/tiny_networks.py`` (no
training needed; the memory the loop holds does not depend on the weights). The process's
resident memory (RSS, from /proc/self/statm) is sampled every ``--every`` frames; printed: the
RSS after the first sample (compiled functions and buffers in place), at the end, and the
largest, with the growth per 1000 frames. No timings: the machine is shared.

The JSON is written frame by frame (``formats.PoseTrack18Writer`` spools to anonymous
temporary files), so nothing kept in memory grows with the video; the tracker keeps only its
active and recently lost tracks.

Run:  python benchmarks/bench_track_memory.py [--frames 3000] [--out /tmp/bench_track_memory]
"""
from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests'))

import tiny_networks  # pylint: disable=g-import-not-at-top,wrong-import-position

from artrack_jax import machine  # pylint: disable=wrong-import-position
from artrack_jax import configs_util  # pylint: disable=wrong-import-position
from artrack_jax import inference  # pylint: disable=wrong-import-position
from artrack_jax import track  # pylint: disable=wrong-import-position
from artrack_jax import video_io  # pylint: disable=wrong-import-position


def rss_mib() -> float:
  with open('/proc/self/statm', encoding='ascii') as f:
    return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def moving_frames(n: int, h: int = 48, w: int = 64):
  """Frames with two bright blobs moving across a gradient (something for the heatmaps)."""
  yy, xx = np.mgrid[0:h, 0:w]
  for i in range(n):
    frame = np.stack([(xx * 3 + i) % 256, (yy * 4) % 256, np.full_like(xx, 60)], -1)
    for cx in ((i * 0.7) % w, w - (i * 0.5) % w):
      frame[(xx - cx) ** 2 + (yy - h / 2) ** 2 < 30] = 230
    yield frame.astype(np.uint8)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--frames', type=int, default=3000)
  parser.add_argument('--every', type=int, default=250, help='RSS sample interval (frames)')
  parser.add_argument('--out', default=None, help='working folder (default: a temporary one)')
  args = parser.parse_args(argv)
  work = args.out or tempfile.mkdtemp(prefix='bench_track_memory_')
  os.makedirs(work, exist_ok=True)
  config_path = tiny_networks.write_config(__import__('pathlib').Path(work) / 'tiny.py')
  config = configs_util.load_config(config_path)
  spatial, temporal = tiny_networks.random_variables(config)
  predictor = inference.FramePredictor(inference.Networks(config, spatial, temporal), config)
  video = os.path.join(work, 'long.mp4')
  if not os.path.exists(video):
    video_io.write_video(video, moving_frames(args.frames), fps=25)
  samples = []

  def infer(frame):
    result = predictor.observe(frame)
    if len(samples) * args.every <= infer.count:
      samples.append((infer.count, rss_mib()))
    infer.count += 1
    return result
  infer.count = 0

  track_args = track.build_parser().parse_args(
      ['--video', video, '--out', os.path.join(work, 'out'), '--overwrite'])
  # As the command runs it: the JSON streamed to disk, no frame kept in memory.
  tracked = track.run(track_args, infer_fn=infer, config=config, keep_frames=False)
  samples.append((infer.count, rss_mib()))
  start, end = samples[1] if len(samples) > 2 else samples[0], samples[-1]
  print(f'{tracked.frames} frames, {len(tracked.track_ids)} tracks; RSS MiB by frame: ' +
        ', '.join(f'{k}: {m:.0f}' for k, m in samples))
  growth = (end[1] - start[1]) / max(end[0] - start[0], 1) * 1000
  print(f'RSS at frame {start[0]}: {start[1]:.1f} MiB, at the end (frame {end[0]}): '
        f'{end[1]:.1f} MiB, largest sample {max(m for _, m in samples):.1f} MiB; '
        f'{growth:+.2f} MiB per 1000 frames')
  return 0


if __name__ == '__main__':
  with machine.LoadMonitor():
    status = main()
  sys.exit(status)
