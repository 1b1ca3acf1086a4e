"""Track people in a user's video: ``python -m artrack_jax.track``.

  python -m artrack_jax.track --workdir DIR --video in.mp4 --out out/
  python -m artrack_jax.track --checkpoint DIR/checkpoints/12000 --video frames_dir/ --out out/

writes ``out/<name>.json`` (PoseTrack 2018 predictions, track ids in ``track_id``) and a
rendered video ``out/<name>_tracked.mp4`` (``--no-video`` to skip) and/or rendered frames
``out/<name>_frames/`` (``--frames``), skeletons coloured by track id.

Three layers:

1. ``track_video(frames, infer_fn, config)``: host side. ``infer_fn(frame)`` gives the frame's
   ``PoseObservation`` list (or ``FrameObservations`` with the backward TIE); the tracker assigns
   ids; the result is a ``data.types.Sequence``.
2. ``NetworkInference``: the ``infer_fn`` of a trained model: letterbox, SpatialNet (+ flip
   test), bottom-up decoding, and with a TemporalNet checkpoint the human embeddings and both
   TIE maps, everything mapped back to the frame's pixels. ``load_inference_fn(workdir,
   config)`` restores it from a training workdir.
3. ``main``: I/O and the command line.
"""
from __future__ import annotations

import argparse
import functools
import importlib.util
import json
import logging
import os
import sys
import types as types_ns
from collections.abc import Callable, Iterable

import numpy as np

from artrack_jax import skeletons as skeletons_lib
from artrack_jax import video_io
from artrack_jax import visualize
from artrack_jax.data import types
from artrack_jax.grouping import decode as decode_lib
from artrack_jax.tracking import similarity as similarity_lib
from artrack_jax.tracking.tracker import FrameObservations, PoseObservation, Tracker

logger = logging.getLogger(__name__)

InferFn = Callable[[np.ndarray], 'list[PoseObservation] | FrameObservations']
# Similarity options that need TemporalNet (human embeddings and/or TIE).
TEMPORAL_SIMILARITIES = ('he', 'tie', 'he_tie')


# ----------------------------------------------------------------------------------------------
# 1. Host-side tracking.

def observation_to_person(obs: PoseObservation, track_id: int) -> types.Person:
  """A tracked observation as a prediction ``Person`` (v = 1 on found joints)."""
  return decode_lib.pose_to_person(dict(keypoints=obs.keypoints, score=obs.score), track_id)


def track_video(frames: Iterable[np.ndarray], infer_fn: InferFn, config, *,
                name: str = 'video', image_paths: Iterable[str] | None = None,
                on_frame: Callable[[int, np.ndarray, types.Frame], None] | None = None
                ) -> types.Sequence:
  """Runs ``infer_fn`` and the online tracker over a video.

  Args:
    frames: uint8 [H, W, 3] frames in order.
    infer_fn: frame -> list[PoseObservation] (keypoints in frame pixels) or FrameObservations.
    config: the full config (``track``, ``data.skeleton``).
    name: sequence name.
    image_paths: per-frame ``image_path`` (default ``'<name>/<index:06d>.jpg'``).
    on_frame: called as ``on_frame(index, frame, types.Frame)`` after each frame is tracked
      (rendering while reading keeps one pass over the video).

  Returns:
    The tracked ``Sequence`` (skeleton ``config.data.skeleton``, vid_id 0; every frame
    labelled, image id = frame index).
  """
  skeleton = skeletons_lib.get(config.data.skeleton)
  tracker = Tracker(config.track, skeleton)
  paths = iter(image_paths) if image_paths is not None else None
  out = []
  for index, image in enumerate(frames):
    result = infer_fn(image)
    observations = result.observations if isinstance(result, FrameObservations) else result
    for k, obs in enumerate(observations):
      kp = np.asarray(obs.keypoints)
      if kp.shape != (skeleton.num_joints, 3):
        raise ValueError(f'infer_fn: frame {index}, pose {k}: keypoints shape {kp.shape}, '
                         f'skeleton {skeleton.name!r} needs {(skeleton.num_joints, 3)}')
    ids = tracker.update(result, index)
    path = next(paths) if paths is not None else f'{name}/{index:06d}.jpg'
    frame = types.Frame(image_path=path, frame_id=index, is_labeled=True,
                        people=[observation_to_person(o, int(t))
                                for o, t in zip(observations, ids)],
                        width=int(image.shape[1]), height=int(image.shape[0]), image_id=index)
    out.append(frame)
    if on_frame is not None:
      on_frame(index, image, frame)
  # A user's video is video 0: PoseTrack 2018 files carry a numeric vid_id.
  return types.Sequence(name=name, frames=out, skeleton=skeleton.name, vid_id=0)


