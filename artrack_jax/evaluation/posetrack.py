"""PoseTrack evaluation: per-joint AP and MOTA exactly as the official ``poseval`` toolkit.

Section 4.1 of the paper evaluates multi-person pose estimation with AP and tracking with MOTA
following the PoseTrack benchmark. This module reproduces the numbers of the official toolkit
(``poseval``: ``evaluateAP.py``, ``evaluateTracking.py``, ``eval_helpers.py`` with
py-motmetrics 1.4 underneath) on NumPy arrays, without its per-point Python loops and pandas.

Inputs are directories of per-sequence JSON files, PoseTrack 2017 ("annolist") or PoseTrack
2018 (COCO-style) or a mix; ground truth and prediction files are paired by file name. All
values are reported in percent, as the toolkit prints them.

The toolkit's rules, reproduced here:

* A ground-truth frame counts ("labelled") when it has at least one annotated person record
  (``annorect`` in 2017 files, an annotation in 2018 files); the files' ``is_labeled`` flags are
  not consulted, as in the toolkit. Predictions in the other frames are never looked at.
* Joints: the 15 PoseTrack 2017 joints (``skeletons.POSETRACK``). In 2018 files a keypoint slot
  is a joint unless it is exactly ``(0, 0, 0)``; the ear slots are dropped.
* Points (ground truth and predicted) strictly inside an ignore-region polygon of the frame are
  removed (shapely ``contains``: points on the boundary stay). In frames that have ignore
  regions, people left without points are removed.
* Head size = 0.6 x head-box diagonal; a predicted joint matches a ground-truth joint when
  ``distance / head size <= 0.5`` (PCKh@0.5).
* AP: each prediction chooses the ground-truth person with the highest PCKh (fraction of that
  person's annotated joints it matches, first maximum wins), each ground-truth person keeps the
  first of the predictions with the highest PCKh among those that chose it (none when that PCKh
  is 0). Joints of a kept prediction are true positives where they match, all joints of other
  predictions are false positives; scores play no part in the matching. Per joint, entries of
  all frames are pooled and sorted by score (NumPy's default ``argsort``, reversed, so ties are
  broken exactly as the toolkit does), and AP is the VOC area under the monotone precision
  envelope. A missing score counts as ``MIN_SCORE = -9999``. Joints without any prediction get
  AP 0 (even without ground truth); joints with predictions but no ground truth get NaN, and
  NaN joints are left out of the total.
* MOTA: per sequence and joint, a py-motmetrics ``MOTAccumulator`` is fed frame by frame with
  the ground-truth people that have the joint, the predictions that have it and their
  normalised distance where it is <= 0.5 (no match otherwise). ``_MotAccumulator`` below
  re-implements its rules: pairs of the last match that are still within threshold are kept
  first, the rest are assigned with the Hungarian algorithm
  (``scipy.optimize.linear_sum_assignment`` on the same cost matrix as py-motmetrics), and a
  ground-truth track matched to a different prediction track than last time is an ID switch.
  Counts are summed over sequences per joint; MOTA = 1 - (misses + switches + false positives)
  / objects, precision = detections / (detections + false positives), recall = detections /
  objects, MOTP = 1 - summed distance / detections.
* Column groups as the toolkit prints them: Head = mean(head_top, neck, nose), Shou, Elb, Wri,
  Hip, Knee, Ankl = mean of right and left; Total = mean of the 15 joints that are not NaN.

Quirks of the toolkit that published numbers include (``toolkit_quirks=True``, the default):

1. The last labelled frame of every sequence is left out of MOTA (``imgidxs[:-1]``); it still
   counts for AP. A sequence with a single labelled frame therefore adds nothing to MOTA (the
   toolkit itself crashes on such a sequence).
2. A labelled frame with no predictions, or with no ground-truth person left, is scored for
   MOTA, for every joint, as one dummy object and one dummy hypothesis that cannot match: one
   miss and one false positive per joint, whatever the real people of that frame are.
3. MOTP uses the sum of the distance column of all events py-motmetrics (>= 1.2) records:
   every candidate pair within threshold (its ``RAW`` events), every match and switch, and the
   distances of its ``ASCEND``/``TRANSFER``/``MIGRATE`` sub-events. This is what the toolkit
   prints; it is not the CLEAR-MOT MOTP and can be negative.

With ``toolkit_quirks=False`` every labelled frame counts, frames without predictions or ground
truth score their real people (misses or false positives), and MOTP uses the distances of the
matches only.

Files are read by ``data/posetrack_reader.py``, the reader the TFDS builders use too. Ground-
truth and prediction files are validated (frame counts, unique track ids per frame,
track ids in ``[0, MAX_TRACK_ID)``, joint ids in ``[0, 15)``, numbers where numbers belong, head
boxes on every ground-truth person with points); problems raise ``EvaluationInputError`` naming
the file, the frame, the person and the field.
"""
from __future__ import annotations

import dataclasses
import glob
import math
import os
import warnings
from collections.abc import Mapping, Sequence as SequenceABC
from typing import Any

import numpy as np
import shapely

from artrack_jax import skeletons
from artrack_jax.data import posetrack_reader
from artrack_jax.evaluation import assignment
from artrack_jax.evaluation import validate
from artrack_jax.evaluation.validate import EvaluationInputError

JOINT_NAMES: tuple[str, ...] = skeletons.POSETRACK.names
NUM_JOINTS = len(JOINT_NAMES)
# Score given to a predicted joint without one (the toolkit's MIN_SCORE).
MIN_SCORE = -9999.0
# Track ids must stay below this (the toolkit offsets them per sequence by this amount).
MAX_TRACK_ID = 10000
# PCKh threshold and head size factor of the toolkit.
PCKH_THRESHOLD = 0.5
HEAD_SIZE_FACTOR = 0.6

