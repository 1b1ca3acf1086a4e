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
"""
from __future__ import annotations

import argparse
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


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--frames', type=int, default=50)
  parser.add_argument('--warmup', type=int, default=5)
  parser.add_argument('--people', type=int, nargs='+', default=[1, 5, 10])
  parser.add_argument('--backends', nargs='+', default=['jax', 'exported', 'onnx'],
                      choices=['jax', 'exported', 'onnx'])
  parser.add_argument('--config', help='config file for the network sizes (default: tiny)')
  args = parser.parse_args(argv)
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
    config.decode.max_people = people
    config.decode.det_threshold = -1e9
    config.decode.top_k = max(int(config.decode.top_k), people)   # candidates per joint
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
