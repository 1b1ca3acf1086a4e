"""What the three builders share: the record features and the frame -> record conversion.

One record per frame; the input pipeline reads exactly these keys from the numpy records that
``tfds.data_source`` returns:

```
image          bytes              the image file's bytes, untouched (PoseTrack / COCO JPEG; the
                                  synthetic frames as PNG): ``data.images.decode_image`` -> uint8
                                  [H, W, 3] RGB
image_height   int32
image_width    int32
image_id       int64
sequence       text    (sequence name; '' for COCO)   -> bytes when read back
sequence_index int32   (index of the sequence in its split)
frame_id       int32   (index in the sequence)
num_frames     int32
is_labeled     bool
keypoints      float32 [n, J, 3]  (x, y, v), the builder's skeleton (posetrack: 15; coco: 17)
track_id       int32   [n]
bbox           float32 [n, 4]     (x, y, w, h)
bbox_head      float32 [n, 4]     (x, y, w, h); zeros for COCO
ignore_mask    uint8   [H, W]     1 inside ignore regions / crowd annotations
```

Images are stored as their encoded bytes (``Tensor(shape=(), dtype=object)``, a bytes feature
that ``tfds.data_source`` returns as ``bytes``), not as ``tfds.features.Image`` (decoding that
needs TensorFlow, which this project does not install) and not as pixels: a 1080p PoseTrack
JPEG of ~130 KB is 6 MB of pixels (version 1.0.0 stored zlib-compressed pixels, ~2.4 MB a
frame). The input pipeline decodes them (``data/images.py``). Every image is decoded once while
building, so a corrupt file, or one whose size differs from its annotation's, fails the build
naming it. ``ignore_mask`` stays a zlib-compressed tensor (mostly zeros: a few KB).

Records of a split are written in key order (shuffling disabled), keys being
``sequence_index * 10000 + frame_id``, so PoseTrack-like splits come out ordered by
(sequence_index, frame_id). ``python -m artrack_jax.data.build NAME`` builds a data set ahead
of training, printing its progress (``progress_records`` reports each split's frames).
"""
from __future__ import annotations

import inspect
import os
from collections.abc import Iterable
from typing import Protocol

import numpy as np
import tensorflow_datasets as tfds
from etils import epath
from PIL import Image, ImageDraw

from artrack_jax.data import images
from artrack_jax.data.types import Frame, Sequence

VERSION = tfds.core.Version('2.0.0')
RELEASE_NOTES = {
    '1.0.0': 'First release.',
    '2.0.0': ('Images stored as the encoded file bytes (JPEG untouched; synthetic frames as '
              'lossless PNG) with image_height / image_width, decoded by the input pipeline '
              '(artrack_jax.data.images.decode_image): the same pixels; a JPEG data set is '
              'about the size of its image files (1.0.0: ~18x that).'),
}
MAX_FRAMES_PER_SEQUENCE = 10000


def code_path_property():
  """``code_path`` for our builders: the file defining the class.

  TFDS's default resolves a package through ``importlib_resources``, which is not installed
  here (nor needed: the result for an ordinary package is the same file).
  """
  return tfds.core.utils.classproperty(
      classmethod(lambda cls: epath.Path(inspect.getfile(cls))))


def features(num_joints: int) -> tfds.features.FeaturesDict:
  zlib = tfds.features.Encoding.ZLIB
  return tfds.features.FeaturesDict({
      # A scalar object tensor holds bytes as they are (no text decoding, no TensorFlow).
      'image': tfds.features.Tensor(shape=(), dtype=np.object_),
      'image_height': tfds.features.Scalar(dtype=np.int32),
      'image_width': tfds.features.Scalar(dtype=np.int32),
      'image_id': tfds.features.Scalar(dtype=np.int64),
      'sequence': tfds.features.Text(),
      'sequence_index': tfds.features.Scalar(dtype=np.int32),
      'frame_id': tfds.features.Scalar(dtype=np.int32),
      'num_frames': tfds.features.Scalar(dtype=np.int32),
      'is_labeled': tfds.features.Scalar(dtype=np.bool_),
      'keypoints': tfds.features.Tensor(shape=(None, num_joints, 3), dtype=np.float32),
      'track_id': tfds.features.Tensor(shape=(None,), dtype=np.int32),
      'bbox': tfds.features.Tensor(shape=(None, 4), dtype=np.float32),
      'bbox_head': tfds.features.Tensor(shape=(None, 4), dtype=np.float32),
      'ignore_mask': tfds.features.Tensor(shape=(None, None), dtype=np.uint8, encoding=zlib),
  })


def dataset_info(builder, num_joints: int, description: str, homepage: str = '',
                 citation: str = '') -> tfds.core.DatasetInfo:
  return tfds.core.DatasetInfo(builder=builder, description=description,
                               features=features(num_joints), homepage=homepage,
                               citation=citation, disable_shuffling=True)


def record_key(sequence_index: int, frame_id: int) -> int:
  if not 0 <= frame_id < MAX_FRAMES_PER_SEQUENCE:
    raise ValueError(f'frame_id {frame_id} outside [0, {MAX_FRAMES_PER_SEQUENCE})')
  return sequence_index * MAX_FRAMES_PER_SEQUENCE + frame_id


