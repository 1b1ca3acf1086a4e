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

import os
from collections.abc import Mapping
from typing import Any

from artrack_jax.data import posetrack_reader

# Reading, field checks and the PoseTrack reader live in ``data/posetrack_reader.py`` (the one
# reader the builders and the evaluator share); here they raise ``EvaluationInputError``.
MAX_DEPTH = posetrack_reader.MAX_DEPTH
COORDINATE_LIMIT = posetrack_reader.COORDINATE_LIMIT
MAX_TRACK_ID = posetrack_reader.MAX_TRACK_ID
NUM_JOINTS = 15
NonFinite = posetrack_reader.NonFinite
posetrack_format = posetrack_reader.posetrack_format
_show = posetrack_reader._show   # pylint: disable=protected-access
_join = posetrack_reader._join   # pylint: disable=protected-access
_rows_of_numbers = posetrack_reader._rows_of_numbers   # pylint: disable=protected-access


class EvaluationInputError(ValueError):
  """Ground truth or predictions that cannot be evaluated; the message names file and field."""


class Checker(posetrack_reader.Checker):
  """``posetrack_reader.Checker`` raising ``EvaluationInputError``."""

  error = EvaluationInputError


def read_json(path: str | os.PathLike, what: str = 'input') -> Any:
  """``posetrack_reader.read_json``, raising ``EvaluationInputError``."""
  return posetrack_reader.read_json(path, what, EvaluationInputError)


def decode_json(raw: bytes | str, source: str) -> Any:
  """``posetrack_reader.decode_json``, raising ``EvaluationInputError``."""
  return posetrack_reader.decode_json(raw, source, EvaluationInputError)


def check_depth(data: Any, source: str, limit: int = MAX_DEPTH) -> None:
  """``posetrack_reader.check_depth``, raising ``EvaluationInputError``."""
  posetrack_reader.check_depth(data, source, limit, EvaluationInputError)


def check_posetrack(data: Any, role: str, source: str) -> list[dict[str, Any]]:
  """Validates one PoseTrack sequence file (2017, 2018 or 2021 style) with the shared reader.

  Returns:
    Per frame, in file order, ``{'id': image id or None, 'name': file name or None,
    'path': JSON path of the frame}``: what ``check_frames_correspond`` compares.
  """
  parsed = posetrack_reader.parse(data, source, role, error=EvaluationInputError)
  return [fr.key() for fr in parsed.frames]


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
  _rows_of_numbers(c, rows, paths.__getitem__, 3 * num_keypoints, COORDINATE_LIMIT)
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
  _rows_of_numbers(c, rows, paths.__getitem__, 3 * k, COORDINATE_LIMIT)
