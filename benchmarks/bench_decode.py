"""Decoding time per frame against the number of people (5, 15, 30).

Maps are "perfect" network outputs at the paper's output size (128 x 128, 512 input, stride 4;
15 PoseTrack joints): Gaussian heatmaps (Eq. 1, sigma 2), a person-constant KE tag and SIE =
the person's centre, people on a jittered grid. Timed separately:

* device: ``detect_candidates`` (NMS + top-k, jitted, on the default JAX backend), per frame,
  batch of 1;
* host: ``decode_image`` (greedy grouping with a Hungarian assignment per joint type, refine,
  adjust) on the fetched candidates, per frame.

Each timing is the median over ``--repeats`` runs after one warm-up. Every decoded frame is
checked against the ground truth (people found, joints within 1 px), so a fast wrong decoder
cannot report a time.

Run:  python benchmarks/bench_decode.py                 (about 20 s on 2 CPU cores)
      python benchmarks/bench_decode.py --flip          (tags doubled as after the flip test)
"""
from __future__ import annotations

import argparse
import statistics
import time

import jax
import numpy as np

from artrack_jax import machine
from artrack_jax import skeletons
from artrack_jax.configs import default as default_config
from artrack_jax.grouping import decode as decode_lib

SIZE = 128
SIGMA = 2.0


def crowd(num_people: int, rng: np.random.Generator) -> list[np.ndarray]:
  """Keypoints [J, 2] of people on a jittered grid filling the map."""
  j = skeletons.POSETRACK.num_joints
  cols = int(np.ceil(np.sqrt(num_people * 1.3)))
  rows = int(np.ceil(num_people / cols))
  step_x, step_y = SIZE / cols, SIZE / rows
  size = min(step_x * 1.1, step_y * 0.8, 40.0)   # everyone inside the map
  template = np.stack([np.linspace(-0.35, 0.35, j), np.linspace(-0.5, 0.5, j)], -1)
  rng.shuffle(template)
  people = []
  for k in range(num_people):
    r, c = divmod(k, cols)
    centre = np.array([(c + 0.5) * step_x, (r + 0.5) * step_y]) + rng.uniform(-1, 1, 2)
    people.append(centre + template * size * rng.uniform(0.9, 1.1))
  return people


def perfect_maps(people: list[np.ndarray], tag_dims: int) -> dict[str, np.ndarray]:
  j = people[0].shape[0]
  yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
  heat = np.zeros((SIZE, SIZE, j), np.float32)
  ke = np.zeros((SIZE, SIZE, j), np.float32)
  body = np.zeros((SIZE, SIZE), np.float32)
  sie = np.zeros((SIZE, SIZE, 2), np.float32)
  for k, kp in enumerate(people):
    g = np.exp(-((xx[..., None] - kp[:, 0]) ** 2 + (yy[..., None] - kp[:, 1]) ** 2) / SIGMA ** 2)
    ke = np.where(g > heat, 2.0 * k, ke)
    heat = np.maximum(heat, g)
    gb = g.max(-1)
    sie = np.where((gb > body)[..., None], kp.mean(0), sie)
    body = np.maximum(body, gb)
  ke = np.repeat(ke[..., None], tag_dims, axis=-1)
  return dict(heatmaps=heat[None], ke=ke[None], sie=sie[None])


def check(poses, people) -> None:
  if len(poses) != len(people):
    raise AssertionError(f'decoded {len(poses)} people, expected {len(people)}')
  for kp in people:
    err = min(np.abs(p['keypoints'][:, :2] - kp).max() for p in poses)
    if err > 1.0:
      raise AssertionError(f'a person decoded {err:.2f} px off')


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--people', type=int, nargs='+', default=[5, 15, 30])
  parser.add_argument('--repeats', type=int, default=20)
  parser.add_argument('--flip', action='store_true', help='2-D tags (flip test)')
  args = parser.parse_args()
  sk = skeletons.POSETRACK
  # The paper's decoding config (configs/default.py), at this script's sizes and thresholds.
  config = default_config.get_config().decode
  config.update(dict(top_k=30, det_threshold=0.1, tag_threshold=1.0, use_ke=True,
                     use_sie=True, sie_threshold=8.0, max_people=30, nms_kernel=3, refine=True))
  print(machine.host_description())
  print(machine.jax_description())
  print(f'maps {SIZE}x{SIZE}x{sk.num_joints}, top_k {config.top_k}, tag dims '
        f'{2 if args.flip else 1}, median of {args.repeats}')
  print(f'{"people":>6} {"device ms":>10} {"host ms":>9} {"total ms":>9}')
  rng = np.random.default_rng(0)
  for n in args.people:
    people = crowd(n, rng)
    maps = perfect_maps(people, 2 if args.flip else 1)
    device_args = (maps['heatmaps'], maps['ke'], maps['sie'])
    run_device = lambda: jax.block_until_ready(decode_lib.detect_candidates(
        *device_args, top_k=config.top_k, nms_kernel=3))
    candidates = {k: v[0] for k, v in jax.device_get(run_device()).items()}
    host_args = (candidates, maps['heatmaps'][0], maps['ke'][0], maps['sie'][0],
                 config, sk)
    check(decode_lib.decode_image(*host_args), people)
    check(decode_lib.decode(maps, config, sk)[0], people)
    device, host = [], []
    for _ in range(args.repeats):
      t0 = time.perf_counter()
      run_device()
      t1 = time.perf_counter()
      decode_lib.decode_image(*host_args)
      t2 = time.perf_counter()
      device.append(t1 - t0)
      host.append(t2 - t1)
    d, h = statistics.median(device) * 1e3, statistics.median(host) * 1e3
    t = d + h
    print(f'{n:>6} {d:>10.2f} {h:>9.2f} {t:>9.2f}')


if __name__ == '__main__':
  with machine.LoadMonitor():
    main()
