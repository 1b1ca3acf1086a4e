"""The one reader of PoseTrack sequence files, for the TFDS builders and the evaluator alike.

PoseTrack 2017 (``annolist``), PoseTrack 2018 (COCO style) and PoseTrack21 (2018 style plus
``person_id``, ``has_labeled_person`` and ``ignore_regions_x/y``) files are validated and read
in one pass into :class:`PoseTrackFile`: per frame what the file says of it, and the people of
all frames as arrays in the 15 joints of the ``posetrack`` skeleton (the evaluation toolkit's
order). ``data/formats.py`` turns that into ``data.types.Sequence`` objects (the builders'
records), ``evaluation/posetrack.py`` into the evaluator's arrays: the two read every file the
same way, and refuse the same files with the same message.

Every problem raises an error (:class:`FormatError` unless the caller names its own class, as
the evaluator does) whose message names the file, the JSON path of the field and what was
expected::

  gt/000342_mpii_test.json: annotations[3].keypoints[7]: expected a finite number, got true

Checked: files (missing, directories, symbolic-link loops, non-UTF-8, not JSON, nesting deeper
than ``MAX_DEPTH``), types, NaN / Infinity, booleans where numbers belong, coordinates beyond
``COORDINATE_LIMIT``, list lengths, duplicate image and annotation ids, annotations of unknown
images, track ids outside ``[0, MAX_TRACK_ID)`` or repeated within a frame, repeated joints,
ignore polygons of one or two vertices, inconsistent ``nframes``. What depends on the role:

* ``role='gt'`` (ground truth: the evaluator's and the builders'): a head box on every person
  with points, not degenerate; visibilities 0, 1 or 2; ignore regions read; scores not read.
* ``role='pred'`` (predictions): scores read; visibilities, head boxes and ignore regions not
  looked at (other tools write scores into the visibility slot).
* ``role=None`` (a sequence file of either kind, ``formats.read_posetrack``): everything read,
  head boxes optional.

A file whose ``nframes`` exceeds the images it lists (a trimmed or partly downloaded sequence)
is read as it is, as the official toolkit reads it, with a warning that counts the missing
frames (``PoseTrackFile.counts['frames_missing']``); ``nframes`` below the images listed, or
differing between images, is an error.

The toolkit's reading rules kept here for the evaluator: a 2018 keypoint slot is a joint unless
it is exactly ``(0, 0, 0)`` (``present``), the ear slots are not joints, and a 2017 person
counts only when it carries a point list (``scored``). Nothing here imports JAX, Flax or
TensorFlow: the evaluation commands stay light.
"""
from __future__ import annotations

import collections
import dataclasses
import errno
import itertools
import json
import logging
import math
import os
import re
import stat
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from artrack_jax import skeletons

logger = logging.getLogger(__name__)

# Deepest JSON nesting accepted (PoseTrack 2017 files need 6 levels, COCO polygons 4).
MAX_DEPTH = 64
# Largest absolute coordinate (pixels) accepted for keypoints, boxes and polygons.
COORDINATE_LIMIT = 1e6
# Track ids must stay below this (the PoseTrack toolkit offsets them per sequence by it).
MAX_TRACK_ID = 10000
NUM_JOINTS = 15


class FormatError(ValueError):
  """A file that cannot be read as its format says; the message names the file and the field
  (``<file>: annotations[3].keypoints[7]: expected a finite number, got true``)."""


class NonFinite:
  """What ``NaN``, ``Infinity`` and ``-Infinity`` decode to: no number, so checks refuse it."""

  def __init__(self, text: str):
    self.text = text

  def __repr__(self) -> str:
    return self.text


_NUMBER_TYPES = (int, float)
_ABSENT = object()   # a field that is not there (None is JSON null)


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


def read_json(path: str | os.PathLike, what: str = 'input',
              error: type[Exception] = FormatError) -> Any:
  """Decodes one JSON file; every failure is an ``error`` (default :class:`FormatError`) naming
  the file.

  ``NaN`` / ``Infinity`` decode to :class:`NonFinite` so that the checks name their path.
  """
  path = os.fspath(path)
  if not os.path.lexists(path):
    raise error(f'{path}: {what} file does not exist')
  try:
    info = os.stat(path)
  except OSError as e:
    if e.errno == errno.ELOOP:
      raise error(f'{path}: {what} file is a symbolic-link loop') from None
    if e.errno == errno.ENOENT:
      raise error(f'{path}: {what} file is a dangling symbolic link (its target '
                                 f'{os.readlink(path)!r} does not exist)') from None
    raise error(f'{path}: {what} file cannot be read: {e.strerror}') from None
  if stat.S_ISDIR(info.st_mode):
    raise error(f'{path}: is a directory, expected a {what} JSON file')
  if not stat.S_ISREG(info.st_mode):
    raise error(f'{path}: is not a regular file, expected a {what} JSON file')
  try:
    with open(path, 'rb') as f:
      raw = f.read()
  except OSError as e:
    raise error(f'{path}: {what} file cannot be read: {e.strerror}') from None
  return decode_json(raw, path, error)


