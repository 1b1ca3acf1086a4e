"""How well a SpatialNet's facing map (``model.facing_head``, not in the paper) tells which way
a person faces, read where ``decode.facing_orient`` reads it.

Renders people alone on the benchmark's backgrounds (``left_right_probe.render_person``) at
uniformly drawn yaws, runs SpatialNet (no flip), and reads the facing map of the last stack at
the person's two shoulders and two hips (their mean: what the decoder uses). Per band of
``|cos yaw|`` (front or back, between, profile) it prints the share whose sign is right and the
mean magnitude, and per threshold on the magnitude (``decode.facing_min``) the share of front
or back people it covers and how many of those it gets wrong.

Run:  python benchmarks/facing_head_probe.py --workdir runs/facing/pgg [--people 240]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import left_right_probe  # pylint: disable=wrong-import-position

from artrack_jax import configs_util  # pylint: disable=wrong-import-position
from artrack_jax import inference  # pylint: disable=wrong-import-position
from artrack_jax import machine  # pylint: disable=wrong-import-position
from artrack_jax.data import synthetic  # pylint: disable=wrong-import-position

BANDS = ((0.7, 1.01, 'front or back (|cos yaw| >= 0.7)'), (0.4, 0.7, 'between (0.4-0.7)'),
         (0.0, 0.4, 'profile (< 0.4)'))
THRESHOLDS = (0.05, 0.1, 0.15, 0.2, 0.3)
TORSO = (synthetic.L_SHOULDER, synthetic.R_SHOULDER, synthetic.L_HIP, synthetic.R_HIP)


def collect(workdir: str, people: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
  """(facing read at the torso [N], cos yaw [N]: positive = facing the camera)."""
  config = configs_util.workdir_config([workdir])
  if not bool(config.model.get('facing_head', False)):
    raise ValueError(f'{workdir}: config.model.facing_head is off; this probe needs a '
                     'SpatialNet trained with the facing loss')
  networks = inference.Networks.restore(workdir, config)
  predictor = inference.FramePredictor(networks, config)
  model, variables = networks.spatial_model, networks.spatial_variables
  size = int(config.data.image_size)
  facing_map = jax.jit(lambda x: model.apply(variables, x, train=False)['facing'][-1])
  rng = np.random.default_rng(seed)
  values, cosines = [], []
  for _ in range(people):
    yaw = rng.uniform(-math.pi, math.pi)
    image, keypoints = left_right_probe.render_person(rng, yaw, size)
    frame_input = predictor._frame_input(image, 1.0)  # pylint: disable=protected-access
    m = np.asarray(facing_map(frame_input))[0, ..., 0]
    h, w = m.shape
    read = [m[int(np.clip(keypoints[j, 1] * h / size, 0, h - 1)),
              int(np.clip(keypoints[j, 0] * w / size, 0, w - 1))] for j in TORSO]
    values.append(float(np.mean(read)))
    cosines.append(math.cos(yaw))
  return np.array(values), np.array(cosines)


def summary(values: np.ndarray, cosines: np.ndarray) -> dict:
  right = np.sign(values) == np.sign(cosines)
  bands = []
  for lo, hi, name in BANDS:
    sel = (np.abs(cosines) >= lo) & (np.abs(cosines) < hi)
    bands.append({'band': name, 'people': int(sel.sum()),
                  'sign right': float(right[sel].mean()) if sel.any() else float('nan'),
                  'mean |facing|': (float(np.abs(values[sel]).mean()) if sel.any()
                                    else float('nan'))})
  front = np.abs(cosines) >= 0.4
  thresholds = []
  for t in THRESHOLDS:
    kept = np.abs(values) >= t
    covered = kept & front
    thresholds.append({'facing_min': t,
                       'front or back covered': float(covered.sum() / max(front.sum(), 1)),
                       'wrong among covered': float((~right[covered]).mean()) if covered.any()
                                              else float('nan'),
                       'profile covered': float((kept & ~front).sum() / max((~front).sum(), 1))})
  return {'bands': bands, 'thresholds': thresholds}


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--workdir', required=True, help='a SpatialNet workdir with a facing head')
  parser.add_argument('--people', type=int, default=240)
  parser.add_argument('--seed', type=int, default=1)
  parser.add_argument('--json', default='', help='also write the tables here')
  args = parser.parse_args(argv)
  start = time.perf_counter()
  values, cosines = collect(args.workdir, args.people, args.seed)
  result = summary(values, cosines)
  print(f'{args.workdir}: {args.people} people, uniform yaw, seed {args.seed}; '
        f'{time.perf_counter() - start:.0f} s')
  print(machine.host_description())
  print('| yaw band | people | sign right | mean abs facing |\n|---|---:|---:|---:|')
  for b in result['bands']:
    print(f'| {b["band"]} | {b["people"]} | {b["sign right"]:.3f} | {b["mean |facing|"]:.2f} |')
  print('\n| facing_min | front or back covered | wrong among covered | profile covered |\n'
        '|---:|---:|---:|---:|')
  for t in result['thresholds']:
    print(f'| {t["facing_min"]} | {t["front or back covered"]:.2f} | '
          f'{t["wrong among covered"]:.3f} | {t["profile covered"]:.2f} |')
  if args.json:
    with open(args.json, 'w', encoding='utf-8') as f:
      json.dump({'workdir': args.workdir, 'people': args.people, 'seed': args.seed,
                 'machine': machine.machine_info(), **result}, f, indent=1)


if __name__ == '__main__':
  main()
