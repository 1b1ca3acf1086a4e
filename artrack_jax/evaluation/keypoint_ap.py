"""COCO-style keypoint AP of a SpatialNet on a split: predict, map back, pycocotools.

  metrics = keypoint_ap.evaluate(config, workdir)          # eval.py, notebooks
  evaluate_fn = keypoint_ap.make_evaluate_fn(config, workdir)   # the trainer's validation

The split is read in record order without augmentation (`pipeline.frame_dataset` with split
'eval'); `inference.FramePredictor.predict_batch` gives each image's poses in its original
pixels (the pipeline's letterbox `transform` inverted), with the test-time augmentation of
`config.decode` and, when `config.pgg.enabled`, PGG refinement (the model of stage 2).

The ground truth:
  - COCO (`data.name` 'coco_keypoints', or any data set when `eval.coco_annotations` names a
    file): the data set's own annotation file, scored by pycocotools on the evaluated images
    only (`params.imgIds`, the records' own COCO image ids), with the file's segmentation
    areas and crowd annotations, as published COCO results are. The file defaults to the one
    the split was built from (`coco_keypoints.annotation_path` of `data.manual_dir`, or TFDS's
    default manual_dir). A missing file, or one that does not hold the evaluated images with
    the records' sizes and people, is an error naming it.
  - Otherwise (the synthetic benchmark, PoseTrack): rebuilt from the records
    (`coco_ground_truth`: box areas, the ignore mask as one crowd box).
Evaluations print progress lines (frames done / total, elapsed, time left; `progress.py`).
"""
from __future__ import annotations

import collections
import dataclasses
import json
import os
import time
from typing import Any, Callable, Mapping

import ml_collections
import numpy as np

from artrack_jax import inference
from artrack_jax import metrics_writer as metrics_writer_lib
from artrack_jax import skeletons as skeletons_lib
from artrack_jax.data import pipeline
from artrack_jax.evaluation import coco as coco_eval
from artrack_jax.evaluation import progress as progress_lib
from artrack_jax.grouping import decode as decode_lib

PyTree = Any


def predictor_for(networks: inference.Networks | None, config: ml_collections.ConfigDict
                  ) -> inference.FramePredictor:
  """The predictor the AP is measured with: `config.decode`'s grouping, PGG when enabled."""
  variant = inference.DecodeVariant.from_config(config, pgg=bool(config.pgg.enabled))
  return inference.FramePredictor(networks, config, variants=(variant,))


def coco_ground_truth(source, record_indices: list[int], image_ids: list[int],
                      skeleton: skeletons_lib.Skeleton) -> dict[str, Any]:
  """COCO keypoint ground truth rebuilt from the given records, in their original pixels.

  For data sets without a COCO annotation file of their own (the synthetic benchmark,
  PoseTrack); COCO itself is scored against its file (`load_coco_annotations`).

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


class AnnotationMismatchError(ValueError):
  """The annotation file does not hold the evaluated records' images and people."""


@dataclasses.dataclass(frozen=True)
class CocoAnnotations:
  """A data set's own COCO keypoint annotation file(s), decoded and merged."""
  paths: tuple[str, ...]
  data: dict[str, Any]

  @property
  def name(self) -> str:
    return ' + '.join(self.paths)


def _named_annotations(config: ml_collections.ConfigDict) -> str:
  eval_config = config.get('eval') or {}
  return str(eval_config.get('coco_annotations', '') or '').strip()


def coco_annotation_paths(config: ml_collections.ConfigDict, split: str) -> list[str] | None:
  """The annotation files a split is scored against; None: ground truth from the records.

  `eval.coco_annotations` when set (',' between files); for `coco_keypoints`, otherwise, the
  file each part of the split was built from in the builder's manual_dir (`data.manual_dir`,
  else TFDS's default `<data_dir>/downloads/manual`).
  """
  named = _named_annotations(config)
  if named:
    return [os.path.expanduser(p.strip()) for p in named.split(',') if p.strip()]
  if config.data.name != 'coco_keypoints':
    return None
  # Imported here: tensorflow_datasets takes seconds to import.
  from artrack_jax.data.tfds_builders import coco_keypoints  # pylint: disable=g-import-not-at-top
  manual_dir = (config.data.manual_dir
                or coco_keypoints.default_manual_dir(config.data.data_dir or None))
  return [coco_keypoints.annotation_path(manual_dir, name) for name in split.split('+')]


