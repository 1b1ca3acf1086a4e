"""Tests for viz/maps.py: the values behind the figures, against plain NumPy oracles."""
import numpy as np
import pytest

from artrack_jax import geometry, skeletons
from artrack_jax.viz import draw, maps as vm
from artrack_jax.data import augment, types
from artrack_jax.models.spatialnet import AUX_TASKS

SK = skeletons.POSETRACK
J = SK.num_joints


def _titles(fig):
  return [ax.get_title() for ax in fig.axes]


def _axis(fig, title_start):
  matches = [ax for ax in fig.axes if ax.get_title().startswith(title_start)]
  assert len(matches) == 1, _titles(fig)
  return matches[0]


# ---------------------------------------------------------------------------------------------
# Map helpers.


def test_denormalize_inverts_the_pipeline_normalisation():
  image = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
  back = vm.denormalize_image(augment.normalize_image(image))
  assert back.dtype == np.uint8
  np.testing.assert_array_equal(back, image)
  with pytest.raises(ValueError, match=r'expected \[H, W, 3\]'):
    vm.denormalize_image(np.zeros((4, 4)))


def test_heat_mask_and_keypoint_embedding_match_loops():
  rng = np.random.default_rng(1)
  heatmaps = rng.random((4, 5, 3)).astype(np.float32)
  ke = rng.normal(size=(4, 5, 3)).astype(np.float32)
  heat, mask, tags = (vm.instance_agnostic_heat(heatmaps), vm.pose_mask(heatmaps, 0.6),
                      vm.keypoint_embedding_at_pixels(heatmaps, ke))
  for i in range(4):
    for j in range(5):
      best = max(range(3), key=lambda k: heatmaps[i, j, k])
      assert heat[i, j] == heatmaps[i, j, best]
      assert mask[i, j] == (heatmaps[i, j, best] > 0.6)
      assert tags[i, j] == ke[i, j, best]
  with pytest.raises(ValueError, match='must both be'):
    vm.keypoint_embedding_at_pixels(heatmaps, ke[..., :2])


def test_svf_to_sie_is_pixel_minus_svf():
  svf = np.random.default_rng(2).normal(size=(3, 4, 2)).astype(np.float32)
  sie = geometry.instance_embedding(svf)
  for i in range(3):
    for j in range(4):
      np.testing.assert_allclose(sie[i, j], [j - svf[i, j, 0], i - svf[i, j, 1]], rtol=1e-6)


def test_centre_colours_encode_position():
  colours = vm.centre_colours(np.array([[0.0, 0.0], [9.0, 4.5], [20.0, -3.0]]), 10, 10)
  np.testing.assert_allclose(colours, [[0, 0, 0.35], [1, 0.5, 0.35], [1, 0, 0.35]], atol=1e-6)


def test_slot_person_labels_nearest_labelled_joint_within_radius():
  rng = np.random.default_rng(3)
  joint_xy = rng.uniform(0, 16, (3, 4, 2)).astype(np.float32)
  joint_valid = (rng.random((3, 4)) > 0.3).astype(np.float32)
  slot_xy = rng.uniform(0, 16, (40, 2)).astype(np.float32)
  labels = vm.slot_person_labels(slot_xy, joint_xy, joint_valid, radius=2.5)
  for n, xy in enumerate(slot_xy):
    best, best_d = -1, np.inf
    for p in range(3):
      for j in range(4):
        d = np.hypot(*(xy - joint_xy[p, j]))
        if joint_valid[p, j] and d < best_d:
          best, best_d = p, d
    assert labels[n] == (best if best_d <= 2.5 else -1)
  assert (labels >= 0).any() and (labels == -1).any()
  np.testing.assert_array_equal(
      vm.slot_person_labels(slot_xy, joint_xy, np.zeros((3, 4))), -np.ones(40))