def render_frame(image: np.ndarray, frame: types.Frame, skeleton: skeletons_lib.Skeleton,
                 labels: bool = True) -> np.ndarray:
  """Draws a tracked frame's people (colour = track id)."""
  if not frame.people:
    return np.asarray(image)
  keypoints = np.stack([np.concatenate([p.keypoints[:, :2], p.keypoints[:, 2:3]], axis=-1)
                        for p in frame.people])
  return visualize.draw_poses(image, keypoints, [p.track_id for p in frame.people], skeleton,
                              labels=labels)


# ----------------------------------------------------------------------------------------------
# 2. The networks.

def _output_to_image(height: int, width: int, size: int, stride: float) -> np.ndarray:
  """[2, 3] affine: output-map pixels -> frame pixels (letterbox inverse after the stride)."""
  from artrack_jax.data import augment  # pylint: disable=g-import-not-at-top
  # x_in = (x_out + 0.5) * stride - 0.5 (pixel centres; targets.output_to_input).
  out_to_in = np.array([[stride, 0.0, 0.5 * stride - 0.5], [0.0, stride, 0.5 * stride - 0.5],
                        [0.0, 0.0, 1.0]])
  in_to_frame = augment.invert_affine(augment.frame_matrix(height, width, size))
  return (in_to_frame @ out_to_in)[:2]


@functools.lru_cache(maxsize=4)
def _network_functions(model_json: str, skeleton: str) -> types_ns.SimpleNamespace:
  """Jitted SpatialNet / HE / TVF functions of one model config, shared by every
  ``NetworkInference`` of that config so that a second video does not compile again."""
  import jax  # pylint: disable=g-import-not-at-top
  import ml_collections  # pylint: disable=g-import-not-at-top
  from artrack_jax.models import spatialnet, temporalnet  # pylint: disable=g-import-not-at-top
  config = ml_collections.ConfigDict(dict(
      model=ml_collections.ConfigDict(json.loads(model_json)),
      data=ml_collections.ConfigDict(dict(skeleton=skeleton))))
  spatial = spatialnet.from_config(config)
  temporal = temporalnet.from_config(config)

  def spatial_fn(variables, images):
    out = spatial.apply(variables, images, train=False)
    # Inference reads the last stack (docs/design.md); the aux maps only serve training.
    return {k: (v if k == 'features' else v[-1]) for k, v in out.items() if k != 'aux'}

  return types_ns.SimpleNamespace(
      spatial=jax.jit(spatial_fn),
      he=jax.jit(lambda v, f, b: temporal.apply(
          v, f, b, method=temporalnet.TemporalNet.human_embedding)),
      tvf=jax.jit(lambda v, *maps: temporal.apply(
          v, *maps, train=False, method=temporalnet.TemporalNet.temporal_vector_fields)),
      boxes=temporalnet.boxes_from_keypoints)


def _pixel_grid(h: int, w: int) -> np.ndarray:
  """[h, w, 2] (x, y) of each output pixel centre."""
  return np.stack(np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32)),
                  axis=-1)


