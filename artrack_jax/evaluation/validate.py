"""Checks every evaluation input before any metric is computed.

Each problem raises :class:`EvaluationInputError` whose message names the file, the JSON path
of the field (``annotations[3].keypoints[7]``) and what was expected, e.g.::

  gt/000342_mpii_test.json: annotations[3].keypoints[7]: expected a finite number, got true

Covered, for the PoseTrack (2017 ``annolist``, 2018 and 2021 COCO-style) and COCO keypoint
file modes alike:

* files: missing, a directory, a dangling symbolic link or a symbolic-link loop, not a regular
  file, unreadable, not UTF-8, not JSON, JSON nested deeper than ``MAX_DEPTH`` levels,
  integers longer than Python reads;
* values: wrong types, NaN / Infinity (JSON extensions Python would otherwise accept), booleans
  where numbers belong (JSON ``true`` is not 1.0), coordinates beyond ``COORDINATE_LIMIT``
  pixels, wrong list lengths;
* content: degenerate head boxes (head size 0: every joint would be unmatched), duplicate image
  or annotation ids, repeated track ids within a frame, annotations of unknown images or
  categories, repeated joints;
* pairs of files: prediction frames that do not correspond to the ground truth's frames. The
  PoseTrack toolkit pairs frames by position; we do the same and refuse a pair whose image ids
  and file names both differ (reordered, missing or extra frames) instead of scoring it.

Nothing here imports JAX, Flax or TensorFlow: the file modes stay a light command.
"""
from __future__ import annotations

import errno
import itertools
import json
import math
import os
import stat
from collections.abc import Mapping
from typing import Any

import numpy as np

# Deepest JSON nesting accepted (PoseTrack 2017 files need 6 levels, COCO polygons 4).
MAX_DEPTH = 64
# Largest absolute coordinate (pixels) accepted for keypoints, boxes and polygons.
COORDINATE_LIMIT = 1e6
# Track ids must stay below this (the PoseTrack toolkit offsets them per sequence by it).
MAX_TRACK_ID = 10000
NUM_JOINTS = 15


class EvaluationInputError(ValueError):
  """Ground truth or predictions that cannot be evaluated; the message names file and field."""


class NonFinite:
  """What ``NaN``, ``Infinity`` and ``-Infinity`` decode to: no number, so checks refuse it."""

  def __init__(self, text: str):
    self.text = text

  def __repr__(self) -> str:
    return self.text


_NUMBER_TYPES = (int, float)


def _show(value: Any) -> str:
  """A short JSON-like rendering of a value for messages."""
  if isinstance(value, NonFinite):
    return value.text
  if value is True or value is False or value is None:
    return json.dumps(value)
  if isinstance(value, float) and not math.isfinite(value):
    return 'Infinity' if value > 0 else '-Infinity' if value < 0 else 'NaN'
  if isinstance(value, Mapping):
    return 'an object'
  if isinstance(value, list):
    return f'a list of {len(value)}'
  text = repr(value)
  return text if len(text) <= 40 else text[:37] + '...'


# ----------------------------------------------------------------------------------------------
# Reading files.


def read_json(path: str | os.PathLike, what: str = 'input') -> Any:
  """Decodes one JSON file; every failure is an ``EvaluationInputError`` naming the file.

  ``NaN`` / ``Infinity`` decode to :class:`NonFinite` so that the checks name their path.
  """
  path = os.fspath(path)
  if not os.path.lexists(path):
    raise EvaluationInputError(f'{path}: {what} file does not exist')
  try:
    info = os.stat(path)
  except OSError as e:
    if e.errno == errno.ELOOP:
      raise EvaluationInputError(f'{path}: {what} file is a symbolic-link loop') from None
    if e.errno == errno.ENOENT:
      raise EvaluationInputError(f'{path}: {what} file is a dangling symbolic link (its target '
                                 f'{os.readlink(path)!r} does not exist)') from None
    raise EvaluationInputError(f'{path}: {what} file cannot be read: {e.strerror}') from None
  if stat.S_ISDIR(info.st_mode):
    raise EvaluationInputError(f'{path}: is a directory, expected a {what} JSON file')
  if not stat.S_ISREG(info.st_mode):
    raise EvaluationInputError(f'{path}: is not a regular file, expected a {what} JSON file')
  try:
    with open(path, 'rb') as f:
      raw = f.read()
  except OSError as e:
    raise EvaluationInputError(f'{path}: {what} file cannot be read: {e.strerror}') from None
  return decode_json(raw, path)