def test_embedding_spread_matches_loop():
  rng = np.random.default_rng(4)
  x = rng.normal(size=(12, 3))
  labels = np.array([0, 0, 0, 2, 2, -1, 2, 0, -1, 5, 5, 5])
  expected = []
  for person in (0, 2, 5):
    member = x[labels == person]
    mean = member.mean(axis=0)
    expected.append(np.mean([np.sqrt(((m - mean) ** 2).sum()) for m in member]))
  assert vm.embedding_spread(x, labels) == pytest.approx(np.mean(expected))
  assert np.isnan(vm.embedding_spread(x, -np.ones(12)))
  # 1-D embeddings (KE tags) are [N].
  assert vm.embedding_spread(np.array([1.0, 3.0, 10.0]), np.array([0, 0, 1])) == 0.5


# ---------------------------------------------------------------------------------------------
# PGG effect: two people on a 10 x 10 map.

H = W = 10
PGG = dict(tau=0.2, delta=5.0, iterations=1, num_slots=128, sie_scale=4.0,
           implementation='direct', block_size=64, use_ke=True, use_sie=True)


@pytest.fixture(scope='module')
def two_people():
  """Maps where person 0's joints sit at x <= 3 and person 1's at x >= 6, with noisy KE/SIE."""
  rng = np.random.default_rng(5)
  heatmaps = np.zeros((H, W, 2), np.float32)
  ke = rng.normal(0, 0.5, (H, W, 2)).astype(np.float32)
  svf = rng.normal(0, 3, (H, W, 2)).astype(np.float32)
  centres = np.array([[2.0, 5.0], [7.5, 4.0]], np.float32)
  joint_xy = np.array([[[1, 2], [3, 7]], [[6, 3], [8, 6]]], np.float32)    # [P, J, 2]
  for p in range(2):
    for j in range(2):
      x, y = joint_xy[p, j].astype(int)
      for dy in (-1, 0, 1):
        heatmaps[y + dy, x, j] = 0.9 - 0.3 * abs(dy)
        ke[y + dy, x, :] = p + rng.normal(0, 0.15, 2)                # tag ~ person id
        svf[y + dy, x] = np.array([x, y + dy]) - centres[p] + rng.normal(0, 0.6, 2)
  return heatmaps, ke, svf, joint_xy, np.ones((2, 2), np.float32)


def _oracle_gbms(x, delta):
  """One Gaussian blurring mean-shift step (Alg. 1) written as plain loops."""
  out = np.zeros_like(x)
  for i in range(len(x)):
    weights = np.array([np.exp(-delta ** 2 / 2 * ((x[i] - x[k]) ** 2).sum())
                        for k in range(len(x))])
    out[i] = (weights[:, None] * x).sum(axis=0) / weights.sum()
  return out


def test_pgg_effect_matches_a_numpy_mean_shift(two_people):
  heatmaps, ke, svf, joint_xy, joint_valid = two_people
  effect = vm.pgg_effect(heatmaps, ke, svf, PGG, joint_xy, joint_valid, radius=1.5)
  mask = heatmaps.max(-1) > PGG['tau']
  ys, xs = np.nonzero(mask)
  assert sorted(map(tuple, effect['slot_xy'].astype(int))) == sorted(zip(xs, ys))
  np.testing.assert_array_equal(effect['mask'], mask)
  # Every masked pixel lies within 1 px of its person's joint.
  expected_labels = [0 if x <= 3 else 1 for x, _ in effect['slot_xy']]
  np.testing.assert_array_equal(effect['labels'], expected_labels)

  x_int, y_int = effect['slot_xy'][:, 0].astype(int), effect['slot_xy'][:, 1].astype(int)
  joint = heatmaps[y_int, x_int].argmax(-1)
  sie = np.stack([x_int - svf[y_int, x_int, 0], y_int - svf[y_int, x_int, 1]], -1)
  np.testing.assert_allclose(effect['ke_before'], ke[y_int, x_int, joint], atol=1e-6)
  np.testing.assert_allclose(effect['sie_before'], sie, atol=1e-5)

  embeddings = np.concatenate([ke[y_int, x_int], sie / PGG['sie_scale']], -1).astype(np.float64)
  refined = _oracle_gbms(embeddings, PGG['delta'])
  np.testing.assert_allclose(effect['ke_after'], refined[np.arange(len(joint)), joint],
                             atol=1e-4)
  np.testing.assert_allclose(effect['sie_after'], refined[:, 2:] * PGG['sie_scale'], atol=1e-3)
  np.testing.assert_allclose(effect['ke_map_after'][y_int, x_int], effect['ke_after'])
  assert np.isnan(effect['ke_map_after'][~mask]).all()
  # PGG makes each person's embeddings more compact (Fig. 3).
  assert effect['sie_spread_after'] < effect['sie_spread_before']
  assert effect['ke_spread_after'] < effect['ke_spread_before']
  assert effect['sie_spread_before'] == pytest.approx(
      vm.embedding_spread(effect['sie_before'], effect['labels']))