def rasterize_polygons(polygons, height: int, width: int) -> np.ndarray:
  """[H, W] uint8, 1 inside any polygon ([V, 2] image pixels)."""
  mask = Image.new('L', (width, height), 0)
  draw = ImageDraw.Draw(mask)
  for poly in polygons:
    poly = np.asarray(poly, np.float64).reshape(-1, 2)
    if len(poly) >= 3:
      draw.polygon([tuple(p) for p in poly], fill=1)
  return np.asarray(mask, np.uint8)


def read_image(path: str, where: str | None = None) -> tuple[bytes, np.ndarray]:
  """The image file's bytes, untouched, and its decoded uint8 [H, W, 3] pixels.

  A missing file is an error naming it; a corrupt one an ``images.ImageDecodeError`` naming
  ``where`` (default: the path).
  """
  if not os.path.exists(path):
    raise FileNotFoundError(f'image {path} listed in the annotations does not exist')
  with open(path, 'rb') as f:
    data = f.read()
  return data, images.decode_image(data, where or f'image {path}')


def load_image(path: str) -> np.ndarray:
  """[H, W, 3] uint8 pixels of an image file; a missing file is an error naming it."""
  return read_image(path)[1]


def frame_record(frame: Frame, image: np.ndarray, *, sequence: str, sequence_index: int,
                 num_frames: int, num_joints: int, ignore_mask: np.ndarray | None = None,
                 encoded: bytes | None = None) -> dict:
  """The record of one frame (see the module docstring).

  Args:
    frame: the frame's annotations.
    image: its pixels, uint8 [H, W, 3].
    sequence, sequence_index, num_frames, num_joints: as the record's fields.
    ignore_mask: uint8 [H, W]; default: the frame's ignore regions rasterised.
    encoded: the image file's bytes stored as they are; default: ``image`` encoded as PNG.
  """
  image = np.asarray(image, np.uint8)
  if image.ndim != 3 or image.shape[2] != 3:
    raise ValueError(f'{frame.image_path}: expected an RGB image, got shape {image.shape}')
  h, w = image.shape[:2]
  if frame.width and frame.height and (frame.width, frame.height) != (w, h):
    raise ValueError(f'{frame.image_path}: annotations say {frame.width}x{frame.height}, the '
                     f'image is {w}x{h}')
  people = frame.people
  if ignore_mask is None:
    ignore_mask = rasterize_polygons(frame.ignore_regions, h, w)
  return {
      'image': images.encode_png(image) if encoded is None else bytes(encoded),
      'image_height': np.int32(h),
      'image_width': np.int32(w),
      'image_id': np.int64(frame.image_id),
      'sequence': sequence,
      'sequence_index': np.int32(sequence_index),
      'frame_id': np.int32(frame.frame_id),
      'num_frames': np.int32(num_frames),
      'is_labeled': bool(frame.is_labeled),
      'keypoints': (np.stack([p.keypoints for p in people]).astype(np.float32) if people
                    else np.zeros((0, num_joints, 3), np.float32)),
      'track_id': np.asarray([p.track_id for p in people], np.int32).reshape(-1),
      'bbox': np.asarray([p.bbox for p in people], np.float32).reshape(-1, 4),
      'bbox_head': np.asarray([np.zeros(4) if p.bbox_head is None else p.bbox_head
                               for p in people], np.float32).reshape(-1, 4),
      'ignore_mask': np.asarray(ignore_mask, np.uint8),
  }


def sequence_records(seq: Sequence, sequence_index: int, image_root: str, num_joints: int):
  """Yields (key, record) for every frame of a sequence read from files under image_root."""
  for fr in seq.frames:
    where = f'sequence {seq.name!r} frame {fr.frame_id}: image {fr.image_path}'
    data, image = read_image(os.path.join(image_root, fr.image_path), where)
    yield record_key(sequence_index, fr.frame_id), frame_record(
        fr, image, sequence=seq.name, sequence_index=sequence_index,
        num_frames=len(seq.frames), num_joints=num_joints, encoded=data)


# ------------------------------------------------------------------------------ progress

class ProgressListener(Protocol):
  """What ``progress_records`` reports to (``artrack_jax.data.build`` prints it)."""

  def start_split(self, split: str, total_frames: int) -> None: ...

  def frame(self, split: str, record: dict) -> None: ...

  def end_split(self, split: str) -> None: ...


_listener: ProgressListener | None = None


def set_progress_listener(listener: ProgressListener | None) -> ProgressListener | None:
  """Sets who hears the builders' progress (None: nobody); returns the previous listener."""
  global _listener
  previous, _listener = _listener, listener
  return previous


def progress_records(split: str, total_frames: int, records: Iterable[tuple[int, dict]]):
  """Yields ``records`` ((key, record) pairs) unchanged, reporting each to the listener."""
  listener = _listener
  if listener is not None:
    listener.start_split(split, total_frames)
  for key, record in records:
    yield key, record
    if listener is not None:
      listener.frame(split, record)
  if listener is not None:
    listener.end_split(split)