def _fast_json(raw: bytes) -> Any:
  """``orjson.loads(raw)`` (2.4x the speed of ``json`` on PoseTrack files), or ``_ABSENT``
  where orjson refuses the text: then ``json`` reads it and names what is wrong, or reads what
  only it accepts (``NaN`` / ``Infinity``, lone surrogates).

  One difference remains: orjson reads an integer beyond the 64-bit range as the nearest float
  (``json`` as the exact integer). No field of these files holds one validly: ids and track
  ids beyond 2^63, coordinates beyond ``COORDINATE_LIMIT``."""
  import orjson  # pylint: disable=import-outside-toplevel
  try:
    return orjson.loads(raw)
  except orjson.JSONDecodeError:
    return _ABSENT


def decode_json(raw: bytes | str, source: str, error: type[Exception] = FormatError) -> Any:
  """Decodes JSON text (bytes must be UTF-8); see ``read_json``."""
  if isinstance(raw, bytes):
    data = _fast_json(raw)
    if data is not _ABSENT:
      if text_depth(raw) > MAX_DEPTH:
        raise error(f'{source}: JSON nested deeper than {MAX_DEPTH} levels')
      return data
    try:
      text = raw.decode('utf-8')
    except UnicodeDecodeError as e:
      raise error(
          f'{source}: not UTF-8 text (byte {e.start} is 0x{raw[e.start]:02x}); JSON files must '
          'be UTF-8') from None
  else:
    text = raw
  try:
    data = json.loads(text, parse_constant=NonFinite)
  except json.JSONDecodeError as e:
    raise error(f'{source}: not valid JSON: {e}') from None
  except RecursionError:
    raise error(f'{source}: JSON nested too deeply to read (at most '
                               f'{MAX_DEPTH} levels are accepted)') from None
  except ValueError as e:   # e.g. an integer longer than Python's conversion limit
    raise error(f'{source}: not valid JSON: {e}') from None
  if text_depth(text) > MAX_DEPTH:
    raise error(f'{source}: JSON nested deeper than {MAX_DEPTH} levels')
  return data


# Bytes other than brackets, braces, quotes and backslashes (deleted by ``text_depth``).
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'[]{}"\\')))
_STRUCTURE_STEP = np.zeros(256, np.int8)
_STRUCTURE_STEP[list(b'[{')] = 1
_STRUCTURE_STEP[list(b']}')] = -1
_STRUCTURE_STEP[ord('"')] = 2
# A JSON string literal (for text with escapes; valid JSON only; compiled when first needed).
_STRING = r'"(?:[^"\\]|\\.)*"'


def text_depth(text: str | bytes) -> int:
  """Nesting depth of valid JSON text: ``check_depth``'s count (a top-level container is 1)
  without walking the decoded objects, from the brackets outside string literals (10x faster
  on PoseTrack files than the walk)."""
  raw = text.encode('utf-8') if isinstance(text, str) else text
  kept = raw.translate(None, _NOT_STRUCTURE)
  if b'\\' in kept:   # escapes: drop the string literals first (slower, rare)
    kept = re.sub(_STRING, '', raw.decode('utf-8')).encode('utf-8').translate(None, _NOT_STRUCTURE)
  step = _STRUCTURE_STEP[np.frombuffer(kept, np.uint8)]
  quote = step == 2
  inside = (np.cumsum(quote, dtype=np.int32) & 1).astype(bool)
  step = np.where(quote | inside, 0, step)
  return int(np.cumsum(step, dtype=np.int32).max(initial=0))


def check_depth(data: Any, source: str, limit: int = MAX_DEPTH,
                error: type[Exception] = FormatError) -> None:
  """Refuses JSON nested deeper than ``limit`` (later code may recurse over it)."""
  level = [data] if isinstance(data, (list, dict)) else []
  depth = 0
  while level:
    depth += 1
    if depth > limit:
      raise error(f'{source}: JSON nested deeper than {limit} levels')
    nxt = []
    for container in level:
      values = container.values() if isinstance(container, dict) else container
      nxt.extend(v for v in values if isinstance(v, (list, dict)))
    level = nxt


# ----------------------------------------------------------------------------------------------
# Field checks. ``Checker`` names the source; paths are JSON paths.