def load_coco_annotations(config: ml_collections.ConfigDict, split: str
                          ) -> CocoAnnotations | None:
  """The annotation files of `coco_annotation_paths`, read and checked; None if there are none.

  Raises:
    FileNotFoundError: a file is missing (the message names it and the config key).
    EvaluationInputError: a file is not valid COCO keypoint ground truth.
  """
  paths = coco_annotation_paths(config, split)
  if paths is None:
    return None
  if not paths:
    raise ValueError(f'eval.coco_annotations {_named_annotations(config)!r} names no file')
  for path in paths:
    if not os.path.isfile(path):
      origin = ('named by eval.coco_annotations' if _named_annotations(config) else
                f'the coco_keypoints annotation file of split {split!r} in its manual_dir; '
                'set data.manual_dir to the COCO folder, or eval.coco_annotations to the file')
      raise FileNotFoundError(f'COCO annotation file {path} does not exist ({origin})')
  return CocoAnnotations(tuple(paths), coco_eval.read_ground_truth(paths))


class _RecordCheck:
  """Checks each evaluated record against the annotation file: its image is there, with the
  record's size and people (non-crowd person annotations, in file order)."""

  def __init__(self, annotations: CocoAnnotations, skeleton: skeletons_lib.Skeleton,
               split: str):
    data = annotations.data
    self.name, self.split = annotations.name, split
    categories = data['categories']
    person = next((c for c in categories if c.get('name') == 'person'), categories[0])
    if len(person['keypoints']) != skeleton.num_joints:
      raise AnnotationMismatchError(
          f'{self.name}: {len(person["keypoints"])} keypoints a person, but data.skeleton '
          f'{skeleton.name!r} has {skeleton.num_joints}')
    self.num_joints = skeleton.num_joints
    self.images = {int(im['id']): im for im in data['images']}
    self.people = collections.defaultdict(list)
    for ann in data['annotations']:
      if ann['category_id'] == person['id'] and not ann['iscrowd']:
        self.people[int(ann['image_id'])].append(ann['keypoints'])

  def _fail(self, image_id: int, record_index: int, what: str):
    raise AnnotationMismatchError(
        f'{self.name} does not match split {self.split!r}: image {image_id} (record '
        f'{record_index}) {what}; the annotation file must be the one the split was built from '
        '(eval.coco_annotations)')

  def __call__(self, record: Mapping[str, Any], record_index: int, image_id: int) -> None:
    image = self.images.get(image_id)
    if image is None:
      self._fail(image_id, record_index, 'is not in the file')
    size = (int(record['image_width']), int(record['image_height']))
    if 'width' in image and (image['width'], image['height']) != size:
      self._fail(image_id, record_index, f'is {size[0]}x{size[1]} in the records, '
                 f'{image["width"]}x{image["height"]} in the file')
    stored = np.asarray(record['keypoints'], np.float64).reshape(-1, self.num_joints, 3)
    listed = np.asarray(self.people[image_id], np.float64).reshape(-1, self.num_joints, 3)
    if len(stored) != len(listed):
      self._fail(image_id, record_index, f'has {len(stored)} people in the records, '
                 f'{len(listed)} non-crowd person annotations in the file')
    if not np.allclose(stored, listed, atol=1e-2):
      self._fail(image_id, record_index, 'has other keypoints in the records than in the file')