# The printed column groups, in the toolkit's order and with its joint order inside a group.
COLUMN_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ('Head', ('head_top', 'neck', 'nose')),
    ('Shou', ('right_shoulder', 'left_shoulder')),
    ('Elb', ('right_elbow', 'left_elbow')),
    ('Wri', ('right_wrist', 'left_wrist')),
    ('Hip', ('right_hip', 'left_hip')),
    ('Knee', ('right_knee', 'left_knee')),
    ('Ankl', ('right_ankle', 'left_ankle')),
)
COLUMN_NAMES = tuple(name for name, _ in COLUMN_GROUPS) + ('Total',)

_COUNT_KEYS = ('num_misses', 'num_switches', 'num_false_positives', 'num_objects',
               'num_detections')


@dataclasses.dataclass
class FramePoses:
  """The people of one frame as arrays, joints in PoseTrack 2017 order.

  Attributes:
    points: [n, 15, 2] float64 joint positions (x, y) in image pixels (0 where absent).
    present: [n, 15] bool, the joint is annotated (ground truth) or predicted.
    track_ids: [n] int64 track ids.
    head_boxes: [n, 4] float64 head boxes (x1, y1, x2, y2); ground truth only (NaN otherwise).
    scores: [n, 15] float64 per-joint scores, ``MIN_SCORE`` where missing; predictions only.
    labeled: ground truth: the frame counts for evaluation (it has at least one person record,
      the toolkit's rule). Unused for predictions.
    ignore_regions: ground truth: ignore polygons, each [V, 2] float64 (x, y); V may be 0.
  """
  points: np.ndarray
  present: np.ndarray
  track_ids: np.ndarray
  head_boxes: np.ndarray
  scores: np.ndarray
  labeled: bool = False
  ignore_regions: list[np.ndarray] = dataclasses.field(default_factory=list)

  @property
  def num_people(self) -> int:
    return int(self.track_ids.shape[0])

  def select(self, keep: np.ndarray) -> 'FramePoses':
    """The people where ``keep`` [n] is true."""
    return dataclasses.replace(
        self, points=self.points[keep], present=self.present[keep],
        track_ids=self.track_ids[keep], head_boxes=self.head_boxes[keep],
        scores=self.scores[keep])


@dataclasses.dataclass
class PosesSequence:
  """One sequence: its name (file stem), its frames, and where it came from (for messages)."""
  name: str
  frames: list[FramePoses]
  source: str = '<memory>'
  # Per frame {'id', 'name', 'path'} from the file (``FileFrame.key``); None when
  # built in memory. Used to check that prediction frames are the ground truth's frames.
  frame_keys: list[dict[str, Any]] | None = None
  # A 2018 / 2021 file's ``images[].is_labeled`` flags (``file_labelled_flags``), the frames
  # the PoseTrack21 kit evaluates; None for 2017 files and sequences built in memory.
  file_labelled: list[bool] | None = None
  # Built by ``parse_sequence`` from a file's checked fields (the evaluators skip the checks of
  # a sequence built by hand).
  from_file: bool = dataclasses.field(default=False, repr=False)


def _empty_frame(labeled: bool = False, ignore_regions=None) -> FramePoses:
  return FramePoses(
      points=np.zeros((0, NUM_JOINTS, 2)), present=np.zeros((0, NUM_JOINTS), bool),
      track_ids=np.zeros((0,), np.int64), head_boxes=np.zeros((0, 4)),
      scores=np.zeros((0, NUM_JOINTS)), labeled=labeled, ignore_regions=ignore_regions or [])


def _frame_from_people(people: list[dict[str, Any]], labeled: bool,
                       ignore_regions: list[np.ndarray]) -> FramePoses:
  frame = _empty_frame(labeled, ignore_regions)
  if not people:
    return frame
  frame.points = np.stack([p['points'] for p in people])
  frame.present = np.stack([p['present'] for p in people])
  frame.track_ids = np.asarray([p['track_id'] for p in people], np.int64)
  frame.head_boxes = np.stack([p['head_box'] for p in people])
  frame.scores = np.stack([p['scores'] for p in people])
  return frame


# ----------------------------------------------------------------------------------------------
# Reading and validating files.


class _Where:
  """Builds error messages that name the file, the frame, the person and the field."""

  def __init__(self, source: str):
    self.source = source
    self.warned = False   # the missing-score warning is given once per source

  def fail(self, where: str, message: str):
    raise EvaluationInputError(f'{self.source}: {where}: {message}')


def _is_number(value) -> bool:
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number(value, w: _Where, where: str, field: str) -> float:
  if not _is_number(value) or not math.isfinite(value):
    w.fail(where, f'field {field!r} must be a finite number, got {value!r}')
  return float(value)


def _integer(value, w: _Where, where: str, field: str) -> int:
  if not _is_number(value) or not math.isfinite(value) or value != int(value):
    w.fail(where, f'field {field!r} must be an integer, got {value!r}')
  return int(value)


def _track_id(value, w: _Where, where: str) -> int:
  track_id = _integer(value, w, where, 'track_id')
  if not 0 <= track_id < MAX_TRACK_ID:
    w.fail(where, f'field \'track_id\' = {track_id} is outside [0, {MAX_TRACK_ID})')
  return track_id


def _check_unique_track_ids(track_ids: list[int], w: _Where, where: str):
  if len(set(track_ids)) != len(track_ids):
    duplicates = sorted({t for t in track_ids if track_ids.count(t) > 1})
    w.fail(where, f'field \'track_id\' is not unique within the frame (repeated: {duplicates})')