def decode_json(raw: bytes | str, source: str) -> Any:
  """Decodes JSON text (bytes must be UTF-8); see ``read_json``."""
  if isinstance(raw, bytes):
    try:
      text = raw.decode('utf-8')
    except UnicodeDecodeError as e:
      raise EvaluationInputError(
          f'{source}: not UTF-8 text (byte {e.start} is 0x{raw[e.start]:02x}); JSON files must '
          'be UTF-8') from None
  else:
    text = raw
  try:
    data = json.loads(text, parse_constant=NonFinite)
  except json.JSONDecodeError as e:
    raise EvaluationInputError(f'{source}: not valid JSON: {e}') from None
  except RecursionError:
    raise EvaluationInputError(f'{source}: JSON nested too deeply to read (at most '
                               f'{MAX_DEPTH} levels are accepted)') from None
  except ValueError as e:   # e.g. an integer longer than Python's conversion limit
    raise EvaluationInputError(f'{source}: not valid JSON: {e}') from None
  check_depth(data, source)
  return data


def check_depth(data: Any, source: str, limit: int = MAX_DEPTH) -> None:
  """Refuses JSON nested deeper than ``limit`` (later code may recurse over it)."""
  level = [data] if isinstance(data, (list, dict)) else []
  depth = 0
  while level:
    depth += 1
    if depth > limit:
      raise EvaluationInputError(f'{source}: JSON nested deeper than {limit} levels')
    nxt = []
    for container in level:
      values = container.values() if isinstance(container, dict) else container
      nxt.extend(v for v in values if isinstance(v, (list, dict)))
    level = nxt


# ----------------------------------------------------------------------------------------------
# Field checks. ``Checker`` names the source; paths are JSON paths.


class Checker:
  """Raises ``EvaluationInputError('<source>: <path>: expected ..., got ...')``."""

  def __init__(self, source: str):
    self.source = source

  def fail(self, path: str, message: str):
    raise EvaluationInputError(f'{self.source}: {path or "top level"}: {message}')

  def expect(self, path: str, expected: str, value: Any):
    self.fail(path, f'expected {expected}, got {_show(value)}')

  def obj(self, value: Any, path: str) -> Mapping:
    if not isinstance(value, Mapping):
      self.expect(path, 'an object', value)
    return value

  def list(self, value: Any, path: str) -> list:
    if not isinstance(value, list):
      self.expect(path, 'a list', value)
    return value

  def field(self, record: Mapping, key: str, path: str) -> Any:
    if key not in record:
      self.fail(_join(path, key), 'missing')
    return record[key]

  def number(self, value: Any, path: str, limit: float | None = None) -> float:
    if type(value) not in _NUMBER_TYPES:   # bool, None, str, NonFinite, containers
      self.expect(path, 'a finite number', value)
    if not math.isfinite(value):
      self.expect(path, 'a finite number', value)
    if limit is not None and abs(value) > limit:
      self.fail(path, f'expected a number within +-{limit:g}, got {value!r}')
    return float(value)

  def integer(self, value: Any, path: str) -> int:
    if type(value) not in _NUMBER_TYPES or not math.isfinite(value) or value != int(value):
      self.expect(path, 'an integer', value)
    return int(value)

  def unique_id(self, value: Any, path: str, seen: dict[int, int], index: int, kind: str,
                container: str) -> int:
    """An integer id not seen before; records it in ``seen`` as ``container[index]``'s."""
    value = self.integer(value, path)
    if value in seen:
      self.fail(path, f'{kind} id {value} repeats that of {container}[{seen[value]}]')
    seen[value] = index
    return value

  def string(self, value: Any, path: str) -> str:
    if not isinstance(value, str):
      self.expect(path, 'a string', value)
    return value

  def numbers(self, value: Any, path: str, length: int | None = None,
              limit: float | None = None) -> np.ndarray:
    """[n] float64 from a list of finite numbers (fast path first, then the careful one)."""
    if not isinstance(value, list):
      self.expect(path, 'a list of numbers' if length is None else f'a list of {length} numbers',
                  value)
    if length is not None and len(value) != length:
      self.fail(path, f'expected {length} numbers, got {len(value)}')
    if set(map(type, value)) <= {int, float}:
      try:
        array = np.asarray(value, np.float64)
      except OverflowError:
        array = None
      if array is not None and np.all(np.isfinite(array)) and (
          limit is None or np.all(np.abs(array) <= limit)):
        return array
    for i, v in enumerate(value):
      self.number(v, f'{path}[{i}]', limit)
    return np.asarray(value, np.float64)

  def wrapped(self, record: Mapping, key: str, path: str) -> tuple[Any, str]:
    """A PoseTrack 2017 scalar: a one-element list. Returns the value and its path."""
    value = self.field(record, key, path)
    path = _join(path, key)
    if not isinstance(value, list) or len(value) != 1:
      self.expect(path, 'a one-element list (PoseTrack 2017 format)', value)
    return value[0], f'{path}[0]'