def evaluate_model(predictor: inference.FramePredictor, config: ml_collections.ConfigDict,
                   source, *, index: pipeline.FrameIndex | None = None, split: str = 'val',
                   max_batches: int = 0, results_path: str | None = None,
                   ground_truth: str | CocoAnnotations = 'config',
                   progress: bool = True) -> dict[str, float]:
  """COCO-style keypoint AP of a predictor's poses on a split.

  Every process evaluates the whole split with its own devices (no cross-host gathering).

  Args:
    predictor: `predictor_for(networks, config)` (or a stand-in with `predict_batch`).
    config: the config (`data`, `eval`, `train.eval_batch_size`).
    source: the split's random-access records.
    index: `pipeline.build_index(source)`, built when None.
    split: the split's name (for messages and the default annotation file; every split,
      'train' included, is read once in record order without augmentation).
    max_batches: evaluate only the first batches (0: all).
    results_path: where to write the COCO results JSON, if given.
    ground_truth: 'config' (the module docstring's rule: `load_coco_annotations`), 'records'
      (rebuilt from the records) or loaded `CocoAnnotations`.
    progress: print progress lines (frames done / total, elapsed, time left).

  Returns:
    `evaluation.coco.evaluate_keypoints`'s AP/AR dict plus `num_images`.
  """
  skeleton = skeletons_lib.get(config.data.skeleton)
  if ground_truth == 'config':
    ground_truth = load_coco_annotations(config, split) or 'records'
  if not (ground_truth == 'records' or isinstance(ground_truth, CocoAnnotations)):
    raise ValueError(f"ground_truth: expected 'config', 'records' or CocoAnnotations, got "
                     f'{ground_truth!r}')
  check = (_RecordCheck(ground_truth, skeleton, split)
           if isinstance(ground_truth, CocoAnnotations) else None)
  index = pipeline.build_index(source) if index is None else index
  record_of = {(int(s), int(f)): i
               for i, (s, f) in enumerate(zip(index.sequence_index, index.frame_id))}
  batch_size = int(config.train.eval_batch_size or config.train.batch_size)
  total = len(index.labelled_frames())
  if max_batches:
    total = min(total, max_batches * batch_size)
  # 'eval': the pipeline augments and repeats only splits named 'train...'.
  dataset = pipeline.frame_dataset(source, config, 'eval', index=index, batch_size=batch_size,
                                   shard_index=0, shard_count=1)
  meter = progress_lib.Progress(total, f'eval {split}') if progress else None
  image_ids, record_indices, poses_per_image = [], [], []
  for n, batch in enumerate(dataset):
    if max_batches and n >= max_batches:
      break
    for i, poses in enumerate(predictor.predict_batch(batch['image'], batch['transform'])):
      if not batch['example_valid'][i]:
        continue
      record_index = record_of[int(batch['sequence_index'][i]), int(batch['frame_id'][i])]
      image_id = int(batch['image_id'][i])
      if check is not None:
        check(source[record_index], record_index, image_id)
      poses_per_image.append(poses)
      image_ids.append(image_id)
      record_indices.append(record_index)
    if meter is not None:
      meter.update(len(image_ids))
  if not image_ids:
    raise ValueError(f'evaluation split {split!r} of {config.data.name!r} gave no images')
  results = decode_lib.coco_results(image_ids, poses_per_image, skeleton)
  if results_path:
    os.makedirs(os.path.dirname(os.path.abspath(results_path)), exist_ok=True)
    with open(results_path, 'w', encoding='utf-8') as f:
      json.dump(results, f)
  if check is None:
    metrics = coco_eval.evaluate_keypoints(
        coco_ground_truth(source, record_indices, image_ids, skeleton), results)
  else:
    start = time.monotonic()
    metrics = coco_eval.evaluate_keypoints(ground_truth.data, results, image_ids=image_ids)
    if progress:
      print(f'eval {split}: scored against {ground_truth.name} (pycocotools, '
            f'{len(set(image_ids))} of its {len(check.images)} images, '
            f'{time.monotonic() - start:.1f} s)', flush=True)
  metrics['num_images'] = float(len(image_ids))
  return metrics


def make_evaluate_fn(config: ml_collections.ConfigDict, workdir: str
                     ) -> Callable[[PyTree, int], Mapping[str, float]]:
  """`(spatial_variables, step) -> AP` on `data.eval_split`, for the trainer's validation.

  The validation data, the ground truth (the COCO annotation file, read once) and the compiled
  network are set up on the first call and reused.
  """
  split = config.data.eval_split
  cache = {}

  def evaluate_fn(variables: PyTree, step: int) -> dict[str, float]:
    if not cache:
      cache['ground_truth'] = load_coco_annotations(config, split) or 'records'
      cache['source'] = pipeline.data_source(config, split)
      cache['index'] = pipeline.build_index(
          cache['source'], os.path.join(workdir, f'index_{split}.npz'))
      cache['predictor'] = predictor_for(inference.Networks(config, variables), config)
    predictor = cache['predictor']
    predictor.networks.spatial_variables = variables
    return evaluate_model(
        predictor, config, cache['source'], index=cache['index'], split=split,
        max_batches=int(config.train.eval_batches), ground_truth=cache['ground_truth'],
        results_path=os.path.join(workdir, 'eval', f'results_{split}_{step}.json'))

  return evaluate_fn


def evaluate(config: ml_collections.ConfigDict, workdir: str,
             step: int | None = None) -> dict[str, float]:
  """AP of a trained workdir's SpatialNet on `config.data.eval_split` (used by eval.py).

  Writes the COCO results to `workdir/eval/results_<split>_<step>.json` and the metrics to
  `workdir/metrics.jsonl` under `eval/`. On COCO the annotation file is read (and a missing
  one reported) before the network is restored. An exported model (a directory with
  `provenance.json`, such as the installed reference model) is only read: nothing is written
  into it.
  """
  split = config.data.eval_split
  ground_truth = load_coco_annotations(config, split) or 'records'   # before the long part
  networks = inference.Networks.restore(workdir, config, step)
  source = pipeline.data_source(config, split)
  exported = os.path.isfile(os.path.join(workdir, 'provenance.json'))
  index = pipeline.build_index(
      source, None if exported else os.path.join(workdir, f'index_{split}.npz'))
  metrics = evaluate_model(
      predictor_for(networks, config), config, source, index=index, split=split,
      max_batches=int(config.train.eval_batches), ground_truth=ground_truth,
      results_path=None if exported else os.path.join(
          workdir, 'eval', f'results_{split}_{networks.step}.json'))
  if not exported:
    with metrics_writer_lib.MetricsWriter(workdir) as writer:
      writer.write_scalars(networks.step, {f'eval/{k}': v for k, v in metrics.items()})
  return metrics
