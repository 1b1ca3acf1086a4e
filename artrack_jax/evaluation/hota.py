"""Keypoint HOTA (DetA, AssA, LocA, HOTA per joint and in total) as the PoseTrack21 kit.

HOTA (Luiten et al., IJCV 2021) scores detection and association jointly at localisation
thresholds alpha = 0.05, 0.10, ..., 0.95; per alpha

  DetA = TP / (TP + FN + FP),
  AssA = (1 / TP) sum over TPs c of |TPA(c)| / (|TPA(c)| + |FNA(c)| + |FPA(c)|),
  HOTA = sqrt(DetA * AssA),  LocA = mean similarity of the TPs,

and each reported number is the mean over the 19 alphas. The PoseTrack21 kit (anDoer/PoseTrack21,
``eval/posetrack21/posetrack21/trackeval/metrics/hota_pose.py`` and ``datasets/posetrack.py``)
applies it per joint, with detections = joints. Read from that code and reproduced here:

* A joint exists when x > 0 and y > 0 (after the PoseTrack rules below); scores play no part.
* Keypoint similarity of a ground-truth and a predicted joint: ``max(0, 1 - d / 0.5001)`` with
  d = distance / head size (head size = 0.6 x head-box diagonal, PCKh's normalisation); 0 where
  either joint is missing. A TP at alpha needs similarity >= alpha - float eps.
* Matching, per frame and joint: Hungarian (``scipy.optimize.linear_sum_assignment``) maximising
  the similarity alone (TrackEval's generic HOTA maximises similarity x global alignment score;
  ``kit_matching=False`` does that).
* Association counts: per ground-truth id, predicted id and joint, the number of frames matched
  at alpha; |TPA| + |FNA| + |FPA| = (joints of the gt id) + (joints of the predicted id) - |TPA|.
* Sequences are combined by summing TP / FN / FP and weighting AssA and LocA by TP. The joint
  columns and 'Total' follow the kit: per sequence, 'Total' AssA / LocA are the mean over the
  15 joints and its counts the sums; combined, 'Total' DetA comes from the summed counts.
* Frames: the ground truth's frames flagged ``is_labeled`` (PoseTrack 2018 / 2021 files, see
  ``labelled_frames``) that have at least one annotation. The flag matters: PoseTrack21 keeps
  box-only annotations (no joint) in unlabelled frames, which the kit skips together with the
  predictions there (``posetrack``'s AP / MOTA rule, frames with annotations, would count those
  predictions as false positives). Files or in-memory sequences without the flags fall back to
  frames with annotations. (The kit fails on a labelled frame without any annotation.)
* Ignore regions remove points strictly inside them and then, in frames with ignore regions,
  people without points, for both sides.

Quirks of the kit reproduced with ``kit_quirks=True`` (the default):

1. A frame without ground-truth people adds the *sequence's* number of predicted joints to FP
   (not the frame's), and a frame without predicted people adds the sequence's number of
   ground-truth joints to FN. (The kit itself cannot get to the first case: a labelled frame
   whose people are all removed by ignore regions makes it fail; the rule is its code's.)
2. A sequence without any prediction has LocA 1 (TP 0).

``kit_quirks=False`` counts such frames by their own joints.

Checked against a run of the kit (commit 3e61960 of anDoer/PoseTrack21, in a NumPy 1.23
environment) by ``benchmarks/compare_hota_posetrack21.py``: every HOTA, DetA, AssA, LocA,
DetRe, DetPr, AssRe, AssPr value, per joint and in total, agrees to 1e-13 and the counts
exactly. Hand-computed cases are in ``tests/test_hota.py``.
"""
from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence as SequenceABC
from typing import Any

import numpy as np

from artrack_jax.evaluation import assignment
from artrack_jax.evaluation import posetrack
from artrack_jax.evaluation import validate

ALPHAS = np.arange(0.05, 0.99, 0.05)   # the kit's 19 thresholds
NUM_JOINTS = posetrack.NUM_JOINTS
_EPS = np.finfo('float').eps
_LABELS = {'hota': 'HOTA', 'deta': 'DetA', 'assa': 'AssA', 'loca': 'LocA'}
_FIELDS = ('HOTA', 'DetA', 'AssA', 'LocA', 'DetRe', 'DetPr', 'AssRe', 'AssPr')


