"""Tests for grouping/decode.py: perfect maps built from ground truth decode back to it."""
import json

import numpy as np
import pytest

from artrack_jax import configs_util
from artrack_jax import geometry
from artrack_jax import skeletons
from artrack_jax.grouping import decode as decode_lib

SK = skeletons.POSETRACK
J = SK.num_joints
SIGMA = 2.0

# A standing person, offsets from its centre in units of its size (x, y), PoseTrack order.
_TEMPLATE = np.array([
    [-0.15, 0.9], [-0.15, 0.5], [-0.15, 0.1], [0.15, 0.1], [0.15, 0.5], [0.15, 0.9],  # legs
    [-0.45, 0.05], [-0.35, -0.2], [-0.25, -0.45], [0.25, -0.45], [0.35, -0.2],
    [0.45, 0.05],                                                                   # arms
    [0.0, -0.55], [0.0, -0.75], [0.0, -0.95]])                                      # head


def _config(**kw):
  c = configs_util.load_config('default').decode
  c.update(dict(top_k=30, det_threshold=0.1, tag_threshold=1.0, use_ke=True, use_sie=True,
                sie_threshold=8.0, max_people=30, nms_kernel=3, refine=True))
  c.update(kw)
  return c


def perfect_maps(people, h, w):
  """Ground-truth maps: Gaussian heatmaps (Eq. 1), person-constant KE, SIE = person centre.

  Args:
    people: list of (keypoints [J, 2], tag).

  Returns:
    dict heatmaps [1, h, w, J], ke [1, h, w, J], sie [1, h, w, 2].
  """
  yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
  per = np.stack([np.exp(-((xx[..., None] - kp[:, 0]) ** 2 + (yy[..., None] - kp[:, 1]) ** 2)
                         / SIGMA ** 2) for kp, _ in people])                  # [P, h, w, J]
  heat = per.max(0)
  owner = per.argmax(0)                                                      # [h, w, J]
  tags = np.array([t for _, t in people])
  ke = tags[owner]
  centers = np.array([kp.mean(0) for kp, _ in people])                       # [P, 2]
  body_owner = per.max(-1).argmax(0)                                         # [h, w]
  sie = centers[body_owner]
  return dict(heatmaps=heat[None].astype(np.float32), ke=ke[None].astype(np.float32),
              sie=sie[None].astype(np.float32))


def _person(center, size):
  return np.asarray(center, np.float64) + _TEMPLATE * size


def _match(poses, gt):
  """For each GT person, the index of the decoded pose holding its head top, and errors."""
  assert len(poses) == len(gt)
  found = []
  for kp, _ in gt:
    dists = [np.abs(p['keypoints'][:, :2] - kp).max() for p in poses]
    best = int(np.argmin(dists))
    found.append((best, dists[best]))
  return found


@pytest.fixture(scope='module')
def crowd():
  rng = np.random.default_rng(0)
  people = []
  for i in range(12):
    row, col = divmod(i, 4)
    center = (14 + 18 * col + rng.uniform(-1, 1), 20 + 18 * row + rng.uniform(-1, 1))
    kp = _person(center, rng.uniform(14, 18))
    people.append((kp, float(i) * 1.5))
  return people


def test_detect_candidates_matches_numpy_loop():
  rng = np.random.default_rng(1)
  heat = rng.uniform(size=(2, 9, 11, 3)).astype(np.float32)
  ke = rng.normal(size=(2, 9, 11, 3)).astype(np.float32)
  sie = rng.normal(size=(2, 9, 11, 2)).astype(np.float32)
  out = {k: np.asarray(v) for k, v in
         decode_lib.detect_candidates(heat, ke, sie, top_k=4, nms_kernel=3).items()}
  for b in range(2):
    for j in range(3):
      m = heat[b, :, :, j]
      peaks = []
      for y in range(9):
        for x in range(11):
          window = m[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2]
          if m[y, x] == window.max():
            peaks.append((m[y, x], x, y))
      peaks.sort(reverse=True)
      for k, (v, x, y) in enumerate(peaks[:4]):
        assert out['heat'][b, j, k] == pytest.approx(v)
        assert tuple(out['xy'][b, j, k]) == (x, y)
        assert out['tag'][b, j, k, 0] == pytest.approx(ke[b, y, x, j])
        np.testing.assert_allclose(out['sie'][b, j, k], sie[b, y, x])