def test_pgg_effect_sie_only_keeps_ke_as_predicted(two_people):
  heatmaps, ke, svf, _, _ = two_people
  effect = vm.pgg_effect(heatmaps, ke, svf, dict(PGG, use_ke=False))
  np.testing.assert_array_equal(effect['ke_after'], effect['ke_before'])
  assert not np.allclose(effect['sie_after'], effect['sie_before'])
  assert (effect['labels'] == -1).all() and 'sie_spread_after' not in effect
  with pytest.raises(ValueError, match='joint_xy given without joint_valid'):
    vm.pgg_effect(heatmaps, ke, svf, PGG, joint_xy=np.zeros((1, 2, 2)))
  with pytest.raises(ValueError, match=r'svf \[h, w, 2\]'):
    vm.pgg_effect(heatmaps, ke, svf[..., :1], PGG)


# ---------------------------------------------------------------------------------------------
# Figures.


def test_spatial_maps_figure_draws_the_maps(two_people):
  heatmaps, ke, svf, _, _ = two_people
  image = np.full((4 * H, 4 * W, 3), 200, np.uint8)
  fig = vm.spatial_maps_figure(image, dict(heatmaps=heatmaps, ke=ke, svf=svf), tau=0.2)
  heat_panel = _axis(fig, 'heatmaps, max over joints').images[-1]
  np.testing.assert_array_equal(heat_panel.get_array(), heatmaps.max(-1))
  # The map covers the input image exactly (stride 4, pixel centres).
  assert heat_panel.get_extent() == [-0.5, 4 * W - 0.5, 4 * H - 0.5, -0.5]
  tags = np.ma.filled(_axis(fig, 'KE on the pose mask').images[-1].get_array(), np.nan)
  mask = heatmaps.max(-1) > 0.2
  np.testing.assert_allclose(tags[mask], vm.keypoint_embedding_at_pixels(heatmaps, ke)[mask])
  assert np.isnan(tags[~mask]).all()
  np.testing.assert_array_equal(_axis(fig, 'SVF y').images[-1].get_array(), svf[..., 1])
  sie_rgba = _axis(fig, 'SIE on the mask').images[-1].get_array()
  np.testing.assert_array_equal(sie_rgba[..., 3], mask.astype(np.float32))
  with pytest.raises(ValueError, match='uint8'):
    vm.spatial_maps_figure(image.astype(np.float32), dict(heatmaps=heatmaps, ke=ke, svf=svf))


def test_ordinal_maps_figure_has_the_six_tasks_on_the_mask(two_people):
  heatmaps = two_people[0]
  aux = np.random.default_rng(6).normal(size=(H, W, 6)).astype(np.float32)
  fig = vm.ordinal_maps_figure(np.zeros((4 * H, 4 * W, 3), np.uint8), aux, heatmaps)
  mask = heatmaps.max(-1) > vm.DEFAULT_TAU
  for k, task in enumerate(AUX_TASKS):
    shown = np.ma.filled(_axis(fig, f'{task}:').images[-1].get_array(), np.nan)
    np.testing.assert_array_equal(shown[mask], aux[..., k][mask])
    assert np.isnan(shown[~mask]).all()
  with pytest.raises(ValueError, match=r'aux must be \[h, w, 6\]'):
    vm.ordinal_maps_figure(np.zeros((8, 8, 3), np.uint8), aux[..., :4])