class Checker:
  """Raises ``error('<source>: <path>: expected ..., got ...')`` (``Checker.error`` by default)."""

  error: type[Exception] = FormatError

  def __init__(self, source: str, error: type[Exception] | None = None):
    self.source = source
    if error is not None:
      self.error = error

  def fail(self, path: str, message: str):
    raise self.error(f'{self.source}: {path or "top level"}: {message}')

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


def _rows_of_numbers(c: Checker, rows: list, path_of: Callable[[int], str], length: int,
                     limit: float | None = None) -> np.ndarray:
  """[n, length] float64 from n lists; names the first offending element (``path_of(i)``: the
  JSON path of row i, built only for a message)."""
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
  for i, r in enumerate(rows):
    c.numbers(r, path_of(i), length, limit)
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


# ----------------------------------------------------------------------------------------------
# PoseTrack files.

# PoseTrack 2018 keypoint name -> posetrack joint index (the neck is 'head_bottom' there).
_PT18_NAME_TO_JOINT = {('head_bottom' if n == 'neck' else n): i
                       for i, n in enumerate(skeletons.POSETRACK.names)}
# The 17 slots of the released 2018 files (the default when a file names none).
POSETRACK18_SLOT_NAMES = tuple(skeletons.POSETRACK18.names)


@dataclasses.dataclass
class FileFrame:
  """One frame (2018 ``images`` entry, 2017 ``annolist`` entry) as the file describes it.

  Attributes:
    path: JSON path of the entry (``images[3]``), for messages.
    image_id: the image id (2017: our ``image_id`` extension), None when absent.
    file_name: 2018 ``file_name`` / 2017 ``image[0].name``, None when absent.
    frame_id: 2018 ``frame_id`` (the released files' ordering key), None when absent.
    is_labeled, has_labeled_person: the file's flags, None when absent.
    has_records: the file lists people for the frame (the toolkit's "labelled frame").
    ignore_regions: polygons, each [V, 2] float64 (x, y); not read for predictions.
    width, height: 0 when absent.
  """
  path: str
  image_id: int | None = None
  file_name: str | None = None
  frame_id: int | None = None
  is_labeled: bool | None = None
  has_labeled_person: bool | None = None
  has_records: bool = False
  ignore_regions: list[np.ndarray] = dataclasses.field(default_factory=list)
  width: int = 0
  height: int = 0

  def key(self) -> dict[str, Any]:
    """What ``evaluation.validate.check_frames_correspond`` compares."""
    return {'id': self.image_id, 'name': self.file_name, 'path': self.path}


@dataclasses.dataclass
class PoseTrackFile:
  """One sequence file. People of all frames are rows (file order; ``frame`` says whose).

  Attributes:
    source: the file, for messages.
    format: '2017' or '2018' (PoseTrack21 files are 2018 style).
    frames: per frame, in file order.
    vid_id: the video number, -1 when the file has none.
    nframes: the ``nframes`` the file states, None when absent.
    counts: ``frames_missing`` (``nframes`` above the images listed), ``ear_slots_nonempty``.
    frame: [A] int64 frame index of each person.
    paths: [A] JSON path of each person record.
    track_ids: [A] int64.
    person_ids: [A] int64 PoseTrack21 ``person_id``, -1 when absent.
    keypoints: [A, 15, 3] float64 (x, y, v); 2017 ``is_visible`` 1 / 0 -> v = 2 / 1.
    present: [A, 15] bool, the toolkit's joints (2018: slot not exactly (0, 0, 0); 2017: point
      listed).
    scores: [A, 15] float64 per-joint scores, NaN where the file gives none (not read for
      ground truth).
    score: [A] float64 person score, NaN where none.
    bbox: [A, 4] float64 person box (x, y, w, h), NaN where none.
    head_xywh: [A, 4] float64 head box (x, y, w, h), NaN where none.
    head_corners: [A, 4] float64 the same box as (x1, y1, x2, y2), each form computed from the
      file's own (2017 corners, 2018 x, y, w, h) with the toolkit's rounding.
    scored: [A] bool, the toolkit scores the person (2017: it carries a point list).
  """
  source: str
  format: str
  frames: list[FileFrame]
  vid_id: int
  nframes: int | None
  counts: collections.Counter
  frame: np.ndarray
  paths: list[str]
  track_ids: np.ndarray
  person_ids: np.ndarray
  keypoints: np.ndarray
  present: np.ndarray
  scores: np.ndarray
  score: np.ndarray
  bbox: np.ndarray
  head_xywh: np.ndarray
  head_corners: np.ndarray
  scored: np.ndarray

  def rows_of_frames(self) -> list[np.ndarray]:
    """Per frame, its people's row indices in file order."""
    order = np.argsort(self.frame, kind='stable')
    bounds = np.searchsorted(self.frame[order], np.arange(len(self.frames) + 1))
    return [order[bounds[f]:bounds[f + 1]] for f in range(len(self.frames))]


