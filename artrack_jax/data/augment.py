"""Geometric augmentation and letterboxing of frames (image, joints, head boxes, ignore mask).

Every frame goes through one affine map ``M`` (a 3x3 matrix acting on homogeneous ``(x, y, 1)``)
from original image pixels to network input pixels, both with pixel ``(row i, col j)`` centred at
``(x=j, y=i)``:

    M = T(c + t) . R(theta) . S(s) . T(-c) . F . L

* ``L`` letterboxes the frame into the ``size x size`` square: uniform scale
  ``size / max(H, W)``, centred, so the aspect ratio is kept.
* ``F`` (optional) mirrors the square about its vertical centre line; joints then also swap
  left/right (``Skeleton.flip_permutation``).
* ``S``, ``R``, ``T`` are the random scale, rotation and translation about the square's centre
  ``c = ((size - 1) / 2, (size - 1) / 2)``.

Evaluation uses ``M = L``. The pipeline stores ``M[:2]`` as ``example['transform']`` so that
predictions can be mapped back with ``geometry.apply_affine(geometry.invert_affine(transform), xy)``.

Both frames of a TemporalNet pair get the same ``M``: the camera motion between the frames stays
in the data, as it does at test time.

Images are warped with PIL's bilinear affine warp (after an antialiasing box reduction when the
map shrinks the image by 2x or more); the ignore mask with nearest-neighbour sampling, so it stays
exactly binary. No OpenCV.
"""
from __future__ import annotations

import dataclasses
import io
from typing import Any, Mapping

import numpy as np
from PIL import Image

from artrack_jax.data import images
from artrack_jax.geometry import apply_affine

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32) * 255.0
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32) * 255.0


@dataclasses.dataclass(frozen=True)
class AugmentParams:
  """One draw of the random augmentation.

  Attributes:
    scale: zoom factor (> 1 enlarges people).
    rotation: degrees.
    translation: (tx, ty) shift in input pixels.
    flip: mirror horizontally (and swap left/right joints).
  """
  scale: float = 1.0
  rotation: float = 0.0
  translation: tuple[float, float] = (0.0, 0.0)
  flip: bool = False


def sample_params(rng: np.random.Generator, augment_config: Mapping[str, Any],
                  size: int) -> AugmentParams:
  """Draws augmentation parameters from ``config.data.augment``.

  Keys: ``scale_min``, ``scale_max`` (uniform scale), ``rotation`` (uniform in +-degrees),
  ``translation`` (uniform in +- this fraction of ``size``, per axis), ``flip`` (probability).
  """
  scale = rng.uniform(augment_config['scale_min'], augment_config['scale_max'])
  rotation = rng.uniform(-1.0, 1.0) * augment_config['rotation']
  tx, ty = rng.uniform(-1.0, 1.0, size=2) * augment_config['translation'] * size
  flip = bool(rng.uniform() < augment_config['flip'])
  return AugmentParams(float(scale), float(rotation), (float(tx), float(ty)), flip)


def letterbox_matrix(height: int, width: int, size: int) -> np.ndarray:
  """[3, 3] map from an ``height x width`` frame into the centred ``size x size`` square."""
  s = size / max(height, width)
  # Pixel centres: the frame's extent [-0.5, W - 0.5] maps to a centred span of length s W.
  tx = (size - s * width) / 2.0 + 0.5 * s - 0.5
  ty = (size - s * height) / 2.0 + 0.5 * s - 0.5
  return np.array([[s, 0.0, tx], [0.0, s, ty], [0.0, 0.0, 1.0]])


def augmentation_matrix(params: AugmentParams, size: int) -> np.ndarray:
  """[3, 3] ``T(c + t) R S T(-c) F`` acting inside the ``size x size`` square."""
  c = (size - 1) / 2.0
  flip = np.array([[-1.0, 0.0, 2 * c], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) if params.flip \
      else np.eye(3)
  theta = np.deg2rad(params.rotation)
  cos, sin = np.cos(theta) * params.scale, np.sin(theta) * params.scale
  tx, ty = params.translation
  rotate_scale = np.array([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]])
  to_origin = np.array([[1.0, 0.0, -c], [0.0, 1.0, -c], [0.0, 0.0, 1.0]])
  back = np.array([[1.0, 0.0, c + tx], [0.0, 1.0, c + ty], [0.0, 0.0, 1.0]])
  return back @ rotate_scale @ to_origin @ flip


def frame_matrix(height: int, width: int, size: int,
                 params: AugmentParams | None = None) -> np.ndarray:
  """[3, 3] original pixels -> input pixels (letterbox, then augmentation when given)."""
  m = letterbox_matrix(height, width, size)
  if params is not None:
    m = augmentation_matrix(params, size) @ m
  return m


