"""Choose the output score thresholds (`track.min_pose_score`, `track.min_joint_score`).

Every joint written to a PoseTrack prediction file is a MOTA hypothesis, so unconfident joints
can only add false positives there, while AP (which ranks joints by score) barely changes. This
sweeps both thresholds over prediction files written without them and prints AP and MOTA for
each pair, so the thresholds can be picked on a split other than the one reported:

  python -m artrack_jax.evaluation.tables --config ... --workdir ... --split train \
      --max-sequences 20 --out runs/sweep --no-score-filter   # predictions with thresholds 0
  python -m artrack_jax.evaluation.score_sweep --gt runs/sweep/gt --pred runs/sweep/pred/he_tie \
      --pose 0,0.1,0.2,0.3 --joint 0,0.1,0.2,0.3,0.4
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys

import numpy as np

from artrack_jax.evaluation import posetrack


def filter_sequence(seq: posetrack.PosesSequence, min_pose_score: float,
                    min_joint_score: float) -> posetrack.PosesSequence:
  """A copy of predictions without people whose mean joint score is under `min_pose_score`
  and without joints scored under `min_joint_score`; people left with no joint are dropped."""
  frames = []
  for frame in seq.frames:
    present = frame.present & (frame.scores >= min_joint_score)
    people = np.flatnonzero(present.any(axis=1))
    if len(people):
      # The person score written by the tracker is the mean heat of its found joints.
      scores = np.where(frame.present, frame.scores, 0.0)
      mean = scores.sum(1) / np.maximum(frame.present.sum(1), 1)
      people = people[mean[people] >= min_pose_score]
    kept = frame.select(people)
    frames.append(dataclasses.replace(kept, present=present[people],
                                      points=np.where(present[people][..., None], kept.points, 0.0)))
  return posetrack.PosesSequence(name=seq.name, frames=frames, source=seq.source)


def sweep(gt_dir: str, pred_dir: str, pose_thresholds, joint_thresholds) -> list[dict]:
  """AP and MOTA totals for every (pose, joint) threshold pair."""
  gts, preds = posetrack.load_directories(gt_dir, pred_dir)
  rows = []
  for pose, joint in itertools.product(pose_thresholds, joint_thresholds):
    filtered = [filter_sequence(p, pose, joint) for p in preds]
    result = posetrack.evaluate_sequences(gts, filtered)
    rows.append({'min_pose_score': pose, 'min_joint_score': joint,
                 'ap': result['ap']['Total'], 'mota': result['mota']['Total'],
                 'precision': result['precision']['Total'],
                 'recall': result['recall']['Total']})
  return rows


def _floats(text: str) -> list[float]:
  return [float(v) for v in text.split(',') if v]


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--gt', required=True, help='ground-truth PoseTrack files')
  parser.add_argument('--pred', required=True, help='predictions written with thresholds 0')
  parser.add_argument('--pose', type=_floats, default=[0.0, 0.1, 0.2, 0.3])
  parser.add_argument('--joint', type=_floats, default=[0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
  args = parser.parse_args(argv)
  try:
    rows = sweep(args.gt, args.pred, args.pose, args.joint)
  except (posetrack.EvaluationInputError, FileNotFoundError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  print('min_pose_score  min_joint_score     AP   MOTA   Prec   Rec')
  for r in rows:
    print(f'{r["min_pose_score"]:14.2f}  {r["min_joint_score"]:15.2f}  {r["ap"]:5.1f}  '
          f'{r["mota"]:5.1f}  {r["precision"]:5.1f}  {r["recall"]:4.1f}')
  best = max(rows, key=lambda r: r['mota'])
  print(f'best MOTA {best["mota"]:.1f} at min_pose_score={best["min_pose_score"]}, '
        f'min_joint_score={best["min_joint_score"]} (AP {best["ap"]:.1f})')
  return 0


if __name__ == '__main__':
  sys.exit(main())
