"""COCO-style keypoint AP of a SpatialNet on a split: predict, map back, pycocotools.

  metrics = keypoint_ap.evaluate(config, workdir)          # eval.py, notebooks
  evaluate_fn = keypoint_ap.make_evaluate_fn(config, workdir)   # the trainer's validation

The split is read in record order without augmentation (`pipeline.frame_dataset` with split
'eval'); `inference.FramePredictor.predict_batch` gives each image's poses in its original
pixels, with the test-time augmentation of `config.decode` and, when `config.pgg.enabled`, PGG
refinement (the model of stage 2).
"""
from __future__ import annotations

import json
import os
from typing import Any, Callable, Mapping

import ml_collections
import numpy as np

from artrack_jax import inference
from artrack_jax import metrics_writer as metrics_writer_lib
from artrack_jax import skeletons as skeletons_lib
from artrack_jax.data import pipeline
from artrack_jax.evaluation import coco as coco_eval
from artrack_jax.grouping import decode as decode_lib

PyTree = Any


def predictor_for(networks: inference.Networks | None, config: ml_collections.ConfigDict
                  ) -> inference.FramePredictor:
  """The predictor the AP is measured with: `config.decode`'s grouping, PGG when enabled."""
  variant = inference.DecodeVariant.from_config(config, pgg=bool(config.pgg.enabled))
  return inference.FramePredictor(networks, config, variants=(variant,))


def coco_ground_truth(source, record_indices: list[int], image_ids: list[int],
                      skeleton: skeletons_lib.Skeleton) -> dict[str, Any]:
  """COCO keypoint ground truth of the given records, in their original pixels.

  People with no labelled joint are left out. An image's ignore mask becomes one `iscrowd`
  annotation over the mask's bounding box, so detections there are neither true nor false
  positives (PoseTrack ignore regions, COCO crowds).
  """
  images, annotations = [], []
  for record_index, image_id in zip(record_indices, image_ids):
    record = source[record_index]
    where = f'record {record_index} (image {image_id})'
    ignore = np.asarray(record['ignore_mask'])
    height, width = ignore.shape[:2]
    images.append({'id': int(image_id), 'width': int(width), 'height': int(height)})
    keypoints = np.asarray(record['keypoints'], np.float64).reshape(-1, skeleton.num_joints, 3)
    boxes = np.asarray(record['bbox'], np.float64).reshape(-1, 4)
    if len(boxes) != len(keypoints):
      raise ValueError(f'{where}: {len(keypoints)} people but {len(boxes)} boxes')
    for person, box in zip(keypoints, boxes):
      labelled = person[:, 2] > 0
      if not labelled.any():
        continue
      if box[2] <= 0 or box[3] <= 0:
        lo, hi = person[labelled, :2].min(0), person[labelled, :2].max(0)
        box = np.concatenate([lo, np.maximum(hi - lo, 1.0)])
      annotations.append({
          'id': len(annotations) + 1, 'image_id': int(image_id), 'category_id': 1,
          'keypoints': [float(v) for v in person.reshape(-1)],
          'num_keypoints': int(labelled.sum()), 'bbox': [float(v) for v in box],
          'area': float(box[2] * box[3]), 'iscrowd': 0})
    if ignore.any():
      ys, xs = np.nonzero(ignore)
      box = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
             float(ys.max() - ys.min() + 1)]
      annotations.append({
          'id': len(annotations) + 1, 'image_id': int(image_id), 'category_id': 1,
          'keypoints': [0.0] * (3 * skeleton.num_joints), 'num_keypoints': 0, 'bbox': box,
          'area': float(ignore.sum()), 'iscrowd': 1})
  categories = [{'id': 1, 'name': 'person', 'supercategory': 'person',
                 'keypoints': list(skeleton.names),
                 'skeleton': [[a + 1, b + 1] for a, b in skeleton.limbs]}]
  return {'images': images, 'annotations': annotations, 'categories': categories}


