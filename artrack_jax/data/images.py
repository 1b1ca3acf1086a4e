"""A record's image: stored as the data set's own encoded bytes, decoded here.

The TFDS builders (``data/tfds_builders``) store each frame as the image file's bytes,
untouched (PoseTrack / COCO JPEGs; the synthetic frames as lossless PNG), and
``decode_image`` is the one place they become pixels: the input pipeline
(``augment.transform_frame``), the evaluation's frame predictor and the figures all call it.
In-memory records (tests, ``pipeline.records_from_sequences``) may hold the uint8 array
itself, which passes through unchanged.

Decoding: JPEG with ``simplejpeg`` when it is importable (libjpeg-turbo like Pillow, the same
pixels, about 1.4x Pillow's rate on a 1080p frame: ``benchmarks/bench_image_decode.py``),
otherwise, and for every other format, Pillow (the declared dependency). Grayscale, palette,
RGBA / LA (alpha dropped, not composited) and CMYK images become RGB as Pillow's
``convert('RGB')`` makes them; EXIF orientation is not applied (annotations are in the stored
pixel grid), exactly as the builders read images before they stored bytes.
"""
from __future__ import annotations

import io
from typing import Any, Mapping

import numpy as np
from PIL import Image

try:  # optional: faster JPEG decoding, same pixels (see the module docstring)
  import simplejpeg  # pylint: disable=g-import-not-at-top
except ImportError:  # pragma: no cover - depends on the environment
  simplejpeg = None

JPEG_MAGIC = b'\xff\xd8\xff'
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


class ImageDecodeError(ValueError):
  """Encoded image bytes that cannot be decoded (corrupt, truncated, unknown format)."""


def describe_record(record: Mapping[str, Any]) -> str:
  """Names a record by what it holds: "sequence 'x' frame 3 (image_id 12)" / "image_id 12"."""
  parts = []
  sequence = record.get('sequence')
  if sequence is not None:
    sequence = np.asarray(sequence).item() if isinstance(sequence, np.ndarray) else sequence
    sequence = sequence.decode('utf-8', 'replace') if isinstance(sequence, bytes) else str(sequence)
  if sequence:
    parts.append(f'sequence {sequence!r}')
  if 'frame_id' in record and sequence:
    parts.append(f"frame {int(np.asarray(record['frame_id']).item())}")
  if 'image_id' in record:
    image_id = f"image_id {int(np.asarray(record['image_id']).item())}"
    parts.append(f'({image_id})' if parts else image_id)
  return ' '.join(parts) or 'record'


def image_format(data: bytes) -> str:
  """'jpeg', 'png' or 'other' from the first bytes."""
  if data.startswith(JPEG_MAGIC):
    return 'jpeg'
  if data.startswith(PNG_MAGIC):
    return 'png'
  return 'other'


def decode_pillow(data: bytes) -> np.ndarray:
  """uint8 [H, W, 3] through Pillow (any format Pillow reads), converted to RGB."""
  with Image.open(io.BytesIO(data)) as im:
    im.load()
    if im.mode != 'RGB':
      im = im.convert('RGB')
    return np.asarray(im)


def _decode_simplejpeg(data: bytes) -> np.ndarray | None:
  """uint8 [H, W, 3] through simplejpeg, or None where Pillow decodes instead.

  Only YCbCr and grayscale JPEGs, whose pixels simplejpeg gives exactly as Pillow does (its
  CMYK -> RGB conversion differs from Pillow's by 1 level). Any error (corrupt data; also the
  recoverable ones ``strict`` raises, which Pillow tolerates) falls back to Pillow, so what
  decodes, and the error where nothing does, are Pillow's.
  """
  if simplejpeg is None:
    return None
  try:
    if simplejpeg.decode_jpeg_header(data)[2] not in ('YCbCr', 'Gray'):
      return None
    return simplejpeg.decode_jpeg(data, colorspace='RGB')
  except (ValueError, RuntimeError):
    return None


def decode_image(data: Any, where: str = 'image') -> np.ndarray:
  """uint8 [H, W, 3] RGB pixels of a record's image.

  Args:
    data: the encoded image file's bytes (JPEG, PNG or anything Pillow reads; ``bytes``,
      ``np.bytes_`` or a 0-d object array holding them), or an uint8 [H, W, 3] array, returned
      as it is.
    where: names the image in errors, e.g. ``describe_record(record)``.

  Raises:
    ImageDecodeError (a ValueError): bytes that do not decode, naming ``where``.
    ValueError: an array that is not uint8 [H, W, 3].
  """
  if isinstance(data, np.ndarray) and data.dtype == object and data.ndim == 0:
    data = data.item()
  if isinstance(data, (bytes, bytearray, memoryview, np.bytes_)):
    data = bytes(data)
    image = None
    if image_format(data) == 'jpeg':
      image = _decode_simplejpeg(data)
    if image is None:
      try:
        image = decode_pillow(data)
      except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        # UnidentifiedImageError and "image file is truncated" are OSErrors.
        raise ImageDecodeError(
            f'{where}: cannot decode the image ({len(data)} bytes, {image_format(data)}, '
            f'starting {data[:8]!r}): {e}') from e
    if image.ndim != 3 or image.shape[-1] != 3 or image.dtype != np.uint8:
      raise ImageDecodeError(f'{where}: decoded to {image.dtype} {image.shape}, not uint8 RGB')
    return image
  array = np.asarray(data)
  if array.dtype != np.uint8 or array.ndim != 3 or array.shape[-1] != 3:
    raise ValueError(f'{where} must be uint8 [H, W, 3] or encoded image bytes, '
                     f'got {array.dtype} {array.shape}')
  return array


def encode_png(image: np.ndarray) -> bytes:
  """Lossless PNG bytes of uint8 [H, W, 3] pixels (``decode_image`` gives them back exactly).

  zlib level 1: on a 256-px synthetic frame 11.5 ms to encode and 2.7 ms to decode, 120 KB,
  against 33 ms / 4.3 ms / 105 KB at Pillow's default level 6 (2-core EPYC, under load).
  """
  buf = io.BytesIO()
  Image.fromarray(np.asarray(image, np.uint8)).save(buf, format='PNG', compress_level=1)
  return buf.getvalue()
