"""Where PoseTrack AP goes: the AP a prediction would score with each kind of error corrected.

Reads PoseTrack ground truth and one prediction directory (the files `evaluation.tables` or
`track` write; no JAX) and pairs each predicted pose with a ground-truth person as the AP
evaluation does (`evaluation.posetrack.pair_poses`: each prediction takes the person
with the most of its joints within the PCKh@0.5 radius; each person keeps the first of the
predictions that chose it). It then corrects one kind of error after the other, in this order,
and prints the PoseTrack AP after each step, so each step's gain is what that error costs
(the error kinds of Ronchi and Perona's COCO keypoint analysis, read with PoseTrack's radius):

1. ``swap``: in a pose paired with a person, a left/right pair (shoulders, elbows, wrists, hips,
   knees, ankles) is exchanged (positions and scores) when the exchange puts more of the two
   joints within the radius of the person's joints: the left and right of a person exchanged;
2. ``inversion``: a joint of a paired pose beyond the radius of the person's joint, within
   1 head size (twice the radius) of the person's mirrored joint and nearer to it than to its
   own, is moved onto its own joint: the left/right confusion that no exchange repairs (both
   channels of a pair on one joint; Ronchi and Perona's inversion);
3. ``other person``: a joint of a paired pose beyond the radius of the person's joint and
   within 1 head size of another person's joint of the same type or its mirror (nearer than
   to its own) is moved onto its own joint: joints taken from someone else (their swap);
4. ``jitter``: a joint of a paired pose within 1 head size of the person's joint (twice the
   radius) but beyond the radius is moved onto it: localisation errors;
5. ``false poses``: poses with no joint within the radius of any person's joint are removed
   (background, distractors);
6. ``duplicates``: poses that chose a person who kept another pose are removed;
7. ``ranking``: every joint within the radius of its person is scored above every other joint
   (the scores' order, not the detections, limits AP: what is left is the misses).

What remains below 100 after step 7 is the ground-truth joints no prediction reaches: missed
detections. The steps are cumulative and the pairing is recomputed after each one. Ignore
regions are applied as the evaluation applies them; frames are those the evaluation reads.

Run:  python benchmarks/ap_error_oracles.py --gt runs/quickstart/gt \\
          --pred runs/quickstart/pred_ap/ke_sie_aux_pgg [--json out.json]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import numpy as np

from artrack_jax import skeletons
from artrack_jax.evaluation import posetrack

RADIUS = posetrack.PCKH_THRESHOLD
PERM = np.asarray(skeletons.POSETRACK.flip_permutation)
PAIRS = [(j, int(PERM[j])) for j in range(posetrack.NUM_JOINTS) if PERM[j] > j]
STEPS = ('as predicted', 'swap', 'inversion', 'other person', 'jitter', 'false poses',
         'duplicates', 'ranking')


def pairing(gt: posetrack.FramePoses, pred: posetrack.FramePoses
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Per prediction: its chosen person [P], whether that person kept it [P], and whether any
  of its joints lies within the radius of any person's joint [P] (the AP evaluation's rule)."""
  _, _, pck, chosen, is_kept = posetrack.pair_poses(gt, pred)
  return chosen, is_kept, pck.max(axis=1) > 0