def posetrack_format(data: Any) -> str | None:
  """'2017' (annolist), '2018' (COCO style; PoseTrack21 files are this style) or None."""
  if isinstance(data, Mapping):
    if 'annolist' in data:
      return '2017'
    if 'images' in data or 'annotations' in data:
      return '2018'
  return None


def read(path: str | os.PathLike, role: str | None = None, *,
         error: type[Exception] = FormatError, file_names: bool = False) -> PoseTrackFile:
  """Reads and validates one PoseTrack sequence file (see ``parse``)."""
  what = {'gt': 'ground-truth', 'pred': 'prediction'}.get(role, 'PoseTrack')
  return parse(read_json(path, what, error), os.fspath(path), role, error=error,
               file_names=file_names)


def parse(data: Any, source: str, role: str | None = None, *,
          error: type[Exception] = FormatError, file_names: bool = False) -> PoseTrackFile:
  """Validates and reads one decoded PoseTrack sequence file (2017, 2018 or 2021 style).

  Args:
    data: the decoded JSON (``read_json``: NaN / Infinity decode to ``NonFinite``).
    source: the file, for messages.
    role: 'gt', 'pred' or None (see the module docstring).
    error: the exception class raised.
    file_names: every frame must name its image (the builders read the images).
  """
  if role not in ('gt', 'pred', None):
    raise ValueError(f'role must be \'gt\', \'pred\' or None, got {role!r}')
  c = Checker(source, error)
  c.obj(data, '')
  fmt = posetrack_format(data)
  if fmt == '2017':
    return _parse_annolist(c, data, role, file_names)
  if fmt == '2018':
    return _parse_coco_style(c, data, role, file_names)
  c.fail('', 'expected a PoseTrack 2017 (\'annolist\') or PoseTrack 2018/2021 (\'images\', '
         '\'annotations\', \'categories\') object')
  raise AssertionError('unreachable')   # pragma: no cover


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


def _polygon(c: Checker, xs: Any, ys: Any, path_x: str, path_y: str) -> np.ndarray:
  xs = c.numbers(xs, path_x, limit=COORDINATE_LIMIT)
  ys = c.numbers(ys, path_y, len(xs), limit=COORDINATE_LIMIT)
  if 0 < len(xs) < 3:
    # shapely (and so the toolkit) cannot build a polygon from one or two vertices.
    c.fail(path_x, f'expected an ignore polygon of at least 3 vertices (or none), got '
           f'{len(xs)}')
  return np.stack([xs, ys], -1).reshape(-1, 2)


def _flag(c: Checker, value: Any, path: str) -> bool:
  if not (isinstance(value, bool) or (type(value) is int and value in (0, 1))):
    c.expect(path, 'true, false, 0 or 1', value)
  return bool(value)


def _size(c: Checker, value: Any, path: str) -> int:
  value = c.integer(value, path)
  if value < 0:
    c.fail(path, f'expected a size >= 0, got {value}')
  return value


def _video_number(c: Checker, value: Any, path: str) -> int | None:
  """2018 ``vid_id``: '000342' or 342; '' (our writer's unknown video) is None."""
  if isinstance(value, str):
    if value == '':
      return None
    if value.isascii() and value.isdigit():
      return int(value)
  elif type(value) is int and value >= 0:
    return value
  c.expect(path, 'a video number (\'000342\' or 342)', value)
  raise AssertionError('unreachable')   # pragma: no cover


def _one_video(c: Checker, vid_ids: dict[int, str], vid: int | None, path: str):
  if vid is None:
    return
  vid_ids.setdefault(vid, path)
  if len(vid_ids) > 1:
    c.fail(path, f'expected one sequence per file, found vid_id values {sorted(vid_ids)}')


def _nframes(c: Checker, frames: list[FileFrame], stated: list[tuple[int, str]],
             counts: collections.Counter) -> int | None:
  """Checks the ``nframes`` of the images against each other and the images listed."""
  if not stated:
    return None
  nframes, first = stated[0]
  for value, path in stated[1:]:
    if value != nframes:
      c.fail(path, f'expected the nframes of {first} ({nframes}), got {value}')
  if nframes < len(frames):
    c.fail(first, f'says {nframes} but the file has {len(frames)} images')
  if nframes > len(frames):
    # A trimmed or partly downloaded sequence: the official toolkit reads it as it is.
    counts['frames_missing'] += nframes - len(frames)
    logger.warning('%s: %s says %d but the file lists %d images: %d frames missing (a trimmed '
                   'sequence), read as it is', c.source, first, nframes, len(frames),
                   nframes - len(frames))
  return nframes


