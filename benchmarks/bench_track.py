"""Frames per second of tracking and its per-frame split, for each back end, side by side.

Back ends: ``jax`` (the in-process ``inference.Networks``), ``exported`` (the ``jax.export``
functions of ``python -m artrack_jax.export``, ``exported.ExportedNetworks``) and ``onnx``
(``exported.OnnxNetworks``; only where jax2onnx and onnxruntime are installed). Each runs the
same ``FramePredictor`` and ``Tracker`` over the same frames; per frame it reports the network
time (SpatialNet with the flip test, TemporalNet's TIE, HE), decoding, and the tracker.

The networks are the tiny random-weight SpatialNet + TemporalNet of ``tests/tiny_networks.py``
(or ``--config`` for another model size, still random weights): with ``decode.det_threshold``
at -1e9 every frame decodes exactly ``decode.max_people`` poses, so 1, 5 and 10 people are
set by ``max_people``. The first ``--warmup`` frames (compilation) are not timed.

Run:  python benchmarks/bench_track.py [--frames 50] [--people 1 5 10] [--backends jax exported]
The machine's other load changes the figures: compare back ends within one run only.

``--end-to-end`` times the whole ``track`` command's work instead (``track.run``: read an mp4,
networks, decoding, HE/TIE, tracker, write the PoseTrack JSON and the rendered mp4), at the
quick start's model size (``--config``, default ``artrack_jax/configs/quickstart.py``; random
weights, every frame decoding ``max_people`` poses) and at each ``--sizes`` input side, on a
synthetic val clip rendered at that side. Per frame: read (video decoding), prepare (the
predictor's resizing, normalising and copies), network (SpatialNet
+ flip test + PGG, TemporalNet's TIE, HE), decode, tracker, write (JSON, drawing, encoding) and
what is left (the loop itself); frames/s over the whole run after a warm-up run
(compilation). The paper's Fig. 6(b) split: CNN on a GTX-1060, grouping and tracking on one
CPU core.

  python benchmarks/bench_track.py --end-to-end [--sizes 256 512] [--people 1 5 10]
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import pathlib
import statistics
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests'))

import tiny_networks  # pylint: disable=g-import-not-at-top,wrong-import-position

from artrack_jax import machine  # pylint: disable=wrong-import-position
from artrack_jax import configs_util  # pylint: disable=wrong-import-position
from artrack_jax import export  # pylint: disable=wrong-import-position
from artrack_jax import exported  # pylint: disable=wrong-import-position
from artrack_jax import inference  # pylint: disable=wrong-import-position
from artrack_jax import skeletons  # pylint: disable=wrong-import-position
from artrack_jax.tracking.tracker import Tracker  # pylint: disable=wrong-import-position


def _frames(n: int, h: int = 96, w: int = 128) -> list[np.ndarray]:
  rng = np.random.default_rng(0)
  return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def _split(seconds: dict[str, float]) -> dict[str, float]:
  network = sum(v for k, v in seconds.items()
                if k in ('spatialnet', 'temporalnet_tie') or k.startswith(('he_', 'pgg_')))
  decode = sum(v for k, v in seconds.items() if k.startswith('decode_'))
  return {'network': network, 'decode': decode}


def run_backend(networks, config, frames, warmup: int) -> dict[str, float]:
  """Median per-frame seconds: network, decode, tracker, and frames/s over the timed frames."""
  predictor = inference.FramePredictor(networks, config)
  tracker = Tracker(config.track, skeletons.get(config.data.skeleton))
  rows, start, poses = [], None, []
  for index, frame in enumerate(frames):
    if index == warmup:
      start = time.perf_counter()
    outputs = predictor(frame)
    t = time.perf_counter()
    observations = outputs.observations[predictor.tracked[0].name]
    tracker.update(observations, index)
    poses.append(len(observations.observations))
    row = _split(outputs.seconds)
    row['tracker'] = time.perf_counter() - t
    if index >= warmup:
      rows.append(row)
  total = time.perf_counter() - start
  out = {k: statistics.median(r[k] for r in rows) for k in ('network', 'decode', 'tracker')}
  out['fps'] = len(rows) / total
  out['poses'] = float(np.mean(poses))
  return out


class _Timer:
  """Seconds spent inside wrapped callables, by part."""

  def __init__(self):
    self.seconds: dict[str, float] = {}

  def wrap(self, part: str, fn):
    def timed(*args, **kwargs):
      start = time.perf_counter()
      try:
        return fn(*args, **kwargs)
      finally:
        self.seconds[part] = self.seconds.get(part, 0.0) + time.perf_counter() - start
    return timed

  def wrap_iterator(self, part: str, fn):
    def timed(*args, **kwargs):
      iterator = iter(fn(*args, **kwargs))
      while True:
        start = time.perf_counter()
        try:
          item = next(iterator)
        except StopIteration:
          return
        finally:
          self.seconds[part] = self.seconds.get(part, 0.0) + time.perf_counter() - start
        yield item
    return timed


@contextlib.contextmanager
def _patched(timer: _Timer):
  """Times the tracker, the reading and the writing inside ``track.run``."""
  from artrack_jax import track  # pylint: disable=import-outside-toplevel
  from artrack_jax import video_io  # pylint: disable=import-outside-toplevel
  from artrack_jax.data import formats  # pylint: disable=import-outside-toplevel
  from artrack_jax.tracking import online  # pylint: disable=import-outside-toplevel
  saved = [(Tracker, 'update'), (formats.PoseTrack18Writer, 'add'),
           (formats.PoseTrack18Writer, 'close'), (track.draw, 'render_frame'),
           (video_io.VideoWriter, 'write'), (video_io.VideoWriter, 'close'),
           (video_io, 'read_frames')]
  originals = [getattr(owner, name) for owner, name in saved]
  parts = ['tracker'] + ['write'] * 5
  try:
    for (owner, name), fn, part in zip(saved[:-1], originals[:-1], parts):
      setattr(owner, name, timer.wrap(part, fn))
    video_io.read_frames = timer.wrap_iterator('read', originals[-1])
    assert online.Tracker is Tracker
    yield
  finally:
    for (owner, name), fn in zip(saved, originals):
      setattr(owner, name, fn)


def _every_pose(config, people: int) -> None:
  """Random weights, any config: every frame decodes and writes exactly ``people`` poses."""
  config.decode.max_people = people
  config.decode.det_threshold = -1e9
  config.decode.top_k = max(int(config.decode.top_k), people)   # candidates per joint
  config.decode.pose_nms = 0.0   # random weights: poses alike, keep them all
  config.decode.min_joints = 1
  config.track.min_pose_score = 0.0   # write every pose: the writer sees `people` poses
  config.track.min_joint_score = 0.0


def end_to_end(args) -> int:
  """Frames/s and per-frame split of ``track.run`` (see the module docstring)."""
  from artrack_jax import track  # pylint: disable=import-outside-toplevel
  from artrack_jax import video_io  # pylint: disable=import-outside-toplevel
  from artrack_jax.data import synthetic  # pylint: disable=import-outside-toplevel
  work = pathlib.Path(tempfile.mkdtemp(prefix='bench_track_e2e_'))
  config_path = args.config or os.path.join(os.path.dirname(inference.__file__), 'configs',
                                            'quickstart.py')
  print(f'end to end (track.run): config {config_path}, random weights; {args.frames} timed '
        f'frames after a {args.warmup}-frame warm-up run; ms per frame, frames/s')
  print(f'{"size":>5} {"people":>6} {"poses":>6} {"read":>6} {"prepare":>8} {"network":>8} '
        f'{"decode":>7} '
        f'{"tracker":>8} {"write":>6} {"other":>6} {"total":>7} {"fps":>6}')
  for size in args.sizes:
    _, images = next(synthetic.generate_split('val', 1, args.frames, size))
    video = work / f'clip_{size}.mp4'
    video_io.write_video(video, images, fps=10)
    warm = work / f'warm_{size}.mp4'
    video_io.write_video(warm, images[:args.warmup], fps=10)
    for people in args.people:
      config = configs_util.load_config(config_path)
      config.data.image_size = size
      _every_pose(config, people)
      spatial, temporal = tiny_networks.random_variables(config)
      predictor = inference.FramePredictor(inference.Networks(config, spatial, temporal), config)
      network = {'network': 0.0, 'decode': 0.0, 'call': 0.0}
      poses = []

      def infer(frame, predictor=predictor, network=network, poses=poses):
        start = time.perf_counter()
        outputs = predictor(frame)
        network['call'] += time.perf_counter() - start
        for k, v in _split(outputs.seconds).items():
          network[k] += v
        observations = outputs.observations[predictor.tracked[0].name]
        poses.append(len(observations.observations))
        return observations

      parser = track.build_parser()
      track.run(parser.parse_args(['--video', str(warm), '--out', str(work / 'warm'),
                                   '--overwrite']), infer_fn=infer, config=config)
      predictor.reset()
      network.update(network=0.0, decode=0.0, call=0.0)
      poses.clear()
      timer = _Timer()
      with _patched(timer):
        start = time.perf_counter()
        tracked = track.run(parser.parse_args(['--video', str(video), '--out',
                                               str(work / 'out'), '--overwrite']),
                            infer_fn=infer, config=config, keep_frames=False)
        total = time.perf_counter() - start
      n = tracked.frames
      # prepare: the predictor's own work outside the networks and decoding (resizing and
      # normalising the frame, host/device copies).
      parts = dict(read=timer.seconds.get('read', 0.0),
                   prepare=network['call'] - network['network'] - network['decode'],
                   network=network['network'], decode=network['decode'],
                   tracker=timer.seconds.get('tracker', 0.0),
                   write=timer.seconds.get('write', 0.0))
      parts['other'] = total - sum(parts.values())
      ms = {k: 1e3 * v / n for k, v in parts.items()}
      print(f'{size:>5} {people:>6} {np.mean(poses):>6.1f} {ms["read"]:>6.2f} '
            f'{ms["prepare"]:>8.2f} '
            f'{ms["network"]:>8.2f} {ms["decode"]:>7.2f} {ms["tracker"]:>8.2f} '
            f'{ms["write"]:>6.2f} {ms["other"]:>6.2f} {1e3 * total / n:>7.2f} {n / total:>6.2f}',
            flush=True)
  return 0


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--frames', type=int, default=50)
  parser.add_argument('--warmup', type=int, default=5)
  parser.add_argument('--people', type=int, nargs='+', default=[1, 5, 10])
  parser.add_argument('--backends', nargs='+', default=['jax', 'exported', 'onnx'],
                      choices=['jax', 'exported', 'onnx'])
  parser.add_argument('--config', help='config file for the network sizes (default: tiny; '
                      'with --end-to-end: the quick start\'s)')
  parser.add_argument('--end-to-end', action='store_true',
                      help='time track.run end to end (read, networks, decode, tracker, write)')
  parser.add_argument('--sizes', type=int, nargs='+', default=[256, 512],
                      help='input sides of --end-to-end')
  args = parser.parse_args(argv)
  if args.end_to_end:
    return end_to_end(args)
  work = pathlib.Path(tempfile.mkdtemp(prefix='bench_track_'))
  config_path = args.config or tiny_networks.write_config(work / 'tiny.py')
  backends = list(args.backends)
  if 'onnx' in backends and not all(importlib.util.find_spec(m)
                                    for m in ('jax2onnx', 'onnxruntime')):
    print('onnx: skipped (pip install jax2onnx onnxruntime)')
    backends.remove('onnx')
  frames = _frames(args.frames + args.warmup)
  print(f'{args.frames} timed frames of 96 x 128 after {args.warmup} warm-up; median ms per '
        'frame (network = SpatialNet + flip, TIE, HE), frames/s; poses: decoded per frame')
  print(f'{"people":>6} {"back end":>9} {"poses":>6} {"network":>8} {"decode":>7} '
        f'{"tracker":>8} {"fps":>7}')
  for people in args.people:
    config = configs_util.load_config(config_path)
    _every_pose(config, people)
    spatial, temporal = tiny_networks.random_variables(config)
    networks = inference.Networks(config, spatial, temporal)
    directory = work / f'exported_{people}'
    if set(backends) & {'exported', 'onnx'}:
      export.export_networks(networks, str(directory), onnx='onnx' in backends)
    for backend in backends:
      model = {'jax': lambda: networks,
               'exported': lambda: exported.ExportedNetworks(str(directory)),
               'onnx': lambda: exported.OnnxNetworks(str(directory))}[backend]()
      r = run_backend(model, config, frames, args.warmup)
      print(f'{people:>6} {backend:>9} {r["poses"]:>6.1f} {1e3 * r["network"]:>8.2f} '
            f'{1e3 * r["decode"]:>7.2f} '
            f'{1e3 * r["tracker"]:>8.2f} {r["fps"]:>7.1f}')
  return 0


if __name__ == '__main__':
  with machine.LoadMonitor():
    status = main()
  sys.exit(status)
