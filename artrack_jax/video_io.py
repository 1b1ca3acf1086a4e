"""Reading a user's video (a video file or a folder of frames) and writing rendered results.

Videos are decoded and encoded with imageio's ``pyav`` plugin (FFmpeg through PyAV); frame
folders are read with Pillow in file-name order (natural order, so ``frame_2`` precedes
``frame_10``). Every failure raises ``VideoReadError`` naming the offending file.
"""
from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Iterator

import numpy as np
from PIL import Image

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
DEFAULT_FPS = 25.0


class VideoReadError(ValueError):
  """The input cannot be read as a video or as a folder of frames; the message names it."""


@dataclasses.dataclass(frozen=True)
class VideoSource:
  """An opened input.

  Attributes:
    path: the video file or frame folder.
    frame_paths: the frame files of a folder (empty for a video file).
    fps: frames per second (the container's rate; ``DEFAULT_FPS`` for a folder).
    num_frames: number of frames when known (folders; videos whose container says), else None.
  """
  path: str
  frame_paths: tuple[str, ...]
  fps: float
  num_frames: int | None

  @property
  def is_folder(self) -> bool:
    return bool(self.frame_paths)

  @property
  def name(self) -> str:
    """File stem (video) or folder name: names the output files."""
    base = os.path.basename(os.path.normpath(self.path))
    return base if self.is_folder else os.path.splitext(base)[0]


def _natural_key(name: str):
  return [int(t) if t.isdigit() else t.lower() for t in re.split(r'(\d+)', name)]


def open_video(path: str | os.PathLike, fps: float | None = None) -> VideoSource:
  """Checks that ``path`` is a readable video file or a folder holding image frames.

  Args:
    path: video file (anything FFmpeg decodes) or folder of images (``IMAGE_EXTENSIONS``).
    fps: frame rate of a folder (default ``DEFAULT_FPS``); overrides a video's own rate.

  Raises:
    VideoReadError: missing path, empty folder, or a file without a decodable video stream.
  """
  path = os.fspath(path)
  if not os.path.exists(path):
    raise VideoReadError(f'{path}: no such file or folder')
  if os.path.isdir(path):
    names = sorted((n for n in os.listdir(path)
                    if os.path.splitext(n)[1].lower() in IMAGE_EXTENSIONS), key=_natural_key)
    if not names:
      raise VideoReadError(f'{path}: folder holds no image frames (extensions '
                           f'{", ".join(IMAGE_EXTENSIONS)})')
    return VideoSource(path, tuple(os.path.join(path, n) for n in names),
                       float(fps or DEFAULT_FPS), len(names))
  import imageio.v3 as iio  # pylint: disable=g-import-not-at-top
  try:
    with iio.imopen(path, 'r', plugin='pyav') as video:
      meta = video.metadata()
      num = None
      try:
        num = int(video.properties().shape[0])
      except Exception:  # pylint: disable=broad-except
        # Some containers do not state their length; frames are then counted while reading.
        num = None
  except Exception as e:  # pylint: disable=broad-except
    raise VideoReadError(f'{path}: not a readable video ({type(e).__name__}: {e})') from e
  rate = fps or meta.get('fps') or DEFAULT_FPS
  return VideoSource(path, (), float(rate), num)


def _read_image(path: str) -> np.ndarray:
  try:
    with Image.open(path) as im:
      return np.asarray(im.convert('RGB'))
  except Exception as e:  # pylint: disable=broad-except
    raise VideoReadError(f'{path}: unreadable image ({type(e).__name__}: {e})') from e


def iter_frames(source: VideoSource) -> Iterator[np.ndarray]:
  """Yields the frames, uint8 [H, W, 3] RGB, in order.

  Raises:
    VideoReadError: a frame that cannot be decoded (naming the file), or a video with no frame.
  """
  if source.is_folder:
    for p in source.frame_paths:
      yield _read_image(p)
    return
  import imageio.v3 as iio  # pylint: disable=g-import-not-at-top
  count = 0
  try:
    with iio.imopen(source.path, 'r', plugin='pyav') as video:
      for frame in video.iter(format='rgb24'):
        count += 1
        yield np.asarray(frame)
  except VideoReadError:
    raise
  except Exception as e:  # pylint: disable=broad-except
    raise VideoReadError(f'{source.path}: decoding failed after {count} frames '
                         f'({type(e).__name__}: {e})') from e
  if count == 0:
    raise VideoReadError(f'{source.path}: the video has no frames')


def rgb_frame(frame, what: str) -> np.ndarray:
  """``frame`` as an array, checked to be uint8 [H, W, 3] (RGB).

  Args:
    frame: array-like image.
    what: names the frame in the error, e.g. ``'FramePredictor: frame'``.

  Raises:
    ValueError: '<what> must be uint8 [H, W, 3], got <dtype> <shape>'.
  """
  frame = np.asarray(frame)
  if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] != 3:
    raise ValueError(f'{what} must be uint8 [H, W, 3], got {frame.dtype} {frame.shape}')
  return frame


class VideoWriter:
  """Streams uint8 [H, W, 3] frames into a video file (H.264 in mp4 by default).

  The file is created at the first frame, so a run that fails before any frame leaves none.
  Odd frame sizes are padded by one black row/column (4:2:0 chroma needs even sizes).
  """

  def __init__(self, path: str | os.PathLike, fps: float, codec: str = 'libx264'):
    self.path = os.fspath(path)
    self.fps = float(fps)
    self.codec = codec
    self.count = 0
    self._out = None

  def write(self, frame: np.ndarray) -> None:
    frame = rgb_frame(frame, f'{self.path}: frames')
    h, w = frame.shape[:2]
    if h % 2 or w % 2:
      frame = np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)))
    if self._out is None:
      import imageio.v3 as iio  # pylint: disable=g-import-not-at-top
      self._out = iio.imopen(self.path, 'w', plugin='pyav')
      self._out.init_video_stream(self.codec, fps=self.fps, pixel_format='yuv420p')
      self._shape = frame.shape
    elif frame.shape != self._shape:
      raise ValueError(f'{self.path}: frame {self.count} has shape {frame.shape}, the video '
                       f'{self._shape}')
    self._out.write_frame(frame)
    self.count += 1

  def close(self) -> None:
    if self._out is not None:
      self._out.close()
      self._out = None

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self.close()


def write_video(path: str | os.PathLike, frames: Iterable[np.ndarray], fps: float,
                codec: str = 'libx264') -> int:
  """Encodes uint8 [H, W, 3] frames into a video file; returns the number written."""
  with VideoWriter(path, fps, codec) as writer:
    for frame in frames:
      writer.write(frame)
  return writer.count


def save_image(path: str | os.PathLike, image: np.ndarray) -> None:
  """Writes one uint8 [H, W, 3] image (format from the extension)."""
  Image.fromarray(np.asarray(image, np.uint8)).save(os.fspath(path))


def write_frames(directory: str | os.PathLike, frames: Iterable[np.ndarray],
                 pattern: str = '{:06d}.png') -> list[str]:
  """Writes frames as images ``directory/pattern.format(index)``; returns the paths."""
  directory = os.fspath(directory)
  os.makedirs(directory, exist_ok=True)
  paths = []
  for i, frame in enumerate(frames):
    p = os.path.join(directory, pattern.format(i))
    save_image(p, frame)
    paths.append(p)
  return paths
