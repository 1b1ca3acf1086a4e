"""Readers and writers for COCO keypoints, PoseTrack 2017 (annolist) and PoseTrack 2018 JSON.

Readers return :class:`~artrack_jax.data.types.Sequence` objects; writers take them.

* PoseTrack files (2017 and 2018) are read into the ``posetrack`` skeleton (15 joints, the
  evaluation toolkit's order). 2017 <-> 2018 is lossless for the 15 joints: the 2018 ear slots
  are always empty and are the only thing a 2018 reader drops (counted when not empty).
* COCO files are read into the ``coco`` skeleton (17 joints). One COCO file becomes one
  ``Sequence`` of still frames (``frame_id`` = rank of the image id, ``track_id`` = -1).
* :func:`convert_skeleton` moves a sequence between ``posetrack`` and ``coco``; only the 13
  joints both sets share (nose, shoulders, elbows, wrists, hips, knees, ankles) carry over.
  ``neck``/``head_top`` have no COCO slot; eyes/ears have no PoseTrack slot. What is dropped is
  counted, what has no source is written unlabelled.

Layouts follow the official toolkit (``leonid-pishchulin/poseval``, ``poseval/convert.py`` and
``eval_helpers.py``):

PoseTrack 2018 (one file per sequence)::

  images:      [{file_name, id, frame_id (= id, as in the released files), vid_id ('000342'),
                 nframes, is_labeled, has_no_densepose, ignore_regions_x, ignore_regions_y}]
  annotations: [{id, image_id, category_id: 1, track_id, keypoints: (x, y, v) * 17,
                 scores: 17 (predictions), score (predictions), bbox, bbox_head (x, y, w, h)}]
  categories:  [{id: 1, name: 'person', keypoints: 17 names, skeleton}]

Unlabelled joints are written ``(0, 0, 0)``: the toolkit's converter skips exactly those.

PoseTrack 2017 (one file per sequence; every scalar wrapped in a one-element list)::

  annolist: [{image: [{name}], imgnum: [n], is_labeled: [0|1],
              ignore_regions: [{point: [{x: [.], y: [.]}]}],
              annorect: [{x1, y1, x2, y2 (head box corners), track_id, score,
                          annopoints: [{point: [{id, x, y, is_visible, score}]}]}]}]

2017 has no field for the person box, the image id or the video id; our writer adds them as
extra keys (annorect ``bbox`` [x, y, w, h]; entry ``image_id`` [n], ``vid_id`` [n]) which the
toolkit ignores, so our own 2017 files round-trip exactly. Files without them get the person
box poseval derives (the keypoint extent enlarged 1.3 times about its centre), image id -1.
2017 ``is_visible`` is 1 for visible, 0 for occluded; it maps to our ``v`` = 2 / 1.

PoseTrack files are read by ``data/posetrack_reader.py``, the reader the evaluator uses too, so
both accept and refuse the same files. Malformed input raises :class:`FormatError` naming the
file and the field, e.g. ``foo.json: annotations[3].keypoints: expected 51 numbers, got 48``.
"""
from __future__ import annotations

import collections
import dataclasses
import json
import logging
import math
import os
import re
import tempfile
import uuid
from typing import Any, Iterable

import numpy as np

from artrack_jax import skeletons
from artrack_jax.data import posetrack_reader
from artrack_jax.data.types import Frame, Person, Sequence

logger = logging.getLogger(__name__)

Counts = collections.Counter

# Joints that exist in both PoseTrack and COCO (same names in both skeletons).
SHARED_POSETRACK_COCO = ('nose', 'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
                         'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee',
                         'right_knee', 'left_ankle', 'right_ankle')

# PoseTrack 2018 / poseval naming of the 17 slots (COCO order; eyes hold head_bottom/head_top).
POSETRACK18_KEYPOINT_NAMES = skeletons.POSETRACK18.names
# 1-based limb list written in the 2018 ``categories`` entry (the released files' skeleton).
_POSETRACK18_CATEGORY_SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12],
                                  [7, 13], [6, 7], [6, 8], [7, 9], [8, 10], [9, 11], [2, 3],
                                  [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]

# PoseTrack 2018 image ids: source * 1e10 + video number * 1e4 + frame index (poseval's
# ``posetrack18_fname2id``); the source code of poseval's 'mpii', 'bonn', 'mpiinew'.
POSETRACK_SOURCES = {'mpii': 1, 'bonn': 2, 'mpiinew': 3}


# A file does not follow its format; the message names the file and the field.
FormatError = posetrack_reader.FormatError