def _polygon(xs, ys, w: _Where, where: str) -> np.ndarray:
  if not isinstance(xs, list) or not isinstance(ys, list) or len(xs) != len(ys):
    w.fail(where, 'ignore region x and y must be lists of the same length')
  poly = np.asarray([[_number(x, w, where, 'x'), _number(y, w, where, 'y')]
                     for x, y in zip(xs, ys)], np.float64).reshape(-1, 2)
  if 0 < len(poly) < 3:
    # shapely (and so the toolkit) cannot build a polygon from one or two vertices.
    w.fail(where, f'an ignore region polygon needs at least 3 vertices, got {len(poly)}')
  return poly


def _new_person(track_id: int) -> dict[str, Any]:
  return {'track_id': track_id, 'points': np.zeros((NUM_JOINTS, 2)),
          'present': np.zeros(NUM_JOINTS, bool), 'scores': np.full(NUM_JOINTS, MIN_SCORE),
          'head_box': np.full(4, np.nan), 'missing_score': False}


def _warn_missing_scores(missing: bool, w: _Where, where: str):
  if missing and not w.warned:
    w.warned = True
    warnings.warn(f'{w.source}: {where}: predicted joints without a score; they are ranked '
                  f'with the toolkit\'s fallback score {MIN_SCORE:g}', stacklevel=2)


def parse_sequence(data: Mapping, name: str, role: str, source: str = '<memory>'
                   ) -> PosesSequence:
  """Parses one sequence's JSON content (PoseTrack 2017 or 2018).

  Args:
    data: the decoded JSON object.
    name: the sequence name (file stem).
    role: 'gt' (ground truth: head boxes required, ignore regions read) or 'pred' (predictions:
      scores read).
    source: where the data came from, for error messages.

  Returns:
    The sequence as arrays.

  Raises:
    EvaluationInputError: on malformed content, naming the source, frame, person and field.
  """
  if role not in ('gt', 'pred'):
    raise ValueError(f'role must be \'gt\' or \'pred\', got {role!r}')
  # The reader the builders use too: every field checked, named by its JSON path.
  parsed = posetrack_reader.parse(data, source, role, error=EvaluationInputError)
  w = _Where(source)
  present = parsed.present
  points = np.where(present[..., None], parsed.keypoints[..., :2], 0.0)
  if role == 'pred':
    given = present & np.isfinite(parsed.scores)
    scores = np.where(given, parsed.scores, MIN_SCORE)
    head_boxes = np.full((len(points), 4), np.nan)
    missing = np.flatnonzero((present & ~given).any(axis=1) & parsed.scored)
    if missing.size:
      _warn_missing_scores(True, w, parsed.paths[int(missing[0])])
  else:
    scores = np.full(present.shape, MIN_SCORE)
    head_boxes = parsed.head_corners
  frames = []
  for fr, rows in zip(parsed.frames, parsed.rows_of_frames()):
    rows = rows[parsed.scored[rows]]   # 2017 people without a point list are not scored
    frames.append(FramePoses(
        points=points[rows], present=present[rows], track_ids=parsed.track_ids[rows],
        head_boxes=head_boxes[rows], scores=scores[rows], labeled=fr.has_records,
        ignore_regions=fr.ignore_regions if role == 'gt' else []))
  return PosesSequence(name=name, frames=frames, source=source,
                       frame_keys=[fr.key() for fr in parsed.frames],
                       file_labelled=file_labelled_flags(data), from_file=True)


def file_labelled_flags(data: Any) -> list[bool] | None:
  """The PoseTrack21 kit's frame flags of a decoded ground-truth file: ``images[].is_labeled``.

  None for anything else (PoseTrack 2017 files, in-memory sequences): then frames with
  annotations count. A frame without the flag counts when it has annotations.
  """
  if not isinstance(data, Mapping) or 'annolist' in data:
    return None
  images = data.get('images')
  if not isinstance(images, list):
    return None
  return [bool(im.get('is_labeled', True)) if isinstance(im, Mapping) else True
          for im in images]


def load_sequence(path: str, role: str) -> PosesSequence:
  """Reads one per-sequence JSON file (PoseTrack 2017, 2018 or 2021); see ``parse_sequence``."""
  data = validate.read_json(path, 'ground-truth' if role == 'gt' else 'prediction')
  name = os.path.splitext(os.path.basename(path))[0]
  return parse_sequence(data, name, role, source=path)


def list_ground_truth(gt_dir: str, toolkit_order: bool = True) -> list[str]:
  """The ``*.json`` files of ``gt_dir`` in the order the toolkit takes them.

  ``toolkit_order``: ``glob.glob`` order, unsorted, as ``poseval``'s ``load_data_dir`` lists
  them (the directory's own order); it decides how AP breaks score ties between sequences, so
  it is what reproduces the toolkit on tied scores. Otherwise sorted by name.
  """
  paths = glob.glob(os.path.join(glob.escape(gt_dir), '*.json'))
  return paths if toolkit_order else sorted(paths)


def load_directories(gt_dir: str, pred_dir: str, toolkit_order: bool = True
                     ) -> tuple[list[PosesSequence], list[PosesSequence]]:
  """Reads every ``*.json`` of ``gt_dir`` and the prediction file of the same name.

  Sequences come in the toolkit's order (see ``list_ground_truth``) or, without
  ``toolkit_order``, in file-name order. Prediction files without a ground-truth file are not
  read, as in the toolkit.
  """
  for d, what in ((gt_dir, 'ground-truth'), (pred_dir, 'prediction')):
    if not os.path.isdir(d):
      raise EvaluationInputError(f'{d}: {what} directory does not exist'
                                 if not os.path.exists(d) else
                                 f'{d}: expected a {what} directory')
  gt_paths = list_ground_truth(gt_dir, toolkit_order)
  if not gt_paths:
    raise EvaluationInputError(f'{gt_dir}: no ground-truth *.json files')
  gts, preds = [], []
  for gt_path in gt_paths:
    pred_path = os.path.join(pred_dir, os.path.basename(gt_path))
    if not os.path.lexists(pred_path):
      raise EvaluationInputError(f'{pred_path}: prediction file for ground truth {gt_path} '
                                 'does not exist')
    gts.append(load_sequence(gt_path, 'gt'))
    preds.append(load_sequence(pred_path, 'pred'))
  return gts, preds


