"""Tests of the training-target codec (targets.py) against plain NumPy oracles."""
import numpy as np
import pytest

from artrack_jax import geometry
from artrack_jax import skeletons
from artrack_jax import targets

SKEL = skeletons.POSETRACK
J = SKEL.num_joints
STRIDE = 4


def _example(keypoints, size=64, ignore=None, **extra):
  ex = {'keypoints': np.asarray(keypoints, np.float32),
        'ignore_mask': np.zeros((size, size), np.uint8) if ignore is None else ignore}
  ex.update(extra)
  return ex


def _to_out(xy):
  return (np.asarray(xy, np.float64) + 0.5) / STRIDE - 0.5


def _random_people(rng, n, in_size, min_sep=3.0, border=False):
  """[n, J, 3] keypoints in input pixels; same-type joints >= min_sep output px apart."""
  out_size = in_size // STRIDE
  kp = np.zeros((n, J, 3), np.float32)
  for k in range(n):
    for _ in range(1000):
      if border:
        c = rng.uniform(2, out_size - 3, size=2)
        c[rng.integers(2)] = rng.choice([-0.5, out_size - 0.5]) + rng.uniform(-3, 3)
      else:
        c = rng.uniform(2, out_size - 3, size=2)
      pts = c + rng.uniform(-5, 5, size=(J, 2))
      ok = True
      for j in range(J):
        for other in range(k):
          if kp[other, j, 2] > 0 and np.linalg.norm(_to_out(kp[other, j, :2]) - pts[j]) < min_sep:
            ok = False
      if ok:
        break
    else:
      raise AssertionError('could not place people far enough apart')
    kp[k, :, :2] = (pts + 0.5) * STRIDE - 0.5
    kp[k, :, 2] = rng.choice([0, 1, 2], size=J, p=[0.15, 0.25, 0.6])
  return kp


def _oracle(kp, out_size, sigma=2.0):
  """Full-grid Eq. 1 heatmaps and per-joint targets, written as plain loops."""
  n = kp.shape[0]
  heat = np.zeros((out_size, out_size, J))
  yy, xx = np.mgrid[0:out_size, 0:out_size]
  valid = np.zeros((n, J), bool)
  pix = np.zeros((n, J, 2))
  for k in range(n):
    for j in range(J):
      x, y = _to_out(kp[k, j, :2])
      px, py = np.floor(x + 0.5), np.floor(y + 0.5)
      pix[k, j] = px, py
      if kp[k, j, 2] > 0 and 0 <= px < out_size and 0 <= py < out_size:
        valid[k, j] = True
        gauss = np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / sigma ** 2)
        heat[..., j] = np.maximum(heat[..., j], gauss)
  centers = np.zeros((n, 2))
  for k in range(n):
    if valid[k].any():
      centers[k] = np.mean([_to_out(kp[k, j, :2]) for j in range(J) if valid[k, j]], axis=0)
  return heat, valid, pix, centers


def test_coordinate_maps_are_inverse_and_align_extents():
  xy = np.array([[-0.5, -0.5], [127.5, 63.5], [10.25, 3.0]])
  out = geometry.input_to_output(xy, 4)
  np.testing.assert_allclose(out[:2], [[-0.5, -0.5], [31.5, 15.5]])
  np.testing.assert_allclose(geometry.output_to_input(out, 4), xy, atol=1e-5)


