"""Coordinates: the pixel-centre convention, affines, and vector field -> instance embedding.

Input pixels and output pixels both put pixel ``(row i, col j)``'s centre at ``(x=j, y=i)``
(docs/design.md). An output pixel covers a ``stride x stride`` block of input pixels, so the two
frames are related by ``x_out = (x_in + 0.5) / stride - 0.5`` (``input_to_output``); the image
extent ``[-0.5, W - 0.5]`` maps onto ``[-0.5, w - 0.5]``.

Affines are [2, 3] or [3, 3] matrices ``[A | t]`` (x' = A x + t) and are always the first
argument: ``apply_affine(matrix, xy)``.

SpatialNet's SVF at a joint is ``joint - centre`` and TemporalNet's TVF is ``joint(t) -
centre(t')``, so both become instance embeddings the same way: ``SIE = p - SVF`` (Sec. 3.1.2)
and ``TIE = p - TVF`` (Sec. 3.3.2), ``p`` the pixel's own position (``instance_embedding``).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np


def pixel_grid(h: int, w: int, dtype=jnp.float32, xp=jnp):
  """[h, w, 2] (x, y) of each pixel centre: pixel (i, j) -> (x=j, y=i).

  ``xp`` is the array namespace (``jax.numpy`` inside jitted code, ``numpy`` on the host).
  """
  ys, xs = xp.meshgrid(xp.arange(h, dtype=dtype), xp.arange(w, dtype=dtype), indexing='ij')
  return xp.stack([xs, ys], axis=-1)


def instance_embedding(field):
  """Instance embedding of a vector field: ``p - field`` (SIE = p - SVF, TIE = p - TVF).

  Args:
    field: [..., h, w, 2] (x, y) output pixels; a NumPy array gives a NumPy array, anything
      else a JAX array.

  Returns:
    [..., h, w, 2] output pixels: the centre each pixel's vector points back to.
  """
  xp = np if isinstance(field, np.ndarray) else jnp
  h, w = field.shape[-3], field.shape[-2]
  return pixel_grid(h, w, field.dtype, xp) - field


def input_to_output(xy: np.ndarray, stride: float | np.ndarray) -> np.ndarray:
  """Input-pixel coordinates [..., 2] -> output-pixel coordinates (pixel centres aligned)."""
  return (np.asarray(xy, np.float32) + 0.5) / np.asarray(stride, np.float32) - 0.5


def output_to_input(xy: np.ndarray, stride: float | np.ndarray) -> np.ndarray:
  """Output-pixel coordinates [..., 2] -> input-pixel coordinates (inverse of the above)."""
  return (np.asarray(xy, np.float32) + 0.5) * np.asarray(stride, np.float32) - 0.5


def invert_affine(matrix: np.ndarray) -> np.ndarray:
  """Inverse of a [2, 3] or [3, 3] affine map, returned in the same shape."""
  m = np.asarray(matrix, np.float64)
  if m.shape not in ((2, 3), (3, 3)):
    raise ValueError(f'expected a [2, 3] or [3, 3] affine matrix, got shape {m.shape}')
  inv = np.linalg.inv(np.vstack([m[:2], [0.0, 0.0, 1.0]]))
  return inv[:2] if m.shape[0] == 2 else inv


def apply_affine(matrix: np.ndarray, xy: np.ndarray) -> np.ndarray:
  """Applies a [2, 3] or [3, 3] affine map to points [..., 2] (float64)."""
  m = np.asarray(matrix, np.float64)
  xy = np.asarray(xy, np.float64)
  return xy @ m[:2, :2].T + m[:2, 2]


def output_to_image_matrix(image_to_input: np.ndarray, stride: float) -> np.ndarray:
  """[2, 3] affine: output-map pixels -> original image pixels.

  The matrix form of ``output_to_input`` followed by the inverse of the image's letterbox.

  Args:
    image_to_input: [2, 3] or [3, 3] affine from original image pixels to network input pixels
      (``augment.frame_matrix``; the pipeline's ``transform``).
    stride: input pixels per output pixel.

  Returns:
    [2, 3] float64 affine (``apply_affine(m, xy)``).
  """
  m = np.asarray(image_to_input, np.float64)
  if m.shape not in ((2, 3), (3, 3)):
    raise ValueError(f'image_to_input must be a [2, 3] or [3, 3] affine, got shape {m.shape}')
  # x_in = (x_out + 0.5) * stride - 0.5 (pixel centres aligned, as output_to_input).
  out_to_in = np.array([[stride, 0.0, 0.5 * stride - 0.5], [0.0, stride, 0.5 * stride - 0.5],
                        [0.0, 0.0, 1.0]])
  in_to_image = np.linalg.inv(np.vstack([m[:2], [0.0, 0.0, 1.0]]))
  return (in_to_image @ out_to_in)[:2]


def sample_at_joints(maps: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
  """Values of ``maps`` [h, w, C] at the nearest pixels of ``keypoints`` [J, >=2] -> [J, C].

  Coordinates outside the map are clamped to its border.
  """
  maps = np.asarray(maps)
  h, w = maps.shape[:2]
  x = np.clip(np.round(keypoints[:, 0]).astype(np.int64), 0, w - 1)
  y = np.clip(np.round(keypoints[:, 1]).astype(np.int64), 0, h - 1)
  return maps[y, x]
