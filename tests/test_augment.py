"""Tests of the frame augmentation (data/augment.py) with marked synthetic images."""
import io

import numpy as np
import pytest
from PIL import Image

from artrack_jax import geometry
from artrack_jax import skeletons
from artrack_jax.data import augment

SKEL = skeletons.POSETRACK
J = SKEL.num_joints
PERM = SKEL.flip_permutation


def _bilinear_oracle(image, matrix, size):
  """Plain inverse-map bilinear sampling in pixel-centre coordinates; NaN where undefined."""
  inv = np.linalg.inv(np.vstack([matrix[:2], [0, 0, 1]]))
  yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
  sx = inv[0, 0] * xx + inv[0, 1] * yy + inv[0, 2]
  sy = inv[1, 0] * xx + inv[1, 1] * yy + inv[1, 2]
  h, w = image.shape[:2]
  x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
  ok = (x0 >= 0) & (y0 >= 0) & (x0 + 1 < w) & (y0 + 1 < h)
  x0c, y0c = np.clip(x0, 0, w - 2), np.clip(y0, 0, h - 2)
  fx, fy = (sx - x0c)[..., None], (sy - y0c)[..., None]
  img = image.astype(np.float64)
  out = (img[y0c, x0c] * (1 - fx) * (1 - fy) + img[y0c, x0c + 1] * fx * (1 - fy) +
         img[y0c + 1, x0c] * (1 - fx) * fy + img[y0c + 1, x0c + 1] * fx * fy)
  return np.where(ok[..., None], out, np.nan)


def _marked_frame(rng, height, width, n, block=7):
  """Image with a uniquely coloured block under every joint; ignore mask marks half of them."""
  image = np.full((height, width, 3), 255, np.uint8)
  mask = np.zeros((height, width), np.uint8)
  kp = np.zeros((n, J, 3), np.float32)
  colours = {}
  r = block // 2
  taken = np.zeros((height, width), bool)
  for k in range(n):
    for j in range(J):
      for _ in range(200):
        x, y = rng.integers(r + 1, width - r - 1), rng.integers(r + 1, height - r - 1)
        if not taken[y - r - 1:y + r + 2, x - r - 1:x + r + 2].any():
          break
      else:
        raise AssertionError('no room for a marked joint')
      taken[y - r:y + r + 1, x - r:x + r + 1] = True
      colour = rng.integers(0, 200, size=3).astype(np.uint8)
      image[y - r:y + r + 1, x - r:x + r + 1] = colour
      mask[y - r:y + r + 1, x - r:x + r + 1] = (k + j) % 2
      kp[k, j] = x, y, 2
      colours[(k, j)] = colour
  return image, mask, kp, colours


def test_warp_image_matches_numpy_bilinear_oracle():
  rng = np.random.default_rng(0)
  image = rng.integers(0, 256, size=(40, 56, 3)).astype(np.uint8)
  params = augment.AugmentParams(scale=1.2, rotation=17.0, translation=(3.0, -2.5), flip=True)
  m = augment.frame_matrix(40, 56, 48, params)
  got = augment.warp_image(image, m, 48).astype(np.float64)
  want = _bilinear_oracle(image, m, 48)
  ok = ~np.isnan(want[..., 0])
  assert ok.sum() > 1000
  assert np.abs(got[ok] - want[ok]).max() <= 1.0


@pytest.mark.parametrize('seed', [1, 2, 7])  # 1, 2 flip; 7 does not
def test_pixel_under_joint_is_preserved(seed):
  rng = np.random.default_rng(seed)
  image, mask, kp, colours = _marked_frame(rng, 72, 96, 2)
  aug_config = dict(scale_min=0.75, scale_max=1.25, rotation=30.0, translation=0.1, flip=0.5)
  params = augment.sample_params(rng, aug_config, 80)
  record = {'image': image, 'keypoints': kp, 'bbox_head': np.zeros((2, 4)), 'ignore_mask': mask}
  out = augment.transform_frame(record, 80, params, PERM, normalize=False)
  perm = PERM if params.flip else np.arange(J)
  checked = 0
  for k in range(2):
    for j in range(J):
      x, y, v = out['keypoints'][k, j]
      if v == 0:
        continue
      col, row = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
      source = (k, perm[j])  # after a flip, slot j holds the mirrored joint perm[j]
      np.testing.assert_array_equal(out['image'][row, col], colours[source])
      assert out['ignore_mask'][row, col] == mask[int(kp[source][1]), int(kp[source][0])]
      checked += 1
  assert checked >= 10


