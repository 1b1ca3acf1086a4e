"""Where PoseTrack MOTA goes: what the false positives and misses of a prediction are.

Reads PoseTrack ground truth and one prediction directory (the files `evaluation.tables` or
`track` write; no JAX) and, frame by frame and joint type by joint type, pairs predicted with
ground-truth joints within the PCKh@0.5 radius (distance / head size <= 0.5, the MOTA match
rule; SciPy's assignment per frame, ignore regions applied as the evaluation applies them).
Every hypothesis left unpaired is a false positive and every ground-truth joint left unpaired
a miss; this sorts them by how far the nearest joint of the same type is:

* false positives: ``near`` (an unpaired ground-truth joint lies within 1 head size (0.5-1.0),
  i.e. within twice the radius: a localisation error), ``taken`` (a ground-truth joint within
  the radius exists but is paired with another hypothesis: a duplicate), ``swap`` (within
  the radius of a ground-truth joint of the mirrored type: left and right confused), ``mid`` (within 2 head
  sizes), ``far`` (beyond 2 head sizes of every ground-truth joint of the type: background,
  distractors, another body part);
* misses: ``near`` (a hypothesis of the type within 0.5-1.0 head sizes) or ``none``.

It prints the counts per joint group and the MOTA with ID switches left out
(1 - (FN + FP) / GT) as measured and as it would be if every near false positive were moved
onto its near miss (each such pair a hit instead of one FP and one FN): the MOTA that
localisation costs. It is a breakdown, not the metric: the pairing is per frame (MOTA prefers
a track's previous match), every labelled frame counts (the toolkit leaves out each
sequence's last one) and a frame without predictions counts its real misses (the toolkit
scores it as one dummy miss and one dummy false positive per joint type). On the reference
model's val files (HE+TIE+PGG) it counts 9220 hits and 3772 false positives where the
evaluation counts 8930 detections and 5003 false positives (99 frames without a pose).

Run:  python benchmarks/mota_breakdown.py --gt runs/quickstart/gt \\
          --pred runs/quickstart/pred/he_tie_pgg
"""
from __future__ import annotations

import argparse
import dataclasses
import sys

import numpy as np
from scipy.optimize import linear_sum_assignment

from artrack_jax import skeletons
from artrack_jax.evaluation import posetrack

RADIUS = 0.5
FP_KINDS = ('near', 'taken', 'swap', 'mid', 'far')
PERM = skeletons.POSETRACK.flip_permutation
FN_KINDS = ('near', 'none')


def frame_counts(gt: posetrack.FramePoses, pred: posetrack.FramePoses) -> np.ndarray:
  """[15, 1 + 1 + 5 + 2 + 1] per joint type: GT, hits, FP kinds, FN kinds, near pairs."""
  out = np.zeros((posetrack.NUM_JOINTS, 10), np.int64)
  out[:, 0] = gt.present.sum(0)
  if not pred.num_people:
    out[:, 8] = out[:, 0]
    return out
  if not gt.num_people:
    out[:, 6] = pred.present.sum(0)
    return out
  dist = posetrack._normalised_distances(gt, pred)  # pylint: disable=protected-access
  mirrored = dataclasses.replace(gt, points=gt.points[:, PERM], present=gt.present[:, PERM])
  mirror_dist = posetrack._normalised_distances(mirrored, pred)  # pylint: disable=protected-access
  for j in range(posetrack.NUM_JOINTS):
    d = dist[:, :, j][pred.present[:, j]][:, gt.present[:, j]]        # [P_j, G_j]
    num_pred, num_gt = d.shape
    if not num_pred or not num_gt:
      out[j, 6] += num_pred                                            # far: nothing to hit
      out[j, 8] += num_gt
      continue
    cost = np.where(d <= RADIUS, d, 1e6)
    rows, cols = linear_sum_assignment(cost)
    hit = cost[rows, cols] <= RADIUS
    rows, cols = rows[hit], cols[hit]
    out[j, 1] = len(rows)
    free_pred = np.setdiff1d(np.arange(num_pred), rows)
    free_gt = np.setdiff1d(np.arange(num_gt), cols)
    free = d[np.ix_(free_pred, free_gt)]                              # unpaired x unpaired
    nearest = d[free_pred].min(axis=1, initial=np.inf)
    nearest_free = free.min(axis=1, initial=np.inf)
    near = nearest_free <= 2 * RADIUS                   # free GT joints are beyond RADIUS
    taken = ~near & (nearest <= RADIUS)
    to_mirror = mirror_dist[:, :, j][pred.present[:, j]][free_pred]     # [free, G]
    swap = ~near & ~taken & (to_mirror.min(axis=1, initial=np.inf) <= RADIUS
                             if PERM[j] != j else np.zeros(len(free_pred), bool))
    mid = ~near & ~taken & ~swap & (nearest <= 4 * RADIUS)
    out[j, 2:6] = near.sum(), taken.sum(), swap.sum(), mid.sum()
    out[j, 6] = len(free_pred) - out[j, 2:6].sum()
    near_gt = free.min(axis=0, initial=np.inf)
    out[j, 7] = np.sum(near_gt <= 2 * RADIUS)
    out[j, 8] = len(free_gt) - out[j, 7]
    # Near pairs that could both be turned into a hit (one-to-one).
    if free.size:
      c = np.where(free <= 2 * RADIUS, free, 1e6)
      r, k = linear_sum_assignment(c)
      out[j, 9] = np.sum(c[r, k] <= 2 * RADIUS)
  return out


