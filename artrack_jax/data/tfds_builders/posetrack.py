"""TFDS builder ``posetrack``: PoseTrack 2017 / 2018 / 21 from the official files (manual
download).

Configs ``2017`` (annolist files), ``2018`` (COCO-style files) and ``2021`` (PoseTrack21's
``posetrack_data``: 2018-style files with ``person_id``). Records are those of ``common.py`` in
the ``posetrack`` skeleton (15 joints; the 2018 ear slots are dropped), one per frame listed in
the annotation files, unlabelled frames included (``is_labeled`` False). Annotation files are
read by the evaluator's reader (``data/posetrack_reader.py``, as ground truth): a file the
evaluator refuses, the builder refuses with the same message, and a trimmed sequence
(``nframes`` above the images listed) is built from the frames it lists, with a warning.
"""
from __future__ import annotations

import os

import tensorflow_datasets as tfds

from artrack_jax.data import formats
from artrack_jax.data.tfds_builders import common

MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Download PoseTrack (https://posetrack.net) and arrange `manual_dir` as released:

  <manual_dir>/
    images/...                      the video frames; annotation file names (2018 `file_name`,
                                    2017 `image[0].name`) are paths relative to <manual_dir>,
                                    e.g. images/val/000342_mpii_test/000000.jpg
    annotations/train/*.json        one file per sequence
    annotations/val/*.json

Use the 2017 annotation files with config `posetrack/2017` and the 2018 ones with
`posetrack/2018`. Splits are the sub-directories of annotations/ that exist (train, val, test).

PoseTrack21 (config `posetrack/2021`, https://github.com/anDoer/PoseTrack21) keeps its own
layout, as its download unpacks:

  <manual_dir>/
    images/...                      file_name paths are relative to <manual_dir>, e.g.
                                    images/val/000342_mpii_test/000000.jpg
    posetrack_data/train/*.json     one file per sequence
    posetrack_data/val/*.json
"""

# Config -> (annotation directory under manual_dir, reader).
_LAYOUTS = {
    '2017': ('annotations', formats.read_posetrack17),
    '2018': ('annotations', formats.read_posetrack18),
    '2021': ('posetrack_data', formats.read_posetrack18),
}


class Posetrack(tfds.core.GeneratorBasedBuilder):
  """PoseTrack 2017 / 2018 / 21 multi-person pose tracking videos."""

  VERSION = common.VERSION
  code_path = common.code_path_property()
  RELEASE_NOTES = common.RELEASE_NOTES
  MANUAL_DOWNLOAD_INSTRUCTIONS = MANUAL_DOWNLOAD_INSTRUCTIONS
  BUILDER_CONFIGS = [
      tfds.core.BuilderConfig(name='2017', description='PoseTrack 2017 annolist files'),
      tfds.core.BuilderConfig(name='2018', description='PoseTrack 2018 COCO-style files'),
      tfds.core.BuilderConfig(name='2021', description='PoseTrack21 posetrack_data files'),
  ]
  DEFAULT_CONFIG_NAME = '2018'

  def _info(self) -> tfds.core.DatasetInfo:
    return common.dataset_info(
        self, num_joints=15,
        description='PoseTrack multi-person pose estimation and tracking benchmark.',
        homepage='https://posetrack.net',
        citation=('@inproceedings{andriluka2018posetrack, title={PoseTrack: A Benchmark for '
                  'Human Pose Estimation and Tracking}, author={Andriluka, Mykhaylo and Iqbal, '
                  'Umar and Insafutdinov, Eldar and Pishchulin, Leonid and Milan, Anton and '
                  'Gall, Juergen and Schiele, Bernt}, booktitle={CVPR}, year={2018}}'))

  def _split_generators(self, dl_manager):
    root = os.fspath(dl_manager.manual_dir)
    ann = os.path.join(root, _LAYOUTS[self.builder_config.name][0])
    if not os.path.isdir(ann):
      raise FileNotFoundError(f'{ann} does not exist.\n{MANUAL_DOWNLOAD_INSTRUCTIONS}')
    splits = [s for s in ('train', 'val', 'test') if os.path.isdir(os.path.join(ann, s))]
    if not splits:
      raise FileNotFoundError(f'{ann} has no train/val/test directory.\n'
                              f'{MANUAL_DOWNLOAD_INSTRUCTIONS}')
    return {s: self._generate_examples(s, root, os.path.join(ann, s)) for s in splits}

  def _generate_examples(self, split: str, root: str, directory: str):
    reader = _LAYOUTS[self.builder_config.name][1]
    names = sorted(n for n in os.listdir(directory) if n.endswith('.json'))
    if not names:
      raise FileNotFoundError(f'{directory}: no .json annotation files')
    # All annotation files first (small next to the images): the frame count for the progress.
    # A file of the other version fails with "<file>: annolist: missing" (or images).
    sequences = [reader(os.path.join(directory, name), role='gt') for name in names]
    records = (record for index, seq in enumerate(sequences)
               for record in common.sequence_records(seq, index, root, num_joints=15))
    yield from common.progress_records(split, sum(len(s.frames) for s in sequences), records)