def test_large_frame_is_box_reduced_before_warping():
  rng = np.random.default_rng(4)
  image, mask, kp, colours = _marked_frame(rng, 192, 256, 1, block=17)
  record = {'image': image, 'keypoints': kp, 'bbox_head': np.zeros((1, 4)), 'ignore_mask': mask}
  out = augment.transform_frame(record, 64, None, PERM, normalize=False)   # shrink x4
  for j in range(J):
    x, y, v = out['keypoints'][0, j]
    assert v == 2
    pixel = out['image'][int(np.floor(y + 0.5)), int(np.floor(x + 0.5))].astype(int)
    assert np.abs(pixel - colours[(0, j)]).max() <= 1


def test_flip_twice_is_identity():
  rng = np.random.default_rng(5)
  image, mask, kp, _ = _marked_frame(rng, 64, 64, 1)
  boxes = np.array([[5.0, 6.0, 10.0, 8.0]], np.float32)
  record = {'image': image, 'keypoints': kp, 'bbox_head': boxes, 'ignore_mask': mask}
  flip = augment.AugmentParams(flip=True)
  once = augment.transform_frame(record, 64, flip, PERM, normalize=False)
  assert not np.array_equal(once['image'], image)
  np.testing.assert_array_equal(once['image'], image[:, ::-1])
  once['ignore_mask'] = once['ignore_mask'].astype(np.uint8)
  twice = augment.transform_frame(once, 64, flip, PERM, normalize=False)
  np.testing.assert_array_equal(twice['image'], image)
  np.testing.assert_array_equal(twice['ignore_mask'], mask)
  np.testing.assert_allclose(twice['keypoints'], kp, atol=1e-4)
  np.testing.assert_allclose(twice['bbox_head'], boxes, atol=1e-4)
  # One flip mirrors x about the centre and swaps left/right joints.
  np.testing.assert_allclose(once['keypoints'][0, :, 0], 63.0 - kp[0, PERM, 0], atol=1e-4)


def test_letterbox_keeps_aspect_and_inverts():
  m = augment.frame_matrix(40, 80, 64)
  # Extent [-0.5, 79.5] x [-0.5, 39.5] -> [-0.5, 63.5] x [15.5, 47.5] (centred).
  corners = geometry.apply_affine(m, [[-0.5, -0.5], [79.5, 39.5]])
  np.testing.assert_allclose(corners, [[-0.5, 15.5], [63.5, 47.5]], atol=1e-9)
  xy = np.array([[3.0, 7.0], [70.2, 33.3]])
  back = geometry.apply_affine(geometry.invert_affine(m[:2]), geometry.apply_affine(m, xy))
  np.testing.assert_allclose(back, xy, atol=1e-9)
  image = np.full((40, 80, 3), 100, np.uint8)
  out = augment.transform_frame({'image': image, 'keypoints': np.zeros((0, J, 3)),
                                 'bbox_head': np.zeros((0, 4))}, 64, None, PERM, normalize=False)
  assert (out['image'][:15] == 0).all() and (out['image'][49:] == 0).all()
  assert (out['image'][17:47] == 100).all()
  np.testing.assert_allclose(out['transform'], m[:2], atol=1e-6)


def test_joints_leaving_the_image_become_unlabelled():
  kp = np.array([[[2.0, 30.0, 2], [60.0, 30.0, 1], [30.0, 30.0, 0]] + [[30.0, 30.0, 2]] * (J - 3)],
                np.float32)
  m = augment.frame_matrix(64, 64, 64, augment.AugmentParams(translation=(-10.0, 0.0)))
  out = augment.transform_keypoints(kp, m, 64)
  np.testing.assert_array_equal(out[0, :3], [[0, 0, 0], [50, 30, 1], [0, 0, 0]])
  np.testing.assert_allclose(out[0, 3], [20, 30, 2])