def _join(path: str, key: str) -> str:
  return f'{path}.{key}' if path else key


def _rows_of_numbers(c: Checker, rows: list, paths: list[str], length: int,
                     limit: float | None = None) -> np.ndarray:
  """[n, length] float64 from n lists; names the first offending element."""
  if all(type(r) is list and len(r) == length for r in rows):
    types = set(map(type, itertools.chain.from_iterable(rows)))
    if types <= {int, float}:
      try:
        array = np.asarray(rows, np.float64).reshape(len(rows), length)
      except OverflowError:
        array = None
      if array is not None and np.all(np.isfinite(array)) and (
          limit is None or np.all(np.abs(array) <= limit)):
        return array
  for r, p in zip(rows, paths):
    c.numbers(r, p, length, limit)
  raise AssertionError('unreachable')   # pragma: no cover


def _head_size_positive(c: Checker, box: np.ndarray, path: str, corners: bool):
  w, h = (box[2] - box[0], box[3] - box[1]) if corners else (box[2], box[3])
  if w == 0 and h == 0:
    c.fail(path, f'degenerate head box {box.tolist()} (head size 0 leaves every joint of the '
           'person unmatched); expected a box with non-zero width or height')


# ----------------------------------------------------------------------------------------------
# PoseTrack files.

# PoseTrack 2018 keypoint names of the 15 evaluated joints.
_PT18_JOINT_NAMES = ('nose', 'head_bottom', 'head_top', 'left_shoulder', 'right_shoulder',
                     'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist', 'left_hip',
                     'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle')


def posetrack_format(data: Any) -> str | None:
  """'2017' (annolist), '2018' (COCO-style; PoseTrack 2021 files are this style) or None."""
  if isinstance(data, Mapping):
    if 'annolist' in data:
      return '2017'
    if 'images' in data or 'annotations' in data:
      return '2018'
  return None


def check_posetrack(data: Any, role: str, source: str) -> list[dict[str, Any]]:
  """Validates one PoseTrack sequence file (2017, 2018 or 2021 style).

  Args:
    data: the decoded JSON.
    role: 'gt' or 'pred'.
    source: the file, for messages.

  Returns:
    Per frame, in file order, ``{'id': image id or None, 'name': file name or None,
    'path': JSON path of the frame}``: what ``check_frames_correspond`` compares.
  """
  c = Checker(source)
  c.obj(data, '')
  fmt = posetrack_format(data)
  if fmt == '2017':
    return _check_annolist(c, data, role)
  if fmt == '2018':
    return _check_coco_style(c, data, role)
  c.fail('', 'expected a PoseTrack 2017 (\'annolist\') or PoseTrack 2018/2021 (\'images\', '
         '\'annotations\', \'categories\') object')
  return []


def _check_track_ids(c: Checker, track_ids: list[tuple[int, str]], frame_path: str):
  seen: dict[int, str] = {}
  for track_id, path in track_ids:
    if track_id in seen:
      c.fail(path, f'track id {track_id} repeats that of {seen[track_id]} in frame '
             f'{frame_path}; expected track ids unique within a frame')
    seen[track_id] = path


def _track_id(c: Checker, value: Any, path: str) -> int:
  track_id = c.integer(value, path)
  if not 0 <= track_id < MAX_TRACK_ID:
    c.fail(path, f'expected a track id in [0, {MAX_TRACK_ID}), got {track_id}')
  return track_id