def from_sequence(sequence, role: str) -> PosesSequence:
  """Converts an in-memory ``artrack_jax.data.types.Sequence`` into arrays.

  Joints with visibility ``v > 0`` are present (the convention of ``data/types.py``); a ground-
  truth frame counts when ``is_labeled`` is set and it has people. Skeletons ``posetrack`` (15
  joints) and ``posetrack18`` (17 slots) are accepted.
  """
  w = _Where(f'sequence {sequence.name!r}')
  if sequence.skeleton not in ('posetrack', 'posetrack18'):
    w.fail('skeleton', f'PoseTrack evaluation needs the posetrack skeleton, got '
           f'{sequence.skeleton!r}')
  frames = []
  for f, frame in enumerate(sequence.frames):
    people, track_ids = [], []
    for p, src in enumerate(frame.people):
      where = f'frame {f}, person {p}'
      kpts = np.asarray(src.keypoints, np.float64)
      scores = None if src.scores is None else np.asarray(src.scores, np.float64)
      if sequence.skeleton == 'posetrack18':
        kpts = skeletons.posetrack18_to_posetrack(kpts)
        scores = None if scores is None else scores[skeletons.PT_TO_PT18]
      if kpts.shape != (NUM_JOINTS, 3) or not np.all(np.isfinite(kpts)):
        w.fail(where, f'field \'keypoints\' must be finite [{NUM_JOINTS}, 3], got {kpts.shape}')
      track_id = _track_id(src.track_id, w, where)
      track_ids.append(track_id)
      person = _new_person(track_id)
      person['present'] = kpts[:, 2] > 0
      person['points'] = np.where(person['present'][:, None], kpts[:, :2], 0.0)
      if role == 'gt':
        if src.bbox_head is not None:
          x, y, bw, bh = (_number(float(v), w, where, 'bbox_head') for v in src.bbox_head)
          person['head_box'] = np.asarray([x, y, x + bw, y + bh])
        elif person['present'].any():
          w.fail(where, 'field \'bbox_head\' is missing')
      elif scores is None:
        person['missing_score'] = bool(person['present'].any())
      else:
        if scores.shape != (NUM_JOINTS,) or not np.all(np.isfinite(scores)):
          w.fail(where, f'field \'scores\' must be finite [{NUM_JOINTS}]')
        person['scores'] = scores.copy()
      people.append(person)
    _check_unique_track_ids(track_ids, w, f'frame {f}')
    _warn_missing_scores(any(p['missing_score'] for p in people), w, f'frame {f}')
    regions = []
    if role == 'gt':
      for r, poly in enumerate(frame.ignore_regions):
        poly = np.asarray(poly, np.float64).reshape(-1, 2)
        regions.append(_polygon(poly[:, 0].tolist(), poly[:, 1].tolist(), w,
                                f'frame {f}, ignore region {r}'))
    frames.append(_frame_from_people(
        people, labeled=bool(frame.is_labeled and frame.people), ignore_regions=regions))
  return PosesSequence(name=sequence.name, frames=frames, source=w.source)


def _check_poses_sequence(sequence: PosesSequence, role: str) -> PosesSequence:
  """Shapes and track ids of a sequence built by hand."""
  w = _Where(sequence.source)
  for f, fr in enumerate(sequence.frames):
    n = fr.track_ids.shape[0] if fr.track_ids.ndim == 1 else -1
    shapes = {'points': (fr.points.shape, (n, NUM_JOINTS, 2)),
              'present': (fr.present.shape, (n, NUM_JOINTS)),
              'head_boxes': (fr.head_boxes.shape, (n, 4)),
              'scores': (fr.scores.shape, (n, NUM_JOINTS))}
    for field, (shape, expected) in shapes.items():
      if n < 0 or shape != expected:
        w.fail(f'frame {f}', f'field {field!r} has shape {shape}, expected {expected}')
    track_ids = fr.track_ids.tolist()
    for track_id in track_ids:
      _track_id(track_id, w, f'frame {f}')
    _check_unique_track_ids(track_ids, w, f'frame {f}')
    if role == 'gt' and not np.all(np.isfinite(fr.head_boxes[fr.present.any(axis=1)])):
      w.fail(f'frame {f}', 'field \'head_boxes\' must be finite for people with points')
  return sequence


def _as_poses_sequence(item, role: str, index: int) -> PosesSequence:
  if isinstance(item, PosesSequence):
    return item if item.from_file else _check_poses_sequence(item, role)
  if isinstance(item, Mapping):
    return parse_sequence(item, name=f'{role}[{index}]', role=role,
                          source=f'<{role} sequence {index}>')
  if hasattr(item, 'frames') and hasattr(item, 'skeleton'):
    return from_sequence(item, role)
  raise TypeError(f'{role} sequence {index}: expected PosesSequence, data.types.Sequence or a '
                  f'decoded PoseTrack JSON object, got {type(item).__name__}')


# ----------------------------------------------------------------------------------------------
# Matching.


def _ignore_polygons(regions: list[np.ndarray]) -> np.ndarray:
  """[R] shapely polygons of a frame's ignore regions (empty ones left out)."""
  return np.asarray([shapely.Polygon(poly) for poly in regions if len(poly)], dtype=object)


