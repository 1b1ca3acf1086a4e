"""COCO keypoint AP (OKS) through pycocotools, for still-image sets (Table 5 of the paper).

``evaluate_keypoints`` runs ``COCOeval(..., 'keypoints')`` and returns its 10 summary numbers
by name. Skeletons other than COCO's 17 joints (e.g. the 15 PoseTrack joints) need their own
OKS sigmas: pass ``sigmas`` or name the keypoints of the category after a skeleton of
``artrack_jax.skeletons``, whose ``oks_sigmas`` are then used.
"""
from __future__ import annotations

import contextlib
import copy
import io
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from artrack_jax import skeletons
from artrack_jax.evaluation.posetrack import EvaluationInputError

# COCOeval.stats in order, for iouType 'keypoints' (20 maximum detections per image).
STAT_NAMES = ('AP', 'AP50', 'AP75', 'APM', 'APL', 'AR', 'AR50', 'AR75', 'ARM', 'ARL')

_GT_ANNOTATION_FIELDS = ('id', 'image_id', 'category_id', 'keypoints', 'num_keypoints', 'area',
                         'bbox')


def _load_json(source, what: str):
  if isinstance(source, (str, bytes)) or hasattr(source, '__fspath__'):
    try:
      with open(source) as f:
        return json.load(f), str(source)
    except FileNotFoundError:
      raise EvaluationInputError(f'{source}: {what} file does not exist') from None
    except json.JSONDecodeError as e:
      raise EvaluationInputError(f'{source}: not valid JSON: {e}') from None
  return source, f'<{what}>'


def _is_number(value) -> bool:
  return (isinstance(value, (int, float)) and not isinstance(value, bool)
          and math.isfinite(value))


def _keypoint_count(gt: Mapping, name: str) -> tuple[int, list[str] | None]:
  categories = gt.get('categories')
  if not isinstance(categories, list) or not categories:
    raise EvaluationInputError(f'{name}: field \'categories\' is missing')
  counts = set()
  names = None
  for c, category in enumerate(categories):
    kpt_names = category.get('keypoints') if isinstance(category, Mapping) else None
    if not isinstance(kpt_names, list) or not kpt_names:
      raise EvaluationInputError(f'{name}: categories[{c}]: field \'keypoints\' (names) is '
                                 'missing')
    counts.add(len(kpt_names))
    names = kpt_names
  if len(counts) != 1:
    raise EvaluationInputError(f'{name}: categories have different keypoint counts {counts}')
  return counts.pop(), names


def _resolve_sigmas(sigmas, num_keypoints: int, names: list[str], name: str) -> np.ndarray:
  if sigmas is not None:
    sigmas = np.asarray(sigmas, np.float64)
    if sigmas.shape != (num_keypoints,) or not np.all(sigmas > 0):
      raise EvaluationInputError(f'sigmas: expected {num_keypoints} positive values to match '
                                 f'{name}, got shape {sigmas.shape}')
    return sigmas
  for skeleton in skeletons.SKELETONS.values():
    if list(skeleton.names) == list(names):
      return np.asarray(skeleton.oks_sigmas, np.float64)
  if num_keypoints == 17:
    # pycocotools' own sigmas: the COCO joint set under other names.
    return np.asarray(COCOeval(iouType='keypoints').params.kpt_oks_sigmas, np.float64)
  raise EvaluationInputError(
      f'{name}: {num_keypoints} keypoints named {names} match no known skeleton; pass sigmas')


def _check_gt(gt: Mapping, name: str, num_keypoints: int):
  for key in ('images', 'annotations'):
    if not isinstance(gt.get(key), list):
      raise EvaluationInputError(f'{name}: field {key!r} (list) is missing')
  for a, ann in enumerate(gt['annotations']):
    missing = [k for k in _GT_ANNOTATION_FIELDS if k not in ann]
    if missing:
      raise EvaluationInputError(f'{name}: annotations[{a}]: fields {missing} are missing')
    if len(ann['keypoints']) != 3 * num_keypoints:
      raise EvaluationInputError(f'{name}: annotations[{a}]: field \'keypoints\' must hold '
                                 f'{3 * num_keypoints} numbers')