def _check_polygon(c: Checker, xs: Any, ys: Any, path_x: str, path_y: str):
  xs = c.numbers(xs, path_x, limit=COORDINATE_LIMIT)
  c.numbers(ys, path_y, len(xs), limit=COORDINATE_LIMIT)
  if 0 < len(xs) < 3:
    c.fail(path_x, f'expected an ignore polygon of at least 3 vertices (or none), got '
           f'{len(xs)}')


def _check_annolist(c: Checker, data: Mapping, role: str) -> list[dict[str, Any]]:
  frames = []
  annolist = c.list(data['annolist'], 'annolist')
  for f, image in enumerate(annolist):
    fp = f'annolist[{f}]'
    c.obj(image, fp)
    rects = c.list(c.field(image, 'annorect', fp), f'{fp}.annorect')
    entry = {'id': None, 'name': None, 'path': fp}
    if 'image' in image:
      im = c.list(image['image'], f'{fp}.image')
      if len(im) != 1:
        c.expect(f'{fp}.image', 'a one-element list', im)
      c.obj(im[0], f'{fp}.image[0]')
      if 'name' in im[0]:
        entry['name'] = c.string(im[0]['name'], f'{fp}.image[0].name')
    if 'image_id' in image:
      value, vp = c.wrapped(image, 'image_id', fp)
      entry['id'] = c.integer(value, vp)
    frames.append(entry)
    if role == 'gt' and 'ignore_regions' in image:
      for r, region in enumerate(c.list(image['ignore_regions'], f'{fp}.ignore_regions')):
        rp = f'{fp}.ignore_regions[{r}]'
        points = c.list(c.field(c.obj(region, rp), 'point', rp), f'{rp}.point')
        xs, ys = [], []
        for v, vertex in enumerate(points):
          vp = f'{rp}.point[{v}]'
          c.obj(vertex, vp)
          x, xp = c.wrapped(vertex, 'x', vp)
          y, yp = c.wrapped(vertex, 'y', vp)
          xs.append(c.number(x, xp, COORDINATE_LIMIT))
          ys.append(c.number(y, yp, COORDINATE_LIMIT))
        if 0 < len(xs) < 3:
          c.fail(f'{rp}.point', f'expected an ignore polygon of at least 3 vertices (or none), '
                 f'got {len(xs)}')
    track_ids = []
    for p, rect in enumerate(rects):
      pp = f'{fp}.annorect[{p}]'
      c.obj(rect, pp)
      value, tp = c.wrapped(rect, 'track_id', pp)
      track_ids.append((_track_id(c, value, tp), tp))
      has_points = False
      if 'annopoints' in rect and rect['annopoints'] != []:
        ap = f'{pp}.annopoints'
        annopoints = c.list(rect['annopoints'], ap)
        if len(annopoints) != 1 or not isinstance(annopoints[0], Mapping):
          c.expect(ap, 'a list of one object {"point": [...]} (or [] for no points)',
                   annopoints)
        points = c.list(c.field(annopoints[0], 'point', f'{ap}[0]'), f'{ap}[0].point')
        joints = {}
        for k, point in enumerate(points):
          kp = f'{ap}[0].point[{k}]'
          c.obj(point, kp)
          joint, jp = c.wrapped(point, 'id', kp)
          joint = c.integer(joint, jp)
          if not 0 <= joint < NUM_JOINTS:
            c.fail(jp, f'expected a joint id in [0, {NUM_JOINTS}), got {joint}')
          if joint in joints:
            c.fail(jp, f'joint id {joint} repeats {joints[joint]}')
          joints[joint] = jp
          for key in ('x', 'y'):
            value, vp = c.wrapped(point, key, kp)
            c.number(value, vp, COORDINATE_LIMIT)
          if role == 'pred' and 'score' in point:
            value, vp = c.wrapped(point, 'score', kp)
            c.number(value, vp)
        has_points = bool(points)
      if role == 'gt' and (has_points or {'x1', 'y1', 'x2', 'y2'} & rect.keys()):
        box = []
        for key in ('x1', 'y1', 'x2', 'y2'):
          value, vp = c.wrapped(rect, key, pp)
          box.append(c.number(value, vp, COORDINATE_LIMIT))
        if has_points:
          _head_size_positive(c, np.asarray(box), f'{pp}.x1', corners=True)
    _check_track_ids(c, track_ids, fp)
  return frames