def _head_corners(xywh: np.ndarray) -> np.ndarray:
  # x2 = x + w as the toolkit's conversion computes it (same rounding).
  return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)


def _parse_coco_style(c: Checker, data: Mapping, role: str | None,
                      file_names: bool) -> PoseTrackFile:
  images = c.list(c.field(data, 'images', ''), 'images')
  anns = c.list(c.field(data, 'annotations', ''), 'annotations')
  names = list(POSETRACK18_SLOT_NAMES)
  if 'categories' in data:
    categories = c.list(data['categories'], 'categories')
    if len(categories) != 1:
      c.fail('categories', f'expected exactly one category (person), got {len(categories)}')
    category = c.obj(categories[0], 'categories[0]')
    if 'keypoints' in category:
      names = c.list(category['keypoints'], 'categories[0].keypoints')
      for k, name in enumerate(names):
        c.string(name, f'categories[0].keypoints[{k}]')
      if len(names) not in (15, 17):
        c.fail('categories[0].keypoints', f'expected 15 or 17 keypoint names, got {len(names)}')
      if len(set(names)) != len(names):
        c.fail('categories[0].keypoints', f'expected unique keypoint names, got {names}')
      missing = [n for n in _PT18_NAME_TO_JOINT if n not in names]
      if missing:
        c.fail('categories[0].keypoints', f'expected the PoseTrack keypoints, {missing} missing')
  num_slots = len(names)
  slot_joint = np.asarray([_PT18_NAME_TO_JOINT.get(n, -1) for n in names])
  slot_of_joint = np.argsort(np.where(slot_joint >= 0, slot_joint, 10 ** 6))[:len(
      _PT18_NAME_TO_JOINT)]

  frames: list[FileFrame] = []
  image_index: dict[int, int] = {}
  vid_ids: dict[int, str] = {}
  stated: list[tuple[int, str]] = []
  for i, image in enumerate(images):
    ip = f'images[{i}]'
    c.obj(image, ip)
    fr = FileFrame(path=ip)
    fr.image_id = c.unique_id(c.field(image, 'id', ip), f'{ip}.id', image_index, i, 'image',
                              'images')
    if 'file_name' in image:
      fr.file_name = c.string(image['file_name'], f'{ip}.file_name')
    elif file_names:
      c.fail(f'{ip}.file_name', 'missing')
    if 'frame_id' in image:
      fr.frame_id = c.integer(image['frame_id'], f'{ip}.frame_id')
    if 'vid_id' in image:
      _one_video(c, vid_ids, _video_number(c, image['vid_id'], f'{ip}.vid_id'), f'{ip}.vid_id')
    if 'nframes' in image:
      stated.append((_size(c, image['nframes'], f'{ip}.nframes'), f'{ip}.nframes'))
    for key in ('is_labeled', 'has_labeled_person'):
      if image.get(key) is not None:
        setattr(fr, key, _flag(c, image[key], f'{ip}.{key}'))
    for key in ('width', 'height'):
      if key in image:
        setattr(fr, key, _size(c, image[key], f'{ip}.{key}'))
    if role != 'pred' and ('ignore_regions_x' in image or 'ignore_regions_y' in image):
      xs = c.list(c.field(image, 'ignore_regions_x', ip), f'{ip}.ignore_regions_x')
      ys = c.list(c.field(image, 'ignore_regions_y', ip), f'{ip}.ignore_regions_y')
      if len(xs) != len(ys):
        c.fail(f'{ip}.ignore_regions_y', f'expected {len(xs)} polygons as in ignore_regions_x, '
               f'got {len(ys)}')
      fr.ignore_regions = [
          _polygon(c, x, y, f'{ip}.ignore_regions_x[{r}]', f'{ip}.ignore_regions_y[{r}]')
          for r, (x, y) in enumerate(zip(xs, ys))]
    frames.append(fr)
  counts = collections.Counter()
  nframes = _nframes(c, frames, stated, counts)

  num = len(anns)
  ann_ids: dict[Any, int] = {}
  frame_tracks: dict[int, list[tuple[int, str]]] = {}
  frame_of = np.zeros(num, np.int64)
  track_ids = np.zeros(num, np.int64)
  person_ids = np.full(num, -1, np.int64)
  score = np.full(num, np.nan)
  bbox = np.full((num, 4), np.nan)
  head = np.full((num, 4), np.nan)
  paths, keypoints, scores, scored_rows, boxes = [], [], [], [], []
  bbox_rows, bbox_lists = [], []
  for a, ann in enumerate(anns):
    ap = f'annotations[{a}]'
    paths.append(ap)
    # The fast path of a well-formed record (integer ids, known image, new annotation id);
    # anything else takes the careful path, which names the field at fault.
    fast = type(ann) is dict and 'keypoints' in ann
    if fast:
      image_id, track_id = ann.get('image_id'), ann.get('track_id')
      ann_id, person_id = ann.get('id', _ABSENT), ann.get('person_id')
      fast = (type(image_id) is int and image_id in image_index and type(track_id) is int
              and 0 <= track_id < MAX_TRACK_ID
              and (ann_id is _ABSENT or (type(ann_id) is int and ann_id not in ann_ids))
              and (person_id is None or type(person_id) is int))
    if fast:
      if ann_id is not _ABSENT:
        ann_ids[ann_id] = a
      if person_id is not None:
        person_ids[a] = person_id
    else:
      c.obj(ann, ap)
      if 'id' in ann:
        c.unique_id(ann['id'], f'{ap}.id', ann_ids, a, 'annotation', 'annotations')
      image_id = c.integer(c.field(ann, 'image_id', ap), f'{ap}.image_id')
      if image_id not in image_index:
        c.fail(f'{ap}.image_id', f'expected the id of an image of the file, got {image_id}')
      track_id = _track_id(c, c.field(ann, 'track_id', ap), f'{ap}.track_id')
      if ann.get('person_id') is not None:
        person_ids[a] = c.integer(ann['person_id'], f'{ap}.person_id')
      c.field(ann, 'keypoints', ap)
    f = frame_of[a] = image_index[image_id]
    frames[f].has_records = True
    track_ids[a] = track_id
    frame_tracks.setdefault(f, []).append((track_id, f'{ap}.track_id'))
    keypoints.append(ann['keypoints'])
    if role != 'gt':
      if ann.get('scores') not in (None, []):
        scores.append(ann['scores'])
        scored_rows.append(a)
      if ann.get('score') is not None:
        score[a] = c.number(ann['score'], f'{ap}.score')
    if ann.get('bbox') is not None:
      bbox_rows.append(a)
      bbox_lists.append(ann['bbox'])
    if role != 'pred':
      box = ann.get('bbox_head')
      boxes.append(None if box in (None, []) else box)
  if bbox_rows:
    bbox[bbox_rows] = _rows_of_numbers(c, bbox_lists, lambda i: f'{paths[bbox_rows[i]]}.bbox',
                                       4, COORDINATE_LIMIT)
  kpts = _rows_of_numbers(c, keypoints, lambda i: f'{paths[i]}.keypoints', 3 * num_slots,
                          COORDINATE_LIMIT).reshape(num, num_slots, 3)
  if role != 'pred' and num:
    bad = ~np.isin(kpts[:, :, 2], (0, 1, 2))
    if bad.any():
      a, s = (int(v[0]) for v in np.nonzero(bad))
      c.fail(f'annotations[{a}].keypoints[{3 * s + 2}]',
             f'expected a visibility 0, 1 or 2, got {_show(anns[a]["keypoints"][3 * s + 2])}')
  joint_kpts = kpts[:, slot_of_joint]                                   # [A, 15, 3]
  present = ~np.all(joint_kpts == 0, axis=2)
  counts['ear_slots_nonempty'] += int(np.sum(np.any(kpts[:, slot_joint < 0] != 0, axis=(1, 2))))
  score_rows = np.full((num, 15), np.nan)
  if scores:
    given = _rows_of_numbers(c, scores, lambda i: f'{paths[scored_rows[i]]}.scores',
                             num_slots)
    score_rows[scored_rows] = given[:, slot_of_joint]
  if role != 'pred':
    has_points = present.any(axis=1)
    given = [a for a, box in enumerate(boxes) if box is not None]
    if given:
      head[given] = _rows_of_numbers(c, [boxes[a] for a in given],
                                     lambda i: f'{paths[given[i]]}.bbox_head', 4,
                                     COORDINATE_LIMIT)
    if role == 'gt':
      for a in np.flatnonzero(has_points).tolist():
        if boxes[a] is None:
          c.fail(f'{paths[a]}.bbox_head',
                 'missing; expected a head box [x, y, w, h] for a person with keypoints')
        if head[a, 2] == 0 and head[a, 3] == 0:
          _head_size_positive(c, head[a], f'{paths[a]}.bbox_head', corners=False)
  for f, tracks in frame_tracks.items():
    _check_track_ids(c, tracks, f'images[{f}]')
  if not counts['ear_slots_nonempty']:
    del counts['ear_slots_nonempty']
  return PoseTrackFile(
      source=c.source, format='2018', frames=frames,
      vid_id=next(iter(vid_ids)) if vid_ids else -1, nframes=nframes, counts=counts,
      frame=frame_of, paths=paths, track_ids=track_ids, person_ids=person_ids,
      keypoints=joint_kpts, present=present, scores=score_rows, score=score, bbox=bbox,
      head_xywh=head, head_corners=_head_corners(head), scored=np.ones(num, bool))


