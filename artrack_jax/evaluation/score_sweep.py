"""Choose the output score thresholds (`track.min_pose_score`, `track.min_joint_score`).

Every joint written to a PoseTrack prediction file is a MOTA hypothesis, so unconfident joints
can only add false positives there, while AP (which ranks joints by score) barely changes. This
sweeps both thresholds over prediction files written without them and prints AP and MOTA for
each pair, so the thresholds can be picked on a split other than the one reported:

  python -m artrack_jax.evaluation.tables --config ... --workdir ... --split train \
      --max-sequences 20 --out runs/sweep --no-score-filter   # predictions with thresholds 0
  python -m artrack_jax.evaluation.score_sweep --gt runs/sweep/gt --pred runs/sweep/pred/he_tie \
      --pose 0,0.1,0.2,0.3 --joint 0,0.1,0.2,0.3,0.4

With ``--per-joint`` it also picks one joint threshold per joint type
(`track.min_joint_scores`): PoseTrack matches every joint type on its own, so a type's MOTA
depends (nearly: see `choose_per_joint`) only on its own threshold and the pose threshold,
and the best threshold of each type, taken separately, gives the best total. Its total is
evaluated again with those thresholds together and printed beside the best single threshold.
"""
from __future__ import annotations

import argparse
import dataclasses
import itertools
import sys

import numpy as np

from artrack_jax.evaluation import posetrack


def filter_sequence(seq: posetrack.PosesSequence, min_pose_score: float,
                    min_joint_score) -> posetrack.PosesSequence:
  """A copy of predictions without people whose mean joint score is under `min_pose_score`
  and without joints scored under `min_joint_score` (a number, or one per joint type);
  people left with no joint are dropped."""
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
  """AP and MOTA totals (and each joint type's MOTA) for every (pose, joint) threshold pair."""
  gts, preds = posetrack.load_directories(gt_dir, pred_dir)
  return evaluate_thresholds(gts, preds, pose_thresholds, joint_thresholds)


def evaluate_thresholds(gts, preds, pose_thresholds, joint_thresholds) -> list[dict]:
  """`sweep` on sequences in memory (ground truth and predictions, paired)."""
  rows = []
  for pose, joint in itertools.product(pose_thresholds, joint_thresholds):
    filtered = [filter_sequence(p, pose, joint) for p in preds]
    result = posetrack.evaluate_sequences(gts, filtered)
    rows.append({'min_pose_score': pose, 'min_joint_score': joint,
                 'ap': result['ap']['Total'], 'mota': result['mota']['Total'],
                 'precision': result['precision']['Total'],
                 'recall': result['recall']['Total'],
                 'mota_per_joint': [result['mota'][n] for n in posetrack.JOINT_NAMES]})
  return rows


def choose_per_joint(gts, preds, rows: list[dict]) -> dict:
  """The best joint threshold of each joint type for each pose threshold of `rows`.

  A joint type's MOTA depends only on its own threshold (PoseTrack matches each type on its
  own; the one coupling is a frame left with no written pose at all, which the toolkit scores
  for every type), so each type takes the threshold of its best MOTA among `rows`
  (`evaluate_thresholds` of the same sequences), and the thresholds together are evaluated
  again.

  Returns {'rows': one entry per pose threshold with 'min_joint_scores' (one per joint type,
  in `posetrack.JOINT_NAMES` order) and the totals measured with them ('ap', 'mota',
  'precision', 'recall'), 'best': the entry of the highest MOTA, 'joint_names'}.
  """
  out = []
  for pose in dict.fromkeys(r['min_pose_score'] for r in rows):
    of_pose = [r for r in rows if r['min_pose_score'] == pose]
    per_joint = np.array([r['mota_per_joint'] for r in of_pose], np.float64)   # [T, J]
    best = np.argmax(np.where(np.isnan(per_joint), -np.inf, per_joint), axis=0)
    chosen = np.array([of_pose[t]['min_joint_score'] for t in best], np.float64)
    result = posetrack.evaluate_sequences(gts, [filter_sequence(p, pose, chosen) for p in preds])
    out.append({'min_pose_score': pose, 'min_joint_scores': [float(v) for v in chosen],
                'ap': result['ap']['Total'], 'mota': result['mota']['Total'],
                'precision': result['precision']['Total'],
                'recall': result['recall']['Total']})
  return {'rows': out, 'best': max(out, key=lambda r: r['mota']),
          'joint_names': list(posetrack.JOINT_NAMES)}


def _floats(text: str) -> list[float]:
  return [float(v) for v in text.split(',') if v]


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--gt', required=True, help='ground-truth PoseTrack files')
  parser.add_argument('--pred', required=True, help='predictions written with thresholds 0')
  parser.add_argument('--pose', type=_floats, default=[0.0, 0.1, 0.2, 0.3])
  parser.add_argument('--joint', type=_floats, default=[0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
  parser.add_argument('--per-joint', action='store_true',
                      help='also choose one joint threshold per joint type '
                           '(track.min_joint_scores)')
  args = parser.parse_args(argv)
  try:
    gts, preds = posetrack.load_directories(args.gt, args.pred)
    rows = evaluate_thresholds(gts, preds, args.pose, args.joint)
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
  if args.per_joint:
    per = choose_per_joint(gts, preds, rows)
    print('\nper joint type: min_pose_score, chosen min_joint_scores '
          f'({", ".join(per["joint_names"])}), AP, MOTA, Prec, Rec')
    for r in per['rows']:
      scores = ','.join(f'{v:g}' for v in r['min_joint_scores'])
      print(f'{r["min_pose_score"]:.2f}  ({scores})  {r["ap"]:5.1f}  {r["mota"]:5.1f}  '
            f'{r["precision"]:5.1f}  {r["recall"]:4.1f}')
    b = per['best']
    print(f'best MOTA {b["mota"]:.1f} (single threshold: {best["mota"]:.1f}) at '
          f'--config.track.min_pose_score={b["min_pose_score"]:g} '
          f'--config.track.min_joint_scores="({",".join(f"{v:g}" for v in b["min_joint_scores"])},)"')
  return 0


if __name__ == '__main__':
  sys.exit(main())
