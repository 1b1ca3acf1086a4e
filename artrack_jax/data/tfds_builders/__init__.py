"""TFDS builders writing ``array_record`` files readable without TensorFlow.

``synthetic_posetrack`` (generated), ``posetrack`` (configs ``2017``/``2018``/``2021``, manual download)
and ``coco_keypoints`` (manual download). Records are described in ``common.py``. Importing
this package registers the builders with TFDS, after which
``tfds.data_source('synthetic_posetrack/tiny_64', split='train', data_dir=...)`` works.
``python -m artrack_jax.data.build NAME`` builds one ahead of training (``prepare``).
"""
from __future__ import annotations

import os

import tensorflow_datasets as tfds

from artrack_jax.data.tfds_builders import common
from artrack_jax.data.tfds_builders.coco_keypoints import CocoKeypoints
from artrack_jax.data.tfds_builders.posetrack import Posetrack
from artrack_jax.data.tfds_builders.synthetic_posetrack import SyntheticPosetrack

BUILDERS = {'synthetic_posetrack': SyntheticPosetrack, 'posetrack': Posetrack,
            'coco_keypoints': CocoKeypoints}


def prepare(name: str, data_dir: str | None = None, manual_dir: str | None = None,
            config: str | None = None) -> tfds.core.DatasetBuilder:
  """Builds the data set if needed (arguments as ``load_split``) and returns its builder."""
  if name not in BUILDERS:
    raise ValueError(f'unknown data set {name!r}; choose one of {sorted(BUILDERS)}')
  kwargs = {'file_format': 'array_record'}
  if data_dir:
    kwargs['data_dir'] = os.path.expanduser(data_dir)
  if config:
    kwargs['config'] = config
  builder = BUILDERS[name](**kwargs)
  download_config = tfds.download.DownloadConfig(
      manual_dir=os.path.expanduser(manual_dir) if manual_dir else None)
  builder.download_and_prepare(download_config=download_config)
  return builder


def load_split(name: str, split: str, data_dir: str | None = None,
               manual_dir: str | None = None, config: str | None = None):
  """Builds the data set if needed and returns the split's random-access data source.

  Args:
    name: 'synthetic_posetrack', 'posetrack' or 'coco_keypoints'.
    split: 'train', 'val' or 'test' (those the data set has).
    data_dir: TFDS data directory (default ~/tensorflow_datasets).
    manual_dir: where the downloaded files are (real data sets).
    config: builder config, e.g. 'small_128', 'tiny_64', '2017', '2018', '2021'.

  Returns:
    A ``tfds`` ``ArrayRecordDataSource``: ``len(source)``, ``source[i]`` -> dict of numpy
    arrays (``sequence`` comes back as bytes, ``image`` as the encoded file's bytes:
    ``artrack_jax.data.images.decode_image``).
  """
  builder = prepare(name, data_dir, manual_dir, config)
  if split not in builder.info.splits:
    raise ValueError(f'{name}: no split {split!r}; it has {sorted(builder.info.splits)}')
  return builder.as_data_source(split=split)


__all__ = ['BUILDERS', 'CocoKeypoints', 'Posetrack', 'SyntheticPosetrack', 'common',
           'load_split', 'prepare']
