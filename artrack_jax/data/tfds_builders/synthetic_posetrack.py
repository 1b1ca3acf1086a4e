"""TFDS builder ``synthetic_posetrack``: the embedded synthetic benchmark (no download).

Configs:
  tiny_64      3 / 2 / 2 clips x 8 frames at 64 px (tests, Colab smoke runs)
  small_128    100 / 20 / 20 clips x 24 frames at 128 px
  small_256    100 / 30 / 20 clips x 24 frames at 256 px (the CPU quick start)
  medium_256   200 / 30 / 30 clips x 24 frames at 256 px
  large_512    300 / 50 / 50 clips x 32 frames at 512 px (the paper's input size)

Records are those of ``common.py`` in the ``posetrack`` skeleton (15 joints); each generated
frame is stored as lossless PNG (decoded, the generator's pixels exactly).
"""
from __future__ import annotations

import dataclasses

import tensorflow_datasets as tfds

from artrack_jax.data import synthetic
from artrack_jax.data.tfds_builders import common


@dataclasses.dataclass
class SyntheticConfig(tfds.core.BuilderConfig):
  clips: tuple[tuple[str, int], ...] = (('train', 100), ('val', 20), ('test', 20))
  num_frames: int = 24
  image_size: int = 128
  seed: int = 0


class SyntheticPosetrack(tfds.core.GeneratorBasedBuilder):
  """Procedural multi-person videos with PoseTrack-style annotations."""

  VERSION = common.VERSION
  code_path = common.code_path_property()
  RELEASE_NOTES = common.RELEASE_NOTES
  BUILDER_CONFIGS = [
      SyntheticConfig(name='tiny_64', description='3/2/2 clips x 8 frames, 64 px',
                      clips=(('train', 3), ('val', 2), ('test', 2)), num_frames=8,
                      image_size=64),
      SyntheticConfig(name='small_128', description='100/20/20 clips x 24 frames, 128 px'),
      SyntheticConfig(name='small_256', description='100/30/20 clips x 24 frames, 256 px',
                      clips=(('train', 100), ('val', 30), ('test', 20)), image_size=256),
      SyntheticConfig(name='medium_256', description='200/30/30 clips x 24 frames, 256 px',
                      clips=(('train', 200), ('val', 30), ('test', 30)), image_size=256),
      SyntheticConfig(name='large_512', description='300/50/50 clips x 32 frames, 512 px',
                      clips=(('train', 300), ('val', 50), ('test', 50)), num_frames=32,
                      image_size=512),
  ]
  DEFAULT_CONFIG_NAME = 'small_128'

  def _info(self) -> tfds.core.DatasetInfo:
    return common.dataset_info(
        self, num_joints=15,
        description=('Synthetic multi-person videos: articulated people with the 15 PoseTrack '
                     'joints, occlusion, crossings, look-alikes, camera motion, crowds with '
                     'ignore regions (artrack_jax.data.synthetic).'))

  def _split_generators(self, dl_manager):
    del dl_manager  # generated, nothing to download
    return {split: self._generate_examples(split, count)
            for split, count in self.builder_config.clips if count > 0}

  def _generate_examples(self, split: str, count: int):
    c = self.builder_config
    yield from common.progress_records(split, count * c.num_frames, self._records(split, count))

  def _records(self, split: str, count: int):
    c = self.builder_config
    for index, (seq, images) in enumerate(
        synthetic.generate_split(split, count, c.num_frames, c.image_size, c.seed)):
      for fr, image in zip(seq.frames, images):
        yield common.record_key(index, fr.frame_id), common.frame_record(
            fr, image, sequence=seq.name, sequence_index=index,
            num_frames=len(seq.frames), num_joints=15)