def _point_2017(point: Any, scored: bool) -> tuple | None:
  """(joint, x, y, visibility 2|1, score) of a 2017 ``point`` that passes every check of the
  careful path in ``_parse_annolist``, else None (that path then names the field at fault).

  The fast path of the format's most frequent record: no JSON path is built for a valid point.
  """
  if type(point) is not dict:
    return None
  try:
    ids, xs, ys = point['id'], point['x'], point['y']
    if type(ids) is not list or type(xs) is not list or type(ys) is not list:
      return None
    (joint,), (x,), (y,) = ids, xs, ys
    if (type(joint) not in _NUMBER_TYPES or type(x) not in _NUMBER_TYPES
        or type(y) not in _NUMBER_TYPES):
      return None
    if not (math.isfinite(joint) and joint == int(joint) and 0 <= joint < 15
            and math.isfinite(x) and math.isfinite(y)
            and abs(x) <= COORDINATE_LIMIT and abs(y) <= COORDINATE_LIMIT):
      return None
    visible = True
    if 'is_visible' in point:
      flags = point['is_visible']
      if type(flags) is not list:
        return None
      (visible,) = flags
      if not (type(visible) is bool or (type(visible) is int and visible in (0, 1))):
        return None
    score = math.nan
    if scored and 'score' in point:
      values = point['score']
      if type(values) is not list:
        return None
      (score,) = values
      if type(score) not in _NUMBER_TYPES or not math.isfinite(score):
        return None
  except (KeyError, ValueError, OverflowError):   # missing; not one element; huge integers
    return None
  return (int(joint), float(x), float(y), 2 if visible else 1, float(score))


