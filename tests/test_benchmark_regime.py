"""The main job's data is in the paper's regime and needs the paper's tracking cues.

Generated exactly as the main job's val split (TFDS synthetic_posetrack/small_256, seed 0).
"""
import numpy as np
import pytest

from artrack_jax.evaluation import stats
from artrack_jax.data import synthetic
from artrack_jax.data.tfds_builders import synthetic_posetrack


@pytest.fixture(scope='module')
def val_statistics():
  config = {c.name: c for c in synthetic_posetrack.SyntheticPosetrack.BUILDER_CONFIGS}[
      'small_256']
  seqs, metas = [], []
  for seq, _, meta in synthetic._generate_split_with_metadata(  # pylint: disable=protected-access
      'val', dict(config.clips)['val'], config.num_frames, config.image_size, config.seed):
    seqs.append(seq)
    metas.append(meta)
  return stats.split_statistics(seqs, metadata=metas)


def test_pckh_radius_is_that_of_posetrack_at_the_paper_input(val_statistics):
  p10, p50, p90 = np.asarray(val_statistics['pckh_radius_px']) / stats.OUTPUT_STRIDE
  assert 1.3 <= p50 <= 2.5
  assert p10 < p50 < p90


def test_crowded_occluded_moving_camera(val_statistics):
  mean, _, most = val_statistics['people_per_frame']
  assert mean >= 3.0 and most <= 10
  assert val_statistics['crossing_pairs'] >= 50
  assert val_statistics['occluded_joints_pct'] > 5
  assert val_statistics['ignore_region_clips'] > 0 and val_statistics['look_alike_clips'] > 0
  assert val_statistics['wall_clips'] > 0 and val_statistics['dropped_frame_clips'] > 0
  assert val_statistics['camera_pan_px_per_frame'] > 1.0
  lo, hi = val_statistics['zoom_range']
  assert lo < 0.9 and hi > 1.2


def test_box_and_keypoint_trackers_on_ground_truth_poses_leave_headroom(val_statistics):
  for name in ('iou', 'oks'):
    assert val_statistics['trackers'][name]['mota'] <= 90.0
    assert val_statistics['trackers'][name]['switches'] > 0


def test_pckh_radius_of_a_head_box():
  assert stats.pckh_radius([0, 0, 30, 40]) == pytest.approx(0.3 * 50)