@pytest.mark.parametrize('use_ke,use_sie', [(True, True), (True, False), (False, True)])
def test_perfect_maps_decode_to_ground_truth(crowd, use_ke, use_sie):
  maps = perfect_maps(crowd, 80, 80)
  poses = decode_lib.decode(maps, _config(use_ke=use_ke, use_sie=use_sie), SK)[0]
  found = _match(poses, crowd)
  assert sorted(b for b, _ in found) == list(range(len(crowd)))   # one pose per person
  for _, err in found:
    assert err <= 1.0
  for p in poses:
    # The peak pixel is within half a pixel (per axis) of the joint: heat >= exp(-0.5 / sigma^2).
    assert (p['keypoints'][:, 2] >= np.exp(-0.5 / SIGMA ** 2) - 1e-6).all()
    assert p['score'] == pytest.approx(p['keypoints'][:, 2].mean())


def test_equal_tags_are_separated_by_sie():
  # Integer joints give every peak the same heat (1), so KE alone is left with exact ties; a is
  # taller than b, so their joints' top-k order differs between the head and the legs.
  a = (np.round(_person((20, 32), 20)), 0.0)
  b = (np.round(_person((52, 32), 14)), 0.0)   # same tag, centres 32 px apart
  maps = perfect_maps([a, b], 64, 72)
  poses = decode_lib.decode(maps, _config(), SK)[0]
  for _, err in _match(poses, [a, b]):
    assert err <= 1.0
  np.testing.assert_allclose(sorted(p['center'][0] for p in poses),
                             [a[0][:, 0].mean(), b[0][:, 0].mean()], atol=0.5)
  # KE alone cannot tell them apart: with all costs tied some joints go to the wrong person.
  poses_ke = decode_lib.decode(maps, _config(use_sie=False, refine=False), SK)[0]
  assert len(poses_ke) == 2
  assert sorted((p['keypoints'][:, 2] > 0).sum() for p in poses_ke) == [J, J]
  mixed = [p for p in poses_ke
           if (np.abs(p['keypoints'][:, 0] - a[0][:, 0]) < 2).any()
           and (np.abs(p['keypoints'][:, 0] - b[0][:, 0]) < 2).any()]
  assert mixed, 'KE alone was expected to mix two people with equal tags'


def test_equal_centres_are_separated_by_ke():
  # Two people around one centre (a small one in front of a large one). Integer joints give
  # every peak heat 1, so SIE alone is left with exact ties.
  a = (np.round(_person((36, 38), 12)), 0.0)
  b = (np.round(_person((36, 38), 24)), 3.0)
  maps = perfect_maps([a, b], 72, 72)
  maps['sie'][:] = np.array([36.0, 38.0], np.float32)   # both people vote for the same centre
  poses = decode_lib.decode(maps, _config(), SK)[0]
  found = _match(poses, [a, b])
  assert sorted(i for i, _ in found) == [0, 1]
  for _, err in found:
    assert err <= 1.0
  np.testing.assert_allclose(sorted(p['tag'][0] for p in poses), [0.0, 3.0], atol=1e-5)
  # SIE alone cannot tell them apart: some pose mixes joints of both people.
  poses_sie = decode_lib.decode(maps, _config(use_ke=False, refine=False), SK)[0]
  assert any((np.abs(p['keypoints'][:, :2] - a[0]).max(1) < 1).any()
             and (np.abs(p['keypoints'][:, :2] - b[0]).max(1) < 1).any() for p in poses_sie)


def test_refine_fills_a_missing_joint():
  a = _person((20, 30), 16)
  b = _person((50, 30), 16)
  maps = perfect_maps([(a, 0.0), (b, 2.0)], 64, 72)
  # The decoder finds person a's left wrist only through refine: make it sub-threshold so that
  # no candidate exists, yet the argmax over the map still lies on it.
  lw = SK.index('left_wrist')
  maps['heatmaps'][0, :, :, lw] *= np.where(np.arange(72) < 35, 0.09, 1.0)[None, :]
  poses = decode_lib.decode(maps, _config(), SK)[0]
  pa = min(poses, key=lambda p: np.abs(p['keypoints'][:, 0] - a[:, 0]).max())
  assert np.abs(pa['keypoints'][lw, :2] - a[lw]).max() <= 1.0
  assert 0 < pa['keypoints'][lw, 2] < 0.1
  no_refine = decode_lib.decode(maps, _config(refine=False), SK)[0]
  pa = min(no_refine, key=lambda p: np.abs(p['keypoints'][:, 0] - a[:, 0]).max())
  assert pa['keypoints'][lw, 2] == 0


