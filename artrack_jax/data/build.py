"""Builds a TFDS data set on its own, before training, and says how big it came out.

    python -m artrack_jax.data.build NAME [--data_dir D] [--manual_dir M] [--config C]

NAME is ``synthetic_posetrack``, ``posetrack`` or ``coco_keypoints`` (``--config``: e.g.
``small_256``, ``2018``; ``--manual_dir``: the downloaded files of a real data set). This is
what training does on first use (``tfds_builders.prepare``), with a progress line every
``--interval`` seconds per split: frames done / total, elapsed, time left, and the size on disk
extrapolated from the records written so far (every record's image bytes, a sample of whole
records serialised). At the end it prints the built size (the files on disk) against the
source images' size (the image files' bytes; for the synthetic data set, its PNG frames and
the raw pixels). A data set already built is reported and left as it is.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, TextIO

# The first records serialised exactly to estimate the size, then every SAMPLE_EVERY-th.
SAMPLE_FIRST = 16
SAMPLE_EVERY = 32


def format_bytes(n: float) -> str:
  for unit in ('B', 'KB', 'MB', 'GB'):
    if abs(n) < 1000 or unit == 'GB':
      return f'{n:.0f} {unit}' if unit == 'B' else f'{n:.1f} {unit}'
    n /= 1000.0
  raise AssertionError('unreachable')


def format_seconds(s: float) -> str:
  s = int(round(s))
  return f'{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}'


def directory_size(path: str) -> int:
  """Bytes of the files under ``path``."""
  total = 0
  for root, _, files in os.walk(path):
    for name in files:
      total += os.path.getsize(os.path.join(root, name))
  return total


class BuildProgress:
  """A ``common.ProgressListener`` printing progress lines and totalling the sizes."""

  def __init__(self, features, stream: TextIO | None = None, interval: float = 10.0,
               clock=time.monotonic):
    self.features = features
    self.stream = stream or sys.stdout
    self.interval = interval
    self.clock = clock
    self.start = clock()
    self.frames = 0              # all splits
    self.source_bytes = 0        # the stored image bytes (the source files' for JPEG data sets)
    self.pixel_bytes = 0         # H * W * 3 of every frame
    self.estimated_done = 0.0    # estimated bytes on disk of the finished splits
    self.splits: list[str] = []

  def _print(self, text: str) -> None:
    print(text, file=self.stream, flush=True)

  def start_split(self, split: str, total_frames: int) -> None:
    self.split, self.total, self.done = split, int(total_frames), 0
    self.split_start = self.last = self.clock()
    self.image_bytes = 0
    self.sampled_records = self.sampled_bytes = 0
    self.sampled_images = 0
    self.splits.append(split)
    self._print(f'{split}: {self.total} frames to write')

  def frame(self, split: str, record: dict[str, Any]) -> None:
    del split
    self.done += 1
    self.frames += 1
    size = len(record['image'])
    self.image_bytes += size
    self.source_bytes += size
    self.pixel_bytes += int(record['image_height']) * int(record['image_width']) * 3
    if self.done <= SAMPLE_FIRST or self.done % SAMPLE_EVERY == 0:
      self.sampled_records += 1
      self.sampled_bytes += len(self.features.serialize_example(record))
      self.sampled_images += size
    now = self.clock()
    if now - self.last >= self.interval:
      self.last = now
      self._print(self.line(now))

  def split_estimate(self) -> float:
    """Bytes on disk of the current split: its image bytes so far, plus the other fields'
    sampled bytes per record, extrapolated to all its frames."""
    if not self.done:
      return 0.0
    other = (self.sampled_bytes - self.sampled_images) / max(self.sampled_records, 1)
    return (self.image_bytes / self.done + other) * self.total

  def line(self, now: float) -> str:
    elapsed = now - self.split_start
    left = elapsed / self.done * (self.total - self.done) if self.done else float('nan')
    percent = 100.0 * self.done / max(self.total, 1)
    return (f'{self.split}: {self.done}/{self.total} frames ({percent:.0f}%), '
            f'{format_seconds(elapsed)} elapsed, ~{format_seconds(left)} left; estimated '
            f'size on disk {format_bytes(self.estimated_done + self.split_estimate())}')

  def end_split(self, split: str) -> None:
    now = self.clock()
    self._print(self.line(now) + ' (split done)')
    self.estimated_done += self.split_estimate()


def build(name: str, data_dir: str | None = None, manual_dir: str | None = None,
          config: str | None = None, interval: float = 10.0,
          stream: TextIO | None = None) -> dict[str, Any]:
  """Builds (if needed) and reports; returns the figures printed.

  Returns:
    {'data_dir': the version directory, 'built_bytes': its files' bytes, 'frames': records
     written now (0 when already built), 'source_bytes': their image bytes, 'pixel_bytes':
     their raw pixels' bytes, 'ratio': built / source (None when nothing was written),
     'splits': {split: records}, 'seconds': wall time}.
  """
  # Imported here: tensorflow_datasets takes seconds to import.
  from artrack_jax.data import tfds_builders  # pylint: disable=g-import-not-at-top
  from artrack_jax.data.tfds_builders import common  # pylint: disable=g-import-not-at-top
  stream = stream or sys.stdout
  if name not in tfds_builders.BUILDERS:
    raise ValueError(f'unknown data set {name!r}; choose one of {sorted(tfds_builders.BUILDERS)}')
  builder_cls = tfds_builders.BUILDERS[name]
  config_name = config or getattr(builder_cls, 'DEFAULT_CONFIG_NAME', None)
  features = common.features(17 if name == 'coco_keypoints' else 15)
  progress = BuildProgress(features, stream, interval)
  print(f'building {name}' + (f'/{config_name}' if config_name else '') + ' into '
        f'{os.path.expanduser(data_dir) if data_dir else "the default TFDS data directory"}',
        file=stream, flush=True)
  previous = common.set_progress_listener(progress)
  try:
    builder = tfds_builders.prepare(name, data_dir, manual_dir, config)
  finally:
    common.set_progress_listener(previous)
  seconds = time.monotonic() - progress.start
  out_dir = os.fspath(builder.data_dir)
  built = directory_size(out_dir)
  splits = {s: int(info.num_examples) for s, info in builder.info.splits.items()}
  result = {'data_dir': out_dir, 'built_bytes': built, 'frames': progress.frames,
            'source_bytes': progress.source_bytes, 'pixel_bytes': progress.pixel_bytes,
            'ratio': built / progress.source_bytes if progress.source_bytes else None,
            'splits': splits, 'seconds': seconds}
  counts = ', '.join(f'{s} {n}' for s, n in sorted(splits.items()))
  if not progress.frames:
    print(f'already built: {out_dir} ({counts} records), {format_bytes(built)} on disk',
          file=stream, flush=True)
    return result
  source = ('encoded PNG frames' if name == 'synthetic_posetrack' else 'source image files')
  print(f'built {out_dir} in {format_seconds(seconds)} ({counts} records): '
        f'{format_bytes(built)} on disk; {source} {format_bytes(progress.source_bytes)}: '
        f'ratio {result["ratio"]:.2f} (raw pixels {format_bytes(progress.pixel_bytes)}: '
        f'{built / max(progress.pixel_bytes, 1):.3f} of them)', file=stream, flush=True)
  return result


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m artrack_jax.data.build',
      description='Build a TFDS data set (array_record) before training.')
  parser.add_argument('name', help='synthetic_posetrack, posetrack or coco_keypoints')
  parser.add_argument('--data_dir', default=None, help='TFDS data directory '
                      '(default ~/tensorflow_datasets)')
  parser.add_argument('--manual_dir', default=None, help='the downloaded files (real data sets)')
  parser.add_argument('--config', default=None, help='builder config, e.g. small_256, 2018')
  parser.add_argument('--interval', type=float, default=10.0,
                      help='seconds between progress lines (default 10)')
  args = parser.parse_args(argv)
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  tfds.disable_progress_bar()   # the progress lines replace TFDS's bars
  build(args.name, args.data_dir, args.manual_dir, args.config, args.interval)
  return 0


if __name__ == '__main__':
  sys.exit(main())