def _check_results(results: list, name: str, image_ids: set, category_ids: set,
                   num_keypoints: int):
  if not isinstance(results, list):
    raise EvaluationInputError(f'{name}: results must be a list of detections')
  for r, det in enumerate(results):
    where = f'{name}: result {r}'
    if not isinstance(det, Mapping):
      raise EvaluationInputError(f'{where}: must be an object')
    for key in ('image_id', 'category_id', 'keypoints', 'score'):
      if key not in det:
        raise EvaluationInputError(f'{where}: field {key!r} is missing')
    if det['image_id'] not in image_ids:
      raise EvaluationInputError(f'{where}: field \'image_id\' = {det["image_id"]!r} is not an '
                                 'image of the ground truth')
    if det['category_id'] not in category_ids:
      raise EvaluationInputError(f'{where}: field \'category_id\' = {det["category_id"]!r} is '
                                 'not a category of the ground truth')
    kpts = det['keypoints']
    if (not isinstance(kpts, list) or len(kpts) != 3 * num_keypoints
        or not all(_is_number(v) for v in kpts)):
      raise EvaluationInputError(f'{where}: field \'keypoints\' must be {3 * num_keypoints} '
                                 'finite numbers')
    if not _is_number(det['score']):
      raise EvaluationInputError(f'{where}: field \'score\' must be a finite number')


def evaluate_keypoints(gt_json, results, sigmas: Sequence[float] | None = None, *,
                       quiet: bool = True) -> dict[str, float]:
  """COCO keypoint AP/AR with pycocotools.

  Args:
    gt_json: COCO keypoint ground truth, a file path or the decoded object.
    results: detections ``[{image_id, category_id, keypoints: [x, y, v] * K, score}]``, a file
      path or the list itself. May be empty (then every AP and AR is 0, or -1 where pycocotools
      has no ground truth in an area range).
    sigmas: [K] per-keypoint OKS sigmas (COCO units, e.g. 0.026 for the nose). None: those of
      the skeleton whose joint names the category lists, or pycocotools' COCO sigmas for 17
      keypoints otherwise.
    quiet: silence pycocotools' printing.

  Returns:
    {'AP', 'AP50', 'AP75', 'APM', 'APL', 'AR', 'AR50', 'AR75', 'ARM', 'ARL'} as fractions in
    [0, 1] (pycocotools' -1 where undefined).

  Raises:
    EvaluationInputError: malformed ground truth or detections (the message names the file,
      the entry and the field).
  """
  gt, gt_name = _load_json(gt_json, 'ground truth')
  res, res_name = _load_json(results, 'results')
  if not isinstance(gt, Mapping):
    raise EvaluationInputError(f'{gt_name}: expected a COCO ground-truth object')
  num_keypoints, names = _keypoint_count(gt, gt_name)
  _check_gt(gt, gt_name, num_keypoints)
  image_ids = {img['id'] for img in gt['images']}
  category_ids = {c.get('id') for c in gt['categories']}
  _check_results(res, res_name, image_ids, category_ids, num_keypoints)
  kpt_sigmas = _resolve_sigmas(sigmas, num_keypoints, names, gt_name)

  out = io.StringIO()
  with contextlib.redirect_stdout(out) if quiet else contextlib.nullcontext():
    coco_gt = COCO()
    coco_gt.dataset = copy.deepcopy(dict(gt))
    coco_gt.createIndex()
    if res:
      coco_dt = coco_gt.loadRes(copy.deepcopy(res))
    else:
      # pycocotools cannot load an empty result list; an empty result set is still valid.
      coco_dt = COCO()
      coco_dt.dataset = {'images': list(gt['images']), 'categories': list(gt['categories']),
                         'annotations': []}
      coco_dt.createIndex()
    evaluator = COCOeval(coco_gt, coco_dt, iouType='keypoints')
    evaluator.params.kpt_oks_sigmas = kpt_sigmas
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
  return {name: float(v) for name, v in zip(STAT_NAMES, evaluator.stats)}


def format_stats(stats: Mapping[str, Any]) -> str:
  """One line per statistic, in percent."""
  return '\n'.join(f'{name:5s} {100 * stats[name]:6.2f}' for name in STAT_NAMES)
