"""Confidence intervals for PoseTrack AP and MOTA: a bootstrap over the evaluated sequences.

A row of Table 3 or 4 is one number computed from a few dozen clips; whether it differs from
its neighbour depends on how much that number moves when other clips are drawn. The sequences
are the unit of resampling (frames of one clip are not independent): each replicate draws as
many sequences as were evaluated, with replacement, and recomputes the metric from the drawn
sequences exactly as the evaluator pools them:

* AP: the per-joint (score, matched) entries of the drawn sequences are pooled, ranked and
  integrated as ``evaluation.posetrack`` does (the same ``_ap_per_joint``); total = mean over
  joints.
* MOTA: the evaluator sums misses, switches, false positives and objects per joint over
  sequences, so a replicate sums the drawn sequences' counts; total = mean over joints.

With all sequences drawn once each, both give exactly the evaluator's numbers (tested).
``paired`` rows (evaluated on the same sequences) share the replicates' draws, so the interval
of a difference between two rows is also available; the README's orderings use the stricter
test of non-overlapping per-row intervals.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from artrack_jax.evaluation import posetrack

NUM_JOINTS = posetrack.NUM_JOINTS


@dataclasses.dataclass
class SequenceStatistics:
  """What the evaluator pools from each sequence (lists indexed by sequence)."""
  names: list[str]
  ap_scores: list[np.ndarray]      # [N_s, J] scores of the predicted people
  ap_labels: list[np.ndarray]      # [N_s, J] bool: joint matched to a ground-truth joint
  ap_present: list[np.ndarray]     # [N_s, J] bool: joint predicted
  num_gt: np.ndarray               # [S, J] labelled ground-truth joints
  mot_counts: np.ndarray | None    # [S, 4, J] misses, switches, false positives, objects


_MOT_KEYS = ('num_misses', 'num_switches', 'num_false_positives', 'num_objects')


def sequence_statistics(gt: Sequence[Any], pred: Sequence[Any], *, ap: bool = True,
                        mota: bool = True,
                        toolkit_quirks: bool = True) -> SequenceStatistics:
  """Per-sequence AP entries and MOTA counts of predictions against ground truth.

  Args:
    gt, pred: as ``posetrack.evaluate_sequences`` takes them (same order, same frames).
    ap, mota: which metric's statistics to gather.
    toolkit_quirks: as in ``posetrack.evaluate_sequences``.
  """
  gt = [posetrack._as_poses_sequence(s, 'gt', i) for i, s in enumerate(gt)]  # pylint: disable=protected-access
  pred = [posetrack._as_poses_sequence(s, 'pred', i) for i, s in enumerate(pred)]  # pylint: disable=protected-access
  if len(gt) != len(pred):
    raise posetrack.EvaluationInputError(
        f'{len(gt)} ground-truth sequences but {len(pred)} predictions')
  scores, labels, present = [], [], []
  num_gt = np.zeros((len(gt), NUM_JOINTS))
  counts = np.zeros((len(gt), len(_MOT_KEYS), NUM_JOINTS)) if mota else None
  for s, (g, p) in enumerate(zip(gt, pred)):
    seq_scores, seq_labels, seq_present = [], [], []
    for gf, pf in posetrack._sequence_frames(g, p):  # pylint: disable=protected-access
      num_gt[s] += gf.present.sum(axis=0)
      if not ap:
        continue
      if gf.num_people > 0 and pf.num_people > 0:
        frame_labels, _ = posetrack.assign_predictions(gf, pf)
      else:
        frame_labels = np.zeros((pf.num_people, NUM_JOINTS), bool)
      seq_scores.append(pf.scores)
      seq_labels.append(frame_labels)
      seq_present.append(pf.present)
    if ap:
      scores.append(np.concatenate(seq_scores) if seq_scores else np.zeros((0, NUM_JOINTS)))
      labels.append(np.concatenate(seq_labels) if seq_labels
                    else np.zeros((0, NUM_JOINTS), bool))
      present.append(np.concatenate(seq_present) if seq_present
                     else np.zeros((0, NUM_JOINTS), bool))
    if mota:
      result = posetrack.evaluate_sequences([g], [p], ap=False, mota=True,
                                            toolkit_quirks=toolkit_quirks)
      for k, key in enumerate(_MOT_KEYS):
        counts[s, k] = [result[key][name] for name in posetrack.JOINT_NAMES]
  # Sequences are named by file name: rows read from different directories still pair up.
  return SequenceStatistics(names=[os.path.basename(g.source) for g in gt], ap_scores=scores,
                            ap_labels=labels,
                            ap_present=present, num_gt=num_gt, mot_counts=counts)


def _mean_over_joints(per_joint: np.ndarray) -> float:
  kept = per_joint[~np.isnan(per_joint)]
  return float(kept.mean()) if kept.size else float('nan')


def ap_total(stats: SequenceStatistics, draw: np.ndarray) -> float:
  """Total AP (percent) of the sequences ``draw`` (indices, repeats allowed)."""
  scores = np.concatenate([stats.ap_scores[i] for i in draw])
  labels = np.concatenate([stats.ap_labels[i] for i in draw])
  present = np.concatenate([stats.ap_present[i] for i in draw])
  ap, _, _ = posetrack._ap_per_joint(scores, labels, present, stats.num_gt[draw].sum(0))  # pylint: disable=protected-access
  return _mean_over_joints(ap)


def mota_total(stats: SequenceStatistics, draw: np.ndarray) -> float:
  """Total MOTA (percent) of the sequences ``draw``."""
  misses, switches, fps, objects = stats.mot_counts[draw].sum(axis=0)
  objects = np.where(objects > 0, objects, np.nan)
  return _mean_over_joints(100.0 * (1.0 - (misses + switches + fps) / objects))


METRICS = {'ap': ap_total, 'mota': mota_total}


def draws(num_sequences: int, num_samples: int = 1000, seed: int = 0) -> np.ndarray:
  """[num_samples, num_sequences] sequence indices drawn with replacement."""
  rng = np.random.default_rng(seed)
  return rng.integers(0, num_sequences, size=(num_samples, num_sequences))


def interval(stats: SequenceStatistics, metric: str, samples: np.ndarray,
             level: float = 0.95) -> dict[str, float]:
  """Point estimate (all sequences once) and the percentile bootstrap interval.

  Returns:
    ``{'value', 'low', 'high', 'level', 'samples'}`` in percent.
  """
  fn = METRICS[metric]
  value = fn(stats, np.arange(len(stats.names)))
  replicates = np.array([fn(stats, d) for d in samples])
  alpha = (1.0 - level) / 2
  low, high = np.nanpercentile(replicates, [100 * alpha, 100 * (1 - alpha)])
  return {'value': value, 'low': float(low), 'high': float(high), 'level': level,
          'samples': int(len(samples))}


def paired_difference(a: SequenceStatistics, b: SequenceStatistics, metric: str,
                      samples: np.ndarray, level: float = 0.95) -> dict[str, float]:
  """Interval of ``metric(a) - metric(b)`` over the same draws (rows on the same sequences)."""
  if a.names != b.names:
    raise ValueError('paired rows must be evaluated on the same sequences in the same order')
  fn = METRICS[metric]
  every = np.arange(len(a.names))
  diffs = np.array([fn(a, d) - fn(b, d) for d in samples])
  alpha = (1.0 - level) / 2
  low, high = np.nanpercentile(diffs, [100 * alpha, 100 * (1 - alpha)])
  return {'value': fn(a, every) - fn(b, every), 'low': float(low), 'high': float(high),
          'level': level, 'samples': int(len(samples))}


def intervals_for_rows(rows: Mapping[str, SequenceStatistics], metric: str,
                       num_samples: int = 1000, seed: int = 0,
                       level: float = 0.95) -> dict[str, dict[str, float]]:
  """:func:`interval` of every row, all rows resampled with the same draws."""
  if not rows:
    return {}
  n = {len(s.names) for s in rows.values()}
  if len(n) != 1:
    raise ValueError(f'rows evaluated on different numbers of sequences: {sorted(n)}')
  samples = draws(n.pop(), num_samples, seed)
  return {name: interval(s, metric, samples, level) for name, s in rows.items()}


def row_intervals(rows: Mapping[str, tuple[str, str]], metric: str, *,
                  pairs: Sequence[tuple[str, str]] = (), num_samples: int = 1000,
                  seed: int = 0, level: float = 0.95) -> dict[str, Any]:
  """Intervals of rows evaluated on the same sequences, and of paired differences.

  Args:
    rows: row name -> (ground-truth directory, prediction directory with the same file
      names); every row must hold the same sequences.
    metric: 'ap' or 'mota'.
    pairs: (a, b) row names whose difference ``a - b`` gets an interval too.

  Returns:
    ``{'metric', 'level', 'samples', 'seed', 'num_sequences', 'rows': {row: interval},
    'differences': {'a - b': interval}}``, values in percent.
  """
  if metric not in METRICS:
    raise ValueError(f'metric must be one of {sorted(METRICS)}, got {metric!r}')
  stats = {}
  for row, (gt_dir, pred_dir) in rows.items():
    gts, preds = posetrack.load_directories(gt_dir, pred_dir)
    stats[row] = sequence_statistics(gts, preds, ap=metric == 'ap', mota=metric == 'mota')
  names = {tuple(st.names) for st in stats.values()}
  if len(names) > 1:
    raise ValueError('rows evaluated on different sequences: ' +
                     ', '.join(f'{r}: {len(st.names)}' for r, st in stats.items()))
  num = len(next(iter(stats.values())).names) if stats else 0
  samples = draws(num, num_samples, seed)
  out = {'metric': metric, 'level': level, 'samples': num_samples, 'seed': seed,
         'num_sequences': num, 'rows': {}, 'differences': {}}
  for row, s in stats.items():
    out['rows'][row] = interval(s, metric, samples, level)
  for a, b in pairs:
    if a in stats and b in stats:
      out['differences'][f'{a} - {b}'] = paired_difference(stats[a], stats[b], metric,
                                                           samples, level)
  return out


def main(argv: Sequence[str] | None = None) -> int:
  parser = argparse.ArgumentParser(
      prog='python -m artrack_jax.evaluation.bootstrap',
      description='95% bootstrap intervals over sequences of PoseTrack AP or MOTA.')
  parser.add_argument('--gt', required=True, help='directory of ground-truth files')
  parser.add_argument('--pred', action='append', required=True, metavar='ROW=DIR',
                      help='a row and its prediction directory (repeat)')
  parser.add_argument('--metric', choices=sorted(METRICS), required=True)
  parser.add_argument('--pair', action='append', default=[], metavar='A:B',
                      help='also the interval of row A minus row B (repeat)')
  parser.add_argument('--samples', type=int, default=1000)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--out', help='write the JSON here')
  args = parser.parse_args(argv)
  pred_dirs = {}
  for item in args.pred:
    row, sep, path = item.partition('=')
    if not sep or not row or not path:
      parser.error(f'--pred {item!r}: expected ROW=DIR')
    pred_dirs[row] = path
  pairs = []
  for item in args.pair:
    a, sep, b = item.partition(':')
    if not sep:
      parser.error(f'--pair {item!r}: expected A:B')
    pairs.append((a, b))
  try:
    result = row_intervals({r: (args.gt, d) for r, d in pred_dirs.items()}, args.metric,
                           pairs=pairs,
                           num_samples=args.samples, seed=args.seed)
  except posetrack.EvaluationInputError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  text = json.dumps(result, indent=2)
  if args.out:
    with open(args.out, 'w', encoding='utf-8') as f:
      f.write(text + '\n')
  for row, r in result['rows'].items():
    print(f'{row:>16s} {r["value"]:6.1f}  [{r["low"]:6.1f}, {r["high"]:6.1f}]')
  for name, r in result['differences'].items():
    print(f'{name:>24s} {r["value"]:+6.1f}  [{r["low"]:+6.1f}, {r["high"]:+6.1f}]')
  return 0


if __name__ == '__main__':
  raise SystemExit(main())