class NetworkInference:
  """``infer_fn`` of trained networks: frame -> FrameObservations.

  Test-time augmentation follows ``config.decode``: ``flip_test`` (the mirrored image too,
  ``decode.merge_flip``) and ``scales`` (the frame letterboxed at each scale times
  ``image_size``, maps merged at the scale-1 output size, ``decode.merge_scales``; one compile
  per scale).

  Args:
    config: the full config the networks were trained with (``model``, ``data``, ``decode``).
    spatial_variables: SpatialNet ``{'params', 'batch_stats'}``.
    temporal_variables: TemporalNet ``{'params', 'batch_stats'}``, or None (then observations
      carry no HE/TIE and only ``oks``/``iou``/``ke``/``ke_sie`` can track).
  """

  def __init__(self, config, spatial_variables, temporal_variables=None):
    self.config = config
    self.skeleton = skeletons_lib.get(config.data.skeleton)
    self.size = int(config.data.image_size)
    self.flip_test = bool(config.decode.get('flip_test', False))
    self.max_people = int(config.decode.get('max_people', 30))
    self._spatial_variables = spatial_variables
    self._temporal_variables = temporal_variables
    self.has_temporal = temporal_variables is not None
    self.scales = tuple(float(x) for x in config.decode.get('scales', (1.0,)))
    if 1.0 not in self.scales:
      raise ValueError(f'config.decode.scales = {self.scales} must include 1.0 (the scale '
                       'whose maps TemporalNet reads and whose pixels the poses are in)')
    # Input sides must be multiples of the hourglass's total downsampling.
    self._multiple = 4 * 2 ** int(config.model.depth)
    if self.size % self._multiple:
      raise ValueError(f'config.data.image_size = {self.size} is not a multiple of '
                       f'{self._multiple} (output stride 4, hourglass depth {config.model.depth})')
    self._fns = _network_functions(config.model.to_json(), config.data.skeleton)
    self._previous = None

  def _input_size(self, scale: float) -> int:
    """Network input side for a test scale, rounded to the nearest allowed size."""
    return max(self._multiple, int(round(self.size * scale / self._multiple)) * self._multiple)

  def reset(self):
    """Forgets the previous frame (call between videos)."""
    self._previous = None

  def __call__(self, frame: np.ndarray) -> FrameObservations:
    from artrack_jax.data import augment  # pylint: disable=g-import-not-at-top
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] != 3:
      raise ValueError(f'NetworkInference: frame must be uint8 [H, W, 3], got {frame.dtype} '
                       f'{frame.shape}')
    height, width = frame.shape[:2]
    per_scale = []
    for scale in self.scales:
      size = self._input_size(scale)
      image = augment.normalize_image(
          augment.warp_image(frame, augment.frame_matrix(height, width, size), size))
      images = image[None]
      if self.flip_test:
        images = np.concatenate([images, images[:, :, ::-1]], axis=0)
      scale_out = {k: np.asarray(v) for k, v in self._fns.spatial(self._spatial_variables,
                                                                   images).items()}
      scale_sie = _pixel_grid(*scale_out['svf'].shape[1:3]) - scale_out['svf']  # SIE = p - SVF
      maps = dict(heatmaps=scale_out['heatmaps'][:1], ke=scale_out['ke'][:1],
                  sie=scale_sie[:1])
      if self.flip_test:
        maps = decode_lib.merge_flip(
            maps, dict(heatmaps=scale_out['heatmaps'][1:], ke=scale_out['ke'][1:],
                       sie=scale_sie[1:]), self.skeleton)
      per_scale.append(maps)
      if scale == 1.0:
        # TemporalNet and every coordinate use the scale-1 maps.
        out, sie = scale_out, scale_sie
    h, w = out['heatmaps'].shape[1:3]
    grid = _pixel_grid(h, w)
    maps = per_scale[0] if len(per_scale) == 1 else decode_lib.merge_scales(per_scale, (h, w))
    poses = decode_lib.decode(maps, self.config.decode, self.skeleton)[0]
    to_image = _output_to_image(height, width, self.size, self.size / h)
    keypoints_out = (np.stack([p['keypoints'] for p in poses]) if poses
                     else np.zeros((0, self.skeleton.num_joints, 3), np.float32))

    he = tie_fwd_map = tie_bwd_map = None
    if self.has_temporal:
      he = self._human_embeddings(out['features'][:1], keypoints_out)
      current = dict(features=out['features'][:1], heatmaps=out['heatmaps'][:1], sie=sie[:1])
      if self._previous is not None:
        prev = self._previous
        tvf_fwd, tvf_bwd = self._fns.tvf(
            self._temporal_variables, prev['features'], current['features'], prev['heatmaps'],
            current['heatmaps'], prev['sie'], current['sie'])
        tie_fwd_map = grid - np.asarray(tvf_fwd)[0]                        # TIE = pixel - TVF
        tie_bwd_map = grid - np.asarray(tvf_bwd)[0]
      previous_keypoints = (self._previous or {}).get('keypoints')
      self._previous = dict(current, keypoints=keypoints_out)

    to_img = lambda xy: decode_lib.apply_affine(xy, to_image).astype(np.float32)
    observations = []
    for k, pose in enumerate(poses):
      kp = pose['keypoints']
      observations.append(PoseObservation(
          keypoints=decode_lib.poses_to_image([pose], to_image)[0]['keypoints'],
          score=float(pose['score']),
          tag=np.asarray(pose['tag'], np.float32),
          center=to_img(pose['center']),
          he=None if he is None else he[k],
          sie=to_img(similarity_lib.sample_at_joints(maps['sie'][0], kp)),
          tie=None if tie_fwd_map is None else to_img(
              similarity_lib.sample_at_joints(tie_fwd_map, kp))))
    tie_backward = None
    if tie_bwd_map is not None:
      tie_backward = np.stack([to_img(similarity_lib.sample_at_joints(tie_bwd_map, kp))
                               for kp in previous_keypoints]) if len(previous_keypoints) else \
          np.zeros((0, self.skeleton.num_joints, 2), np.float32)
    return FrameObservations(observations, tie_backward)

  def _human_embeddings(self, features: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
    """HE [K, E] of the decoded poses (boxes padded to ``max_people`` for one compile)."""
    k, j = keypoints.shape[:2]
    padded = np.zeros((1, self.max_people, j, 3), np.float32)
    padded[0, :k] = keypoints[:self.max_people]
    valid = padded[..., 2] > 0
    boxes, _ = self._fns.boxes(padded, valid)
    return np.asarray(self._fns.he(self._temporal_variables, features, boxes))[0, :k]


def load_inference_fn(workdir: str, config, step: int | None = None) -> NetworkInference:
  """``NetworkInference`` from a training workdir's checkpoint.

  A stage-3 ('temporal') checkpoint holds TemporalNet as its trained variables and the frozen
  SpatialNet as ``frozen``; a stage-1/2 checkpoint holds SpatialNet only.

  Raises:
    ValueError: the checkpoint has no TemporalNet but ``config.track.similarity`` needs one.
  """
  from artrack_jax import train_lib  # pylint: disable=g-import-not-at-top
  saved = train_lib.load_trained_variables(workdir, step)
  trained = {'params': saved['params'], 'batch_stats': saved['batch_stats']}
  if saved['frozen']:
    frozen = saved['frozen']
    if 'params' not in frozen:
      raise ValueError(f'{workdir}: checkpoint step {saved["step"]}: frozen variables lack '
                       '"params" (expected the SpatialNet variables of a temporal stage)')
    spatial = {'params': frozen['params'], 'batch_stats': frozen.get('batch_stats', {})}
    temporal = trained
  else:
    spatial, temporal = trained, None
  if temporal is None and config.track.similarity in TEMPORAL_SIMILARITIES:
    raise ValueError(f'{workdir}: checkpoint step {saved["step"]} holds SpatialNet only, but '
                     f'track.similarity = {config.track.similarity!r} needs TemporalNet; train '
                     'stage 3 or pass --similarity oks|iou|ke|ke_sie')
  logger.info('restored %s step %d (%s)', workdir, saved['step'],
              'SpatialNet + TemporalNet' if temporal is not None else 'SpatialNet')
  return NetworkInference(config, spatial, temporal)


# ----------------------------------------------------------------------------------------------
# 3. Command line.

def load_config(path: str | None):
  """``get_config()`` of a config file (default: configs/default.py's values)."""
  if path is None:
    return _default_config()
  if not os.path.isfile(path):
    raise FileNotFoundError(f'{path}: no such config file')
  spec = importlib.util.spec_from_file_location('artrack_track_config', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if not hasattr(module, 'get_config'):
    raise ValueError(f'{path}: defines no get_config()')
  return module.get_config()


def _default_config():
  here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  return load_config(os.path.join(here, 'configs', 'default.py'))


def _workdir_and_step(args) -> tuple[str, int | None]:
  if args.workdir:
    return args.workdir, None
  # --checkpoint WORKDIR/checkpoints/<step>
  path = os.path.normpath(args.checkpoint)
  step = os.path.basename(path)
  if not step.isdigit():
    raise ValueError(f'{args.checkpoint}: expected WORKDIR/checkpoints/<step>')
  return os.path.dirname(os.path.dirname(path)), int(step)


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog='python -m artrack_jax.track', description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  model = parser.add_mutually_exclusive_group(required=True)
  model.add_argument('--workdir', help='training workdir (latest checkpoint)')
  model.add_argument('--checkpoint', help='one checkpoint: WORKDIR/checkpoints/<step>')
  parser.add_argument('--video', required=True, help='video file or folder of frames')
  parser.add_argument('--out', required=True, help='output folder')
  parser.add_argument('--config', help='config file the model was trained with '
                      '(default configs/default.py)')
  parser.add_argument('--similarity', choices=similarity_lib.SIMILARITIES,
                      help='override config.track.similarity')
  parser.add_argument('--fps', type=float, help='frame rate of a frame folder (default 25)')
  parser.add_argument('--no-video', action='store_true', help='do not write the rendered mp4')
  parser.add_argument('--frames', action='store_true', help='write rendered frames as PNG')
  parser.add_argument('--no-labels', action='store_true', help='do not draw track ids')
  return parser


def write_sequence(seq: types.Sequence, path: str) -> None:
  """PoseTrack 2018 JSON of a tracked sequence (COCO-skeleton models converted first)."""
  from artrack_jax.data import formats  # pylint: disable=g-import-not-at-top
  if seq.skeleton != 'posetrack':
    seq = formats.convert_skeleton(seq, 'posetrack')
  formats.write_posetrack18(seq, path)


def run(args, infer_fn: InferFn | None = None, config=None) -> types.Sequence:
  """The command's work; ``infer_fn``/``config`` replace the checkpoint (tests, notebooks)."""
  from tqdm import tqdm  # pylint: disable=g-import-not-at-top
  source = video_io.open_video(args.video, fps=args.fps)
  if config is None:
    config = load_config(args.config)
  if args.similarity:
    config.track.similarity = args.similarity
  if infer_fn is None:
    workdir, step = _workdir_and_step(args)
    infer_fn = load_inference_fn(workdir, config, step)
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
    drawn = render_frame(image, frame, skeleton, labels)
    if writer is not None:
      writer.write(drawn)
    if args.frames:
      video_io.save_image(os.path.join(frames_dir, f'{index:06d}.png'), drawn)

  paths = ([os.path.relpath(p, os.path.dirname(source.path)) for p in source.frame_paths]
           if source.is_folder else None)
  try:
    seq = track_video(tqdm(video_io.iter_frames(source), total=source.num_frames,
                           desc=source.name, unit='frame'),
                      infer_fn, config, name=source.name, image_paths=paths,
                      on_frame=on_frame)
  finally:
    if writer is not None:
      writer.close()
  write_sequence(seq, os.path.join(args.out, f'{source.name}.json'))
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