def test_adjust_quarter_pixel():
  heat = np.zeros((5, 5, 1), np.float32)
  heat[2, 2, 0], heat[2, 3, 0], heat[1, 2, 0], heat[3, 2, 0] = 1.0, 0.5, 0.3, 0.3
  joints = np.array([[[2.0, 2.0, 1.0]]])
  out = decode_lib.adjust(joints, np.ones((1, 1), bool), heat)
  np.testing.assert_allclose(out[0, 0], [2.25, 2.0, 1.0])


@pytest.mark.parametrize('blur', [0.0, 1.0])
def test_gaussian_subpixel_recovers_off_grid_centres(blur):
  rng = np.random.default_rng(3)
  centres = rng.uniform(3, 12, size=(6, 2))               # off-grid (x, y), output pixels
  yy, xx = np.mgrid[0:16, 0:16].astype(np.float64)
  heat = np.stack([np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / SIGMA ** 2) for x, y in centres],
                  axis=-1)
  joints = np.concatenate([np.floor(centres + 0.5), np.ones((6, 1))], axis=1)[None]
  present = np.ones((1, 6), bool)
  fine = decode_lib.gaussian_subpixel(joints, present, heat, blur_sigma=blur)
  quarter = decode_lib.adjust(joints, present, heat)
  fine_error = np.abs(fine[0, :, :2] - centres).max()
  assert fine_error < (1e-6 if blur == 0 else 0.05)
  assert np.abs(quarter[0, :, :2] - centres).max() > 5 * fine_error
  np.testing.assert_array_equal(fine[..., 2], joints[..., 2])
  # Absent joints and flat maps stay put.
  absent = decode_lib.gaussian_subpixel(joints, np.zeros((1, 6), bool), heat)
  np.testing.assert_array_equal(absent, joints)
  flat = decode_lib.gaussian_subpixel(joints, present, np.ones_like(heat))
  np.testing.assert_array_equal(flat, joints)


def test_decode_subpixel_option():
  people = [(_person((20.3, 30.6), 16), 0.0), (_person((50.7, 28.2), 16), 2.0)]
  maps = perfect_maps(people, 64, 72)
  for subpixel, tolerance in (('quarter', 0.5), ('gaussian', 0.02)):
    poses = decode_lib.decode(maps, _config(subpixel=subpixel), SK)[0]
    for keypoints, _ in people:
      pose = min(poses, key=lambda p: np.abs(p['keypoints'][:, :2] - keypoints).max())
      assert np.abs(pose['keypoints'][:, :2] - keypoints).max() <= tolerance, subpixel
  with pytest.raises(ValueError, match='decode.subpixel'):
    decode_lib.decode(maps, _config(subpixel='dark'), SK)