def _remove_ignored(frame: FramePoses, polygons: np.ndarray) -> FramePoses:
  """Drops points strictly inside any ignore polygon, then people left without points.

  Args:
    frame: the poses of a frame whose ground truth has ignore regions.
    polygons: ``_ignore_polygons`` of those regions (may be empty: regions without vertices
      still make the frame drop people without points, as the toolkit does).
  """
  present = frame.present.copy()
  if polygons.size and frame.num_people and present.any():
    points = shapely.points(frame.points.reshape(-1, 2))
    # Non-prepared contains, the predicate the toolkit evaluates point by point; every
    # polygon against every point in one call.
    inside = shapely.contains(polygons[:, None], points[None, :]).any(axis=0)
    present &= ~inside.reshape(present.shape)
  frame = dataclasses.replace(frame, present=present)
  # Only frames with ignore regions drop people without points (the toolkit's rule).
  return frame.select(present.any(axis=1))


def _normalised_distances(gt: FramePoses, pred: FramePoses) -> np.ndarray:
  """[P, G, 15] distance / head size where both joints exist, +inf elsewhere.

  Computed with the same floating-point operations as the toolkit (sqrt(dx^2 + dy^2) of
  GT - prediction; head size 0.6 * sqrt(w^2 + h^2) of x2 - x1, y2 - y1) so that comparisons with
  the threshold and Hungarian ties resolve identically.
  """
  diff = gt.points[None, :, :, :] - pred.points[:, None, :, :]
  norm = np.sqrt(diff[..., 0] * diff[..., 0] + diff[..., 1] * diff[..., 1])
  wh = gt.head_boxes[:, 2:] - gt.head_boxes[:, :2]
  head_size = HEAD_SIZE_FACTOR * np.sqrt(wh[:, 0] * wh[:, 0] + wh[:, 1] * wh[:, 1])
  with np.errstate(divide='ignore', invalid='ignore'):
    dist = norm / head_size[None, :, None]
  both = pred.present[:, None, :] & gt.present[None, :, :]
  return np.where(both, dist, np.inf)


def assign_predictions(gt: FramePoses, pred: FramePoses) -> tuple[np.ndarray, np.ndarray]:
  """The toolkit's pose assignment for AP and the per-joint match matrix.

  Args:
    gt: ground truth of one frame (G >= 1 people).
    pred: predictions of the frame (P >= 1 people).

  Returns:
    labels: [P, 15] bool, true positives (joint of a kept prediction within threshold).
    match_dist: [P, G, 15] float64 normalised distance where <= threshold, NaN elsewhere.
  """
  dist, match, pck, chosen, is_kept = pair_poses(gt, pred)
  labels = match[np.arange(pck.shape[0]), chosen, :] & is_kept[:, None]
  return labels, np.where(match, dist, np.nan)


def pair_poses(gt: FramePoses, pred: FramePoses):
  """The toolkit's pairing of predicted poses with ground-truth people for AP.

  Each prediction chooses the person with the largest share of that person's annotated joints
  within the PCKh threshold (first maximum); each person keeps the first best of the
  predictions that chose it.

  Returns:
    dist [P, G, 15] (``_normalised_distances``), match [P, G, 15] (dist <= threshold),
    pck [P, G] (shares), chosen [P] (person index), is_kept [P] (bool).
  """
  dist = _normalised_distances(gt, pred)
  match = dist <= PCKH_THRESHOLD
  num_annotated = gt.present.sum(axis=1)
  pck = match.sum(axis=2).astype(np.float64)
  with np.errstate(divide='ignore', invalid='ignore'):
    pck = np.where(num_annotated > 0, pck / num_annotated, pck)
  rows = np.arange(pck.shape[0])
  # Each prediction chooses its best ground truth (first maximum)...
  chosen = np.argmax(pck, axis=1)
  kept = np.zeros_like(pck)
  kept[rows, chosen] = pck[rows, chosen]
  # ... and each ground truth keeps the first best of the predictions that chose it.
  pred_of_gt = np.argmax(kept, axis=0)
  pred_of_gt[np.max(kept, axis=0) == 0] = -1
  is_kept = pred_of_gt[chosen] == rows
  return dist, match, pck, chosen, is_kept


def _pairs_by_joint(gt: FramePoses, pred: FramePoses, match_dist: np.ndarray
                    ) -> dict[int, list[tuple[int, int, float]]]:
  """Joint -> [(row, column, distance)] of the pairs within threshold, sorted by row, column.

  Rows and columns index the ground-truth and predicted people that have the joint, in frame
  order (the ids and distance matrix py-motmetrics is given in the toolkit).
  """
  pred_idx, gt_idx, joint_idx = np.nonzero(~np.isnan(match_dist))
  if not joint_idx.size:
    return {}
  order = np.lexsort((pred_idx, gt_idx, joint_idx))
  pred_idx, gt_idx, joint_idx = pred_idx[order], gt_idx[order], joint_idx[order]
  values = match_dist[pred_idx, gt_idx, joint_idx].tolist()
  rows = (np.cumsum(gt.present, axis=0) - 1)[gt_idx, joint_idx].tolist()
  cols = (np.cumsum(pred.present, axis=0) - 1)[pred_idx, joint_idx].tolist()
  out: dict[int, list[tuple[int, int, float]]] = {}
  for j, r, c, d in zip(joint_idx.tolist(), rows, cols, values):
    out.setdefault(j, []).append((r, c, d))
  return out