def _pil_coefficients(inverse: np.ndarray) -> tuple[float, ...]:
  """PIL's AFFINE data for an output->input map in pixel-centre coordinates.

  PIL puts pixel centres at +0.5, so ``in_pil = A out_pil + (b + 0.5 - A [0.5, 0.5])``.
  """
  a = inverse[:2, :2]
  b = inverse[:2, 2] + 0.5 - a @ np.array([0.5, 0.5])
  return (a[0, 0], a[0, 1], b[0], a[1, 0], a[1, 1], b[1])


def decode_image(image: Any, where: str = 'image') -> np.ndarray:
  """uint8 [H, W, 3] from an array or encoded bytes: ``images.decode_image``."""
  return images.decode_image(image, f"field '{where}'")


def decode_mask(mask: Any, height: int, width: int, where: str = 'ignore_mask') -> np.ndarray:
  """uint8 [H, W] from an array ([H, W] or [H, W, 1], as TFDS image features give it) or
  encoded single-channel image bytes; its size must match the frame's."""
  if isinstance(mask, (bytes, bytearray, np.bytes_)):
    with Image.open(io.BytesIO(bytes(mask))) as im:
      mask = np.asarray(im.convert('L'))
  array = np.asarray(mask)
  if array.ndim == 3 and array.shape[-1] == 1:
    array = array[..., 0]
  if array.shape != (height, width):
    raise ValueError(f"field '{where}' has shape {array.shape}, the image is {(height, width)}")
  return array.astype(np.uint8)


