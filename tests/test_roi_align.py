"""ROI-Align against a plain NumPy transcription of the Mask R-CNN reference loop."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from artrack_jax.models import roi_align as roi_align_lib

H, W, C, OUT, RATIO = 9, 11, 3, 4, 2


def np_bilinear(feat, y, x):
  """Reference bilinear sample (edge rules of the Mask R-CNN / torchvision CPU kernel)."""
  h, w = feat.shape[:2]
  if y < -1.0 or y > h or x < -1.0 or x > w:
    return np.zeros(feat.shape[-1])
  y, x = max(y, 0.0), max(x, 0.0)
  y_low, x_low = int(y), int(x)
  if y_low >= h - 1:
    y_high = y_low = h - 1
    y = float(y_low)
  else:
    y_high = y_low + 1
  if x_low >= w - 1:
    x_high = x_low = w - 1
    x = float(x_low)
  else:
    x_high = x_low + 1
  ly, lx = y - y_low, x - x_low
  hy, hx = 1.0 - ly, 1.0 - lx
  return (hy * hx * feat[y_low, x_low] + hy * lx * feat[y_low, x_high]
          + ly * hx * feat[y_high, x_low] + ly * lx * feat[y_high, x_high])


def np_roi_align_torchvision_frame(feat, boxes_continuous):
  """Reference loop with ``aligned=True``: boxes in continuous coordinates (pixel centre +0.5)."""
  out = np.zeros((len(boxes_continuous), OUT, OUT, feat.shape[-1]))
  for p, box in enumerate(boxes_continuous):
    x1, y1, x2, y2 = (v - 0.5 for v in box)          # the aligned=True half-pixel shift
    bin_h, bin_w = (y2 - y1) / OUT, (x2 - x1) / OUT
    for ph in range(OUT):
      for pw in range(OUT):
        acc = np.zeros(feat.shape[-1])
        for iy in range(RATIO):
          y = y1 + ph * bin_h + (iy + 0.5) * bin_h / RATIO
          for ix in range(RATIO):
            x = x1 + pw * bin_w + (ix + 0.5) * bin_w / RATIO
            acc += np_bilinear(feat, y, x)
        out[p, ph, pw] = acc / (RATIO * RATIO)
  return out


BOXES = np.array([
    [1.0, 2.0, 7.5, 6.0],        # inside
    [-2.0, -1.5, 3.0, 2.0],      # over the top-left corner
    [8.0, 6.0, 13.0, 12.0],      # over the bottom-right corner
    [20.0, 20.0, 30.0, 30.0],    # entirely outside: zeros
    [4.0, 4.0, 4.0, 4.0],        # degenerate (a padded slot looks like this)
    [0.0, 0.0, 10.0, 8.0],       # the whole map
], np.float32)


@pytest.fixture(scope='module')
def features():
  return np.random.default_rng(0).normal(size=(H, W, C)).astype(np.float32)


@pytest.fixture(scope='module')
def aligned():
  return jax.jit(lambda f, b: roi_align_lib.roi_align(f, b, OUT, RATIO))


def test_matches_reference_loop(features, aligned):
  got = aligned(features, BOXES)
  # Our boxes have pixel centres at integers: the reference sees them shifted by +0.5.
  expected = np_roi_align_torchvision_frame(features.astype(np.float64), BOXES + 0.5)
  assert got.shape == (len(BOXES), OUT, OUT, C)
  np.testing.assert_allclose(got, expected, atol=1e-5)
  assert np.all(np.asarray(got[3]) == 0)


def test_integer_box_reads_pixel_centres(features):
  """A 1x1-bin box from pixel centre (x=j, y=i) to the next one samples their average."""
  box = np.array([[3.0, 2.0, 5.0, 4.0]], np.float32)
  got = roi_align_lib.roi_align(features, box, output_size=1, sampling_ratio=1)
  # One sample at the box centre (4, 3): exactly pixel (row 3, col 4).
  np.testing.assert_allclose(got[0, 0, 0], features[3, 4], atol=1e-6)


def test_batched_equals_per_image(features):
  feats = np.stack([features, -2.0 * features])
  boxes = np.stack([BOXES, BOXES[::-1].copy()])
  got = roi_align_lib.batched_roi_align(feats, boxes, OUT, RATIO)
  for b in range(2):
    np.testing.assert_allclose(got[b], roi_align_lib.roi_align(feats[b], boxes[b], OUT, RATIO),
                               atol=1e-6)


def test_gradients_finite_and_local(features):
  """Gradients reach only the pixels a box samples, and are finite for every box."""
  grad = jax.jit(jax.grad(lambda f, b: roi_align_lib.roi_align(f, b, OUT, RATIO).sum(),
                          argnums=(0, 1)))
  g_feat, g_box = grad(jnp.asarray(features), jnp.asarray(BOXES[:1]))
  assert np.all(np.isfinite(g_feat)) and np.all(np.isfinite(g_box))
  touched = np.abs(np.asarray(g_feat)).sum(-1) > 0
  rows, cols = np.nonzero(touched)
  assert rows.min() >= 2 and rows.max() <= 6 and cols.min() >= 1 and cols.max() <= 8
  # The total weight of a box fully inside the map is one per output bin.
  np.testing.assert_allclose(np.asarray(g_feat).sum(), OUT * OUT * C, rtol=1e-5)


def test_bad_shapes_raise(features):
  with pytest.raises(ValueError, match='boxes must be'):
    roi_align_lib.roi_align(features, BOXES[:, :3])
  with pytest.raises(ValueError, match='features must be'):
    roi_align_lib.roi_align(features[None], BOXES)