class _MotAccumulator:
  """py-motmetrics' ``MOTAccumulator`` event rules (version 1.4), counting instead of logging.

  Per frame: (1) objects whose last matched hypothesis is present and still within threshold
  keep it; (2) the rest are assigned with ``scipy.optimize.linear_sum_assignment`` on the same
  cost matrix py-motmetrics builds (NaN rows/columns of the pairs kept in (1), NaN replaced by
  an expensive edge); a pair whose object was last matched to another hypothesis is a switch;
  (3) unmatched objects are misses, unmatched hypotheses false positives.
  """

  def __init__(self):
    self.last_hyp_of_object: dict[int, int] = {}   # py-motmetrics' ``m``
    self.last_object_of_hyp: dict[int, int] = {}   # ``res_m``
    self.matched_objects: set[int] = set()         # keys of ``last_match``
    self.matched_hyps: set[int] = set()            # keys of ``hypHistory``
    self.num_objects = 0
    self.num_matches = 0
    self.num_switches = 0
    self.num_misses = 0
    self.num_false_positives = 0
    self.match_distance = 0.0    # distances of MATCH and SWITCH events
    self.event_distance = 0.0    # distance column of all events (RAW and sub-events too)

  def add_unmatched(self, num_objects: int, num_hyps: int):
    """A frame without any pair within threshold (what ``update`` does with all-NaN)."""
    self.num_objects += num_objects
    self.num_misses += num_objects
    self.num_false_positives += num_hyps

  def update(self, oids: list[int], hids: list[int], pairs: list[tuple[int, int, float]]):
    """One frame.

    Args:
      oids: object (ground-truth track) ids [no], in frame order.
      hids: hypothesis (predicted track) ids [nh], in frame order.
      pairs: (row into oids, column into hids, distance) of every pair within threshold,
        sorted by row then column; all other pairs cannot match.
    """
    no, nh = len(oids), len(hids)
    self.num_objects += no
    if not pairs:
      self.num_misses += no
      self.num_false_positives += nh
      return
    self.event_distance += sum(d for _, _, d in pairs)   # the RAW events
    distance = {(i, j): d for i, j, d in pairs}
    objects_done, hyps_done = set(), set()
    # 1. Carry over still-valid pairs of the last match.
    if self.last_hyp_of_object:
      hyp_index = {h: j for j, h in enumerate(hids)}
      for i, o in enumerate(oids):
        if o not in self.last_hyp_of_object:
          continue
        j = hyp_index.get(self.last_hyp_of_object[o])
        if j is None or j in hyps_done or (i, j) not in distance:
          continue
        d = distance[(i, j)]
        objects_done.add(i)
        hyps_done.add(j)
        self.num_matches += 1
        self.match_distance += d
        self.event_distance += d
        self.matched_objects.add(o)
        self.matched_hyps.add(hids[j])
    # 2. Hungarian assignment of the rest.
    free = [(i, j, d) for i, j, d in pairs if i not in objects_done and j not in hyps_done]
    if free:
      if (len({i for i, _, _ in free}) < len(free) or len({j for _, j, _ in free}) < len(free)):
        # Competing candidates: solve the assignment on py-motmetrics' cost matrix.
        costs = np.full((no, nh), np.nan)
        for i, j, d in free:
          costs[i, j] = d
        rows, cols = _assign_like_motmetrics(costs)
        free = [(i, j, distance[(i, j)]) for i, j in zip(rows.tolist(), cols.tolist())]
      # Otherwise the candidate pairs are disjoint and the assignment takes all of them.
      for i, j, d in free:
        o, h = oids[i], hids[j]
        is_switch = o in self.last_hyp_of_object and self.last_hyp_of_object[o] != h
        ascend = is_switch and h not in self.matched_hyps
        transfer = h in self.last_object_of_hyp and self.last_object_of_hyp[h] != o
        migrate = transfer and o not in self.matched_objects
        self.event_distance += d * (1 + ascend + transfer + migrate)
        self.match_distance += d
        if is_switch:
          self.num_switches += 1
        else:
          self.num_matches += 1
        self.matched_hyps.add(h)
        self.matched_objects.add(o)
        self.last_hyp_of_object[o] = h
        self.last_object_of_hyp[h] = o
        objects_done.add(i)
    matched = len(objects_done)
    self.num_misses += no - matched
    self.num_false_positives += nh - matched


