"""ROI-Align (He et al., Mask R-CNN) in JAX, for the Human Embedding branch (Sec. 3.3.1).

Semantics are those of the Mask R-CNN reference with ``aligned=True`` (torchvision
``roi_align(..., aligned=True)``): each of the ``output_size x output_size`` bins averages a fixed
``sampling_ratio x sampling_ratio`` grid of bilinear samples, with no rounding of box or bin
edges and no minimum box size.

Coordinates: our boxes are in output pixels where pixel (i, j) has its centre at (x=j, y=i).
torchvision's ``aligned=True`` subtracts half a pixel from boxes given in continuous coordinates
(pixel centre at j + 0.5) to reach exactly this frame, so no offset is applied here: a box
``b`` here samples the same points as torchvision ``aligned=True`` with ``b + 0.5``.

A sample more than one pixel outside the map contributes zero (it still counts in the bin's
average, as in the reference); samples in the outer half-pixel border are clamped to the edge.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def _sample_positions(start, end, output_size, sampling_ratio):
  """[P] box edges -> [P, output_size * sampling_ratio] sample coordinates along one axis."""
  bin_size = (end - start) / output_size                               # [P]
  steps = (jnp.arange(output_size * sampling_ratio, dtype=start.dtype) + 0.5) / sampling_ratio
  return start[:, None] + steps[None, :] * bin_size[:, None]


def _bilinear_taps(coord, size):
  """Neighbouring indices and weights of 1-D bilinear interpolation (reference edge rules).

  Args:
    coord: [...] sample coordinates along an axis of ``size`` pixels.

  Returns:
    (low, high, w_low, w_high): int32 indices and weights, weights zero when the sample
    lies more than one pixel outside the map.
  """
  inside = (coord >= -1.0) & (coord <= size)
  coord = jnp.clip(coord, 0.0, None)
  low = jnp.floor(coord)
  at_edge = low >= size - 1
  low = jnp.where(at_edge, size - 1, low)
  coord = jnp.where(at_edge, low, coord)
  high = jnp.where(at_edge, low, low + 1)
  frac = coord - low
  w_low = jnp.where(inside, 1.0 - frac, 0.0)
  w_high = jnp.where(inside, frac, 0.0)
  return low.astype(jnp.int32), high.astype(jnp.int32), w_low, w_high


def roi_align(features, boxes, output_size: int = 7, sampling_ratio: int = 2):
  """Bilinear ROI-Align of ``P`` boxes on one feature map.

  Args:
    features: [h, w, C] feature map.
    boxes: [P, 4] (x1, y1, x2, y2) in feature pixels (pixel (i, j) centred at (x=j, y=i)).
      Padded boxes are computed like any other box; the caller masks their results.
    output_size: bins per side.
    sampling_ratio: bilinear samples per bin side (fixed, so shapes are static).

  Returns:
    [P, output_size, output_size, C] in the dtype of ``features``. Use ``jax.vmap`` over a
    leading batch axis of both arguments for a batch.
  """
  if features.ndim != 3:
    raise ValueError(f'roi_align: features must be [h, w, C], got shape {features.shape}')
  if boxes.ndim != 2 or boxes.shape[-1] != 4:
    raise ValueError(f'roi_align: boxes must be [P, 4] (x1, y1, x2, y2), got {boxes.shape}')
  h, w, c = features.shape
  p = boxes.shape[0]
  n = output_size * sampling_ratio
  boxes = boxes.astype(jnp.float32)
  ys = _sample_positions(boxes[:, 1], boxes[:, 3], output_size, sampling_ratio)   # [P, n]
  xs = _sample_positions(boxes[:, 0], boxes[:, 2], output_size, sampling_ratio)   # [P, n]
  y0, y1, wy0, wy1 = _bilinear_taps(ys, h)
  x0, x1, wx0, wx1 = _bilinear_taps(xs, w)
  flat = features.reshape(h * w, c)

  def gather(yi, xi):
    # [P, n, n] flat indices -> [P, n, n, C]; the separable grid needs only outer sums.
    index = yi[:, :, None] * w + xi[:, None, :]
    return jnp.take(flat, index.reshape(-1), axis=0).reshape(p, n, n, c)

  def weight(wy, wx):
    return (wy[:, :, None] * wx[:, None, :])[..., None].astype(features.dtype)

  samples = (gather(y0, x0) * weight(wy0, wx0) + gather(y0, x1) * weight(wy0, wx1)
             + gather(y1, x0) * weight(wy1, wx0) + gather(y1, x1) * weight(wy1, wx1))
  samples = samples.reshape(p, output_size, sampling_ratio, output_size, sampling_ratio, c)
  return samples.mean(axis=(2, 4))


def batched_roi_align(features, boxes, output_size: int = 7, sampling_ratio: int = 2):
  """``roi_align`` over a batch: features [B, h, w, C], boxes [B, P, 4] -> [B, P, o, o, C]."""
  return jax.vmap(lambda f, b: roi_align(f, b, output_size, sampling_ratio))(features, boxes)