def test_encode_frame_matches_oracle():
  rng = np.random.default_rng(0)
  kp = _random_people(rng, 4, 64)
  kp[3, :, 2] = 0                     # a person with no labelled joint
  ex = _example(kp, size=64)
  t = targets.encode_frame(ex, 16, SKEL, sigma=2.0)
  heat, valid, pix, centers = _oracle(kp, 16)
  # The window covers 3 sigma: outside it the Gaussian is below exp(-9).
  np.testing.assert_allclose(t['heatmaps'], heat, atol=np.exp(-9.0) + 1e-6)
  assert t['heatmaps'].shape == (16, 16, J) and t['heatmaps'].dtype == np.float32
  np.testing.assert_array_equal(t['joint_valid'], valid.astype(np.float32))
  np.testing.assert_array_equal(t['person_valid'], [1, 1, 1, 0])
  np.testing.assert_array_equal(t['joint_index'],
                                np.where(valid, pix[..., 1] * 16 + pix[..., 0], 0))
  np.testing.assert_allclose(t['centers'], centers, atol=1e-5)
  svf = np.where(valid[..., None], pix - centers[:, None], 0)
  np.testing.assert_allclose(t['svf_target'], svf, atol=1e-5)
  # SIE = pixel - SVF is the centre at every valid joint (Sec. 3.1.2).
  sie = pix - t['svf_target']
  for k, j in zip(*np.nonzero(valid)):
    np.testing.assert_allclose(sie[k, j], centers[k], atol=1e-5)
  ht, nk = SKEL.head_top, SKEL.neck
  for k in range(4):
    if valid[k, ht] and valid[k, nk]:
      d = _to_out(kp[k, ht, :2]) - _to_out(kp[k, nk, :2])
      np.testing.assert_allclose(t['order_keys'][k], [*centers[k], d @ d], rtol=1e-5, atol=1e-5)
      assert t['order_valid'][k].tolist() == [1, 1, 1]
    else:
      assert t['order_keys'][k, 2] == 0 and t['order_valid'][k, 2] == 0
  assert t['order_valid'][3].tolist() == [0, 0, 0]


def test_loss_mask_zero_where_any_ignored_pixel():
  ignore = np.zeros((64, 64), np.uint8)
  ignore[10:13, 40:41] = 1            # rows 10-12 -> output rows 2, 3; col 40 -> output col 10
  t = targets.encode_frame(_example(np.zeros((0, J, 3)), ignore=ignore), 16, SKEL)
  expected = np.ones((16, 16))
  expected[2:4, 10] = 0
  np.testing.assert_array_equal(t['loss_mask'], expected)
  assert t['heatmaps'].max() == 0 and t['person_valid'].shape == (0,)


def test_pad_people_keeps_most_labelled_in_order():
  kp = np.zeros((4, J, 3), np.float32)
  kp[0, :2, 2] = 2
  kp[1, :5, 2] = 2
  kp[2, :1, 2] = 2
  kp[3, :7, 2] = 1
  ex = {'keypoints': kp, 'track_id': np.array([10, 11, 12, 13], np.int32),
        'bbox_head': np.arange(16, dtype=np.float32).reshape(4, 4)}
  out = targets.pad_people(ex, 2)
  np.testing.assert_array_equal(out['track_id'], [11, 13])
  np.testing.assert_array_equal(out['bbox_head'], ex['bbox_head'][[1, 3]])
  out = targets.pad_people(ex, 6)
  np.testing.assert_array_equal(out['track_id'], [10, 11, 12, 13, -1, -1])
  np.testing.assert_array_equal(out['person_valid'], [1, 1, 1, 1, 0, 0])
  assert out['keypoints'].shape == (6, J, 3) and not out['keypoints'][4:].any()


@pytest.mark.parametrize('case', ['crowded', 'border', 'dense_crowd'])
def test_round_trip_recovers_every_labelled_joint(case):
  rng = np.random.default_rng({'crowded': 1, 'border': 2, 'dense_crowd': 3}[case])
  in_size = 128
  n = {'crowded': 6, 'border': 4, 'dense_crowd': 10}[case]
  kp = _random_people(rng, n, in_size, border=(case == 'border'))
  t = targets.encode_frame(targets.pad_people(_example(kp, size=in_size), 12), 32, SKEL)
  decoded = targets.decode_targets(t)
  valid = t['joint_valid'] > 0
  assert valid.sum() >= 10
  err = np.linalg.norm(decoded[..., :2] - t['joint_xy'], axis=-1)
  assert (err[valid] <= 1.0).all(), err[valid].max()
  assert (decoded[..., 2][valid] > 0.5).all()
  # Decoded joints in slots with no valid joint would be wrong groupings.
  assert (decoded[..., 2][~valid] == 0).all()
  if case == 'border':
    # Some labelled joints fell outside the map: they are not targets.
    assert ((kp[..., 2] > 0) & ~valid[:n]).any()