def evaluate_model(predictor: inference.FramePredictor, config: ml_collections.ConfigDict,
                   source, *, index: pipeline.FrameIndex | None = None, split: str = 'val',
                   max_batches: int = 0, results_path: str | None = None) -> dict[str, float]:
  """COCO-style keypoint AP of a predictor's poses on a split.

  Every process evaluates the whole split with its own devices (no cross-host gathering).

  Args:
    predictor: `predictor_for(networks, config)` (or a stand-in with `predict_batch`).
    config: the config (`data`, `train.eval_batch_size`).
    source: the split's random-access records.
    index: `pipeline.build_index(source)`, built when None.
    split: the split's name (for messages; every split, 'train' included, is read once in
      record order without augmentation).
    max_batches: evaluate only the first batches (0: all).
    results_path: where to write the COCO results JSON, if given.

  Returns:
    `evaluation.coco.evaluate_keypoints`'s AP/AR dict plus `num_images`.
  """
  skeleton = skeletons_lib.get(config.data.skeleton)
  index = pipeline.build_index(source) if index is None else index
  record_of = {(int(s), int(f)): i
               for i, (s, f) in enumerate(zip(index.sequence_index, index.frame_id))}
  batch_size = int(config.train.eval_batch_size or config.train.batch_size)
  # 'eval': the pipeline augments and repeats only splits named 'train...'.
  dataset = pipeline.frame_dataset(source, config, 'eval', index=index, batch_size=batch_size,
                                   shard_index=0, shard_count=1)
  image_ids, record_indices, poses_per_image = [], [], []
  for n, batch in enumerate(dataset):
    if max_batches and n >= max_batches:
      break
    for i, poses in enumerate(predictor.predict_batch(batch['image'], batch['transform'])):
      if not batch['example_valid'][i]:
        continue
      poses_per_image.append(poses)
      image_ids.append(int(batch['image_id'][i]))
      record_indices.append(record_of[int(batch['sequence_index'][i]),
                                      int(batch['frame_id'][i])])
  if not image_ids:
    raise ValueError(f'evaluation split {split!r} of {config.data.name!r} gave no images')
  ground_truth = coco_ground_truth(source, record_indices, image_ids, skeleton)
  results = decode_lib.coco_results(image_ids, poses_per_image, skeleton)
  if results_path:
    os.makedirs(os.path.dirname(os.path.abspath(results_path)), exist_ok=True)
    with open(results_path, 'w', encoding='utf-8') as f:
      json.dump(results, f)
  metrics = coco_eval.evaluate_keypoints(ground_truth, results)
  metrics['num_images'] = float(len(image_ids))
  return metrics


def make_evaluate_fn(config: ml_collections.ConfigDict, workdir: str
                     ) -> Callable[[PyTree, int], Mapping[str, float]]:
  """`(spatial_variables, step) -> AP` on `data.eval_split`, for the trainer's validation.

  The validation data and the compiled network are set up on the first call and reused.
  """
  split = config.data.eval_split
  cache = {}

  def evaluate_fn(variables: PyTree, step: int) -> dict[str, float]:
    if not cache:
      cache['source'] = pipeline.data_source(config, split)
      cache['index'] = pipeline.build_index(
          cache['source'], os.path.join(workdir, f'index_{split}.npz'))
      cache['predictor'] = predictor_for(inference.Networks(config, variables), config)
    predictor = cache['predictor']
    predictor.networks.spatial_variables = variables
    return evaluate_model(
        predictor, config, cache['source'], index=cache['index'], split=split,
        max_batches=int(config.train.eval_batches),
        results_path=os.path.join(workdir, 'eval', f'results_{split}_{step}.json'))

  return evaluate_fn


def evaluate(config: ml_collections.ConfigDict, workdir: str,
             step: int | None = None) -> dict[str, float]:
  """AP of a trained workdir's SpatialNet on `config.data.eval_split` (used by eval.py).

  Writes the COCO results to `workdir/eval/results_<split>_<step>.json` and the metrics to
  `workdir/metrics.jsonl` under `eval/`.
  """
  networks = inference.Networks.restore(workdir, config, step)
  split = config.data.eval_split
  source = pipeline.data_source(config, split)
  index = pipeline.build_index(source, os.path.join(workdir, f'index_{split}.npz'))
  metrics = evaluate_model(
      predictor_for(networks, config), config, source, index=index, split=split,
      max_batches=int(config.train.eval_batches),
      results_path=os.path.join(workdir, 'eval', f'results_{split}_{networks.step}.json'))
  with metrics_writer_lib.MetricsWriter(workdir) as writer:
    writer.write_scalars(networks.step, {f'eval/{k}': v for k, v in metrics.items()})
  return metrics