def test_max_people_cap():
  people = [(_person((10 + 14 * (i % 6), 12 + 20 * (i // 6)), 10), float(i) * 2)
            for i in range(12)]
  maps = perfect_maps(people, 64, 96)
  poses = decode_lib.decode(maps, _config(max_people=5), SK)[0]
  assert len(poses) == 5


def test_flip_merge_of_symmetric_outputs_is_identity():
  people = [(_person((20, 30), 16), 0.0), (_person((50, 30), 16), 2.0)]
  maps = perfect_maps(people, 64, 72)
  w = 72
  perm = SK.flip_permutation
  flipped = dict(heatmaps=maps['heatmaps'][:, :, ::-1][..., perm],
                 ke=maps['ke'][:, :, ::-1][..., perm],
                 sie=maps['sie'][:, :, ::-1].copy())
  flipped['sie'][..., 0] = (w - 1) - flipped['sie'][..., 0]
  merged = decode_lib.merge_flip(maps, flipped, SK)
  np.testing.assert_allclose(merged['heatmaps'], maps['heatmaps'], atol=1e-6)
  np.testing.assert_allclose(merged['ke'][..., 0], maps['ke'])
  np.testing.assert_allclose(merged['ke'][..., 1], maps['ke'])
  np.testing.assert_allclose(merged['sie'], maps['sie'], atol=1e-5)
  poses = decode_lib.decode(merged, _config(), SK)[0]
  assert len(poses) == 2 and poses[0]['tag'].shape == (2,)


def test_merge_scales_maps_sie_coordinates():
  sie_half = np.zeros((1, 4, 4, 2), np.float32)
  sie_half[..., 0], sie_half[..., 1] = 1.0, 2.0
  heat_half = np.zeros((1, 4, 4, 1), np.float32)
  ke_half = np.zeros((1, 4, 4, 1), np.float32)
  full = dict(heatmaps=np.ones((1, 8, 8, 1), np.float32), ke=np.ones((1, 8, 8, 1), np.float32),
              sie=np.full((1, 8, 8, 2), 3.0, np.float32))
  merged = decode_lib.merge_scales([full, dict(heatmaps=heat_half, ke=ke_half,
                                               sie=sie_half)], (8, 8))
  np.testing.assert_allclose(merged['heatmaps'], 0.5)
  assert merged['ke'].shape == (1, 8, 8, 1, 2)
  # x_s = 1 at width 4 -> (1.5 * 2) - 0.5 = 2.5 at width 8; y_s = 2 -> 4.5.
  np.testing.assert_allclose(merged['sie'][..., 0], 0.5 * (3.0 + 2.5))
  np.testing.assert_allclose(merged['sie'][..., 1], 0.5 * (3.0 + 4.5))


def test_affine_back_to_image_and_coco_json():
  pose = dict(keypoints=np.array([[10.0, 20.0, 0.9]] + [[0.0, 0.0, 0.0]] * (J - 1),
                                 np.float32), score=0.5, tag=np.zeros(1), center=np.array([4., 8.]))
  image_to_output = np.array([[0.25, 0.0, -2.0], [0.0, 0.25, 1.0]])
  back = geometry.invert_affine(image_to_output)
  out = decode_lib.poses_to_image([pose], back)[0]
  # x = (10 + 2) * 4 = 48, y = (20 - 1) * 4 = 76.
  np.testing.assert_allclose(out['keypoints'][0], [48.0, 76.0, 0.9], rtol=1e-6)
  np.testing.assert_allclose(out['keypoints'][1], [0, 0, 0])
  np.testing.assert_allclose(out['center'], [24.0, 28.0])
  res = json.loads(json.dumps(decode_lib.coco_results([7], [[out]], SK)))
  assert res[0]['image_id'] == 7 and res[0]['category_id'] == 1
  assert res[0]['keypoints'][:3] == pytest.approx([48.0, 76.0, 0.9])
  assert len(res[0]['keypoints']) == 3 * J and res[0]['score'] == 0.5
  person = decode_lib.pose_to_person(out, track_id=3)
  assert person.track_id == 3 and person.keypoints[0, 2] == 1 and person.keypoints[1, 2] == 0


def test_bad_input_errors():
  with pytest.raises(ValueError, match='ke'):
    decode_lib.decode(dict(heatmaps=np.zeros((1, 4, 4, J)), sie=np.zeros((1, 4, 4, 2))),
                      _config(), SK)
  with pytest.raises(ValueError, match='at least one of'):
    decode_lib.decode(dict(heatmaps=np.zeros((1, 4, 4, J)), ke=np.zeros((1, 4, 4, J)),
                           sie=np.zeros((1, 4, 4, 2))), _config(use_ke=False, use_sie=False), SK)
  with pytest.raises(ValueError, match='joints'):
    decode_lib.decode(dict(heatmaps=np.zeros((1, 4, 4, 3)), ke=np.zeros((1, 4, 4, 3)),
                           sie=np.zeros((1, 4, 4, 2))), _config(), SK)


def test_flip_tags_compared_by_root_mean_square_as_in_ae():
  # Two-value tags (flip test): joints of one person whose tags differ from the person's mean
  # by 0.8 in both values. Root mean square 0.8 < 1 groups them (AE's match_by_tag); the L2
  # norm, 0.8 * sqrt(2) = 1.13, would start a second person.
  first, second = SK.decode_order[:2]
  candidates = dict(
      xy=np.zeros((J, 1, 2), np.float32), heat=np.zeros((J, 1), np.float32),
      tag=np.zeros((J, 1, 2), np.float32), sie=np.zeros((J, 1, 2), np.float32))
  candidates['heat'][first, 0] = 0.9
  candidates['heat'][second, 0] = 0.8
  candidates['xy'][second, 0] = (5.0, 0.0)
  candidates['tag'][second, 0] = (0.8, 0.8)
  grouped = decode_lib.group_candidates(candidates, _config(use_sie=False), SK)
  assert grouped['present'].sum(axis=1).tolist() == [2]
  candidates['tag'][second, 0] = (1.1, 0.9)     # RMS 1.005: over the threshold
  grouped = decode_lib.group_candidates(candidates, _config(use_sie=False), SK)
  assert grouped['present'].sum(axis=1).tolist() == [1, 1]


def test_stray_peak_is_dropped_by_min_joints_and_duplicate_by_pose_nms():
  # One person, plus a stray head-top peak far from it with its own tag and centre: grouping
  # makes it a second pose of one joint, which refine fills with the person's other joints.
  a = (np.round(_person((30, 40), 16)), 0.0)
  maps = perfect_maps([a], 80, 80)
  stray = (70, 8)
  maps['heatmaps'][0, stray[1], stray[0], 14] = 0.9
  maps['ke'][0, stray[1], stray[0], 14] = 0.4      # within the tag threshold of nobody's mean
  maps['sie'][0, stray[1], stray[0]] = (70.0, 8.0)
  plain = decode_lib.decode(maps, _config(use_sie=False), SK)[0]
  assert len(plain) == 2
  duplicate = [p for p in plain if np.allclose(p['keypoints'][14, :2], stray)][0]
  # The stray pose took the person's joints: all but its own head top sit on the person.
  on_person = np.abs(duplicate['keypoints'][:14, :2] - a[0][:14]).max(1) <= 1.0
  assert on_person.sum() >= 12
  kept = decode_lib.decode(maps, _config(use_sie=False, min_joints=2), SK)[0]
  assert len(kept) == 1 and np.abs(kept[0]['keypoints'][:, :2] - a[0]).max() <= 1.0
  kept = decode_lib.decode(maps, _config(use_sie=False, pose_nms=0.5), SK)[0]
  assert len(kept) == 1 and np.abs(kept[0]['keypoints'][:, :2] - a[0]).max() <= 1.0


def test_joint_nms_removes_the_joints_a_stronger_pose_holds_and_rescores():
  # The stray head-top pose of the test above: refine fills it with the person's joints.
  # Joint NMS leaves it only its own head top, and its score falls to that joint's share.
  a = (np.round(_person((30, 40), 16)), 0.0)
  maps = perfect_maps([a], 80, 80)
  stray = (70, 8)
  maps['heatmaps'][0, stray[1], stray[0], 14] = 0.9
  maps['ke'][0, stray[1], stray[0], 14] = 0.4
  maps['sie'][0, stray[1], stray[0]] = (70.0, 8.0)
  plain = decode_lib.decode(maps, _config(use_sie=False), SK)[0]
  poses = decode_lib.decode(maps, _config(use_sie=False, joint_nms=1.0), SK)[0]
  assert len(poses) == 2
  person, rest = poses
  np.testing.assert_allclose(person['keypoints'], plain[0]['keypoints'])
  assert np.abs(person['keypoints'][:, :2] - a[0]).max() <= 1.0
  found = rest['keypoints'][:, 2] > 0
  assert found.tolist() == [False] * 14 + [True]
  np.testing.assert_allclose(rest['keypoints'][14, :2], stray, atol=0.5)
  np.testing.assert_allclose(rest['score'], rest['keypoints'][14, 2] / J, rtol=1e-6)
  # Written joint scores times the pose score: the stray head top ranks far below the person.
  scored = decode_lib.decode(maps, _config(use_sie=False, joint_nms=1.0,
                                           joint_score='heat_x_pose'), SK)[0]
  for p, q in zip(scored, poses):
    np.testing.assert_allclose(p['keypoints'][:, 2], q['keypoints'][:, 2] * q['score'],
                               rtol=1e-6)
    assert p['score'] == q['score']
  assert scored[1]['keypoints'][14, 2] < 0.1 * scored[0]['keypoints'][:, 2].min()
  with pytest.raises(ValueError, match="decode.joint_score must be 'heat'"):
    decode_lib.decode(maps, _config(use_sie=False, joint_score='pose'), SK)


def test_joint_nms_keeps_joints_of_people_apart_and_drops_empty_poses():
  order = np.array([1, 0, 2])
  kp = np.zeros((3, J, 3), np.float32)
  kp[0, :, :2] = _person((20, 30), 12)
  kp[1, :, :2] = _person((50, 30), 12)
  kp[2, :, :2] = kp[1, :, :2] + 0.5                # a copy of pose 1 within the radius
  kp[..., 2] = 0.8
  kp[0, 3, 2] = 0.0                                 # pose 0 lacks a joint: nothing to compare
  out = decode_lib.joint_nms(kp, order, 1.0)
  np.testing.assert_array_equal(out[:2], kp[:2])
  assert not out[2, :, 2].any() and not out[2, :, :2].any()
  assert kp[2, :, 2].all()                          # the input is left as it was
  np.testing.assert_array_equal(decode_lib.joint_nms(kp, order, 0.3)[2], kp[2])


def test_pose_nms_keeps_people_who_share_no_joints():
  order = np.array([0, 1])
  kp = np.zeros((2, J, 3), np.float32)
  kp[0, :, :2] = _person((20, 30), 12)
  kp[1, :, :2] = _person((50, 30), 12)
  kp[..., 2] = 0.8
  np.testing.assert_array_equal(decode_lib.pose_nms(kp, order, 0.5, SK.oks_sigmas), [0, 1])
  kp[1, :, :2] = kp[0, :, :2] + 0.3                  # the same person, slightly shifted
  np.testing.assert_array_equal(decode_lib.pose_nms(kp, order, 0.5, SK.oks_sigmas), [0])
  kp[1, :, 2] = 0.0
  kp[1, :3, 2] = 0.8                                 # a pose with 3 joints, all on person 0
  np.testing.assert_array_equal(decode_lib.pose_nms(kp, order, 0.5, SK.oks_sigmas), [0])


def _gauss(h, w, xy):
  yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
  return np.exp(-((xx - xy[0]) ** 2 + (yy - xy[1]) ** 2) / SIGMA ** 2)


def _one_person_maps(facing):
  """One person facing the camera (the template's left joints on the image's right), a
  facing map of constant ``facing``, and both wrist channels strongest on the right wrist."""
  a = _person((32, 32), 20)
  maps = perfect_maps([(a, 0.0)], 64, 64)
  lw, rw = SK.index('left_wrist'), SK.index('right_wrist')
  both = np.maximum(_gauss(64, 64, a[rw]), 0.6 * _gauss(64, 64, a[lw]))
  maps['heatmaps'][0, ..., lw] = both
  maps['heatmaps'][0, ..., rw] = both
  maps['facing'] = np.full((1, 64, 64, 1), facing, np.float32)
  return a, maps, lw, rw


def test_orient_pairs_recovers_a_joint_taken_twice():
  a, maps, lw, rw = _one_person_maps(1.0)
  (plain,) = decode_lib.decode(maps, _config(min_joints=4), SK)[0]
  # As decoded, both wrists are the right wrist: the left wrist is lost.
  assert np.abs(plain['keypoints'][lw, :2] - a[rw]).max() <= 1.0
  (oriented,) = decode_lib.decode(maps, _config(min_joints=4, facing_orient=True), SK)[0]
  assert np.abs(oriented['keypoints'][lw, :2] - a[lw]).max() <= 1.0
  assert np.abs(oriented['keypoints'][rw, :2] - a[rw]).max() <= 1.0
  assert 0.55 < oriented['keypoints'][lw, 2] <= 0.6 + 1e-6     # the heat at its new pixel
  others = [j for j in range(J) if j not in (lw, rw)]
  np.testing.assert_allclose(oriented['keypoints'][others], plain['keypoints'][others])


def test_orient_pairs_swaps_the_sides_of_someone_facing_away():
  a, maps, lw, rw = _one_person_maps(-1.0)
  (oriented,) = decode_lib.decode(maps, _config(min_joints=4, facing_orient=True), SK)[0]
  kp = oriented['keypoints']
  for left, right in (('left_shoulder', 'right_shoulder'), ('left_hip', 'right_hip'),
                      ('left_knee', 'right_knee'), ('left_wrist', 'right_wrist')):
    # Facing away, the person's left is on the image's left.
    np.testing.assert_allclose(kp[SK.index(left), :2], a[SK.index(right)], atol=1.0)
    np.testing.assert_allclose(kp[SK.index(right), :2], a[SK.index(left)], atol=1.0)
  # Profile (|facing| below decode.facing_min): left as decoded.
  _, maps, _, _ = _one_person_maps(-0.1)
  (plain,) = decode_lib.decode(maps, _config(min_joints=4), SK)[0]
  (profile,) = decode_lib.decode(maps, _config(min_joints=4, facing_orient=True), SK)[0]
  np.testing.assert_array_equal(profile['keypoints'], plain['keypoints'])
  # A torso narrower than decode.facing_torso_spread (the template's spread is
  # (0.5 + 0.3) / 0.55 = 1.45) is taken for a profile view and left as decoded too.
  _, maps, _, _ = _one_person_maps(-1.0)
  (narrow,) = decode_lib.decode(maps, _config(min_joints=4, facing_orient=True,
                                              facing_torso_spread=2.0), SK)[0]
  (plain,) = decode_lib.decode(maps, _config(min_joints=4), SK)[0]
  np.testing.assert_array_equal(narrow['keypoints'], plain['keypoints'])


def test_canonical_sides_exchange_the_pairs_of_someone_facing_away():
  # A network trained on image-side labels draws everyone as if facing the camera; its
  # facing map says who does not.
  a = _person((32, 32), 20)
  maps = perfect_maps([(a, 0.0)], 64, 64)
  config = _config(min_joints=4, canonical_sides=True)
  maps['facing'] = np.full((1, 64, 64, 1), 0.8, np.float32)
  (plain,) = decode_lib.decode(maps, _config(min_joints=4), SK)[0]
  (front,) = decode_lib.decode(maps, config, SK)[0]
  np.testing.assert_array_equal(front['keypoints'], plain['keypoints'])
  maps['facing'][:] = -0.8
  (away,) = decode_lib.decode(maps, config, SK)[0]
  perm = SK.flip_permutation
  np.testing.assert_array_equal(away['keypoints'], plain['keypoints'][perm])
  np.testing.assert_allclose(away['score'], plain['score'])
  # The facing is read at the torso: a negative map elsewhere does not count.
  maps['facing'][:] = 0.8
  for j in ('left_wrist', 'right_wrist', 'left_ankle', 'right_ankle', 'head_top'):
    x, y = np.rint(a[SK.index(j)]).astype(int)
    maps['facing'][0, y - 1:y + 2, x - 1:x + 2] = -5.0
  (front,) = decode_lib.decode(maps, config, SK)[0]
  np.testing.assert_array_equal(front['keypoints'], plain['keypoints'])
  del maps['facing']
  with pytest.raises(ValueError, match='canonical_sides.*facing'):
    decode_lib.decode(maps, config, SK)


def test_orient_pairs_needs_a_facing_map_and_flip_keeps_it():
  _, maps, _, _ = _one_person_maps(1.0)
  del maps['facing']
  with pytest.raises(ValueError, match='facing_orient.*facing'):
    decode_lib.decode(maps, _config(min_joints=4, facing_orient=True), SK)
  facing = np.random.default_rng(0).normal(size=(1, 8, 8, 1)).astype(np.float32)
  base = dict(heatmaps=np.zeros((1, 8, 8, J), np.float32), facing=facing)
  mirrored = dict(heatmaps=base['heatmaps'], facing=facing[:, :, ::-1])
  merged = decode_lib.merge_flip(base, mirrored, SK)
  np.testing.assert_allclose(merged['facing'], facing)    # not negated: facing is flip-invariant