def _check_coco_style(c: Checker, data: Mapping, role: str) -> list[dict[str, Any]]:
  images = c.list(c.field(data, 'images', ''), 'images')
  anns = c.list(c.field(data, 'annotations', ''), 'annotations')
  categories = c.list(c.field(data, 'categories', ''), 'categories')
  if len(categories) != 1:
    c.fail('categories', f'expected exactly one category (person), got {len(categories)}')
  category = c.obj(categories[0], 'categories[0]')
  names = c.list(c.field(category, 'keypoints', 'categories[0]'), 'categories[0].keypoints')
  for k, name in enumerate(names):
    c.string(name, f'categories[0].keypoints[{k}]')
  if len(names) not in (15, 17):
    c.fail('categories[0].keypoints', f'expected 15 or 17 keypoint names, got {len(names)}')
  if len(set(names)) != len(names):
    c.fail('categories[0].keypoints', f'expected unique keypoint names, got {names}')
  missing = [n for n in _PT18_JOINT_NAMES if n not in names]
  if missing:
    c.fail('categories[0].keypoints', f'expected the PoseTrack keypoints, {missing} missing')
  num_slots = len(names)
  slot_is_joint = np.asarray([n in _PT18_JOINT_NAMES for n in names])

  frames = []
  image_index: dict[int, int] = {}
  vid_ids: dict[str, str] = {}
  for i, image in enumerate(images):
    ip = f'images[{i}]'
    c.obj(image, ip)
    image_id = c.unique_id(c.field(image, 'id', ip), f'{ip}.id', image_index, i, 'image',
                           'images')
    entry = {'id': image_id, 'name': None, 'path': ip}
    if 'file_name' in image:
      entry['name'] = c.string(image['file_name'], f'{ip}.file_name')
    frames.append(entry)
    if 'vid_id' in image:
      vid = image['vid_id']
      if not isinstance(vid, (str, int)) or isinstance(vid, bool):
        c.expect(f'{ip}.vid_id', 'a string or an integer', vid)
      vid_ids.setdefault(str(vid), f'{ip}.vid_id')
      if len(vid_ids) > 1:
        c.fail(f'{ip}.vid_id', f'expected one sequence per file, found vid_id values '
               f'{sorted(vid_ids)}')
    for key in ('is_labeled', 'has_labeled_person'):
      if key in image:
        value = image[key]
        if not (isinstance(value, bool) or (type(value) is int and value in (0, 1))):
          c.expect(f'{ip}.{key}', 'true, false, 0 or 1', value)
    if role == 'gt' and ('ignore_regions_x' in image or 'ignore_regions_y' in image):
      xs = c.list(c.field(image, 'ignore_regions_x', ip), f'{ip}.ignore_regions_x')
      ys = c.list(c.field(image, 'ignore_regions_y', ip), f'{ip}.ignore_regions_y')
      if len(xs) != len(ys):
        c.fail(f'{ip}.ignore_regions_y', f'expected {len(xs)} polygons as in ignore_regions_x, '
               f'got {len(ys)}')
      for r, (x, y) in enumerate(zip(xs, ys)):
        _check_polygon(c, x, y, f'{ip}.ignore_regions_x[{r}]', f'{ip}.ignore_regions_y[{r}]')

  ann_ids: dict[Any, int] = {}
  frame_tracks: dict[int, list[tuple[int, str]]] = {}
  keypoints, kp_paths, boxes, box_paths, scores, score_paths = [], [], [], [], [], []
  for a, ann in enumerate(anns):
    ap = f'annotations[{a}]'
    c.obj(ann, ap)
    if 'id' in ann:
      c.unique_id(ann['id'], f'{ap}.id', ann_ids, a, 'annotation', 'annotations')
    image_id = c.integer(c.field(ann, 'image_id', ap), f'{ap}.image_id')
    if image_id not in image_index:
      c.fail(f'{ap}.image_id', f'expected the id of an image of the file, got {image_id}')
    track_id = _track_id(c, c.field(ann, 'track_id', ap), f'{ap}.track_id')
    frame_tracks.setdefault(image_index[image_id], []).append((track_id, f'{ap}.track_id'))
    keypoints.append(c.field(ann, 'keypoints', ap))
    kp_paths.append(f'{ap}.keypoints')
    if role == 'pred':
      if ann.get('scores') not in (None, []):
        scores.append(ann['scores'])
        score_paths.append(f'{ap}.scores')
      if 'score' in ann and ann['score'] is not None:
        c.number(ann['score'], f'{ap}.score')
    else:
      box = ann.get('bbox_head')
      boxes.append(None if box in (None, []) else box)
      box_paths.append(f'{ap}.bbox_head')
  kpts = _rows_of_numbers(c, keypoints, kp_paths, 3 * num_slots,
                          COORDINATE_LIMIT).reshape(len(anns), num_slots, 3)
  if scores:
    _rows_of_numbers(c, scores, score_paths, num_slots)
  if role == 'gt':
    has_points = np.any((kpts != 0).any(axis=2) & slot_is_joint, axis=1)
    for a, (box, path) in enumerate(zip(boxes, box_paths)):
      if box is None:
        if has_points[a]:
          c.fail(path, 'missing; expected a head box [x, y, w, h] for a person with keypoints')
        continue
      box = c.numbers(box, path, 4, COORDINATE_LIMIT)
      if has_points[a]:
        _head_size_positive(c, box, path, corners=False)
  for f, tracks in frame_tracks.items():
    _check_track_ids(c, tracks, f'images[{f}]')
  return frames