def _assign_like_motmetrics(costs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """py-motmetrics' scipy solver: NaN -> an edge costlier than any all-valid assignment."""
  valid = np.isfinite(costs)
  c = np.abs(costs[valid]).max() + 1
  finite_costs = np.where(valid, costs, 2 * min(costs.shape) * c + 1)
  rows, cols = assignment.linear_sum_assignment(finite_costs)
  keep = valid[rows, cols]
  return rows[keep], cols[keep]


# ----------------------------------------------------------------------------------------------
# Metrics.


def _voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
  """Area under the monotone precision envelope (the toolkit's ``VOCap``)."""
  mrec = np.concatenate([[0.0], recall, [1.0]])
  mpre = np.concatenate([[0.0], precision, [0.0]])
  mpre = np.maximum.accumulate(mpre[::-1])[::-1]
  i = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
  return float(np.sum((mrec[i] - mrec[i - 1]) * mpre[i]))


def _ap_per_joint(scores: np.ndarray, labels: np.ndarray, present: np.ndarray,
                  num_gt: np.ndarray, toolkit_ties: bool = True
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """AP, precision and recall (percent) per joint from pooled entries [N, 15].

  ``toolkit_ties``: rank with NumPy's default (introsort, not stable) ``argsort`` reversed, as
  the toolkit does, so equal scores fall in the toolkit's order given the same entry order and
  the same NumPy build; otherwise a stable descending sort (equal scores keep entry order).
  """
  ap = np.zeros(NUM_JOINTS)
  pre = np.zeros(NUM_JOINTS)
  rec = np.zeros(NUM_JOINTS)
  for j in range(NUM_JOINTS):
    sel = present[:, j]
    if not sel.any():
      continue   # no prediction of this joint: the toolkit leaves 0
    column = np.array(scores[sel, j], np.float64)
    if toolkit_ties:
      # Same array, same sort call as the toolkit: ties fall the same way.
      order = column.argsort()[::-1]
    else:
      order = np.argsort(-column, kind='stable')
    tp = np.cumsum(labels[sel, j][order])
    with np.errstate(divide='ignore', invalid='ignore'):
      recall = tp / num_gt[j]
    precision = tp / np.arange(1, len(order) + 1, dtype=np.float64)
    with np.errstate(invalid='ignore'):
      ap[j] = _voc_ap(recall, precision) * 100
    pre[j] = precision[-1] * 100
    rec[j] = recall[-1] * 100
  return ap, pre, rec


def _nanfree_mean(values: np.ndarray) -> float:
  kept = values[~np.isnan(values)]
  return float(kept.mean()) if kept.size else float('nan')


def _with_columns(per_joint: np.ndarray) -> dict[str, float]:
  """Joint name -> value plus the printed column groups and 'Total'."""
  out = {name: float(v) for name, v in zip(JOINT_NAMES, per_joint)}
  for column, names in COLUMN_GROUPS:
    out[column] = float(np.mean([out[n] for n in names]))
  out['Total'] = _nanfree_mean(per_joint)
  return out


def _sequence_frames(gt: PosesSequence, pred: PosesSequence):
  """Labelled frames of a sequence with ignore regions applied: [(gt, pred)]."""
  out = []
  for g, p in zip(gt.frames, pred.frames):
    if not g.labeled:
      continue
    if g.ignore_regions:
      polygons = _ignore_polygons(g.ignore_regions)
      out.append((_remove_ignored(g, polygons), _remove_ignored(p, polygons)))
    else:
      out.append((g, p))
  return out


def evaluate_sequences(gt: SequenceABC, pred: SequenceABC, *, ap: bool = True,
                       mota: bool = True, toolkit_quirks: bool = True) -> dict[str, Any]:
  """Evaluates in-memory sequences (no files needed).

  Args:
    gt: ground-truth sequences: ``PosesSequence``, ``artrack_jax.data.types.Sequence`` or
      decoded PoseTrack 2017/2018 JSON objects.
    pred: the predictions, one per ground-truth sequence, same order and frame count.
    ap: compute per-joint AP.
    mota: compute per-joint MOTA, MOTP, precision and recall.
    toolkit_quirks: reproduce the official toolkit's quirks (see the module docstring): last
      labelled frame left out of MOTA, one dummy object and hypothesis per joint for frames
      without predictions or ground truth, MOTP over all recorded event distances.

  Returns:
    A dict, values in percent: 'ap', 'ap_precision', 'ap_recall' (AP side), 'mota', 'motp',
    'precision', 'recall' (tracking side), each joint name -> value plus the columns 'Head',
    'Shou', 'Elb', 'Wri', 'Hip', 'Knee', 'Ankl', 'Total' (metrics not computed are absent);
    with ``mota``: 'num_switches', 'num_misses', 'num_false_positives', 'num_objects',
    'num_detections' as joint name -> int plus 'total'; and 'num_sequences',
    'num_labeled_frames', 'toolkit_quirks'.

  Raises:
    EvaluationInputError: sequences that do not pair up or malformed content.
  """
  gt = [_as_poses_sequence(s, 'gt', i) for i, s in enumerate(gt)]
  pred = [_as_poses_sequence(s, 'pred', i) for i, s in enumerate(pred)]
  if len(gt) != len(pred):
    raise EvaluationInputError(f'{len(gt)} ground-truth sequences but {len(pred)} predictions')
  for g, p in zip(gt, pred):
    if len(g.frames) != len(p.frames):
      raise EvaluationInputError(
          f'{p.source}: {len(p.frames)} prediction frames but {len(g.frames)} ground-truth '
          f'frames in {g.source}')
    if g.frame_keys is not None and p.frame_keys is not None:
      validate.check_frames_correspond(g.frame_keys, p.frame_keys, g.source, p.source)

  num_gt = np.zeros(NUM_JOINTS)
  ap_scores, ap_labels, ap_present = [], [], []
  accumulators = []
  num_labeled = 0
  for g, p in zip(gt, pred):
    frames = _sequence_frames(g, p)
    num_labeled += len(frames)
    joint_acc = [_MotAccumulator() for _ in range(NUM_JOINTS)] if mota else None
    mot_frames = len(frames) - 1 if toolkit_quirks else len(frames)
    for t, (gf, pf) in enumerate(frames):
      num_gt += gf.present.sum(axis=0)
      both = gf.num_people > 0 and pf.num_people > 0
      if both:
        labels, match_dist = assign_predictions(gf, pf)
      else:
        labels = np.zeros((pf.num_people, NUM_JOINTS), bool)
        match_dist = None
      if ap:
        # Without ground truth every predicted joint is a false positive (labels all false).
        ap_scores.append(pf.scores)
        ap_labels.append(labels)
        ap_present.append(pf.present)
      if not mota or t >= mot_frames:
        continue
      if not both and toolkit_quirks:
        for acc in joint_acc:
          acc.add_unmatched(1, 1)   # the dummy object and hypothesis
        continue
      gt_counts = gf.present.sum(axis=0).tolist()
      pred_counts = pf.present.sum(axis=0).tolist()
      pairs = _pairs_by_joint(gf, pf, match_dist) if both else {}
      gt_ids, pred_ids = gf.track_ids.tolist(), pf.track_ids.tolist()
      gt_present, pred_present = gf.present.T.tolist(), pf.present.T.tolist()
      for j, acc in enumerate(joint_acc):
        if j not in pairs:
          # No pair within threshold: misses and false positives, the state stays as it is.
          acc.add_unmatched(gt_counts[j], pred_counts[j])
          continue
        acc.update([t for t, has in zip(gt_ids, gt_present[j]) if has],
                   [t for t, has in zip(pred_ids, pred_present[j]) if has], pairs[j])
    if mota:
      accumulators.append(joint_acc)

  result: dict[str, Any] = {'num_sequences': len(gt), 'num_labeled_frames': num_labeled,
                            'toolkit_quirks': toolkit_quirks}
  if ap:
    if ap_scores:
      scores = np.concatenate(ap_scores)
      labels = np.concatenate(ap_labels)
      present = np.concatenate(ap_present)
    else:
      scores = np.zeros((0, NUM_JOINTS))
      labels = present = np.zeros((0, NUM_JOINTS), bool)
    ap_values, ap_pre, ap_rec = _ap_per_joint(scores, labels, present, num_gt,
                                              toolkit_ties=toolkit_quirks)
    result['ap'] = _with_columns(ap_values)
    result['ap_precision'] = _with_columns(ap_pre)
    result['ap_recall'] = _with_columns(ap_rec)
  if mota:
    result.update(_tracking_metrics(accumulators, toolkit_quirks))
  return result


def _tracking_metrics(accumulators: list[list[_MotAccumulator]], toolkit_quirks: bool
                      ) -> dict[str, Any]:
  counts = {k: np.zeros(NUM_JOINTS, np.int64) for k in _COUNT_KEYS}
  distance = np.zeros(NUM_JOINTS)
  for joint_acc in accumulators:
    for j, acc in enumerate(joint_acc):
      counts['num_misses'][j] += acc.num_misses
      counts['num_switches'][j] += acc.num_switches
      counts['num_false_positives'][j] += acc.num_false_positives
      counts['num_objects'][j] += acc.num_objects
      counts['num_detections'][j] += acc.num_matches + acc.num_switches
      distance[j] += acc.event_distance if toolkit_quirks else acc.match_distance
  objects = counts['num_objects'].astype(np.float64)
  objects[objects == 0] = np.nan
  detections = counts['num_detections'].astype(np.float64)
  fps = counts['num_false_positives'].astype(np.float64)
  errors = (counts['num_misses'] + counts['num_switches'] + counts['num_false_positives'])
  with np.errstate(divide='ignore', invalid='ignore'):
    mota = 100 * (1.0 - errors / objects)
    motp = np.where(detections == 0, 0.0, 100 * (1.0 - distance / np.maximum(detections, 1)))
    total_det = fps + detections
    total_det[total_det == 0] = np.nan
    precision = 100 * (detections / total_det)
    recall = 100 * (detections / objects)
  out: dict[str, Any] = {'mota': _with_columns(mota), 'motp': _with_columns(motp),
                         'precision': _with_columns(precision),
                         'recall': _with_columns(recall)}
  for key, values in counts.items():
    per_joint = {name: int(v) for name, v in zip(JOINT_NAMES, values)}
    per_joint['total'] = int(values.sum())
    out[key] = per_joint
  return out


def evaluate(gt_dir: str, pred_dir: str, *, ap: bool = True, mota: bool = True,
             toolkit_quirks: bool = True) -> dict[str, Any]:
  """Evaluates a directory of predictions against a directory of ground truth.

  Args:
    gt_dir: directory of per-sequence ground-truth files (PoseTrack 2017 or 2018 JSON).
    pred_dir: directory with a prediction file of the same name for every ground-truth file,
      same number of frames.
    ap, mota, toolkit_quirks: see ``evaluate_sequences``.

  Returns:
    See ``evaluate_sequences`` (values in percent).

  Raises:
    EvaluationInputError: missing files or malformed content (the message names file, frame,
      person and field).
  """
  gts, preds = load_directories(gt_dir, pred_dir, toolkit_order=toolkit_quirks)
  return evaluate_sequences(gts, preds, ap=ap, mota=mota, toolkit_quirks=toolkit_quirks)


# ----------------------------------------------------------------------------------------------
# Tables.


def _format_cell(value: float) -> str:
  return '{:>5}'.format('%1.1f' % value)


def _format_row(values: list[float]) -> str:
  return '&' + ''.join(_format_cell(v) + ' &' for v in values[:-1]) + _format_cell(
      values[-1]) + ' \\\\'


def format_tables(result: Mapping[str, Any]) -> str:
  """The AP and MOT tables as the toolkit prints them (LaTeX-style rows, percent)."""
  lines = []
  if 'ap' in result:
    lines.append('Average Precision (AP) metric:')
    lines.append('& Head & Shou & Elb  & Wri  & Hip  & Knee & Ankl & Total\\\\')
    lines.append(_format_row([result['ap'][c] for c in COLUMN_NAMES]))
  if 'mota' in result:
    lines.append('Multiple Object Tracking (MOT) metrics:')
    lines.append('& MOTA & MOTA & MOTA & MOTA & MOTA & MOTA & MOTA & MOTA & MOTP & Prec & '
                 'Rec  \\\\')
    lines.append('& Head & Shou & Elb  & Wri  & Hip  & Knee & Ankl & Total& Total& Total& '
                 'Total\\\\')
    lines.append(_format_row([result['mota'][c] for c in COLUMN_NAMES] + [
        result['motp']['Total'], result['precision']['Total'], result['recall']['Total']]))
  return '\n'.join(lines)


def print_tables(result: Mapping[str, Any]) -> None:
  """Prints ``format_tables(result)``."""
  print(format_tables(result))