def breakdown(gt_dir: str, pred_dir: str) -> np.ndarray:
  """[15, 10] counts summed over every labelled frame of the directories."""
  gts, preds = posetrack.load_directories(gt_dir, pred_dir)
  total = np.zeros((posetrack.NUM_JOINTS, 10), np.int64)
  for g, p in zip(gts, preds):
    for gf, pf in posetrack._sequence_frames(g, p):  # pylint: disable=protected-access
      total += frame_counts(gf, pf)
  return total


def format_breakdown(counts: np.ndarray) -> str:
  groups = [(name, [posetrack.JOINT_NAMES.index(n) for n in names])
            for name, names in posetrack.COLUMN_GROUPS]
  groups.append(('Total', list(range(posetrack.NUM_JOINTS))))
  head = (f'{"joints":<6} {"GT":>6} {"hits":>6} ' + ' '.join(f'FP:{k:<5}' for k in FP_KINDS)
          + ' ' + ' '.join(f'FN:{k:<5}' for k in FN_KINDS)
          + '  MOTA-noID  if near pairs hit')
  lines = [head]
  for name, idx in groups:
    c = counts[idx].sum(0)
    num_gt, hits, fp, fn = c[0], c[1], c[2:7].sum(), c[7:9].sum()
    mota = 100 * (1 - (fn + fp) / max(num_gt, 1))
    fixed = 100 * (1 - (fn + fp - 2 * c[9]) / max(num_gt, 1))
    lines.append(f'{name:<6} {num_gt:>6} {hits:>6} '
                 + ' '.join(f'{v:>8}' for v in c[2:7]) + ' '
                 + ' '.join(f'{v:>8}' for v in c[7:9])
                 + f'  {mota:9.1f}  {fixed:16.1f}')
  c = counts.sum(0)
  fp = c[2:7].sum()
  lines.append('false positives: ' + ', '.join(
      f'{k} {100 * v / max(fp, 1):.0f}%' for k, v in zip(FP_KINDS, c[2:7]))
      + f'; precision {100 * c[1] / max(c[1] + fp, 1):.1f}%, recall '
      f'{100 * c[1] / max(c[0], 1):.1f}%')
  return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--gt', required=True, help='ground-truth PoseTrack directory')
  parser.add_argument('--pred', required=True, help='prediction directory')
  args = parser.parse_args(argv)
  try:
    counts = breakdown(args.gt, args.pred)
  except (posetrack.EvaluationInputError, FileNotFoundError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  print(format_breakdown(counts))
  return 0


if __name__ == '__main__':
  sys.exit(main())
