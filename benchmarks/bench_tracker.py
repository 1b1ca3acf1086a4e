"""Host-side tracker time per frame against the number of people (1, 5, 10, 30).

Each person walks a random path with a fixed appearance (a 3072-d human embedding plus noise,
the paper's HE size) and exact SIE/TIE values at 15 joints; people leave and re-enter so that
new tracks and re-identification are exercised. ``Tracker.update`` is timed per frame (cost
matrix, Hungarian matching, re-identification, bookkeeping) for each similarity option; the
target is <= 1 ms per frame at 10 people for the paper's ``he_tie``.

Every run checks its result: the number of identity switches against the ground truth is
printed next to the time (re-identification by HE keeps the hidden people's ids; the box
baselines lose fast walkers: the simulation's speeds grow as a random walk).

Run:  python benchmarks/bench_tracker.py              (about 30 s on 2 CPU cores)
      python benchmarks/bench_tracker.py --options he_tie oks --frames 100
"""
from __future__ import annotations

import os

# The tracker's matrices are small ([N, 3072] x [3072, M]): BLAS threads only add contention
# (a 30 x 30 HE product takes ~10x longer with threads on a busy 2-core machine). Set before
# NumPy loads BLAS; an explicit setting in the environment wins.
for _var in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
  os.environ.setdefault(_var, '1')

import argparse  # pylint: disable=g-import-not-at-top,wrong-import-position
import platform  # pylint: disable=wrong-import-position
import statistics  # pylint: disable=wrong-import-position
import time  # pylint: disable=wrong-import-position

import ml_collections  # pylint: disable=wrong-import-position
import numpy as np

from artrack_jax import machine
from artrack_jax import skeletons
from artrack_jax.tracking import similarity
from artrack_jax.tracking.tracker import FrameObservations, PoseObservation, Tracker

HE_DIM = 3072


def simulate(num_people: int, num_frames: int, rng: np.random.Generator):
  """Per frame (FrameObservations, ground-truth identities)."""
  j = skeletons.POSETRACK.num_joints
  template = np.stack([np.linspace(-0.3, 0.3, j), np.linspace(-0.9, 0.9, j)], -1) * 40
  appearance = rng.normal(size=(num_people, HE_DIM))
  pos = rng.uniform(0, 1000, (num_people, 2))
  vel = rng.normal(0, 3, (num_people, 2))
  # Each person is hidden for a few frames once, at a random time.
  hide_start = rng.integers(0, num_frames, num_people)
  hide_len = rng.integers(2, 6, num_people)
  frames, previous_ids, previous_centres = [], [], None
  for t in range(num_frames):
    centres = pos.copy()
    visible = ~((t >= hide_start) & (t < hide_start + hide_len))
    ids = list(np.flatnonzero(visible))
    obs = []
    for i in ids:
      prev = previous_centres[i] if previous_centres is not None else centres[i]
      kp = np.concatenate([centres[i] + template, np.ones((j, 1))], axis=1)
      obs.append(PoseObservation(keypoints=kp, score=1.0, tag=np.array([float(i)]),
                                 center=centres[i],
                                 he=appearance[i] + 0.3 * rng.normal(size=HE_DIM),
                                 sie=np.tile(centres[i], (j, 1)), tie=np.tile(prev, (j, 1))))
    bwd = (np.stack([np.tile(centres[i], (j, 1)) for i in previous_ids]) if previous_ids
           else None)
    frames.append((FrameObservations(obs, bwd), ids))
    previous_ids, previous_centres = ids, centres
    pos += vel
    vel += rng.normal(0, 0.5, vel.shape)
  return frames


def switches(assignments) -> int:
  """Identity switches: frames where a person's track id differs from its previous one."""
  last, count = {}, 0
  for ids, tids in assignments:
    for i, t in zip(ids, tids):
      count += int(i in last and last[i] != t)
      last[i] = t
  return count


def main():
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--people', type=int, nargs='+', default=[1, 5, 10, 30])
  parser.add_argument('--frames', type=int, default=200)
  parser.add_argument('--options', nargs='+', default=['he_tie', 'he', 'tie', 'oks', 'iou'],
                      choices=similarity.SIMILARITIES)
  args = parser.parse_args()
  print(machine.host_description())
  print(f'python {platform.python_version()}, numpy {np.__version__}, '
        f'OPENBLAS_NUM_THREADS={os.environ.get("OPENBLAS_NUM_THREADS")}')
  print(f'{args.frames} frames, HE dim {HE_DIM}, 15 joints; per frame: median CPU ms / median '
        'wall ms (identity switches). CPU time is the steadier figure on a shared machine.')
  print(f'{"people":>6} ' + ' '.join(f'{o:>20}' for o in args.options))
  sk = skeletons.POSETRACK
  for n in args.people:
    frames = simulate(n, args.frames, np.random.default_rng(n))
    cells = []
    for option in args.options:
      config = ml_collections.ConfigDict(dict(
          similarity=option, lambda_he=3.0, lambda_tie=1.0, new_track_cost=1.0, max_missed=0,
          reid_window=30))
      tracker = Tracker(config, sk)
      wall, cpu, assignments = [], [], []
      for t, (fo, ids) in enumerate(frames):
        t0, c0 = time.perf_counter(), time.thread_time()
        tids = tracker.update(fo, t)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
        assignments.append((ids, tids))
      cells.append(f'{statistics.median(cpu) * 1e3:.3f}/{statistics.median(wall) * 1e3:.3f} '
                   f'({switches(assignments)})')
    print(f'{n:>6} ' + ' '.join(f'{c:>20}' for c in cells))


if __name__ == '__main__':
  with machine.LoadMonitor():
    main()
