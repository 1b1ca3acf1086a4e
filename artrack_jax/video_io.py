"""Reading a user's video (a video file or a folder of frames) and writing rendered results.

Videos are decoded with PyAV (FFmpeg) and encoded with imageio's ``pyav`` plugin; frame
folders are read with Pillow in file-name order (natural order, so ``frame_2`` precedes
``frame_10``). Every failure raises ``VideoReadError`` naming the offending file.

``read_frames`` reads a selection of frames (``start``, ``end``, ``every``) and records in a
``ReadReport`` what it met: bad frames it skipped (``skip_bad``), frames FFmpeg flagged as
damaged, packets the decoder rejected.
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


@dataclasses.dataclass
class ReadReport:
  """What ``read_frames`` met in the frames it read.

  Attributes:
    frames: frames yielded.
    skipped: (frame index, reason) of the bad frames skipped (``skip_bad``).
    damaged: indices of yielded frames FFmpeg flagged as corrupt: PyAV's
      ``VideoFrame.is_corrupt``, i.e. ``AV_FRAME_FLAG_CORRUPT`` or non-zero
      ``decode_error_flags`` (which include ``FF_DECODE_ERROR_CONCEALMENT_ACTIVE``: the decoder
      filled in part of the picture). Always empty for a folder of frames.
    rejected_packets: packets the decoder refused (``avcodec_send_packet`` errors). No frame
      comes out of such a packet, so it has no frame index; FFmpeg goes on with the next one,
      and the damage shows in the following frames (often counted in ``damaged``).
  """
  frames: int = 0
  skipped: list[tuple[int, str]] = dataclasses.field(default_factory=list)
  damaged: list[int] = dataclasses.field(default_factory=list)
  rejected_packets: int = 0

  def summary(self) -> str:
    """'' when nothing went wrong, else e.g. '2 bad frames skipped (3, 7), ...'."""
    parts = []
    if self.skipped:
      parts.append(f'{len(self.skipped)} bad frames skipped '
                   f'({_indices(i for i, _ in self.skipped)})')
    if self.damaged:
      parts.append(f'{len(self.damaged)} frames damaged in the file, concealed by FFmpeg '
                   f'({_indices(self.damaged)})')
    if self.rejected_packets:
      parts.append(f'{self.rejected_packets} packets rejected by the decoder')
    return ', '.join(parts)


def _indices(indices, most: int = 10) -> str:
  indices = list(indices)
  text = ', '.join(str(i) for i in indices[:most])
  return text + (f', ... ({len(indices) - most} more)' if len(indices) > most else '')


def check_selection(start: int = 0, end: int | None = None, every: int = 1) -> None:
  """Raises ValueError unless 0 <= start < end (when given) and every >= 1."""
  if start < 0:
    raise ValueError(f'start = {start}: frame indices start at 0')
  if end is not None and end <= start:
    raise ValueError(f'end = {end} must be after start = {start} (end is exclusive)')
  if every < 1:
    raise ValueError(f'every = {every} must be at least 1')


def selected_count(num_frames: int | None, start: int = 0, end: int | None = None,
                   every: int = 1) -> int | None:
  """How many frames a selection holds of a video of ``num_frames`` (None: unknown)."""
  if num_frames is None:
    return None if end is None else len(range(start, end, every))
  return len(range(start, num_frames if end is None else min(end, num_frames), every))


def read_frames(source: VideoSource, *, start: int = 0, end: int | None = None,
                every: int = 1, skip_bad: bool = False,
                report: ReadReport | None = None) -> Iterator[tuple[int, np.ndarray]]:
  """Yields (frame index, uint8 [H, W, 3] RGB frame) of the frames ``start:end:every``.

  A bad frame is one that cannot be read, or whose size differs from the first frame's (a
  video is one camera: the tracker compares positions across frames in pixels).

  Args:
    source: ``open_video``'s result.
    start, end, every: the selection, as in ``range(start, end, every)`` over frame indices
      (``end`` None: to the last frame).
    skip_bad: skip bad frames (recorded in ``report.skipped``) instead of raising.
    report: filled in while reading (see ``ReadReport``).

  Raises:
    VideoReadError: a bad frame (naming the file and frame) unless ``skip_bad``, a container
      that fails while reading, or a selection that holds no frame.
  """
  check_selection(start, end, every)
  report = ReadReport() if report is None else report
  frames = (_read_folder(source, start, end, every) if source.is_folder
            else _decode_video(source, start, end, every, report))
  shape = None
  for index, frame in frames:
    try:
      if isinstance(frame, VideoReadError):
        raise frame
      if shape is None:
        shape = frame.shape
      elif frame.shape != shape:
        raise VideoReadError(f'{_where(source, index)}: frame size {frame.shape[1]}x'
                             f'{frame.shape[0]}, the first frame is {shape[1]}x{shape[0]} '
                             '(frames of one video must share a size)')
    except VideoReadError as e:
      if not skip_bad:
        raise VideoReadError(f'{e} (skip_bad, --skip-bad-frames in track, skips such '
                             'frames)') from e
      report.skipped.append((index, str(e)))
      continue
    report.frames += 1
    yield index, frame
  if report.frames == 0:
    total = source.num_frames
    raise VideoReadError(f'{source.path}: no frame to track (selection start={start} '
                         f'end={end} every={every}' + (f' of {total} frames' if total else '')
                         + (f'; {len(report.skipped)} bad frames skipped' if report.skipped
                            else '') + ')')


def _where(source: VideoSource, index: int) -> str:
  return source.frame_paths[index] if source.is_folder else f'{source.path}: frame {index}'


def _read_folder(source: VideoSource, start: int, end: int | None, every: int):
  """(index, frame or the VideoReadError of an unreadable file) of the selected frames."""
  count = len(source.frame_paths)
  for index in range(start, count if end is None else min(end, count), every):
    try:
      yield index, _read_image(source.frame_paths[index])
    except VideoReadError as e:
      yield index, e


def _decode_video(source: VideoSource, start: int, end: int | None, every: int,
                  report: ReadReport):
  """(index, frame) of a video file's selected frames, decoded packet by packet.

  Every frame up to the last selected one is decoded (seeking lands on key frames only), but
  only the selected ones are converted to RGB.
  """
  import av  # pylint: disable=g-import-not-at-top
  index = 0
  try:
    with av.open(source.path) as container:
      stream = container.streams.video[0]
      for packet in container.demux(stream):
        try:
          decoded = packet.decode()
        except av.error.InvalidDataError:
          report.rejected_packets += 1
          continue
        for frame in decoded:
          if end is not None and index >= end:
            return
          if index >= start and (index - start) % every == 0:
            if frame.is_corrupt:
              report.damaged.append(index)
            yield index, frame.to_ndarray(format='rgb24')
          index += 1
  except av.error.FFmpegError as e:
    raise VideoReadError(f'{source.path}: decoding failed after {index} frames '
                         f'({type(e).__name__}: {e})') from e


def iter_frames(source: VideoSource) -> Iterator[np.ndarray]:
  """Yields every frame, uint8 [H, W, 3] RGB, in order (``read_frames`` without selection).

  Raises:
    VideoReadError: a frame that cannot be decoded (naming the file), or a video with no frame.
  """
  for _, frame in read_frames(source):
    yield frame


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