def keypoint_similarity(gt: posetrack.FramePoses, pred: posetrack.FramePoses,
                        gt_valid: np.ndarray, pred_valid: np.ndarray) -> np.ndarray:
  """[G, P, 15] the kit's keypoint similarity max(0, 1 - (distance / head size) / 0.5001)."""
  diff = gt.points[:, None] - pred.points[None, :]
  norm = np.sqrt(diff[..., 0] ** 2 + diff[..., 1] ** 2)
  wh = gt.head_boxes[:, 2:] - gt.head_boxes[:, :2]
  head = posetrack.HEAD_SIZE_FACTOR * np.sqrt(wh[:, 0] ** 2 + wh[:, 1] ** 2)
  with np.errstate(divide='ignore', invalid='ignore'):
    dist = norm / head[:, None, None]
  both = gt_valid[:, None, :] & pred_valid[None, :, :]
  dist = np.where(both, dist, np.inf)
  return np.maximum((-1 / 0.5001) * dist + 1, 0)


def _valid(frame: posetrack.FramePoses) -> np.ndarray:
  return frame.present & (frame.points[..., 0] > 0) & (frame.points[..., 1] > 0)


def _relabel(ids_per_frame: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
  # sorted(set()) rather than np.unique: the same ids, without np.unique's 9 ms first call.
  ids = np.concatenate(ids_per_frame).tolist() if ids_per_frame else []
  unique = np.asarray(sorted(set(ids)), np.int64)
  return [np.searchsorted(unique, ids) for ids in ids_per_frame], len(unique)


def _final(res: dict[str, np.ndarray]) -> None:
  tp, fn, fp = res['TP'], res['FN'], res['FP']
  res['DetRe'] = tp / np.maximum(1, tp + fn)
  res['DetPr'] = tp / np.maximum(1, tp + fp)
  res['DetA'] = tp / np.maximum(1, tp + fn + fp)
  res['HOTA'] = np.sqrt(res['DetA'] * res['AssA'])


def _with_total(res: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
  """Appends the kit's 16th column: mean over joints (ratios) or sum (counts)."""
  out = {}
  for key, value in res.items():
    extra = value.sum(axis=1, keepdims=True) if key in ('TP', 'FN', 'FP') else value.mean(
        axis=1, keepdims=True)
    out[key] = np.concatenate([value, extra], axis=1)
  return out


def evaluate_sequence(frames: list[tuple[posetrack.FramePoses, posetrack.FramePoses]], *,
                      kit_quirks: bool = True, kit_matching: bool = True
                      ) -> dict[str, np.ndarray]:
  """One sequence: [19 alphas, 16] arrays (15 joints + 'Total') of TP, FN, FP, AssA, ..."""
  num_a = len(ALPHAS)
  res = {k: np.zeros((num_a, NUM_JOINTS)) for k in ('TP', 'FN', 'FP', 'AssA', 'AssRe',
                                                   'AssPr', 'LocA')}
  gt_valid = [_valid(g) for g, _ in frames]
  pred_valid = [_valid(p) for _, p in frames]
  num_gt_joints = sum((v.sum(axis=0) for v in gt_valid), np.zeros(NUM_JOINTS))
  num_pred_joints = sum((v.sum(axis=0) for v in pred_valid), np.zeros(NUM_JOINTS))
  num_gt_dets = sum(g.num_people for g, _ in frames)
  num_pred_dets = sum(p.num_people for _, p in frames)
  if num_pred_dets == 0 or num_gt_dets == 0:
    if num_pred_dets == 0:
      res['FN'] += num_gt_joints
    else:
      res['FP'] += num_pred_joints
    res['LocA'][:] = 1.0 if kit_quirks else 0.0
    _final(res)
    return _with_total(res)

  gt_ids, num_gt_ids = _relabel([g.track_ids for g, _ in frames])
  pred_ids, num_pred_ids = _relabel([p.track_ids for _, p in frames])
  potential = np.zeros((num_gt_ids, num_pred_ids, NUM_JOINTS))
  gt_id_count = np.zeros((num_gt_ids, 1, NUM_JOINTS))
  pred_id_count = np.zeros((1, num_pred_ids, NUM_JOINTS))
  sims = []
  for t, (g, p) in enumerate(frames):
    sim = keypoint_similarity(g, p, gt_valid[t], pred_valid[t])
    sims.append(sim)
    if p.num_people and g.num_people:
      denom = sim.sum(0)[None] + sim.sum(1)[:, None] - sim
      iou = np.zeros_like(sim)
      mask = denom > _EPS
      iou[mask] = sim[mask] / denom[mask]
      # Track ids are unique within a frame (checked when read): no repeated index.
      potential[gt_ids[t][:, None], pred_ids[t][None, :]] += iou
    gt_id_count[gt_ids[t], 0] += gt_valid[t]
    if p.num_people:
      pred_id_count[0, pred_ids[t]] += pred_valid[t]
  alignment = potential / np.maximum(1, gt_id_count + pred_id_count - potential)

  # Hungarian matching per frame and joint (the kit's order); the counting of all matched
  # pairs at every alpha is done once per sequence below.
  num_gt_both = np.zeros(NUM_JOINTS)    # valid joints of frames with people on both sides
  num_pred_both = np.zeros(NUM_JOINTS)
  matched_sim, matched_gt, matched_pred, matched_joint = [], [], [], []
  for t, (g, p) in enumerate(frames):
    if not g.num_people:
      res['FP'] += num_pred_joints if kit_quirks else pred_valid[t].sum(axis=0)
      continue
    if not p.num_people:
      res['FN'] += num_gt_joints if kit_quirks else gt_valid[t].sum(axis=0)
      continue
    sim = sims[t]
    num_gt_both += gt_valid[t].sum(axis=0)
    num_pred_both += pred_valid[t].sum(axis=0)
    # A joint without any positive similarity has no TP at any alpha, whatever is matched.
    joints = np.flatnonzero(sim.max(axis=(0, 1)) > 0).tolist()
    if not joints:
      continue
    score = sim if kit_matching else alignment[gt_ids[t][:, None], pred_ids[t][None, :]] * sim
    cost = np.ascontiguousarray(np.moveaxis(-score, 2, 0))   # [15, G, P], maximising score
    rows, cols = zip(*[assignment.linear_sum_assignment(cost[j]) for j in joints])
    joint = np.repeat(joints, [len(r) for r in rows])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    matched_sim.append(sim[rows, cols, joint])
    matched_gt.append(gt_ids[t][rows])
    matched_pred.append(pred_ids[t][cols])
    matched_joint.append(joint)
  shape = (num_a, num_gt_ids, num_pred_ids, NUM_JOINTS)
  matches = np.zeros(shape)
  tp = np.zeros((num_a, NUM_JOINTS))
  if matched_sim:
    values = np.concatenate(matched_sim)
    joint = np.concatenate(matched_joint)
    # ok[a, k]: the k-th matched pair counts as a TP at alpha a.
    ok = values[None, :] >= (np.asarray(ALPHAS, np.float64) - _EPS)[:, None]
    one_hot = np.zeros((len(joint), NUM_JOINTS))
    one_hot[np.arange(len(joint)), joint] = 1.0
    tp = ok.astype(np.float64) @ one_hot                                  # [19, 15]
    res['LocA'] += np.where(ok, values[None, :], 0.0) @ one_hot
    a_index, k_index = np.nonzero(ok)
    flat = np.ravel_multi_index((a_index, np.concatenate(matched_gt)[k_index],
                                 np.concatenate(matched_pred)[k_index], joint[k_index]), shape)
    matches = np.bincount(flat, minlength=matches.size).astype(np.float64).reshape(shape)
  res['TP'] += tp
  res['FN'] += num_gt_both - tp
  res['FP'] += num_pred_both - tp
  m = matches   # [19, G ids, P ids, 15]; the counts broadcast over the alphas
  tp = np.maximum(1, res['TP'])
  res['AssA'] = (m * (m / np.maximum(1, gt_id_count + pred_id_count - m))).sum((1, 2)) / tp
  res['AssRe'] = (m * (m / np.maximum(1, gt_id_count))).sum((1, 2)) / tp
  res['AssPr'] = (m * (m / np.maximum(1, pred_id_count))).sum((1, 2)) / tp
  res['LocA'] = np.maximum(1e-10, res['LocA']) / np.maximum(1e-10, res['TP'])
  _final(res)
  return _with_total(res)


def combine(per_sequence: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
  """The kit's ``combine_sequences``: sums of counts, TP-weighted AssA / AssRe / AssPr / LocA."""
  out = {k: sum(r[k] for r in per_sequence) for k in ('TP', 'FN', 'FP')}
  weight = np.maximum(1.0, out['TP'])
  for k in ('AssA', 'AssRe', 'AssPr'):
    out[k] = sum(r[k] * r['TP'] for r in per_sequence) / weight
  out['LocA'] = (np.maximum(1e-10, sum(r['LocA'] * r['TP'] for r in per_sequence))
                 / np.maximum(1e-10, out['TP']))
  _final(out)
  return out


# The kit's frame flags of a decoded ground-truth file (``images[].is_labeled``).
labelled_frames = posetrack.file_labelled_flags


def read_labelled_frames(path: str | os.PathLike) -> list[bool] | None:
  """``labelled_frames`` of a ground-truth file."""
  return labelled_frames(validate.read_json(path, 'ground-truth'))


def _with_flags(seq: posetrack.PosesSequence, flags: SequenceABC[bool] | None
                ) -> posetrack.PosesSequence:
  if flags is None:
    return seq
  if len(flags) != len(seq.frames):
    raise posetrack.EvaluationInputError(
        f'{seq.source}: {len(flags)} is_labeled flags for {len(seq.frames)} frames')
  frames = [dataclasses.replace(f, labeled=bool(f.labeled and flag))
            for f, flag in zip(seq.frames, flags)]
  return dataclasses.replace(seq, frames=frames)


def _file_flags(sequence: Any) -> list[bool] | None:
  """The ``is_labeled`` flags a read sequence or a decoded file brings with it."""
  if isinstance(sequence, posetrack.PosesSequence):
    return sequence.file_labelled
  return labelled_frames(sequence)


def evaluate_sequences(gt: SequenceABC, pred: SequenceABC, *, kit_quirks: bool = True,
                       kit_matching: bool = True,
                       gt_labelled: SequenceABC[SequenceABC[bool] | None] | None = None
                       ) -> dict[str, Any]:
  """Keypoint HOTA of in-memory or decoded sequences (see ``posetrack.evaluate_sequences``).

  ``gt_labelled``: per ground-truth sequence, its file's ``is_labeled`` flags
  (``read_labelled_frames``); frames flagged false are left out, as the kit leaves them out.
  None (or a None entry): a sequence read from a 2018 / 2021 file (``posetrack.load_sequence``)
  or a decoded one (mapping) brings its own flags, anything else counts its frames with
  annotations.

  Returns:
    {'hota', 'deta', 'assa', 'loca', 'detre', 'detpr', 'assre', 'asspr'}: joint name (and
    'Total') -> percent, the mean over the 19 alphas as the kit prints; 'num_tp', 'num_fn',
    'num_fp' at alpha = 0.05 (joint name -> int, 'Total' summed); 'num_sequences'.
  """
  gt = list(gt)
  if gt_labelled is None:
    gt_labelled = [None] * len(gt)
  elif len(gt_labelled) != len(gt):
    raise ValueError(f'gt_labelled has {len(gt_labelled)} entries for {len(gt)} sequences')
  gt = [_with_flags(posetrack._as_poses_sequence(s, 'gt', i),   # pylint: disable=protected-access
                    _file_flags(s) if flags is None else flags)
        for i, (s, flags) in enumerate(zip(gt, gt_labelled))]
  pred = [posetrack._as_poses_sequence(s, 'pred', i) for i, s in enumerate(pred)]   # pylint: disable=protected-access
  if len(gt) != len(pred):
    raise posetrack.EvaluationInputError(
        f'{len(gt)} ground-truth sequences but {len(pred)} predictions')
  per_sequence = []
  for g, p in zip(gt, pred):
    if len(g.frames) != len(p.frames):
      raise posetrack.EvaluationInputError(
          f'{p.source}: {len(p.frames)} prediction frames but {len(g.frames)} ground-truth '
          f'frames in {g.source}')
    if g.frame_keys is not None and p.frame_keys is not None:
      validate.check_frames_correspond(g.frame_keys, p.frame_keys, g.source, p.source)
    frames = posetrack._sequence_frames(g, p)   # pylint: disable=protected-access
    per_sequence.append(evaluate_sequence(frames, kit_quirks=kit_quirks,
                                          kit_matching=kit_matching))
  combined = combine(per_sequence)
  names = list(posetrack.JOINT_NAMES) + ['Total']
  out: dict[str, Any] = {'num_sequences': len(gt)}
  for field in _FIELDS:
    values = 100 * combined[field].mean(axis=0)
    out[field.lower()] = {n: float(v) for n, v in zip(names, values)}
  for field in ('TP', 'FN', 'FP'):
    out[f'num_{field.lower()}'] = {n: int(round(v)) for n, v in zip(names, combined[field][0])}
  return out


def evaluate(gt_dir: str, pred_dir: str, **kwargs) -> dict[str, Any]:
  """Keypoint HOTA of a directory of predictions against a directory of ground truth."""
  gts, preds = posetrack.load_directories(gt_dir, pred_dir)
  return evaluate_sequences(gts, preds, **kwargs)


def format_table(result: dict[str, Any]) -> str:
  """HOTA, DetA, AssA, LocA rows by the toolkit's column groups (percent)."""
  lines = ['Keypoint HOTA (PoseTrack21 kit):',
           '&       & Head & Shou & Elb  & Wri  & Hip  & Knee & Ankl & Total\\\\']
  for field in ('hota', 'deta', 'assa', 'loca'):
    per = result[field]
    cells = [float(np.mean([per[n] for n in names])) for _, names in posetrack.COLUMN_GROUPS]
    cells.append(per['Total'])
    lines.append(f'& {_LABELS[field]:5s} ' + ''.join(f'&{v:5.1f} ' for v in cells) + '\\\\')
  return '\n'.join(lines)
