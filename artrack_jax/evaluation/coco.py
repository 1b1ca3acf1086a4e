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
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from artrack_jax import skeletons
from artrack_jax.evaluation import validate
from artrack_jax.evaluation.validate import EvaluationInputError

# COCOeval.stats in order, for iouType 'keypoints' (20 maximum detections per image).
STAT_NAMES = ('AP', 'AP50', 'AP75', 'APM', 'APL', 'AR', 'AR50', 'AR75', 'ARM', 'ARL')



def _load_json(source, what: str):
  if isinstance(source, (str, bytes)) or hasattr(source, '__fspath__'):
    path = os.fsdecode(source)
    return validate.read_json(path, what), path
  validate.check_depth(source, f'<{what}>')
  return source, f'<{what}>'


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


def read_ground_truth(paths: Sequence[str]) -> dict[str, Any]:
  """A data set's own COCO keypoint annotation files, decoded and merged into one.

  Several files (the parts of a joined split, e.g. train2017 + val2017) are merged: their
  images and annotations are concatenated (ids must stay unique, which COCO's are); their
  categories must be the same. A missing or malformed file is an error naming it.
  """
  if not paths:
    raise ValueError('read_ground_truth: no annotation file given')
  merged = None
  for path in paths:
    path = os.fsdecode(path)
    if not os.path.isfile(path):
      raise FileNotFoundError(f'COCO annotation file {path} does not exist')
    data = validate.read_json(path, 'ground truth')
    validate.check_coco_gt(data, path)
    if merged is None:
      merged = {'images': list(data['images']), 'annotations': list(data['annotations']),
                'categories': list(data['categories'])}
      first = path
      continue
    if data['categories'] != merged['categories']:
      raise EvaluationInputError(f'{path}: categories differ from those of {first}')
    merged['images'] += data['images']
    merged['annotations'] += data['annotations']
  if len(paths) > 1:
    validate.check_coco_gt(merged, ' + '.join(map(os.fsdecode, paths)))
  return merged


def evaluate_keypoints(gt_json, results, sigmas: Sequence[float] | None = None, *,
                       image_ids: Sequence[int] | None = None,
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
    image_ids: score only these images (pycocotools' ``params.imgIds``: the ground truth of
      the other images is left out, e.g. a whole annotation file scored on the images
      evaluated); each must be an image of the ground truth. None: every image.
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
  # Everything is checked before pycocotools sees it (it would fail with a traceback or
  # silently score NaN boxes, duplicate ids and unknown images).
  gt_info = validate.check_coco_gt(gt, gt_name)
  validate.check_coco_results(res, res_name, gt_info)
  kpt_sigmas = _resolve_sigmas(sigmas, gt_info['num_keypoints'], gt_info['names'], gt_name)
  if image_ids is not None:
    image_ids = sorted({int(i) for i in image_ids})
    missing = [i for i in image_ids if i not in gt_info['image_ids']]
    if missing or not image_ids:
      raise EvaluationInputError(
          f'{gt_name}: image_ids: ' + (f'{len(missing)} of the {len(image_ids)} images to score '
                                       f'are not in the ground truth (e.g. {missing[:5]})'
                                       if missing else 'expected at least one image'))
    outside = sorted({int(d['image_id']) for d in res} - set(image_ids))
    if outside:
      raise EvaluationInputError(f'{res_name}: detections of {len(outside)} images outside '
                                 f'image_ids (e.g. {outside[:5]})')

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
    if image_ids is not None:
      evaluator.params.imgIds = image_ids
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
  return {name: float(v) for name, v in zip(STAT_NAMES, evaluator.stats)}


def format_stats(stats: Mapping[str, Any]) -> str:
  """One line per statistic, in percent."""
  return '\n'.join(f'{name:5s} {100 * stats[name]:6.2f}' for name in STAT_NAMES)