def test_encode_pair_aligns_tracks_and_builds_tvf():
  rng = np.random.default_rng(4)
  prev_kp = _random_people(rng, 3, 64)
  curr_kp = _random_people(rng, 3, 64)
  prev = _example(prev_kp, track_id=np.array([3, 5, 7], np.int32))
  curr = _example(curr_kp, track_id=np.array([5, 9, 3], np.int32))
  out = targets.encode_pair(prev, curr, 16, SKEL, max_people=6)
  # Slots: tracks in both frames (curr order), then curr-only, then prev-only, then padding.
  np.testing.assert_array_equal(out['curr']['track_id'], [5, 3, 9, 7, -1, -1])
  np.testing.assert_array_equal(out['prev']['track_id'], [5, 3, 9, 7, -1, -1])
  np.testing.assert_array_equal(out['prev']['person_valid'], [1, 1, 0, 1, 0, 0])
  np.testing.assert_array_equal(out['curr']['person_valid'], [1, 1, 1, 0, 0, 0])
  np.testing.assert_array_equal(out['prev']['keypoints'][0], prev_kp[1])
  np.testing.assert_array_equal(out['curr']['keypoints'][1], curr_kp[2])
  _, pv, ppix, pc = _oracle(prev_kp, 16)
  _, cv, cpix, cc = _oracle(curr_kp, 16)
  for slot, (pi, ci) in enumerate([(1, 0), (0, 2)]):
    for j in range(J):
      fwd_ok = cv[ci, j] and pv[pi].any()
      assert out['tvf_fwd_valid'][slot, j] == fwd_ok
      if fwd_ok:  # Eq. 7: joint at t minus the same person's centre at t-1
        np.testing.assert_allclose(out['tvf_fwd_target'][slot, j], cpix[ci, j] - pc[pi], atol=1e-5)
      bwd_ok = pv[pi, j] and cv[ci].any()
      assert out['tvf_bwd_valid'][slot, j] == bwd_ok
      if bwd_ok:
        np.testing.assert_allclose(out['tvf_bwd_target'][slot, j], ppix[pi, j] - cc[ci], atol=1e-5)
  # Tracks present in one frame only get no temporal target.
  assert not out['tvf_fwd_valid'][2:].any() and not out['tvf_bwd_valid'][2:].any()
  assert not out['tvf_fwd_target'][2:].any()


def test_bad_input_names_the_field():
  with pytest.raises(ValueError, match="'keypoints'"):
    targets.encode_frame(_example(np.zeros((2, 5, 3))), 16, SKEL)
  with pytest.raises(ValueError, match="'track_id'"):
    targets.align_tracks(np.array([1, 1]), np.array([2]))
  with pytest.raises(ValueError, match="'ignore_mask'"):
    targets.encode_frame(_example(np.zeros((1, J, 3)), ignore=np.zeros((62, 64))), 16, SKEL)


def test_canonical_sides_exchange_people_facing_away():
  sk = skeletons.get('posetrack')
  ls, rs, lh, rh = skeletons.torso_joints(sk)
  lw, rw = sk.index('left_wrist'), sk.index('right_wrist')
  kp = np.zeros((4, sk.num_joints, 3), np.float32)
  for p, s in enumerate((1, -1, -1, 1)):   # facing the camera: left on the image's right
    kp[p, ls], kp[p, rs] = (50 + 10 * s, 20, 2), (50 - 10 * s, 20, 2)
    kp[p, lh], kp[p, rh] = (50 + 6 * s, 60, 1), (50 - 6 * s, 60, 2)
    kp[p, lw] = (50 + 20 * s, 70, 2)
  kp[2, lh] = 0.0                    # a torso joint unlabelled: no facing, labels kept
  kp[3, :, 1] = 100 - kp[3, :, 1]    # upside down and mirrored in y: facing away
  out, sign = targets.canonical_sides(kp, sk)
  np.testing.assert_array_equal(sign, [1, -1, 1, -1])
  np.testing.assert_array_equal(out[[0, 2]], kp[[0, 2]])
  for p in (1, 3):
    np.testing.assert_array_equal(out[p], kp[p, sk.flip_permutation])
    assert out[p, lw, 2] == 0 and out[p, rw, 2] == 2     # the wrist moved to the other slot
  # Afterwards everyone's left shoulder lies where a person facing the camera has it.
  again, sign = targets.canonical_sides(out, sk)
  np.testing.assert_array_equal(sign[[0, 1, 3]], [1, 1, 1])
  # Padding keeps the sign with its person.
  padded = targets.pad_people(dict(keypoints=out, side_sign=np.array([1, -1, 1, -1],
                                                                      np.float32)), 6)
  np.testing.assert_array_equal(padded['side_sign'], [1, -1, 1, -1, 0, 0])