def test_head_box_is_hull_of_transformed_box():
  box = np.array([[10.0, 20.0, 8.0, 4.0], [0.0, 0.0, 0.0, 0.0]], np.float32)
  m = augment.frame_matrix(64, 64, 64, augment.AugmentParams(scale=2.0, rotation=90.0))
  out = augment.transform_boxes(box, m)
  corners = geometry.apply_affine(m, [[10, 20], [18, 20], [10, 24], [18, 24]])
  lo, hi = corners.min(0), corners.max(0)
  np.testing.assert_allclose(out[0], [*lo, *(hi - lo)], atol=1e-4)
  np.testing.assert_allclose(out[0, 2:], [8.0, 16.0], atol=1e-4)   # w, h swap, doubled
  np.testing.assert_array_equal(out[1], 0)                          # missing box stays empty


def test_normalize_and_decode():
  rng = np.random.default_rng(6)
  image = rng.integers(0, 256, size=(5, 7, 3)).astype(np.uint8)
  want = (image / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
  np.testing.assert_allclose(augment.normalize_image(image), want, atol=1e-5)
  buf = io.BytesIO()
  Image.fromarray(image).save(buf, format='PNG')
  np.testing.assert_array_equal(augment.decode_image(buf.getvalue()), image)
  with pytest.raises(ValueError, match="'image'"):
    augment.decode_image(np.zeros((4, 4), np.float32))


def test_mask_accepted_as_png_bytes_or_with_channel_axis():
  mask = np.zeros((6, 9), np.uint8)
  mask[1:3, 4:8] = 1
  buf = io.BytesIO()
  Image.fromarray(mask).save(buf, format='PNG')
  np.testing.assert_array_equal(augment.decode_mask(buf.getvalue(), 6, 9), mask)
  np.testing.assert_array_equal(augment.decode_mask(mask[..., None], 6, 9), mask)
  with pytest.raises(ValueError, match="'ignore_mask'"):
    augment.decode_mask(mask, 9, 6)


@pytest.mark.parametrize('seed', [3, 5])
def test_crop_keeps_pixels_under_joints_and_anchor_centres_the_point(seed):
  rng = np.random.default_rng(seed)
  image, mask, kp, colours = _marked_frame(rng, 96, 96, 2)
  record = {'image': image, 'keypoints': kp, 'bbox_head': np.zeros((2, 4)), 'ignore_mask': mask}
  params = augment.AugmentParams(scale=1.1, rotation=12.0, translation=(0.0, 0.0), flip=False)
  point, offset = kp[1, 4, :2], np.array([3.0, -5.0])
  out = augment.transform_frame(record, 96, params, PERM, normalize=False, crop=48,
                                anchor=(point, offset))
  assert out['image'].shape == (48, 48, 3) and out['ignore_mask'].shape == (48, 48)
  # The anchor point lands `offset` from the crop's centre, and stays labelled.
  np.testing.assert_allclose(out['keypoints'][1, 4, :2], 23.5 + offset, atol=1e-4)
  checked = 0
  for k in range(2):
    for j in range(J):
      x, y, v = out['keypoints'][k, j]
      if v == 0:
        # Outside the crop: the transform puts it there.
        xy = augment.apply_affine(out['transform'], kp[k, j, :2])
        assert not np.all((xy >= -0.5) & (xy < 47.5))
        continue
      col, row = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
      np.testing.assert_array_equal(out['image'][row, col], colours[(k, j)])
      assert out['ignore_mask'][row, col] == mask[int(kp[k, j, 1]), int(kp[k, j, 0])]
      checked += 1
  assert 3 <= checked < 2 * J      # some joints in the crop, some outside
  with pytest.raises(ValueError, match='crop 128'):
    augment.transform_frame(record, 96, params, PERM, crop=128)
