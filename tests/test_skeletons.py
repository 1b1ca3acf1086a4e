import numpy as np
import pytest

from artrack_jax import skeletons


@pytest.mark.parametrize('name', sorted(skeletons.SKELETONS))
def test_flip_permutation_is_an_involution_and_swaps_left_right(name):
  sk = skeletons.get(name)
  perm = sk.flip_permutation
  np.testing.assert_array_equal(perm[perm], np.arange(sk.num_joints))
  for i, n in enumerate(sk.names):
    other = sk.names[perm[i]]
    if n.startswith('left_'):
      assert other == 'right_' + n[5:]
    elif n.startswith('right_'):
      assert other == 'left_' + n[6:]
    else:
      assert other == n


@pytest.mark.parametrize('name', sorted(skeletons.SKELETONS))
def test_fields_are_consistent(name):
  sk = skeletons.get(name)
  assert len(set(sk.names)) == sk.num_joints
  assert len(sk.oks_sigmas) == sk.num_joints
  assert len(set(sk.decode_order)) == len(sk.decode_order)
  for a, b in sk.limbs:
    assert 0 <= a < sk.num_joints and 0 <= b < sk.num_joints and a != b


def test_decode_order_covers_every_annotated_joint():
  assert sorted(skeletons.POSETRACK.decode_order) == list(range(15))
  assert sorted(skeletons.COCO.decode_order) == list(range(17))
  pt18 = skeletons.POSETRACK18
  assert sorted(pt18.decode_order + skeletons.POSETRACK18_EMPTY_SLOTS) == list(range(17))


def test_posetrack_order_matches_the_evaluation_toolkit():
  assert skeletons.POSETRACK.names == (
      'right_ankle', 'right_knee', 'right_hip', 'left_hip', 'left_knee', 'left_ankle',
      'right_wrist', 'right_elbow', 'right_shoulder', 'left_shoulder', 'left_elbow',
      'left_wrist', 'neck', 'nose', 'head_top')
  assert skeletons.POSETRACK.head_top == 14 and skeletons.POSETRACK.neck == 12


def test_posetrack_2017_2018_mapping_is_lossless():
  rng = np.random.default_rng(0)
  kpts = rng.random((4, 15, 3)).astype(np.float32)
  pt18 = skeletons.posetrack_to_posetrack18(kpts)
  assert pt18.shape == (4, 17, 3)
  np.testing.assert_array_equal(pt18[:, list(skeletons.POSETRACK18_EMPTY_SLOTS)], 0)
  np.testing.assert_array_equal(skeletons.posetrack18_to_posetrack(pt18), kpts)
  # Joint names agree through the mapping (neck <-> head_bottom).
  for i, n in enumerate(skeletons.POSETRACK.names):
    n18 = skeletons.POSETRACK18.names[skeletons.PT_TO_PT18[i]]
    assert n18 == ('head_bottom' if n == 'neck' else n)


def test_unknown_skeleton_and_bad_shapes_are_clear_errors():
  with pytest.raises(ValueError, match='unknown skeleton'):
    skeletons.get('mpii')
  with pytest.raises(ValueError, match='17 PoseTrack 2018 slots'):
    skeletons.posetrack18_to_posetrack(np.zeros((15, 3)))