def _same_file(a: str | None, b: str | None) -> bool:
  """File names that name the same frame: equal, or equal in their last two components."""
  if a is None or b is None:
    return False
  if a == b:
    return True
  tail = lambda s: s.replace('\\', '/').split('/')[-2:]   # pylint: disable=unnecessary-lambda-assignment
  return tail(a) == tail(b)


def check_frames_correspond(gt_frames: list[dict[str, Any]], pred_frames: list[dict[str, Any]],
                            gt_source: str, pred_source: str) -> None:
  """Prediction frame k must be ground-truth frame k (same image id or same file name).

  The toolkit pairs frames by position; a reordered, shortened or padded prediction file would
  be scored against the wrong frames, so it is refused here. Frames whose id and name are both
  unknown on one side cannot be checked and are paired by position.
  """
  if len(gt_frames) != len(pred_frames):
    raise EvaluationInputError(
        f'{pred_source}: expected {len(gt_frames)} frames as in the ground truth {gt_source}, '
        f'got {len(pred_frames)}')
  for k, (g, p) in enumerate(zip(gt_frames, pred_frames)):
    same_id = g['id'] is not None and g['id'] == p['id']
    if same_id or _same_file(g['name'], p['name']):
      continue
    comparable = ((g['id'] is not None and p['id'] is not None)
                  or (g['name'] is not None and p['name'] is not None))
    if not comparable:
      continue
    def show(e):
      return ', '.join(f'{k} {e[k]!r}' for k in ('id', 'name') if e[k] is not None)
    raise EvaluationInputError(
        f'{pred_source}: {p["path"]}: expected the frame of {gt_source} {g["path"]} '
        f'({show(g)}), got ({show(p)}); frames are paired by position as in the PoseTrack '
        'toolkit: write the prediction frames in the ground truth\'s order')


# ----------------------------------------------------------------------------------------------
# COCO keypoint files.


