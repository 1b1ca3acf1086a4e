"""Track people in a user's video: ``python -m artrack_jax.track``.

  python -m artrack_jax.track --workdir DIR --video in.mp4 --out out/
  python -m artrack_jax.track --video in.mp4 --out out/        # the installed reference model
  python -m artrack_jax.track --checkpoint DIR/checkpoints/12000 --video frames_dir/ --out out/

writes ``out/<name>.json`` (PoseTrack 2018 predictions, track ids in ``track_id``) and a
rendered video ``out/<name>_tracked.mp4`` (``--no-video`` to skip) and/or rendered frames
``out/<name>_frames/`` (``--frames``), skeletons coloured by track id.

The command line only: the networks are ``inference.FramePredictor``, the per-frame loop is
``tracking.online.track_video``.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys

from artrack_jax import configs_util
from artrack_jax import inference
from artrack_jax import reference
from artrack_jax import skeletons as skeletons_lib
from artrack_jax import video_io
from artrack_jax.data import types
from artrack_jax.tracking import online
from artrack_jax.tracking import similarity as similarity_lib
from artrack_jax.viz import draw

logger = logging.getLogger(__name__)


def load_predictor(workdir: str, config, step: int | None = None
                   ) -> inference.FramePredictor:
  """The ``FramePredictor`` of a training workdir's checkpoint (``Networks.restore``).

  A stage-3 ('temporal') checkpoint holds TemporalNet (trained) and the SpatialNet it was
  trained on (frozen); a stage-1/2 checkpoint holds SpatialNet only.

  Raises:
    FileNotFoundError: no checkpoint.
    ValueError: variables that do not fit ``config.model``, or a SpatialNet-only checkpoint
      while ``config.track.similarity`` needs TemporalNet.
  """
  networks = inference.Networks.restore(workdir, config, step)
  if not networks.has_temporal and config.track.similarity in similarity_lib.TEMPORAL:
    raise ValueError(f'{networks.what}: the checkpoint holds SpatialNet only, but '
                     f'track.similarity = {config.track.similarity!r} needs TemporalNet; train '
                     'stage 3 or pass --similarity oks|iou|ke|ke_sie')
  return inference.FramePredictor(networks, config)


def _workdir_and_step(args) -> tuple[str, int | None]:
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
  parser.add_argument('--video', required=True, help='video file or folder of frames')
  parser.add_argument('--out', required=True, help='output folder')
  parser.add_argument('--config', help='config the model was trained with: a configs/*.py '
                      'file or a config.json (default: the workdir\'s config.json, else '
                      'configs/default.py)')
  parser.add_argument('--similarity', choices=similarity_lib.SIMILARITIES,
                      help='override config.track.similarity')
  parser.add_argument('--fps', type=float, help='frame rate of a frame folder (default 25)')
  parser.add_argument('--no-video', action='store_true', help='do not write the rendered mp4')
  parser.add_argument('--frames', action='store_true', help='write rendered frames as PNG')
  parser.add_argument('--no-labels', action='store_true', help='do not draw track ids')
  return parser


def run(args, infer_fn: online.InferFn | None = None, config=None) -> types.Sequence:
  """The command's work; ``infer_fn``/``config`` replace the checkpoint (tests, notebooks)."""
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  source = video_io.open_video(args.video, fps=args.fps)
  if infer_fn is None:
    workdir, step = _workdir_and_step(args)
  if config is None:
    # The workdir's config.json is written by train_lib.train_and_evaluate.
    config = configs_util.workdir_config([] if infer_fn is not None else [workdir], args.config)
  if args.similarity:
    config.track.similarity = args.similarity
  if infer_fn is None:
    infer_fn = load_predictor(workdir, config, step).observe
  os.makedirs(args.out, exist_ok=True)
  skeleton = skeletons_lib.get(config.data.skeleton)
  labels = not args.no_labels
  writer = None
  if not args.no_video:
    writer = video_io.VideoWriter(os.path.join(args.out, f'{source.name}_tracked.mp4'),
                                  source.fps)
  frames_dir = os.path.join(args.out, f'{source.name}_frames')
  if args.frames:
    os.makedirs(frames_dir, exist_ok=True)

  def on_frame(index, image, frame):
    if writer is None and not args.frames:
      return
    drawn = draw.render_frame(image, frame, skeleton, labels)
    if writer is not None:
      writer.write(drawn)
    if args.frames:
      video_io.save_image(os.path.join(frames_dir, f'{index:06d}.png'), drawn)

  paths = ([os.path.relpath(p, os.path.dirname(source.path)) for p in source.frame_paths]
           if source.is_folder else None)
  try:
    seq = online.track_video(tqdm(video_io.iter_frames(source), total=source.num_frames,
                           desc=source.name, unit='frame'),
                      infer_fn, config, name=source.name, image_paths=paths,
                      on_frame=on_frame)
  finally:
    if writer is not None:
      writer.close()
  online.write_sequence(seq, os.path.join(args.out, f'{source.name}.json'))
  return seq


def main(argv: list[str] | None = None) -> int:
  args = build_parser().parse_args(argv)
  logging.basicConfig(level=logging.INFO, format='%(message)s')
  try:
    seq = run(args)
  except (video_io.VideoReadError, FileNotFoundError, ValueError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  print(f'{len(seq.frames)} frames, {len({p.track_id for f in seq.frames for p in f.people})} '
        f'tracks -> {args.out}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