def correct_frame(gt: posetrack.FramePoses, pred: posetrack.FramePoses, step: str
                  ) -> tuple[posetrack.FramePoses, int]:
  """``pred`` with the errors of one step corrected, and how many were corrected."""
  if not gt.num_people or not pred.num_people or step == 'as predicted':
    if step == 'false poses' and pred.num_people and not gt.num_people:
      return pred.select(np.zeros(pred.num_people, bool)), pred.num_people
    return pred, 0
  dist, _, pck, chosen, is_kept = posetrack.pair_poses(gt, pred)
  if step == 'false poses':
    hits_any = pck.max(axis=1) > 0
    return pred.select(hits_any), int((~hits_any).sum())
  if step == 'duplicates':
    drop = (pck.max(axis=1) > 0) & ~is_kept
    return pred.select(~drop), int(drop.sum())
  if step not in ('swap', 'inversion', 'other person', 'jitter', 'ranking'):
    raise ValueError(f'unknown step {step!r}')
  kept = np.flatnonzero(is_kept)
  d = dist[kept, chosen[kept]]                  # [K, 15]: each kept pose to its person
  points, present, scores = pred.points.copy(), pred.present.copy(), pred.scores.copy()
  count = 0
  if step == 'swap':
    # Joint a of the mirrored pose is the prediction's joint PERM[a]; pairs are disjoint, so
    # each pair's exchange is decided on the distances as predicted.
    mirrored = dataclasses.replace(pred, points=pred.points[:, PERM],
                                   present=pred.present[:, PERM])
    d_mirror = posetrack._normalised_distances(gt, mirrored)[kept, chosen[kept]]  # pylint: disable=protected-access
    for k, i in enumerate(kept):
      for a, b in PAIRS:
        if (d_mirror[k, [a, b]] <= RADIUS).sum() > (d[k, [a, b]] <= RADIUS).sum():
          for arr in (points, present, scores):
            arr[i, [a, b]] = arr[i, [b, a]]
          count += 1
  elif step in ('inversion', 'other person'):
    # d_mirror[i, g, j]: prediction i's joint j to person g's mirrored joint PERM[j].
    d_mirror = posetrack._normalised_distances(  # pylint: disable=protected-access
        dataclasses.replace(gt, points=gt.points[:, PERM], present=gt.present[:, PERM]), pred)
    own = np.isfinite(d) & (d > RADIUS)          # both annotated and predicted, a miss
    mirror = d_mirror[kept, chosen[kept]]
    inverted = own & (mirror <= 2 * RADIUS) & (mirror < d)
    if step == 'inversion':
      move = inverted
    else:
      others = np.ones((len(kept), gt.num_people), bool)
      others[np.arange(len(kept)), chosen[kept]] = False
      nearest = np.where(others[..., None], np.minimum(dist[kept], d_mirror[kept]),
                         np.inf).min(axis=1)
      move = own & ~inverted & (nearest <= 2 * RADIUS) & (nearest < d)
    for k, i in enumerate(kept):
      points[i, move[k]] = gt.points[chosen[i], move[k]]
    count = int(move.sum())
  elif step == 'jitter':
    near = (d > RADIUS) & (d <= 2 * RADIUS)
    for k, i in enumerate(kept):
      points[i, near[k]] = gt.points[chosen[i], near[k]]
    count = int(near.sum())
  else:
    hit = d <= RADIUS
    # Joints of poses no person kept are false positives whatever their scores.
    scores -= 10.0
    scores[kept] += np.where(hit, 20.0, 0.0)
    count = int(hit.sum())
  return dataclasses.replace(pred, points=points, present=present, scores=scores), count


def correct(gts, preds, step: str) -> tuple[list, int]:
  """Every prediction sequence with one step's errors corrected on its evaluated frames."""
  out, total = [], 0
  for g, p in zip(gts, preds):
    frames = []
    for gf, pf in zip(g.frames, p.frames):
      if not gf.labeled:
        frames.append(pf)
        continue
      if gf.ignore_regions:
        polygons = posetrack._ignore_polygons(gf.ignore_regions)  # pylint: disable=protected-access
        gf = posetrack._remove_ignored(gf, polygons)  # pylint: disable=protected-access
        pf = posetrack._remove_ignored(pf, polygons)  # pylint: disable=protected-access
      fixed, n = correct_frame(gf, pf, step)
      frames.append(fixed)
      total += n
    out.append(dataclasses.replace(p, frames=frames))
  return out, total


def oracles(gt_dir: str, pred_dir: str) -> list[dict]:
  """[{'step', 'corrected', 'ap': {column: value}}] for the steps in order (cumulative)."""
  gts, preds = posetrack.load_directories(gt_dir, pred_dir)
  rows = []
  for step in STEPS:
    preds, n = correct(gts, preds, step)
    result = posetrack.evaluate_sequences(gts, preds, mota=False)
    rows.append({'step': step, 'corrected': n, 'ap': result['ap'],
                 'num_labeled_frames': result['num_labeled_frames']})
  return rows


def format_rows(rows: list[dict]) -> str:
  cols = posetrack.COLUMN_NAMES
  lines = ['| errors corrected (cumulative) | corrected | ' + ' | '.join(cols) + ' |',
           '| --- | ---: | ' + ' | '.join('---:' for _ in cols) + ' |']
  for r in rows:
    lines.append(f'| {r["step"]} | {r["corrected"]} | '
                 + ' | '.join(f'{r["ap"][c]:.1f}' for c in cols) + ' |')
  return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--gt', required=True, help='ground-truth PoseTrack directory')
  parser.add_argument('--pred', required=True, help='prediction directory (every pose written)')
  parser.add_argument('--json', default='', help='also write the rows to this JSON file')
  args = parser.parse_args(argv)
  try:
    rows = oracles(args.gt, args.pred)
  except (posetrack.EvaluationInputError, FileNotFoundError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  print(format_rows(rows))
  if args.json:
    with open(args.json, 'w') as f:
      json.dump({'gt': args.gt, 'pred': args.pred, 'rows': rows}, f, indent=1)
  return 0


if __name__ == '__main__':
  sys.exit(main())
