"""TFDS builder ``coco_keypoints``: COCO 2017 person keypoints (manual download).

Records are those of ``common.py`` in the ``coco`` skeleton (17 joints), one per image of the
annotation file. Each image is its own one-frame sequence: ``sequence`` = '',
``sequence_index`` = rank of the image id, ``frame_id`` = 0, ``num_frames`` = 1,
``track_id`` = -1, ``bbox_head`` = zeros (COCO has no head box).

``ignore_mask`` follows the Associative Embedding training code: it covers the crowd
annotations (exact RLE or polygon masks, decoded with pycocotools) and the segmentation of
people annotated without any keypoint, whose joints would otherwise be taught as background.

``image_id`` is the image's own COCO id, so predictions are scored against the annotation
file itself (``artrack_jax.evaluation.keypoint_ap``: ``annotation_path`` of the manual_dir
unless ``eval.coco_annotations`` names one), with the file's segmentation areas and crowd
annotations, as published COCO results are.
"""
from __future__ import annotations

import collections
import dataclasses
import json
import os
import warnings

import numpy as np
import tensorflow_datasets as tfds
from pycocotools import mask as mask_utils

from artrack_jax.data import formats
from artrack_jax.data.tfds_builders import common

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Download COCO 2017 (https://cocodataset.org/#download: 2017 Train images, 2017 Val images,
2017 Train/Val annotations) and arrange `manual_dir` as:

  <manual_dir>/
    annotations/person_keypoints_train2017.json
    annotations/person_keypoints_val2017.json
    train2017/*.jpg
    val2017/*.jpg

A split is built for each annotation file present.
"""

SPLIT_STEMS = {'train': 'train2017', 'val': 'val2017'}


def annotation_path(manual_dir: str, split: str) -> str:
  """``<manual_dir>/annotations/person_keypoints_<stem>.json``, the file a split is built from."""
  if split not in SPLIT_STEMS:
    raise ValueError(f'coco_keypoints: no split {split!r}; it has {sorted(SPLIT_STEMS)}')
  return os.path.join(os.path.expanduser(manual_dir), 'annotations',
                      f'person_keypoints_{SPLIT_STEMS[split]}.json')


def default_manual_dir(data_dir: str | None = None) -> str:
  """The manual_dir TFDS reads when none is given: ``<data_dir>/downloads/manual``."""
  kwargs = {'file_format': 'array_record'}
  if data_dir:
    kwargs['data_dir'] = os.path.expanduser(data_dir)
  return os.fspath(CocoKeypoints(**kwargs).data_dir_root / 'downloads' / 'manual')


class CocoKeypoints(tfds.core.GeneratorBasedBuilder):
  """COCO person keypoints as per-image records."""

  VERSION = common.VERSION
  code_path = common.code_path_property()
  RELEASE_NOTES = common.RELEASE_NOTES
  MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS

  def _info(self) -> tfds.core.DatasetInfo:
    return common.dataset_info(
        self, num_joints=17, description='COCO 2017 person keypoints.',
        homepage='https://cocodataset.org',
        citation=('@inproceedings{lin2014microsoft, title={Microsoft COCO: Common Objects in '
                  'Context}, author={Lin, Tsung-Yi and others}, booktitle={ECCV}, year={2014}}'))

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    out = {}
    for split, stem in SPLIT_STEMS.items():
      path = annotation_path(root, split)
      if os.path.exists(path):
        out[split] = self._generate_examples(split, root, path, stem)
    if not out:
      raise FileNotFoundError(f'{root}/annotations has no person_keypoints_*2017.json.\n'
                              f'{MANUAL_DOWNLOAD_INSTRUCTIONS}')
    return out

  def _generate_examples(self, split: str, root: str, path: str, stem: str):
    seq = formats.read_coco(path, image_prefix=f'{stem}/')
    masked = _masked_annotations(path)
    yield from common.progress_records(split, len(seq.frames),
                                       self._records(root, seq, masked))

  def _records(self, root: str, seq, masked: dict[int, list]):
    for index, fr in enumerate(seq.frames):
      data, image = common.read_image(os.path.join(root, fr.image_path),
                                      f'image_id {fr.image_id}: image {fr.image_path}')
      h, w = image.shape[:2]
      ignore = np.zeros((h, w), np.uint8)
      for seg in masked.get(fr.image_id, ()):
        ignore |= _decode(seg, h, w)
      yield common.record_key(index, 0), common.frame_record(
          dataclasses.replace(fr, frame_id=0), image, sequence='', sequence_index=index,
          num_frames=1, num_joints=17, ignore_mask=ignore, encoded=data)


def _masked_annotations(path: str) -> dict[int, list]:
  """image id -> segmentations of crowd annotations and people without keypoints."""
  with open(path) as f:
    data = json.load(f)
  out = collections.defaultdict(list)
  for ann in data.get('annotations', []):
    if ann.get('iscrowd', 0) or ann.get('num_keypoints', 1) == 0:
      if ann.get('segmentation'):
        out[ann['image_id']].append(ann['segmentation'])
  return out


def _decode(seg, h: int, w: int) -> np.ndarray:
  if isinstance(seg, list):          # polygons
    rles = mask_utils.frPyObjects(seg, h, w)
    rle = mask_utils.merge(rles)
  elif isinstance(seg.get('counts'), list):  # uncompressed RLE
    rle = mask_utils.frPyObjects(seg, h, w)
  else:                              # compressed RLE
    rle = seg
  with warnings.catch_warnings():
    # pycocotools' decode trips NumPy 2's __array__(copy=) deprecation; the result is right.
    warnings.simplefilter('ignore', DeprecationWarning)
    return mask_utils.decode(rle).astype(np.uint8)