def check_coco_gt(gt: Any, source: str) -> dict[str, Any]:
  """Validates COCO keypoint ground truth before pycocotools sees it.

  Returns:
    {'image_ids': set, 'category_ids': set, 'num_keypoints': K, 'names': [K] keypoint names}.
  """
  c = Checker(source)
  c.obj(gt, '')
  images = c.list(c.field(gt, 'images', ''), 'images')
  anns = c.list(c.field(gt, 'annotations', ''), 'annotations')
  categories = c.list(c.field(gt, 'categories', ''), 'categories')
  if not categories:
    c.fail('categories', 'expected at least one category')
  category_ids: dict[int, int] = {}
  num_keypoints, names = None, None
  for k, cat in enumerate(categories):
    cp = f'categories[{k}]'
    c.obj(cat, cp)
    c.unique_id(c.field(cat, 'id', cp), f'{cp}.id', category_ids, k, 'category', 'categories')
    kpt_names = c.list(c.field(cat, 'keypoints', cp), f'{cp}.keypoints')
    if not kpt_names:
      c.fail(f'{cp}.keypoints', 'expected keypoint names, got an empty list')
    for n, name in enumerate(kpt_names):
      c.string(name, f'{cp}.keypoints[{n}]')
    if num_keypoints is not None and len(kpt_names) != num_keypoints:
      c.fail(f'{cp}.keypoints', f'expected {num_keypoints} names as in categories[0], got '
             f'{len(kpt_names)}')
    num_keypoints, names = len(kpt_names), names or kpt_names
  image_ids: dict[int, int] = {}
  for i, image in enumerate(images):
    ip = f'images[{i}]'
    c.obj(image, ip)
    c.unique_id(c.field(image, 'id', ip), f'{ip}.id', image_ids, i, 'image', 'images')
    for key in ('width', 'height'):
      if key in image:
        c.number(image[key], f'{ip}.{key}', COORDINATE_LIMIT)
  ann_ids: dict[int, int] = {}
  rows, paths = [], []
  for a, ann in enumerate(anns):
    ap = f'annotations[{a}]'
    c.obj(ann, ap)
    c.unique_id(c.field(ann, 'id', ap), f'{ap}.id', ann_ids, a, 'annotation', 'annotations')
    image_id = c.integer(c.field(ann, 'image_id', ap), f'{ap}.image_id')
    if image_id not in image_ids:
      c.fail(f'{ap}.image_id', f'expected the id of an image in \'images\', got {image_id}')
    cat_id = c.integer(c.field(ann, 'category_id', ap), f'{ap}.category_id')
    if cat_id not in category_ids:
      c.fail(f'{ap}.category_id', f'expected the id of a category, got {cat_id}')
    iscrowd = c.field(ann, 'iscrowd', ap)
    if type(iscrowd) is not int or iscrowd not in (0, 1):
      c.expect(f'{ap}.iscrowd', '0 or 1', iscrowd)
    num = c.integer(c.field(ann, 'num_keypoints', ap), f'{ap}.num_keypoints')
    if not 0 <= num <= num_keypoints:
      c.fail(f'{ap}.num_keypoints', f'expected an integer in [0, {num_keypoints}], got {num}')
    area = c.number(c.field(ann, 'area', ap), f'{ap}.area', COORDINATE_LIMIT ** 2)
    if area < 0:
      c.fail(f'{ap}.area', f'expected a non-negative area, got {area!r}')
    box = c.numbers(c.field(ann, 'bbox', ap), f'{ap}.bbox', 4, COORDINATE_LIMIT)
    if box[2] < 0 or box[3] < 0:
      c.fail(f'{ap}.bbox', f'expected [x, y, w, h] with w, h >= 0, got {box.tolist()}')
    rows.append(c.field(ann, 'keypoints', ap))
    paths.append(f'{ap}.keypoints')
  _rows_of_numbers(c, rows, paths, 3 * num_keypoints, COORDINATE_LIMIT)
  return {'image_ids': set(image_ids), 'category_ids': set(category_ids),
          'num_keypoints': num_keypoints, 'names': names}


def check_coco_results(results: Any, source: str, gt_info: Mapping[str, Any]) -> None:
  """Validates COCO keypoint detections against the ground truth's images and categories."""
  c = Checker(source)
  c.list(results, '')
  k = gt_info['num_keypoints']
  rows, paths = [], []
  for r, det in enumerate(results):
    rp = f'[{r}]'
    c.obj(det, rp)
    image_id = c.integer(c.field(det, 'image_id', rp), f'{rp}.image_id')
    if image_id not in gt_info['image_ids']:
      c.fail(f'{rp}.image_id', f'expected the id of a ground-truth image, got {image_id}')
    cat_id = c.integer(c.field(det, 'category_id', rp), f'{rp}.category_id')
    if cat_id not in gt_info['category_ids']:
      c.fail(f'{rp}.category_id', f'expected the id of a ground-truth category, got {cat_id}')
    c.number(c.field(det, 'score', rp), f'{rp}.score')
    rows.append(c.field(det, 'keypoints', rp))
    paths.append(f'{rp}.keypoints')
  _rows_of_numbers(c, rows, paths, 3 * k, COORDINATE_LIMIT)
