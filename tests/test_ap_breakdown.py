"""Tests for benchmarks/ap_breakdown.py's ground-truth grouping maps."""
import importlib.util
import pathlib

import numpy as np

from artrack_jax import configs_util
from artrack_jax import skeletons
from artrack_jax.data import pipeline
from artrack_jax.data import synthetic
from artrack_jax.grouping import decode as decode_lib

_SCRIPT = pathlib.Path(__file__).resolve().parents[1] / 'benchmarks' / 'ap_breakdown.py'


def _load_script():
  spec = importlib.util.spec_from_file_location('ap_breakdown', _SCRIPT)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_ground_truth_tags_group_ground_truth_heatmaps_into_the_people():
  ap_breakdown = _load_script()
  config = configs_util.load_config('tiny')
  config.decode.use_sie = False
  skeleton = skeletons.get(config.data.skeleton)
  # A crowded training clip (5 people in 64-px frames), read without augmentation.
  sequence, images = synthetic.generate_clip('train', 0, num_frames=2, image_size=64)
  records = pipeline.records_from_sequences([sequence], [images])
  index = pipeline.build_index(records)
  batch = next(iter(pipeline.frame_dataset(records, config, 'eval', index=index, batch_size=2,
                                           shard_index=0, shard_count=1)))
  tags = ap_breakdown.ground_truth_tags(batch)
  assert tags.shape == batch['heatmaps'].shape
  for i in range(2):
    valid = batch['joint_valid'][i] * batch['person_valid'][i][:, None]
    for p, j in zip(*np.nonzero(valid)):
      y, x = divmod(int(batch['joint_index'][i, p, j]), batch['heatmaps'].shape[2])
      # At a person's own joint pixel the tag names that person unless another person's
      # joint of the same type is nearer (then the pixel is theirs).
      xy = batch['joint_xy'][i, :, j]
      d2 = np.where(valid[:, j] > 0, ((xy - [x, y]) ** 2).sum(-1), np.inf)
      assert tags[i, y, x, j] == 3.0 * d2.argmin()
  poses = decode_lib.decode(dict(heatmaps=batch['heatmaps'], ke=tags), config.decode, skeleton)
  people = [int((batch['joint_valid'][i].sum(-1) > 0).sum()) for i in range(2)]
  assert [len(p) for p in poses] == people
