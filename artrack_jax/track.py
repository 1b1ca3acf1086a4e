"""Track people in a user's video: ``python -m artrack_jax.track``.

  python -m artrack_jax.track --workdir DIR --video in.mp4 --out out/
  python -m artrack_jax.track --video in.mp4 --out out/        # the installed reference model
  python -m artrack_jax.track --checkpoint DIR/checkpoints/12000 --video frames_dir/ --out out/
  python -m artrack_jax.track --exported EXPORT_DIR --video in.mp4 --out out/   # jax.export

writes ``out/<name>.json`` (PoseTrack 2018 predictions, track ids in ``track_id``) and a
rendered video ``out/<name>_tracked.mp4`` (``--no-video`` to skip) and/or rendered frames
``out/<name>_frames/`` (``--frames``), skeletons coloured by track id.

Every output is written under a hidden temporary name in the output folder (``.<name>.partial-*``)
and renamed when the whole video is done: a run that fails or is killed leaves no file under an
output's name (a killed run leaves its ``.partial`` files, which may be deleted). Existing outputs
are kept unless ``--overwrite``; that is checked before the model loads. ``--start``, ``--end``
(exclusive) and ``--every`` select frames (frame indices of the source are kept in the JSON). A
frame that cannot be read, or of another size than the first, stops the run (nothing written)
unless ``--skip-bad-frames``; skipped frames, frames FFmpeg flags as damaged and packets it
rejects are counted in the summary line.

The command line only: the networks are ``inference.FramePredictor``, the per-frame loop is
``tracking.online.track_video``.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shutil
import sys

from artrack_jax import configs_util
from artrack_jax import exported
from artrack_jax import inference
from artrack_jax import reference
from artrack_jax import skeletons as skeletons_lib
from artrack_jax import video_io
from artrack_jax.data import formats
from artrack_jax.data import types
from artrack_jax.tracking import online
from artrack_jax.tracking import similarity as similarity_lib
from artrack_jax.viz import draw

logger = logging.getLogger(__name__)


def load_predictor(workdir: str, config, step: int | None = None,
                   networks=None) -> inference.FramePredictor:
  """The ``FramePredictor`` of a training workdir's checkpoint (``Networks.restore``).

  A stage-3 ('temporal') checkpoint holds TemporalNet (trained) and the SpatialNet it was
  trained on (frozen); a stage-1/2 checkpoint holds SpatialNet only. ``networks`` (e.g.
  ``exported.ExportedNetworks``) replaces the checkpoint.

  Raises:
    FileNotFoundError: no checkpoint.
    ValueError: variables that do not fit ``config.model``, or a SpatialNet-only checkpoint
      while ``config.track.similarity`` needs TemporalNet.
  """
  if networks is None:
    networks = inference.Networks.restore(workdir, config, step)
  if not networks.has_temporal and config.track.similarity in similarity_lib.TEMPORAL:
    raise ValueError(f'{networks.what}: the checkpoint holds SpatialNet only, but '
                     f'track.similarity = {config.track.similarity!r} needs TemporalNet; train '
                     'stage 3 or pass --similarity oks|iou|ke|ke_sie')
  return inference.FramePredictor(networks, config)


def workdir_and_step(args) -> tuple[str, int | None]:
  if args.workdir:
    return args.workdir, None
  if not args.checkpoint:
    if not reference.available():
      raise FileNotFoundError(f'no --workdir or --checkpoint, and no reference model at '
                              f'{reference.REFERENCE_DIR}')
    logger.info('using the reference model %s (trained on the synthetic benchmark only)',
                reference.REFERENCE_DIR)
    return reference.REFERENCE_DIR, None
  # --checkpoint WORKDIR/checkpoints/<step>
  path = os.path.normpath(args.checkpoint)
  step = os.path.basename(path)
  if not step.isdigit():
    raise ValueError(f'{args.checkpoint}: expected WORKDIR/checkpoints/<step>')
  return os.path.dirname(os.path.dirname(path)), int(step)


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog='python -m artrack_jax.track', description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  model = parser.add_mutually_exclusive_group()
  model.add_argument('--workdir', help='training workdir (latest checkpoint); default: the '
                     'reference model installed with the package (artrack_jax.reference; '
                     'trained on the synthetic benchmark only)')
  model.add_argument('--checkpoint', help='one checkpoint: WORKDIR/checkpoints/<step>')
  model.add_argument('--exported', help='an export directory (python -m artrack_jax.export): '
                     'the networks deserialised with jax.export, its config.json')
  parser.add_argument('--onnx', action='store_true', help='with --exported: run the networks '
                      'with ONNX Runtime (optional onnxruntime package; functions that did '
                      'not convert run from their jax.export files)')
  parser.add_argument('--video', required=True, help='video file or folder of frames')
  parser.add_argument('--out', required=True, help='output folder')
  parser.add_argument('--overwrite', action='store_true',
                      help='replace outputs already in --out (default: refuse)')
  parser.add_argument('--config', help='config the model was trained with: a configs/*.py '
                      'file or a config.json (default: the workdir\'s config.json, else '
                      'configs/default.py)')
  parser.add_argument('--similarity', choices=similarity_lib.SIMILARITIES,
                      help='override config.track.similarity')
  parser.add_argument('--fps', type=float, help='frame rate of a frame folder (default 25)')
  parser.add_argument('--start', type=int, default=0, help='first frame index tracked')
  parser.add_argument('--end', type=int, help='frame index where tracking stops (exclusive)')
  parser.add_argument('--every', type=int, default=1, help='track every N-th frame')
  parser.add_argument('--skip-bad-frames', action='store_true',
                      help='skip (and count) frames that cannot be read or differ in size '
                      'from the first, instead of stopping')
  parser.add_argument('--no-video', action='store_true', help='do not write the rendered mp4')
  parser.add_argument('--frames', action='store_true', help='write rendered frames as PNG')
  parser.add_argument('--no-labels', action='store_true', help='do not draw track ids')
  return parser


class PendingOutputs:
  """A run's outputs, written under hidden temporary names and renamed together at the end.

  Args:
    out_dir: the output folder (``begin`` creates it; a file there is an error).
    finals: output kind ('json', 'video', 'frames') -> final file name in ``out_dir``.
    overwrite: whether existing outputs may be replaced.

  Raises:
    NotADirectoryError: ``out_dir`` is a file.
    FileExistsError: an output exists and ``overwrite`` is not set (before anything is made).
  """

  def __init__(self, out_dir: str, finals: dict[str, str], overwrite: bool):
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
      raise NotADirectoryError(f'--out {out_dir}: a file, not a folder; give a folder (it is '
                               'created if missing)')
    self.final = {k: os.path.join(out_dir, name) for k, name in finals.items()}
    existing = [p for p in self.final.values() if os.path.lexists(p)]
    if existing and not overwrite:
      raise FileExistsError(f'{", ".join(existing)}: already there (--overwrite replaces; or '
                            'choose another --out)')
    self.out_dir = out_dir
    self._made_out_dir = False
    stale = self.stale_partials(out_dir, finals.values())
    if stale:
      logger.warning('%s: %d temporary outputs of an interrupted run (delete them): %s',
                     out_dir, len(stale), ', '.join(stale))
    self.temp = {k: os.path.join(out_dir, formats.partial_name(name))
                 for k, name in finals.items()}

  @staticmethod
  def stale_partials(out_dir: str, names) -> list[str]:
    """Temporary outputs (``formats.partial_name``) of ``names`` already in ``out_dir``."""
    if not os.path.isdir(out_dir):
      return []
    prefixes = [(f'.{os.path.splitext(n)[0]}.partial-', os.path.splitext(n)[1]) for n in names]
    return sorted(n for n in os.listdir(out_dir)
                  if any(n.startswith(p) and n.endswith(e) for p, e in prefixes))

  def begin(self) -> None:
    """Creates the output folder and the temporary frames folder."""
    self._made_out_dir = not os.path.isdir(self.out_dir)
    os.makedirs(self.out_dir, exist_ok=True)
    if 'frames' in self.temp:
      os.makedirs(self.temp['frames'])

  def commit(self) -> None:
    """Renames every temporary output to its final name (replacing what was there)."""
    for kind, tmp in self.temp.items():
      final = self.final[kind]
      if os.path.isdir(tmp) and os.path.lexists(final):
        # A folder cannot replace another in one rename: move the old one aside first.
        old = os.path.join(os.path.dirname(final), formats.partial_name(
            os.path.basename(final)))
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
      else:
        os.replace(tmp, final)

  def discard(self) -> None:
    """Removes the temporary outputs, and the output folder if it made it (a failed run)."""
    for tmp in self.temp.values():
      if os.path.isdir(tmp):
        shutil.rmtree(tmp, ignore_errors=True)
      elif os.path.lexists(tmp):
        os.unlink(tmp)
    if self._made_out_dir and not os.listdir(self.out_dir):
      os.rmdir(self.out_dir)


def _output_names(args, name: str) -> dict[str, str]:
  names = {'json': f'{name}.json'}
  if not args.no_video:
    names['video'] = f'{name}_tracked.mp4'
  if args.frames:
    names['frames'] = f'{name}_frames'
  return names


def _load_infer_fn(args, config_override=None):
  """(frame -> observations, config) of the model the arguments name."""
  if args.exported:
    networks = (exported.OnnxNetworks if args.onnx else exported.ExportedNetworks)(
        args.exported)
    config = config_override or (configs_util.load_config(args.config) if args.config
                                 else networks.config)
    if args.similarity:
      config.track.similarity = args.similarity
    return load_predictor(args.exported, config, networks=networks).observe, config
  workdir, step = workdir_and_step(args)
  # The workdir's config.json is written by train_lib.train_and_evaluate.
  config = config_override or configs_util.workdir_config([workdir], args.config)
  if args.similarity:
    config.track.similarity = args.similarity
  return load_predictor(workdir, config, step).observe, config


@dataclasses.dataclass
class Tracked:
  """What ``run`` did.

  Attributes:
    sequence: the tracked ``Sequence`` (its frames empty unless ``run(keep_frames=True)``).
    frames: frames tracked.
    track_ids: the track ids written.
    outputs: output kind ('json', 'video', 'frames') -> path written.
  """
  sequence: types.Sequence
  frames: int
  track_ids: set[int]
  outputs: dict[str, str]


def run(args, infer_fn: online.InferFn | None = None, config=None,
        report: video_io.ReadReport | None = None, keep_frames: bool = True) -> Tracked:
  """The command's work; ``infer_fn``/``config`` replace the checkpoint (tests, notebooks).

  ``report`` (filled in): the frames read, skipped and damaged. The JSON is written frame by
  frame (``formats.PoseTrack18Writer``): with ``keep_frames=False`` memory does not grow with
  the video.
  """
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  video_io.check_selection(args.start, args.end, args.every)
  if args.onnx and not args.exported:
    raise ValueError('--onnx runs an export directory: give --exported DIR')
  source = video_io.open_video(args.video, fps=args.fps)
  # Refuses to replace outputs before the (slow) model load.
  outputs = PendingOutputs(args.out, _output_names(args, source.name), args.overwrite)
  if infer_fn is None:
    infer_fn, config = _load_infer_fn(args, config)
  elif args.similarity:
    config.track.similarity = args.similarity
  report = video_io.ReadReport() if report is None else report
  writer = None
  try:
    outputs.begin()
    writer = formats.PoseTrack18Writer(outputs.temp['json'], source.name,
                                       config.data.skeleton, vid_id=0)
    seq = _track(args, source, infer_fn, config, outputs, writer, report, tqdm, keep_frames)
    writer.close()
    outputs.commit()
  except BaseException:
    if writer is not None:
      writer.discard()
    outputs.discard()
    raise
  return Tracked(sequence=seq, frames=writer.frames, track_ids=writer.track_ids,
                 outputs=outputs.final)


def _track(args, source, infer_fn, config, outputs: PendingOutputs,
           writer: formats.PoseTrack18Writer, report, tqdm, keep_frames: bool
           ) -> types.Sequence:
  """Tracks the selected frames into the JSON writer and the temporary video/frames."""
  skeleton = skeletons_lib.get(config.data.skeleton)
  labels = not args.no_labels
  video = (video_io.VideoWriter(outputs.temp['video'], source.fps)
           if 'video' in outputs.temp else None)
  frames_dir = outputs.temp.get('frames')

  def on_frame(index, image, frame):
    writer.add(frame)
    if video is None and frames_dir is None:
      return
    drawn = draw.render_frame(image, frame, skeleton, labels)
    if video is not None:
      video.write(drawn)
    if frames_dir is not None:
      video_io.save_image(os.path.join(frames_dir, f'{frame.frame_id:06d}.png'), drawn)

  base = os.path.dirname(source.path)
  image_path = ((lambda index: os.path.relpath(source.frame_paths[index], base))
                if source.is_folder else None)
  frames = video_io.read_frames(source, start=args.start, end=args.end, every=args.every,
                                skip_bad=args.skip_bad_frames, report=report)
  total = video_io.selected_count(source.num_frames, args.start, args.end, args.every)
  try:
    return online.track_video(tqdm(frames, total=total, desc=source.name, unit='frame'),
                              infer_fn, config, name=source.name, image_path=image_path,
                              on_frame=on_frame, keep_frames=keep_frames)
  finally:
    if video is not None:
      video.close()


def main(argv: list[str] | None = None) -> int:
  args = build_parser().parse_args(argv)
  logging.basicConfig(level=logging.INFO, format='%(message)s')
  report = video_io.ReadReport()
  try:
    tracked = run(args, report=report, keep_frames=False)
  except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError) as e:
    # VideoReadError is a ValueError.
    print(f'error: {e}', file=sys.stderr)
    return 2
  problems = report.summary()
  print(f'{tracked.frames} frames, {len(tracked.track_ids)} tracks -> {args.out}' +
        (f' ({problems})' if problems else ''))
  return 0


if __name__ == '__main__':
  sys.exit(main())