def test_pgg_effect_figure_scatters_the_embeddings(two_people):
  heatmaps, ke, svf, joint_xy, joint_valid = two_people
  effect = vm.pgg_effect(heatmaps, ke, svf, PGG, joint_xy, joint_valid, radius=1.5)
  fig = vm.pgg_effect_figure(np.zeros((4 * H, 4 * W, 3), np.uint8), effect)
  for when in ('before', 'after'):
    ax = _axis(fig, f'SIE of masked pixels {when} PGG')
    np.testing.assert_allclose(ax.collections[0].get_offsets(), effect[f'sie_{when}'],
                               rtol=1e-6)
    assert f'spread {effect[f"sie_spread_{when}"]:.2f}' in ax.get_title()


def test_poses_figure_draws_skeletons_in_track_colours():
  image = np.zeros((64, 64, 3), np.uint8)
  kp = np.zeros((1, J, 3), np.float32)
  kp[0, :, 0] = np.linspace(10, 50, J)
  kp[0, :, 1] = 32
  kp[0, :, 2] = 1
  fig = vm.poses_figure([image, image], [kp, kp[:0]], [[7], []], SK, titles=['a', 'b'])
  panels = [ax for ax in fig.axes if ax.images]
  assert [ax.get_title() for ax in panels] == ['a', 'b']
  drawn = panels[0].images[0].get_array()
  zoom = 4                                       # 64-px frames are drawn at 256 px
  assert drawn.shape == (256, 256, 3)
  x, y = (kp[0, 3, :2] + 0.5) * zoom - 0.5
  assert tuple(drawn[int(round(y)), int(round(x))]) == draw.track_colour(7)
  assert not panels[1].images[0].get_array().any()
  with pytest.raises(ValueError, match='must match'):
    vm.poses_figure([image], [kp, kp], [[1]], SK)


def test_tracked_frames_figure_picks_evenly_spaced_frames():
  frames, images = [], []
  for t in range(10):
    kp = np.zeros((J, 3), np.float32)
    kp[:, :2] = 20 + t
    kp[:, 2] = 1
    people = [types.Person(track_id=3 + k, keypoints=kp, bbox=np.zeros(4), bbox_head=None)
              for k in range(1 if t % 2 == 0 else 6 * (t == 9))]
    frames.append(types.Frame(image_path=f'{t}.jpg', frame_id=t, is_labeled=True,
                              people=people))
    images.append(np.zeros((48, 48, 3), np.uint8))
  sequence = types.Sequence(name='clip', frames=frames, skeleton='posetrack')
  fig = vm.tracked_frames_figure(images, sequence, SK, max_frames=4)
  assert [ax.get_title() for ax in fig.axes if ax.images] == [
      'frame 0: ids [3]', 'frame 3: ids []', 'frame 6: ids [3]', 'frame 9: 6 people']
  with pytest.raises(ValueError, match="sequence 'clip' has 10 frames"):
    vm.tracked_frames_figure(images[:3], sequence, SK)


def test_ground_truth_and_decoded_figures():
  kp = np.zeros((1, J, 3), np.float32)
  kp[0, :, :2] = 30
  kp[0, :, 2] = 2
  record = dict(image=np.full((64, 64, 3), 90, np.uint8), keypoints=kp,
                track_id=np.array([4]), sequence=b'clip_a', frame_id=np.int32(2),
                ignore_mask=np.pad(np.ones((4, 4), np.uint8), ((0, 60), (0, 60))))
  fig = vm.ground_truth_figure([record], SK)
  ax = [a for a in fig.axes if a.images][0]
  assert ax.get_title() == 'clip_a frame 2'
  drawn = ax.images[0].get_array()
  assert tuple(drawn[0, 0]) == (30, 30, 30)            # ignore region dimmed
  assert tuple(drawn[200, 200]) == (90, 90, 90)
  pose = dict(keypoints=np.concatenate([np.full((J, 2), 7.0), np.ones((J, 1))], -1))
  fig = vm.decoded_poses_figure([record['image']], [[pose, pose]], SK, stride=4.0)
  ax = [a for a in fig.axes if a.images][0]
  assert ax.get_title() == '2 poses'
  # Output pixel 7 is input pixel (7 + 0.5) * 4 - 0.5 = 29.5, drawn at 4x.
  x = int(round((29.5 + 0.5) * 4 - 0.5))
  assert tuple(ax.images[0].get_array()[x, x]) == draw.track_colour(1)