def posetrack_image_id(sequence_name: str, frame_index: int) -> int:
  """PoseTrack 2018 image id of a frame, as the official toolkit computes it.

  Args:
    sequence_name: ``'<video number>_<source>_<split>'``, e.g. ``'000342_mpii_test'``.
    frame_index: index of the frame in its sequence, ``0 <= frame_index < 10000``.
  """
  parts = os.path.basename(sequence_name).split('_')
  if len(parts) < 2 or not parts[0].isdigit() or parts[1] not in POSETRACK_SOURCES:
    raise ValueError(f'{sequence_name!r} is not a PoseTrack sequence name '
                     f'(<digits>_<{"|".join(POSETRACK_SOURCES)}>_<split>)')
  if not 0 <= frame_index < 10000:
    raise ValueError(f'frame index {frame_index} outside [0, 10000)')
  return POSETRACK_SOURCES[parts[1]] * 10_000_000_000 + int(parts[0]) * 10_000 + frame_index


# ------------------------------------------------------------------------------------------
# Validation helpers: every accessor names the file and the field path on failure.


class _Ctx:
  """Where we are in a file, for error messages."""

  def __init__(self, path: str):
    self.path = str(path)

  def error(self, field: str, message: str) -> FormatError:
    return FormatError(f'{self.path}: {field}: {message}')

  def get(self, obj: Any, key: str, field: str, *, required: bool = True, default=None):
    if not isinstance(obj, dict):
      raise self.error(field, f'expected an object, got {type(obj).__name__}')
    if key not in obj:
      if required:
        raise self.error(f'{field}.{key}' if field else key, 'missing')
      return default
    return obj[key]

  def number(self, value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
      raise self.error(field, f'expected a number, got {value!r}')
    if not math.isfinite(value):
      raise self.error(field, f'expected a finite number, got {value!r}')
    return float(value)

  def integer(self, value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
      raise self.error(field, f'expected an integer, got {value!r}')
    return int(value)

  def numbers(self, value: Any, field: str, length: int | None = None) -> np.ndarray:
    if not isinstance(value, list):
      raise self.error(field, f'expected a list of numbers, got {type(value).__name__}')
    if length is not None and len(value) != length:
      raise self.error(field, f'expected {length} numbers, got {len(value)}')
    return np.asarray([self.number(v, f'{field}[{i}]') for i, v in enumerate(value)],
                      np.float64)

  def listof(self, obj: dict, key: str, field: str, *, required: bool = True) -> list:
    value = self.get(obj, key, field, required=required, default=[])
    if not isinstance(value, list):
      raise self.error(f'{field}.{key}' if field else key,
                       f'expected a list, got {type(value).__name__}')
    return value


def _load_json(path: str | os.PathLike) -> Any:
  return posetrack_reader.read_json(path, 'annotation')


def partial_name(name: str) -> str:
  """The hidden temporary name ``name`` is written under before the rename that completes it
  (the extension kept last: writers pick the format from it)."""
  stem, ext = os.path.splitext(name)
  return f'.{stem}.partial-{uuid.uuid4().hex[:8]}{ext}'


def _dump_json(obj: Any, path: str | os.PathLike) -> None:
  """Writes ``path`` whole or not at all: a temporary file beside it, renamed when complete
  (an interrupted write leaves the previous file, or none, never half a file)."""
  path = os.path.abspath(os.fspath(path))
  directory, base = os.path.split(path)
  os.makedirs(directory, exist_ok=True)
  tmp = os.path.join(directory, partial_name(base))
  try:
    with open(tmp, 'x') as f:
      json.dump(obj, f, separators=(',', ':'))
    os.replace(tmp, path)
  except BaseException:
    os.unlink(tmp)
    raise


def _num(x: float) -> int | float:
  """JSON number: integers stay integers so files stay small and exact."""
  x = float(x)
  return int(x) if x.is_integer() else x


def _nums(xs: Iterable[float]) -> list:
  return [_num(x) for x in xs]


def _log_counts(path, counts: Counts) -> None:
  if counts:
    logger.info('%s: %s', path, dict(counts))


def _check_visibility(ctx: _Ctx, v: np.ndarray, field: str) -> None:
  bad = ~np.isin(v, (0, 1, 2))
  if bad.any():
    raise ctx.error(field, f'visibility must be 0, 1 or 2, got {v[bad][0]!r}')


def _check_skeleton(seq: Sequence, expected: str, writer: str) -> None:
  if seq.skeleton != expected:
    raise ValueError(f'{writer} writes {expected!r} sequences; {seq.name!r} is '
                     f'{seq.skeleton!r} (use formats.convert_skeleton first)')


# ------------------------------------------------------------------------------------------
# PoseTrack 2018


def _sequence_of(parsed: posetrack_reader.PoseTrackFile, path, counts: Counts
                 ) -> tuple[Sequence, list[int]]:
  """The ``posetrack`` Sequence of a file the shared reader read (``data/posetrack_reader.py``).

  Frames in the order of the images' ``frame_id`` when every image has one (the released 2018
  files), else in file order; ``Frame.frame_id`` = rank in that order. Joints are the file's
  (x, y, v); ``is_labeled`` is the file's flag, or whether the frame lists people.

  Returns:
    The sequence and, per frame of the file, its index in the sequence.
  """
  counts.update(parsed.counts)
  frames = []
  for fr, rows in zip(parsed.frames, parsed.rows_of_frames()):
    people = []
    for a in rows:
      kp = parsed.keypoints[a].astype(np.float32)
      if np.isnan(parsed.bbox[a, 0]):
        bbox = _poseval_box(kp)   # optional in predictions; poseval has no use for it either
        counts['boxes_derived'] += 1
      else:
        bbox = parsed.bbox[a].astype(np.float32)
      scores = parsed.scores[a]
      people.append(Person(
          track_id=int(parsed.track_ids[a]), keypoints=kp, bbox=bbox,
          bbox_head=(None if np.isnan(parsed.head_xywh[a, 0])
                     else parsed.head_xywh[a].astype(np.float32)),
          scores=(None if np.isnan(scores).all()
                  else np.nan_to_num(scores, nan=0.0).astype(np.float32)),
          score=None if np.isnan(parsed.score[a]) else float(parsed.score[a])))
    frames.append(Frame(
        image_path=fr.file_name, frame_id=-1,
        is_labeled=fr.has_records if fr.is_labeled is None else fr.is_labeled, people=people,
        ignore_regions=[r.astype(np.float32) for r in fr.ignore_regions],
        width=fr.width, height=fr.height, image_id=-1 if fr.image_id is None else fr.image_id))
  order = list(range(len(frames)))
  if parsed.format == '2018' and all(fr.frame_id is not None for fr in parsed.frames):
    order.sort(key=lambda k: parsed.frames[k].frame_id)
  frames = [frames[k] for k in order]
  index_of = [0] * len(frames)
  for k, (fr, f) in enumerate(zip(frames, order)):
    fr.frame_id = index_of[f] = k
  _log_counts(path, counts)
  return (Sequence(name=_stem(path), frames=frames, skeleton='posetrack', vid_id=parsed.vid_id),
          index_of)


def _read_version(path, version: str | None, role: str | None) -> posetrack_reader.PoseTrackFile:
  parsed = posetrack_reader.read(path, role, file_names=True)
  if version is not None and parsed.format != version:
    key = 'images' if version == '2018' else 'annolist'
    raise FormatError(f'{os.fspath(path)}: {key}: missing; expected a PoseTrack {version} file, '
                      f'this one is PoseTrack {parsed.format}')
  return parsed


def read_posetrack18(path: str | os.PathLike, counts: Counts | None = None,
                     role: str | None = None) -> Sequence:
  """Reads one PoseTrack 2018 (or 2021) sequence file with the evaluator's reader.

  Args:
    path: the ``<sequence>.json`` file.
    counts: optional Counter; receives what was dropped (``ear_slots_nonempty``),
      ``frames_missing`` (``nframes`` above the images listed: a trimmed sequence, read with a
      warning) and ``boxes_derived`` (annotations without ``bbox``: the box is derived from
      the keypoints as for 2017 files).
    role: as ``posetrack_reader.parse``: 'gt' validates as the evaluator validates ground
      truth (the builders), None reads either kind of file.

  Returns:
    Sequence with skeleton ``posetrack``; frames ordered by the images' ``frame_id`` field,
    ``Frame.frame_id`` = rank in that order.

  Raises:
    FormatError: naming the file and the field (``annotations[3].keypoints[7]``).
  """
  counts = Counts() if counts is None else counts
  return _sequence_of(_read_version(path, '2018', role), path, counts)[0]


def _posetrack18_entries(seq: Sequence, fr: Frame, nframes: int) -> tuple[dict, list[dict]]:
  """The ``images`` entry and the ``annotations`` of one frame of a PoseTrack 2018 file."""
  if fr.image_id < 0:
    raise ValueError(f'{seq.name}: frame {fr.frame_id} has no image_id (PoseTrack 2018 '
                     'needs one; formats.posetrack_image_id computes the official scheme)')
  im = {'file_name': fr.image_path, 'id': int(fr.image_id),
        # The released files carry the image id in frame_id; readers recover the index.
        'frame_id': int(fr.image_id),
        'vid_id': f'{seq.vid_id:06d}' if seq.vid_id >= 0 else '',
        'nframes': nframes, 'is_labeled': bool(fr.is_labeled),
        'has_no_densepose': True,
        'ignore_regions_x': [_nums(np.asarray(r)[:, 0]) for r in fr.ignore_regions],
        'ignore_regions_y': [_nums(np.asarray(r)[:, 1]) for r in fr.ignore_regions]}
  if fr.width > 0 and fr.height > 0:
    im['width'], im['height'] = int(fr.width), int(fr.height)
  annotations = []
  for k, p in enumerate(fr.people):
    kp = np.array(p.keypoints, np.float64)
    kp[kp[:, 2] <= 0] = 0.0   # unlabelled joints are (0, 0, 0), the slots the toolkit skips
    kp = skeletons.posetrack_to_posetrack18(kp)
    ann = {'id': int(fr.image_id) * 100 + k, 'image_id': int(fr.image_id), 'category_id': 1,
           'track_id': int(p.track_id), 'keypoints': _nums(kp.reshape(-1)),
           'bbox': _nums(p.bbox)}
    if p.bbox_head is not None:
      ann['bbox_head'] = _nums(p.bbox_head)
    if p.scores is not None:
      ann['scores'] = _nums(skeletons.posetrack_to_posetrack18(
          np.asarray(p.scores, np.float64)[:, None])[:, 0])
    if p.score is not None:
      ann['score'] = _num(p.score)
    annotations.append(ann)
  return im, annotations


def _posetrack18_categories() -> list[dict]:
  return [{'id': 1, 'name': 'person', 'supercategory': 'person',
           'keypoints': list(POSETRACK18_KEYPOINT_NAMES),
           'skeleton': _POSETRACK18_CATEGORY_SKELETON}]


def write_posetrack18(seq: Sequence, path: str | os.PathLike) -> None:
  """Writes one sequence as a PoseTrack 2018 file (ground truth or predictions).

  Predictions carry ``scores`` (per joint) and ``score`` (per person) when the ``Person``
  has them. Every frame needs ``image_id >= 0`` (see :func:`posetrack_image_id`).
  """
  _check_skeleton(seq, 'posetrack', 'write_posetrack18')
  images, annotations = [], []
  for fr in seq.frames:
    im, anns = _posetrack18_entries(seq, fr, len(seq.frames))
    images.append(im)
    annotations.extend(anns)
  _dump_json({'images': images, 'annotations': annotations,
              'categories': _posetrack18_categories()}, path)


class PoseTrack18Writer:
  """Writes a PoseTrack 2018 file frame by frame, in memory that does not grow with the video.

  ``add`` spools each frame's entries to anonymous temporary files (gone when the process ends,
  however it ends); ``close`` writes the file (``write_posetrack18``'s bytes, under a temporary
  name renamed when complete). ``frames`` and ``track_ids`` count what was added.

  Args:
    path: the file to write.
    name, skeleton, vid_id: of the sequence (skeleton ``posetrack`` or ``coco``, converted).
  """

  def __init__(self, path: str | os.PathLike, name: str, skeleton: str = 'posetrack',
               vid_id: int = 0):
    self.path = path
    self._seq = Sequence(name=name, frames=[], skeleton=skeleton, vid_id=vid_id)
    self._images = tempfile.TemporaryFile('w+', encoding='utf-8')
    self._annotations = tempfile.TemporaryFile('w+', encoding='utf-8')
    self.frames = 0
    self.track_ids: set[int] = set()

  def add(self, frame: Frame) -> None:
    seq = dataclasses.replace(self._seq, frames=[frame])
    if seq.skeleton != 'posetrack':
      seq = convert_skeleton(seq, 'posetrack')
    im, anns = _posetrack18_entries(seq, seq.frames[0], 0)   # nframes: set by close
    self._images.write(json.dumps(im, separators=(',', ':')) + '\n')
    for ann in anns:
      self._annotations.write(json.dumps(ann, separators=(',', ':')) + '\n')
    self.frames += 1
    self.track_ids.update(int(p.track_id) for p in frame.people)

  def close(self) -> None:
    """Writes the file (every frame's ``nframes`` = frames added) and frees the spools."""
    path = os.path.abspath(os.fspath(self.path))
    tmp = os.path.join(os.path.dirname(path), partial_name(os.path.basename(path)))
    try:
      with open(tmp, 'x', encoding='utf-8') as f:
        f.write('{"images":[')
        self._images.seek(0)
        for k, line in enumerate(self._images):
          im = json.loads(line)
          im['nframes'] = self.frames
          f.write((',' if k else '') + json.dumps(im, separators=(',', ':')))
        f.write('],"annotations":[')
        self._annotations.seek(0)
        for k, line in enumerate(self._annotations):
          f.write((',' if k else '') + line.rstrip('\n'))
        f.write('],"categories":' + json.dumps(_posetrack18_categories(),
                                                separators=(',', ':')) + '}')
      os.replace(tmp, path)
    except BaseException:
      if os.path.lexists(tmp):
        os.unlink(tmp)
      raise
    finally:
      self.discard()

  def discard(self) -> None:
    """Frees the spools without writing."""
    self._images.close()
    self._annotations.close()


# ------------------------------------------------------------------------------------------
# PoseTrack 2017


def _poseval_box(kp: np.ndarray) -> np.ndarray:
  """Person box poseval derives for 2017 files: keypoint extent enlarged 1.3x about its centre."""
  lab = kp[kp[:, 2] > 0, :2]
  if not len(lab):
    return np.zeros(4, np.float32)
  lo, hi = lab.min(0), lab.max(0)
  c, ext = (lo + hi) / 2, (hi - lo) * 0.65
  return np.concatenate([c - ext, 2 * ext]).astype(np.float32)


def read_posetrack17(path: str | os.PathLike, counts: Counts | None = None,
                     role: str | None = None) -> Sequence:
  """Reads one PoseTrack 2017 annolist file into a ``posetrack`` Sequence (see
  ``read_posetrack18``).

  Args:
    path: the ``<sequence>.json`` file.
    counts: optional Counter; receives ``boxes_derived`` (people whose box came from their
      keypoints because the file has none).
    role: as in ``read_posetrack18``.
  """
  counts = Counts() if counts is None else counts
  return _sequence_of(_read_version(path, '2017', role), path, counts)[0]


def write_posetrack17(seq: Sequence, path: str | os.PathLike) -> None:
  """Writes one sequence as a PoseTrack 2017 annolist file (ground truth or predictions).

  Only labelled joints (v > 0) become points; point ``score`` and annorect ``score`` are
  written when the ``Person`` has them.
  """
  _check_skeleton(seq, 'posetrack', 'write_posetrack17')
  annolist = []
  for fr in seq.frames:
    rects = []
    for p in fr.people:
      kp = np.asarray(p.keypoints, np.float64)
      points = []
      for j in range(15):
        if kp[j, 2] <= 0:
          continue
        pt = {'id': [j], 'x': [_num(kp[j, 0])], 'y': [_num(kp[j, 1])],
              'is_visible': [1 if kp[j, 2] >= 2 else 0]}
        if p.scores is not None:
          pt['score'] = [_num(p.scores[j])]
        points.append(pt)
      rect = {'track_id': [int(p.track_id)], 'annopoints': [{'point': points}],
              'bbox': _nums(p.bbox)}
      if p.bbox_head is not None:
        # float32 x, w are exact in float64, so x2 - x1 gives w back exactly.
        x, y, w, h = (float(v) for v in p.bbox_head)
        rect.update(x1=[_num(x)], y1=[_num(y)], x2=[_num(x + w)], y2=[_num(y + h)])
      if p.score is not None:
        rect['score'] = [_num(p.score)]
      rects.append(rect)
    entry = {'image': [{'name': fr.image_path}], 'imgnum': [fr.frame_id + 1],
             'is_labeled': [int(bool(fr.is_labeled))], 'annorect': rects}
    if fr.ignore_regions:
      entry['ignore_regions'] = [
          {'point': [{'x': [_num(x)], 'y': [_num(y)]} for x, y in np.asarray(r)]}
          for r in fr.ignore_regions]
    if fr.image_id >= 0:
      entry['image_id'] = [int(fr.image_id)]
    if seq.vid_id >= 0:
      entry['vid_id'] = [int(seq.vid_id)]
    if fr.width > 0 and fr.height > 0:
      entry['width'], entry['height'] = [int(fr.width)], [int(fr.height)]
    annolist.append(entry)
  _dump_json({'annolist': annolist}, path)


def read_posetrack(path: str | os.PathLike, counts: Counts | None = None,
                   role: str | None = None) -> Sequence:
  """Reads a PoseTrack 2017, 2018 or 2021 file, telling them apart by the ``annolist`` key."""
  counts = Counts() if counts is None else counts
  return _sequence_of(_read_version(path, None, role), path, counts)[0]


def read_posetrack_dir(directory: str | os.PathLike,
                       counts: Counts | None = None) -> list[Sequence]:
  """Reads every ``*.json`` of a directory (sorted by name), 2017 or 2018."""
  names = sorted(n for n in os.listdir(directory) if n.endswith('.json'))
  if not names:
    raise FileNotFoundError(f'{directory}: no .json files')
  return [read_posetrack(os.path.join(directory, n), counts) for n in names]


def write_posetrack_dir(sequences: Iterable[Sequence], directory: str | os.PathLike,
                        version: str = '2018') -> list[str]:
  """Writes one ``<name>.json`` per sequence; returns the paths."""
  writer = {'2018': write_posetrack18, '2017': write_posetrack17}.get(str(version))
  if writer is None:
    raise ValueError(f'PoseTrack version must be 2017 or 2018, got {version!r}')
  paths = []
  for seq in sequences:
    p = os.path.join(directory, f'{seq.name}.json')
    writer(seq, p)
    paths.append(p)
  return paths


# ------------------------------------------------------------------------------------------
# COCO keypoints


def _coco_image_prefix(path) -> str:
  m = re.match(r'person_keypoints_(.+)\.json$', os.path.basename(str(path)))
  return f'{m.group(1)}/' if m else ''


def read_coco(path: str | os.PathLike, counts: Counts | None = None,
              image_prefix: str | None = None) -> Sequence:
  """Reads a COCO keypoints file into one ``coco`` Sequence of still frames.

  Args:
    path: e.g. ``annotations/person_keypoints_val2017.json``.
    counts: optional Counter; receives ``crowd_regions`` (crowd annotations turned into ignore
      regions), ``crowd_rle_as_box`` (RLE crowd masks, which have no polygon, kept as their
      box), ``non_person_annotations`` (category other than the person one; dropped).
    image_prefix: prepended to ``file_name`` to make ``Frame.image_path`` relative to the data
      set root; default: ``'<split>/'`` from ``person_keypoints_<split>.json``, else ''.

  Returns:
    Sequence named after the file stem, frames ordered by image id.
  """
  counts = Counts() if counts is None else counts
  ctx = _Ctx(path)
  prefix = _coco_image_prefix(path) if image_prefix is None else image_prefix
  data = _load_json(path)
  if not isinstance(data, dict):
    raise ctx.error('(top level)', 'expected an object with images/annotations/categories')
  person_cat = 1
  for c, cat in enumerate(ctx.listof(data, 'categories', '')):
    if cat.get('name') == 'person':
      person_cat = ctx.integer(ctx.get(cat, 'id', f'categories[{c}]'), f'categories[{c}].id')
      names = cat.get('keypoints')
      if names is not None and list(names) != list(skeletons.COCO.names):
        raise ctx.error(f'categories[{c}].keypoints',
                        f'expected the 17 COCO keypoints, got {names!r}')
  frames = {}
  for i, im in enumerate(ctx.listof(data, 'images', '')):
    f = f'images[{i}]'
    image_id = ctx.integer(ctx.get(im, 'id', f), f'{f}.id')
    if image_id in frames:
      raise ctx.error(f'{f}.id', f'duplicate image id {image_id}')
    name = ctx.get(im, 'file_name', f)
    if not isinstance(name, str):
      raise ctx.error(f'{f}.file_name', f'expected a string, got {name!r}')
    frames[image_id] = Frame(image_path=prefix + name, frame_id=-1, is_labeled=True, people=[],
                             width=ctx.integer(ctx.get(im, 'width', f), f'{f}.width'),
                             height=ctx.integer(ctx.get(im, 'height', f), f'{f}.height'),
                             image_id=image_id)
  for i, ann in enumerate(ctx.listof(data, 'annotations', '')):
    f = f'annotations[{i}]'
    image_id = ctx.integer(ctx.get(ann, 'image_id', f), f'{f}.image_id')
    if image_id not in frames:
      raise ctx.error(f'{f}.image_id', f'no image with id {image_id}')
    if ctx.integer(ctx.get(ann, 'category_id', f), f'{f}.category_id') != person_cat:
      counts['non_person_annotations'] += 1
      continue
    bbox = ctx.numbers(ctx.get(ann, 'bbox', f), f'{f}.bbox', 4).astype(np.float32)
    if ann.get('iscrowd', 0):
      seg = ann.get('segmentation')
      if isinstance(seg, list) and seg:
        for s, poly in enumerate(seg):
          xy = ctx.numbers(poly, f'{f}.segmentation[{s}]')
          if len(xy) % 2 or len(xy) < 6:
            raise ctx.error(f'{f}.segmentation[{s}]',
                            f'expected an even count >= 6 of numbers, got {len(xy)}')
          frames[image_id].ignore_regions.append(xy.reshape(-1, 2).astype(np.float32))
      else:
        x, y, w, h = bbox
        frames[image_id].ignore_regions.append(
            np.asarray([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], np.float32))
        counts['crowd_rle_as_box'] += 1
      counts['crowd_regions'] += 1
      continue
    kp = ctx.numbers(ctx.get(ann, 'keypoints', f), f'{f}.keypoints', 51).reshape(17, 3)
    _check_visibility(ctx, kp[:, 2], f'{f}.keypoints')
    score = ann.get('score')
    frames[image_id].people.append(Person(
        track_id=-1, keypoints=kp.astype(np.float32), bbox=bbox, bbox_head=None,
        score=None if score is None else ctx.number(score, f'{f}.score')))
  ordered = [frames[k] for k in sorted(frames)]
  for k, fr in enumerate(ordered):
    fr.frame_id = k
  _log_counts(path, counts)
  return Sequence(name=_stem(path), frames=ordered, skeleton='coco')


def write_coco(sequences: Sequence | Iterable[Sequence], path: str | os.PathLike,
               image_prefix: str = '', counts: Counts | None = None) -> None:
  """Writes ``coco`` sequences (still frames) as one COCO keypoints file.

  Ignore regions become ``iscrowd`` annotations with polygon segmentation. COCO has no head
  box and no track id: people's ``bbox_head`` is dropped (counted as ``bbox_head_dropped``),
  track ids are not written. ``image_prefix`` is removed from ``Frame.image_path``.
  """
  counts = Counts() if counts is None else counts
  if isinstance(sequences, Sequence):
    sequences = [sequences]
  images, annotations, seen = [], [], set()
  for seq in sequences:
    _check_skeleton(seq, 'coco', 'write_coco')
    for fr in seq.frames:
      if fr.image_id < 0 or fr.image_id in seen:
        raise ValueError(f'{seq.name}: frame {fr.frame_id}: COCO needs unique image ids >= 0, '
                         f'got {fr.image_id}')
      seen.add(fr.image_id)
      if not fr.image_path.startswith(image_prefix):
        raise ValueError(f'{seq.name}: {fr.image_path!r} does not start with {image_prefix!r}')
      images.append({'id': int(fr.image_id), 'file_name': fr.image_path[len(image_prefix):],
                     'width': int(fr.width), 'height': int(fr.height)})
      for p in fr.people:
        kp = np.asarray(p.keypoints, np.float64)
        x, y, w, h = (float(v) for v in p.bbox)
        ann = {'id': len(annotations) + 1, 'image_id': int(fr.image_id), 'category_id': 1,
               'keypoints': _nums(kp.reshape(-1)), 'num_keypoints': int((kp[:, 2] > 0).sum()),
               'bbox': _nums(p.bbox), 'area': _num(w * h), 'iscrowd': 0, 'segmentation': []}
        if p.score is not None:
          ann['score'] = _num(p.score)
        if p.bbox_head is not None:
          counts['bbox_head_dropped'] += 1
        annotations.append(ann)
      for r in fr.ignore_regions:
        r = np.asarray(r, np.float64)
        lo, hi = r.min(0), r.max(0)
        annotations.append({'id': len(annotations) + 1, 'image_id': int(fr.image_id),
                            'category_id': 1, 'iscrowd': 1, 'keypoints': [0] * 51,
                            'num_keypoints': 0, 'segmentation': [_nums(r.reshape(-1))],
                            'bbox': _nums([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]]),
                            'area': _num(_polygon_area(r))})
  skeleton_1based = [[a + 1, b + 1] for a, b in skeletons.COCO.limbs]
  categories = [{'id': 1, 'name': 'person', 'supercategory': 'person',
                 'keypoints': list(skeletons.COCO.names), 'skeleton': skeleton_1based}]
  _log_counts(path, counts)
  _dump_json({'images': images, 'annotations': annotations, 'categories': categories}, path)


def _polygon_area(r: np.ndarray) -> float:
  x, y = r[:, 0], r[:, 1]
  return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


# ------------------------------------------------------------------------------------------
# Conversion between skeletons


def _joint_map(src: skeletons.Skeleton, dst: skeletons.Skeleton) -> tuple[np.ndarray, np.ndarray]:
  """Indices (src_idx, dst_idx) of the joints both sets share."""
  pairs = [(src.index(n), dst.index(n)) for n in SHARED_POSETRACK_COCO]
  return np.asarray([a for a, _ in pairs]), np.asarray([b for _, b in pairs])


def convert_keypoints(kpts: np.ndarray, src: str, dst: str,
                      counts: Counts | None = None) -> np.ndarray:
  """[..., J_src, C] -> [..., J_dst, C] between ``posetrack`` and ``coco``.

  Shared joints are copied; destination joints without a source are zero (unlabelled); source
  joints without a destination that are labelled (v > 0, or any value when C != 3) are counted
  in ``counts['joints_dropped']``.
  """
  kpts = np.asarray(kpts)
  if src == dst:
    return kpts.copy()
  if {src, dst} != {'posetrack', 'coco'}:
    raise ValueError(f'conversion {src!r} -> {dst!r} not supported (posetrack <-> coco; '
                     'posetrack18 via skeletons.posetrack_to_posetrack18)')
  s, d = skeletons.get(src), skeletons.get(dst)
  si, di = _joint_map(s, d)
  out = np.zeros(kpts.shape[:-2] + (d.num_joints, kpts.shape[-1]), kpts.dtype)
  out[..., di, :] = kpts[..., si, :]
  if counts is not None:
    lost = np.setdiff1d(np.arange(s.num_joints), si)
    part = kpts[..., lost, :]
    labelled = part[..., 2] > 0 if kpts.shape[-1] == 3 else np.ones(part.shape[:-1], bool)
    counts['joints_dropped'] += int(labelled.sum())
  return out


def convert_skeleton(seq: Sequence, skeleton: str, counts: Counts | None = None) -> Sequence:
  """Returns a copy of ``seq`` in another skeleton (``posetrack`` <-> ``coco``).

  Going to ``coco`` the head box is kept in memory (``write_coco`` drops it); going to
  ``posetrack`` it stays ``None`` when the source had none.
  """
  counts = Counts() if counts is None else counts
  frames = []
  for fr in seq.frames:
    people = [Person(track_id=p.track_id,
                     keypoints=convert_keypoints(p.keypoints, seq.skeleton, skeleton, counts),
                     bbox=np.array(p.bbox, np.float32),
                     bbox_head=None if p.bbox_head is None else np.array(p.bbox_head, np.float32),
                     scores=None if p.scores is None else convert_keypoints(
                         np.asarray(p.scores)[:, None], seq.skeleton, skeleton)[:, 0],
                     score=p.score) for p in fr.people]
    frames.append(Frame(image_path=fr.image_path, frame_id=fr.frame_id, is_labeled=fr.is_labeled,
                        people=people, ignore_regions=[np.array(r) for r in fr.ignore_regions],
                        width=fr.width, height=fr.height, image_id=fr.image_id))
  return Sequence(name=seq.name, frames=frames, skeleton=skeleton, vid_id=seq.vid_id)


def _stem(path) -> str:
  return os.path.splitext(os.path.basename(str(path)))[0]


def sequences_equal(a: Sequence, b: Sequence, *, check_bbox: bool = True) -> list[str]:
  """Differences between two sequences (empty list when equal); used by round-trip checks."""
  diffs = []

  def cmp(name, x, y):
    if x is None or y is None:
      if (x is None) != (y is None):
        diffs.append(f'{name}: {x!r} != {y!r}')
      return
    x, y = np.asarray(x), np.asarray(y)
    if x.shape != y.shape or not np.array_equal(x.astype(np.float64), y.astype(np.float64)):
      diffs.append(f'{name}: {x.tolist()} != {y.tolist()}')

  for attr in ('name', 'skeleton', 'vid_id'):
    if getattr(a, attr) != getattr(b, attr):
      diffs.append(f'{attr}: {getattr(a, attr)!r} != {getattr(b, attr)!r}')
  if len(a.frames) != len(b.frames):
    return diffs + [f'frames: {len(a.frames)} != {len(b.frames)}']
  for t, (fa, fb) in enumerate(zip(a.frames, b.frames)):
    for attr in ('image_path', 'frame_id', 'is_labeled', 'width', 'height', 'image_id'):
      if getattr(fa, attr) != getattr(fb, attr):
        diffs.append(f'frames[{t}].{attr}: {getattr(fa, attr)!r} != {getattr(fb, attr)!r}')
    if len(fa.ignore_regions) != len(fb.ignore_regions):
      diffs.append(f'frames[{t}].ignore_regions: {len(fa.ignore_regions)} != '
                   f'{len(fb.ignore_regions)}')
    else:
      for r, (ra, rb) in enumerate(zip(fa.ignore_regions, fb.ignore_regions)):
        cmp(f'frames[{t}].ignore_regions[{r}]', ra, rb)
    if len(fa.people) != len(fb.people):
      diffs.append(f'frames[{t}].people: {len(fa.people)} != {len(fb.people)}')
      continue
    for k, (pa, pb) in enumerate(zip(fa.people, fb.people)):
      n = f'frames[{t}].people[{k}]'
      if pa.track_id != pb.track_id:
        diffs.append(f'{n}.track_id: {pa.track_id} != {pb.track_id}')
      cmp(f'{n}.keypoints', pa.keypoints, pb.keypoints)
      if check_bbox:
        cmp(f'{n}.bbox', pa.bbox, pb.bbox)
      cmp(f'{n}.bbox_head', pa.bbox_head, pb.bbox_head)
      cmp(f'{n}.scores', pa.scores, pb.scores)
      cmp(f'{n}.score', pa.score, pb.score)
  return diffs


# ------------------------------------------------------------------------------------------
# PoseTrack 2021 (anDoer/PoseTrack21 ``posetrack_data``): PoseTrack 2018 files plus
# ``person_id`` on annotations (an identity across the whole data set) and
# ``has_labeled_person`` on images; ignore regions as ``ignore_regions_x/y``.


def read_posetrack21(path: str | os.PathLike, counts: Counts | None = None,
                     role: str | None = None
                     ) -> tuple[Sequence, dict[tuple[int, int], int]]:
  """Reads one PoseTrack21 sequence file.

  Returns:
    The sequence (as :func:`read_posetrack18`, skeleton ``posetrack``) and
    ``{(frame index, track_id): person_id}`` for annotations that carry a ``person_id``.
  """
  counts = Counts() if counts is None else counts
  parsed = _read_version(path, '2018', role)
  seq, index_of = _sequence_of(parsed, path, counts)
  person_ids = {}
  for a in np.flatnonzero(parsed.person_ids >= 0):
    person_ids[(index_of[int(parsed.frame[a])], int(parsed.track_ids[a]))] = int(
        parsed.person_ids[a])
  return seq, person_ids


def write_posetrack21(seq: Sequence, path: str | os.PathLike,
                      person_ids: dict[tuple[int, int], int] | None = None) -> None:
  """Writes one sequence as a PoseTrack21 file (ground truth or predictions).

  ``person_ids``: ``{(frame index, track_id): person_id}``; annotations without an entry get
  ``person_id = track_id``. ``has_labeled_person`` is set where a labelled frame has people.
  """
  write_posetrack18(seq, path)
  with open(path) as f:
    data = json.load(f)
  frame_of_image = {int(fr.image_id): k for k, fr in enumerate(seq.frames)}
  for im, fr in zip(data['images'], seq.frames):
    im['has_labeled_person'] = bool(fr.is_labeled and fr.people)
  for ann in data['annotations']:
    key = (frame_of_image[ann['image_id']], ann['track_id'])
    ann['person_id'] = int((person_ids or {}).get(key, ann['track_id']))
  _dump_json(data, path)
