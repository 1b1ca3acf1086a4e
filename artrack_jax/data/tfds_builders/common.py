"""What the three builders share: the record features and the frame -> record conversion.

One record per frame; the input pipeline reads exactly these keys from the numpy records that
``tfds.data_source`` returns:

```
image          uint8   [H, W, 3]
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

Images are stored as zlib-compressed uint8 tensors, not ``tfds.features.Image``: decoding an
``Image`` feature needs TensorFlow, which this project does not install. Records of a split
are written in key order (shuffling disabled), keys being ``sequence_index * 10000 +
frame_id``, so PoseTrack-like splits come out ordered by (sequence_index, frame_id).
"""
from __future__ import annotations

import inspect
import os

import numpy as np
import tensorflow_datasets as tfds
from etils import epath
from PIL import Image, ImageDraw

from artrack_jax.data.types import Frame, Sequence

VERSION = tfds.core.Version('1.0.0')
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
      'image': tfds.features.Tensor(shape=(None, None, 3), dtype=np.uint8, encoding=zlib),
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


def load_image(path: str) -> np.ndarray:
  """[H, W, 3] uint8; a missing file is an error naming it."""
  if not os.path.exists(path):
    raise FileNotFoundError(f'image {path} listed in the annotations does not exist')
  with Image.open(path) as im:
    return np.asarray(im.convert('RGB'), np.uint8)


def frame_record(frame: Frame, image: np.ndarray, *, sequence: str, sequence_index: int,
                 num_frames: int, num_joints: int,
                 ignore_mask: np.ndarray | None = None) -> dict:
  """The record of one frame (see the module docstring)."""
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
      'image': image,
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
    image = load_image(os.path.join(image_root, fr.image_path))
    yield record_key(sequence_index, fr.frame_id), frame_record(
        fr, image, sequence=seq.name, sequence_index=sequence_index,
        num_frames=len(seq.frames), num_joints=num_joints)