def warp_image(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
  """Bilinear warp of uint8 [H, W, 3] by ``matrix`` (original -> input) into [size, size, 3].

  When the map shrinks the image by a factor k >= 2, the image is first box-reduced by k (an
  antialiasing filter the plain bilinear warp lacks) and the matrix adjusted to match.
  """
  m = np.asarray(matrix, np.float64)
  m = np.vstack([m[:2], [0.0, 0.0, 1.0]])
  im = Image.fromarray(image)
  shrink = np.sqrt(abs(np.linalg.det(m[:2, :2])))
  k = int(np.floor(1.0 / shrink)) if shrink > 0 else 1
  if k >= 2:
    im = im.reduce(k)
    # Reduced pixel i averages original pixels k i .. k i + k - 1: centre k i + (k - 1) / 2.
    m = m @ np.array([[k, 0.0, (k - 1) / 2.0], [0.0, k, (k - 1) / 2.0], [0.0, 0.0, 1.0]])
  out = im.transform((size, size), Image.Transform.AFFINE, _pil_coefficients(np.linalg.inv(m)),
                     resample=Image.Resampling.BILINEAR, fillcolor=(0, 0, 0))
  return np.asarray(out)


def warp_mask(mask: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
  """Nearest-neighbour warp of a uint8 [H, W] mask into [size, size] (outside -> 0)."""
  m = np.vstack([np.asarray(matrix, np.float64)[:2], [0.0, 0.0, 1.0]])
  im = Image.fromarray(np.asarray(mask, np.uint8))
  out = im.transform((size, size), Image.Transform.AFFINE, _pil_coefficients(np.linalg.inv(m)),
                     resample=Image.Resampling.NEAREST, fillcolor=0)
  return np.asarray(out)


def transform_keypoints(keypoints: np.ndarray, matrix: np.ndarray, size: int,
                        flip_permutation: np.ndarray | None = None) -> np.ndarray:
  """Maps keypoints [n, J, 3] (x, y, v); joints leaving the square become unlabelled (v = 0).

  Args:
    keypoints: [n, J, 3] original pixels.
    matrix: original -> input map.
    size: input square size; a joint is kept while it lies in ``[-0.5, size - 0.5)``.
    flip_permutation: [J] when the map mirrors the image: joint j takes the (transformed)
      joint ``perm[j]``, so a mirrored left wrist is labelled as the right wrist.

  Returns:
    [n, J, 3] float32; unlabelled joints are zero.
  """
  kp = np.asarray(keypoints, np.float32)
  xy = apply_affine(matrix, kp[..., :2])
  v = kp[..., 2]
  inside = np.all((xy >= -0.5) & (xy < size - 0.5), axis=-1)
  v = np.where(inside & (v > 0), v, 0.0)
  out = np.concatenate([xy, v[..., None]], axis=-1)
  out = np.where(v[..., None] > 0, out, 0.0).astype(np.float32)
  if flip_permutation is not None:
    out = out[:, np.asarray(flip_permutation)]
  return out


def transform_boxes(boxes: np.ndarray, matrix: np.ndarray) -> np.ndarray:
  """Boxes [n, 4] (x, y, w, h) -> the axis-aligned hull of each transformed box.

  Boxes with no area (missing head boxes are stored as zeros) stay zero.
  """
  b = np.asarray(boxes, np.float32).reshape(-1, 4)
  x0, y0, x1, y1 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
  corners = np.stack([np.stack([x0, y0], -1), np.stack([x1, y0], -1),
                      np.stack([x0, y1], -1), np.stack([x1, y1], -1)], axis=1)   # [n, 4, 2]
  t = apply_affine(matrix, corners)
  lo, hi = t.min(axis=1), t.max(axis=1)
  out = np.concatenate([lo, hi - lo], axis=-1)
  has_area = (b[:, 2] > 0) & (b[:, 3] > 0)
  return np.where(has_area[:, None], out, 0.0).astype(np.float32)


def normalize_image(image: np.ndarray) -> np.ndarray:
  """uint8 [H, W, 3] -> float32 normalised with the ImageNet mean/std."""
  return (np.asarray(image, np.float32) - IMAGENET_MEAN) / IMAGENET_STD


def crop_matrix(size: int, crop: int) -> np.ndarray:
  """[3, 3] map from the ``size`` square onto its centred ``crop x crop`` window."""
  offset = (size - crop) / 2.0
  return np.array([[1.0, 0.0, -offset], [0.0, 1.0, -offset], [0.0, 0.0, 1.0]])


def anchored(params: AugmentParams, height: int, width: int, size: int,
             point: np.ndarray, offset: np.ndarray) -> AugmentParams:
  """``params`` with the translation that puts ``point`` (original pixels) at ``offset``
  from the square's centre: a crop of the centre then shows that point."""
  m = frame_matrix(height, width, size, dataclasses.replace(params, translation=(0.0, 0.0)))
  c = (size - 1) / 2.0
  t = c + np.asarray(offset, np.float64) - apply_affine(m, np.asarray(point, np.float64))
  return dataclasses.replace(params, translation=(float(t[0]), float(t[1])))


def transform_frame(record: Mapping[str, Any], size: int, params: AugmentParams | None,
                    flip_permutation: np.ndarray, normalize: bool = True,
                    crop: int | None = None,
                    anchor: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, Any]:
  """Letterboxes (and augments) one frame record.

  Args:
    record: frame record (docs/design.md data records): ``image`` uint8 [H, W, 3] or encoded
      bytes, ``keypoints [n, J, 3]``, ``bbox_head [n, 4]``, optionally ``bbox [n, 4]`` and
      ``ignore_mask [H, W]`` (or [H, W, 1], or encoded bytes).
    size: input square size.
    params: augmentation draw; ``None`` for evaluation (letterbox only).
    flip_permutation: the skeleton's left/right swap, used when ``params.flip``.
    normalize: return the image normalised float32 (else the warped uint8).
    crop: training on crops: the output is the centred ``crop x crop`` window of the
      (augmented) ``size`` square, so the random translation chooses where the crop falls and
      people keep the scale they have at test time. None: the whole square.
    anchor: ``(point, offset)``: replaces the translation of ``params`` so that ``point``
      (original pixels) lands ``offset`` input pixels from the square's centre
      (:func:`anchored`); the pipeline centres training crops on people this way.

  Returns:
    dict with ``image [crop, crop, 3]`` (``crop`` = ``size`` when None), ``keypoints``, ``bbox_head``, ``bbox`` (when given),
    ``ignore_mask [size, size]`` float32 and ``transform [2, 3]`` float32 (original -> input).
  """
  image = images.decode_image(record['image'],
                              f"field 'image' of {images.describe_record(record)}")
  height, width = image.shape[:2]
  if anchor is not None and params is not None:
    params = anchored(params, height, width, size, *anchor)
  m = frame_matrix(height, width, size, params)
  if crop is not None and crop != size:
    if not 0 < crop <= size:
      raise ValueError(f'crop {crop} must be in (0, {size}]')
    m = crop_matrix(size, crop) @ m
    size = crop
  flip = params is not None and params.flip
  out = {
      'image': warp_image(image, m, size),
      'keypoints': transform_keypoints(record['keypoints'], m, size,
                                       flip_permutation if flip else None),
      'bbox_head': transform_boxes(record['bbox_head'], m),
      'transform': m[:2].astype(np.float32),
  }
  if normalize:
    out['image'] = normalize_image(out['image'])
  if 'bbox' in record:
    out['bbox'] = transform_boxes(record['bbox'], m)
  if 'ignore_mask' in record and record['ignore_mask'] is not None:
    mask = decode_mask(record['ignore_mask'], height, width)
    out['ignore_mask'] = warp_mask(mask, m, size).astype(np.float32)
  else:
    out['ignore_mask'] = np.zeros((size, size), np.float32)
  return out
