"""Which tracked poses and joints reach the prediction files."""
import ml_collections
import numpy as np
import pytest

from artrack_jax.tracking import online
from artrack_jax.tracking.similarity import PoseObservation


def _observation(score, joint_scores):
  kp = np.zeros((15, 3), np.float32)
  kp[:, 0] = np.arange(15)
  kp[:, 1] = 2 * np.arange(15)
  kp[:, 2] = joint_scores
  return PoseObservation(keypoints=kp, score=score)


def test_low_scores_are_not_written_and_the_rest_is_unchanged():
  scores = np.linspace(0.0, 0.7, 15)
  obs = [_observation(0.5, scores), _observation(0.1, scores), _observation(0.3, scores)]
  config = ml_collections.ConfigDict({'min_pose_score': 0.3, 'min_joint_score': 0.27})
  people = online.predicted_people(obs, np.array([7, 8, 9]), config)
  assert [p.track_id for p in people] == [7, 9]
  kept = scores >= 0.27
  for p in people:
    np.testing.assert_array_equal(p.keypoints[:, 2], kept.astype(np.float32))
    np.testing.assert_array_equal(p.keypoints[kept, :2], obs[0].keypoints[kept, :2])
    np.testing.assert_array_equal(p.keypoints[~kept, :2], 0.0)
  # The observation itself is not modified.
  np.testing.assert_array_equal(obs[0].keypoints[:, 2], scores.astype(np.float32))


def test_zero_thresholds_keep_every_found_joint():
  scores = np.where(np.arange(15) % 2 == 0, 0.4, 0.0)
  config = ml_collections.ConfigDict({'min_pose_score': 0.0, 'min_joint_score': 0.0})
  (person,) = online.predicted_people([_observation(0.0, scores)], [3], config)
  np.testing.assert_array_equal(person.keypoints[:, 2], (scores > 0).astype(np.float32))


def test_per_joint_type_thresholds_replace_the_single_one():
  scores = np.full(15, 0.5)
  thresholds = np.where(np.arange(15) < 5, 0.4, 0.6)     # joints 0-4 kept, the rest cut
  config = ml_collections.ConfigDict({'min_pose_score': 0.0, 'min_joint_score': 0.9,
                                      'min_joint_scores': tuple(thresholds)})
  (person,) = online.predicted_people([_observation(0.5, scores)], [1], config)
  np.testing.assert_array_equal(person.keypoints[:, 2], (np.arange(15) < 5).astype(np.float32))
  # An empty tuple falls back to min_joint_score.
  config.min_joint_scores = ()
  assert online.joint_thresholds(config, 15) == 0.9


def test_per_joint_type_thresholds_of_the_wrong_length_are_refused():
  config = ml_collections.ConfigDict({'min_pose_score': 0.0, 'min_joint_score': 0.0,
                                      'min_joint_scores': (0.5, 0.5)})
  with pytest.raises(ValueError, match=r'config.track.min_joint_scores = \(0.5, 0.5\): '
                                       r'expected one number per joint type \(15 numbers\)'):
    online.predicted_people([_observation(0.5, np.full(15, 0.5))], [1], config)
