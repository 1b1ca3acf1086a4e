"""Greedy grouping against Associative Embedding's reference `match_by_tag`, same candidates.

Associative Embedding (princeton-vl/pose-ae-train, `utils/group.py`) groups one image's
top-k joint candidates by tag with a Hungarian matching per joint type (the `munkres`
package, pure Python); ours (`grouping.decode.group_candidates`, KE only) applies the same
rule with SciPy's `linear_sum_assignment` and running tag sums. This script feeds both the
same candidates (`detect_candidates` of the "perfect" maps of benchmarks/bench_decode.py:
5, 15, 30 people, 128 x 128 maps, 15 PoseTrack joints, top-k 30), checks that they return
the same poses (every person's set of joint positions), and times both, side by side.

The reference is not part of this project: it is cloned into a temporary folder (or read
from `--ae PATH`, a checkout) and its `utils/group.py` imported from there. It needs the
`munkres` package (`pip install munkres`). `group.py` imports torch at the top but
`match_by_tag` does not use it: without torch installed an empty module stands in for that
import, and the output says so.

AE's parameters are those its `HeatmapParser` sets (use_detection_val on, max 30 people, tag
threshold 1) with our detection threshold and joint order, except ignore_too_much (off: with it
on AE stops grouping once it holds 30 people, so at 30 people it returns one joint each).

Run:  python benchmarks/bench_decode_ae.py
      python benchmarks/bench_decode_ae.py --ae /path/to/pose-ae-train --repeats 10
      python benchmarks/bench_decode_ae.py --ae-url /path/to/a/mirror.git
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time
import types

import ml_collections
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_decode  # pylint: disable=g-import-not-at-top,wrong-import-position

from artrack_jax import machine  # pylint: disable=wrong-import-position
from artrack_jax import skeletons  # pylint: disable=wrong-import-position
from artrack_jax.grouping import decode as decode_lib  # pylint: disable=wrong-import-position

AE_URL = 'https://github.com/princeton-vl/pose-ae-train.git'


def load_ae_group(checkout: pathlib.Path):
  """Imports `utils/group.py` from an AE checkout; returns (module, note)."""
  path = checkout / 'utils' / 'group.py'
  if not path.is_file():
    raise SystemExit(f'{path}: not found (is {checkout} a pose-ae-train checkout?)')
  note = ''
  try:
    import torch  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    sys.modules['torch'] = types.ModuleType('torch')
    note = ' (torch not installed: an empty module stands in for group.py\'s unused import)'
  try:
    import munkres  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    raise SystemExit('AE grouping needs the munkres package: pip install munkres') from None
  spec = importlib.util.spec_from_file_location('ae_group', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module, note


def ae_params(module, config, skeleton):
  params = module.Params()
  params.num_parts = skeleton.num_joints
  params.partOrder = list(skeleton.decode_order)
  params.detection_threshold = float(config.det_threshold)
  params.tag_threshold = float(config.tag_threshold)
  params.max_num_people = int(config.max_people)
  params.use_detection_val = True     # as AE's HeatmapParser sets it
  # HeatmapParser also sets ignore_too_much: once max_num_people people exist, every further
  # joint type is skipped, so at 30 people AE would return the first joint type only.
  params.ignore_too_much = False
  return params


def poses_ours(grouped) -> set:
  out = set()
  for joints, present in zip(grouped['joints'], grouped['present']):
    out.add(frozenset((j, round(float(joints[j, 0]), 3), round(float(joints[j, 1]), 3))
                      for j in np.flatnonzero(present)))
  return out


def poses_ae(ans) -> set:
  out = set()
  for person in ans:
    present = np.flatnonzero(person[:, 2] > 0)
    out.add(frozenset((int(j), round(float(person[j, 0]), 3), round(float(person[j, 1]), 3))
                      for j in present))
  return out


def median_ms(fn, repeats):
  fn()
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return statistics.median(times) * 1e3


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--ae', default='', help='a pose-ae-train checkout (default: clone '
                      f'{AE_URL} into a temporary folder)')
  parser.add_argument('--ae-url', default=AE_URL, help='where to clone it from')
  parser.add_argument('--people', type=int, nargs='+', default=[5, 15, 30])
  parser.add_argument('--repeats', type=int, default=10)
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as tmp:
    checkout = pathlib.Path(args.ae) if args.ae else pathlib.Path(tmp) / 'pose-ae-train'
    if not args.ae:
      subprocess.run(['git', 'clone', '-q', '--depth', '1', args.ae_url, str(checkout)], check=True)
    commit = subprocess.run(['git', '-C', str(checkout), 'rev-parse', 'HEAD'],
                            capture_output=True, text=True, check=False).stdout.strip()
    ae, note = load_ae_group(checkout)
    sk = skeletons.POSETRACK
    config = ml_collections.ConfigDict(dict(
        top_k=30, det_threshold=0.1, tag_threshold=1.0, use_ke=True, use_sie=False,
        sie_threshold=8.0, max_people=30))
    params = ae_params(ae, config, sk)
    print(machine.host_description())
    print(f'AE reference: {checkout} at {commit or "?"}{note}')
    print(f'candidates: top-k {config.top_k} of {sk.num_joints} joint types, 1-D tags, '
          f'median of {args.repeats}')
    print(f'{"people":>6} {"ours ms":>9} {"AE ms":>9} {"AE / ours":>9} {"same poses":>10}')
    rng = np.random.default_rng(0)
    for n in args.people:
      people = bench_decode.crowd(n, rng)
      maps = bench_decode.perfect_maps(people, 1)
      candidates = {k: np.asarray(v[0]) for k, v in decode_lib.detect_candidates(
          maps['heatmaps'], maps['ke'], maps['sie'], top_k=config.top_k, nms_kernel=3).items()}
      ae_input = (candidates['tag'], candidates['xy'], candidates['heat'])
      ours = decode_lib.group_candidates(candidates, config, sk)
      theirs = ae.match_by_tag(ae_input, params)
      same = poses_ours(ours) == poses_ae(theirs)
      if len(ours['joints']) != n:
        raise AssertionError(f'{n} people: ours found {len(ours["joints"])}')
      t_ours = median_ms(lambda: decode_lib.group_candidates(candidates, config, sk),
                         args.repeats)
      t_ae = median_ms(lambda: ae.match_by_tag(ae_input, params), args.repeats)
      print(f'{n:>6} {t_ours:>9.2f} {t_ae:>9.2f} {t_ae / t_ours:>9.1f} '
            f'{"yes" if same else "NO":>10}', flush=True)
      if not same:
        print(f'  ours {len(ours["joints"])} people, AE {len(theirs)}')


if __name__ == '__main__':
  with machine.LoadMonitor():
    main()