def _parse_annolist(c: Checker, data: Mapping, role: str | None,
                    file_names: bool) -> PoseTrackFile:
  frames: list[FileFrame] = []
  vid_ids: dict[int, str] = {}
  rows: list[dict[str, Any]] = []
  point_rows: list[int] = []      # person row of each point
  point_values: list[tuple] = []  # (joint, x, y, v, score)
  annolist = c.list(data['annolist'], 'annolist')
  for f, entry in enumerate(annolist):
    fp = f'annolist[{f}]'
    c.obj(entry, fp)
    fr = FileFrame(path=fp)
    if 'image' in entry:
      im, ip = c.wrapped(entry, 'image', fp)
      c.obj(im, ip)
      if 'name' in im:
        fr.file_name = c.string(im['name'], f'{ip}.name')
      elif file_names:
        c.fail(f'{ip}.name', 'missing')
    elif file_names:
      c.fail(f'{fp}.image', 'missing')
    rects = c.list(c.field(entry, 'annorect', fp), f'{fp}.annorect')
    fr.has_records = bool(rects)
    for key in ('image_id', 'vid_id', 'is_labeled', 'width', 'height'):
      if key not in entry:
        continue
      value, vp = c.wrapped(entry, key, fp)
      if key == 'image_id':
        fr.image_id = c.integer(value, vp)
      elif key == 'vid_id':
        _one_video(c, vid_ids, _size(c, value, vp), vp)
      elif key == 'is_labeled':
        fr.is_labeled = _flag(c, value, vp)
      else:
        setattr(fr, key, _size(c, value, vp))
    if role != 'pred' and 'ignore_regions' in entry:
      for r, region in enumerate(c.list(entry['ignore_regions'], f'{fp}.ignore_regions')):
        rp = f'{fp}.ignore_regions[{r}]'
        points = c.list(c.field(c.obj(region, rp), 'point', rp), f'{rp}.point')
        xy = []
        for v, vertex in enumerate(points):
          vp = f'{rp}.point[{v}]'
          c.obj(vertex, vp)
          x, xp = c.wrapped(vertex, 'x', vp)
          y, yp = c.wrapped(vertex, 'y', vp)
          xy.append((c.number(x, xp, COORDINATE_LIMIT), c.number(y, yp, COORDINATE_LIMIT)))
        if 0 < len(xy) < 3:
          c.fail(f'{rp}.point', f'expected an ignore polygon of at least 3 vertices (or none), '
                 f'got {len(xy)}')
        fr.ignore_regions.append(np.asarray(xy, np.float64).reshape(-1, 2))
    track_ids = []
    for p, rect in enumerate(rects):
      pp = f'{fp}.annorect[{p}]'
      c.obj(rect, pp)
      row = {'frame': f, 'path': pp, 'score': np.nan, 'bbox': (math.nan,) * 4,
             'corners': (math.nan,) * 4, 'scored': False}
      value, tp = c.wrapped(rect, 'track_id', pp)
      row['track_id'] = _track_id(c, value, tp)
      track_ids.append((row['track_id'], tp))
      joints: dict[int, str] = {}
      if 'annopoints' in rect and rect['annopoints'] != []:
        ap = f'{pp}.annopoints'
        annopoints = c.list(rect['annopoints'], ap)
        if len(annopoints) != 1 or not isinstance(annopoints[0], Mapping):
          c.expect(ap, 'a list of one object {"point": [...]} (or [] for no points)',
                   annopoints)
        points = c.list(c.field(annopoints[0], 'point', f'{ap}[0]'), f'{ap}[0].point')
        row['scored'] = True   # the toolkit keeps a person that carries a point list
        for k, point in enumerate(points):
          fast = _point_2017(point, role != 'gt')
          if fast is not None and fast[0] not in joints:
            joints[fast[0]] = f'{ap}[0].point[{k}].id[0]'
            point_rows.append(len(rows))
            point_values.append(fast)
            continue
          # The careful path: names the field at fault.
          kp = f'{ap}[0].point[{k}]'
          c.obj(point, kp)
          joint, jp = c.wrapped(point, 'id', kp)
          joint = c.integer(joint, jp)
          if not 0 <= joint < 15:
            c.fail(jp, f'expected a joint id in [0, 15), got {joint}')
          if joint in joints:
            c.fail(jp, f'joint id {joint} repeats {joints[joint]}')
          joints[joint] = jp
          x, xp = c.wrapped(point, 'x', kp)
          y, yp = c.wrapped(point, 'y', kp)
          visible = 1
          if 'is_visible' in point:
            visible, vp = c.wrapped(point, 'is_visible', kp)
            visible = int(_flag(c, visible, vp))
          score = math.nan
          if role != 'gt' and 'score' in point:
            score, sp = c.wrapped(point, 'score', kp)
            score = c.number(score, sp)
          point_rows.append(len(rows))
          point_values.append((joint, c.number(x, xp, COORDINATE_LIMIT),
                               c.number(y, yp, COORDINATE_LIMIT), 2 if visible else 1, score))
      has_points = bool(joints)
      # A head box is needed to score a person's joints; one without points may lack it.
      if role != 'pred' and ((role == 'gt' and has_points)
                             or {'x1', 'y1', 'x2', 'y2'} & rect.keys()):
        box = []
        for key in ('x1', 'y1', 'x2', 'y2'):
          value, vp = c.wrapped(rect, key, pp)
          box.append(c.number(value, vp, COORDINATE_LIMIT))
        row['corners'] = box
        if role == 'gt' and has_points:
          _head_size_positive(c, np.asarray(box), f'{pp}.x1', corners=True)
      if rect.get('bbox') is not None:
        row['bbox'] = tuple(c.numbers(rect['bbox'], f'{pp}.bbox', 4, COORDINATE_LIMIT))
      if role != 'gt' and 'score' in rect:
        s, sp = c.wrapped(rect, 'score', pp)
        row['score'] = c.number(s, sp)
      rows.append(row)
    _check_track_ids(c, track_ids, fp)
    frames.append(fr)
  num = len(rows)

  def stack(key, shape, dtype=np.float64):
    return np.asarray([r[key] for r in rows], dtype).reshape((num,) + shape)

  corners = stack('corners', (4,))
  keypoints = np.zeros((num, 15, 3))
  present = np.zeros((num, 15), bool)
  scores = np.full((num, 15), np.nan)
  if point_values:
    who = np.asarray(point_rows, np.int64)
    values = np.asarray(point_values, np.float64)
    joint = values[:, 0].astype(np.int64)
    keypoints[who, joint] = values[:, 1:4]
    present[who, joint] = True
    scores[who, joint] = values[:, 4]
  return PoseTrackFile(
      source=c.source, format='2017', frames=frames,
      vid_id=next(iter(vid_ids)) if vid_ids else -1, nframes=None, counts=collections.Counter(),
      frame=stack('frame', (), np.int64), paths=[r['path'] for r in rows],
      track_ids=stack('track_id', (), np.int64), person_ids=np.full(num, -1, np.int64),
      keypoints=keypoints, present=present, scores=scores, score=stack('score', ()),
      bbox=stack('bbox', (4,)),
      head_xywh=np.concatenate([corners[:, :2], corners[:, 2:] - corners[:, :2]], axis=1),
      head_corners=corners, scored=stack('scored', (), bool))
