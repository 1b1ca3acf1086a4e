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
2. ``NetworkInference``: the ``infer_fn`` of a trained model (``inference.InferenceModel``):
   letterbox, SpatialNet (+ flip / multi-scale test), bottom-up decoding, and with a
   TemporalNet checkpoint the human embeddings and both TIE maps, everything mapped back to
   the frame's pixels. ``load_inference_fn(workdir, config)`` restores it from a training
   workdir.
3. ``main``: I/O and the command line.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable

import numpy as np

from artrack_jax import skeletons as skeletons_lib
from artrack_jax import targets
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

def observation_to_person(obs: PoseObservation, track_id: int,
                          min_joint_score: float = 0.0) -> types.Person:
  """A tracked observation as a prediction ``Person`` (v = 1 on found joints).

  Joints scored below ``min_joint_score`` are left out of the prediction.
  """
  keypoints = np.asarray(obs.keypoints, np.float32).copy()
  keypoints[keypoints[:, 2] < min_joint_score, 2] = 0.0
  return decode_lib.pose_to_person(dict(keypoints=keypoints, score=obs.score), track_id)


def predicted_people(observations: list[PoseObservation], track_ids, track_config
                     ) -> list[types.Person]:
  """The tracked poses of a frame that go into the output file.

  The tracker sees every decoded pose, but poses scored below ``track.min_pose_score`` and joints
  below ``track.min_joint_score`` are not written: every written joint is a hypothesis for
  PoseTrack's MOTA, where an unconfident joint can only add a false positive. (AP, which ranks
  joints by score, loses little from the cut.)
  """
  min_pose = float(track_config.get('min_pose_score', 0.0))
  min_joint = float(track_config.get('min_joint_score', 0.0))
  return [observation_to_person(o, int(t), min_joint)
          for o, t in zip(observations, track_ids) if float(o.score) >= min_pose]


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
                        people=predicted_people(observations, ids, config.track),
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
  # v (1 on found joints) serves as the drawing score.
  keypoints = np.stack([p.keypoints for p in frame.people])
  return visualize.draw_poses(image, keypoints, [p.track_id for p in frame.people], skeleton,
                              labels=labels)


# ----------------------------------------------------------------------------------------------
# 2. The networks.

def _output_to_image(height: int, width: int, size: int, stride: float) -> np.ndarray:
  """[2, 3] affine: output-map pixels -> frame pixels (letterbox inverse after the stride)."""
  from artrack_jax.data import augment  # pylint: disable=g-import-not-at-top
  return targets.output_to_image_matrix(augment.frame_matrix(height, width, size), stride)


def validated_scales(config) -> tuple[tuple[float, ...], int]:
  """The test scales (``config.decode.scales``) and the multiple every input side must be.

  Returns:
    (scales, multiple): scales include 1.0 (TemporalNet reads the scale-1 maps, and the poses
    are in its pixels); ``config.data.image_size`` is a multiple of ``multiple`` = 4 * 2^depth
    (output stride 4 times the hourglass's downsampling).

  Raises:
    ValueError: naming the config field that breaks either rule.
  """
  scales = tuple(float(x) for x in config.decode.get('scales', (1.0,)))
  if 1.0 not in scales:
    raise ValueError(f'config.decode.scales = {scales} must include 1.0 (the scale '
                     'whose maps TemporalNet reads and whose pixels the poses are in)')
  multiple = 4 * 2 ** int(config.model.depth)
  if int(config.data.image_size) % multiple:
    raise ValueError(f'config.data.image_size = {config.data.image_size} is not a multiple of '
                     f'{multiple} (output stride 4, hourglass depth {config.model.depth})')
  return scales, multiple


def input_size(size: int, scale: float, multiple: int) -> int:
  """Network input side for a test scale: ``size * scale`` rounded to the nearest multiple."""
  return max(multiple, int(round(size * scale / multiple)) * multiple)


class FrameNetworks:
  """Trained networks run on whole frames, with the test-time augmentation of ``config.decode``.

  What ``NetworkInference`` and ``tracking.evaluate.NetworkFrames`` share: the letterboxed
  network input at each test scale (``decode.scales``, checked by ``validated_scales``), with
  the mirrored image too under ``decode.flip_test``; the human embeddings of decoded poses; the
  previous frame that TemporalNet pairs with the current one.

  Args:
    model: an ``inference.InferenceModel``.
    config: the full config (``data``, ``decode``, ``model``).
  """

  def __init__(self, model, config):
    self.model = model
    self.config = config
    self.skeleton = skeletons_lib.get(config.data.skeleton)
    self.size = int(config.data.image_size)
    self.flip_test = bool(config.decode.get('flip_test', False))
    self.max_people = int(config.decode.get('max_people', 30))
    self.scales, self._multiple = validated_scales(config)
    self._previous = None

  @property
  def has_temporal(self) -> bool:
    return self.model.has_temporal

  def reset(self):
    """Forgets the previous frame (call between videos or sequences)."""
    self._previous = None

  def _input_size(self, scale: float) -> int:
    """Network input side for a test scale, rounded to the nearest allowed size."""
    return input_size(self.size, scale, self._multiple)

  def _network_input(self, frame: np.ndarray, scale: float) -> np.ndarray:
    """Normalised network input [1 or 2, S, S, 3] of a uint8 frame [H, W, 3] at a test scale.

    The frame letterboxed to S = ``_input_size(scale)``; with ``flip_test`` the mirrored image
    is the second of the batch.
    """
    from artrack_jax.data import augment  # pylint: disable=g-import-not-at-top
    height, width = frame.shape[:2]
    size = self._input_size(scale)
    image = augment.normalize_image(
        augment.warp_image(frame, augment.frame_matrix(height, width, size), size))[None]
    if self.flip_test:
      image = np.concatenate([image, image[:, :, ::-1]], axis=0)
    return image

  def _human_embeddings(self, features, keypoints: np.ndarray) -> np.ndarray:
    """HE [K, E] of poses [K, J, 3] (output pixels), padded to ``max_people``: one compile."""
    k, j = keypoints.shape[:2]
    padded = np.zeros((1, self.max_people, j, 3), np.float32)
    padded[0, :k] = keypoints[:self.max_people]
    return np.asarray(self.model.human_embedding(features, padded, padded[..., 2] > 0))[0, :k]


class NetworkInference(FrameNetworks):
  """``infer_fn`` of trained networks: frame -> FrameObservations.

  Per frame: letterbox to ``config.data.image_size``; SpatialNet; bottom-up decoding
  (``grouping.decode``); with TemporalNet, the human embeddings of the decoded poses and the TIE
  maps of the pair (previous frame, this frame), sampled at the joints (forward TIE at this
  frame's joints, backward TIE at the previous frame's). Keypoints, SIE and TIE values are
  mapped back to the frame's pixels.

  Test-time augmentation follows ``config.decode``: ``flip_test`` (the mirrored image too,
  ``decode.merge_flip``) and ``scales`` (the frame letterboxed at each scale times
  ``image_size``, maps merged at the scale-1 output size, ``decode.merge_scales``; one compile
  per scale). TemporalNet reads the scale-1, unflipped maps it was trained on.

  Args:
    model: an ``inference.InferenceModel`` (``inference.restore(workdir, config)``).
    config: the config to decode with (default: the model's).
  """

  def __init__(self, model, config=None):
    super().__init__(model, config if config is not None else model.config)

  def _spatial(self, frame: np.ndarray):
    """Decoding maps (TTA merged) and the scale-1 unflipped maps for TemporalNet."""
    keys = ('heatmaps', 'ke', 'sie')
    per_scale, base = [], None
    for scale in self.scales:
      image = self._network_input(frame, scale)
      out = {k: np.asarray(v) for k, v in self.model.spatial_infer(image).items()
             if k != 'aux'}
      maps = {k: out[k][:1] for k in keys}
      if self.flip_test:
        maps = decode_lib.merge_flip(maps, {k: out[k][1:] for k in keys}, self.skeleton)
      per_scale.append(maps)
      if scale == 1.0 and base is None:
        base = {k: out[k][:1] for k in ('features', 'heatmaps', 'sie')}
    h, w = base['heatmaps'].shape[1:3]
    maps = per_scale[0] if len(per_scale) == 1 else decode_lib.merge_scales(per_scale, (h, w))
    return maps, base

  def __call__(self, frame: np.ndarray) -> FrameObservations:
    frame = video_io.rgb_frame(frame, 'NetworkInference: frame')
    height, width = frame.shape[:2]
    maps, base = self._spatial(frame)
    h = base['heatmaps'].shape[1]
    poses = decode_lib.decode(maps, self.config.decode, self.skeleton)[0]
    to_image = _output_to_image(height, width, self.size, self.size / h)
    to_img = lambda xy: decode_lib.apply_affine(xy, to_image).astype(np.float32)
    keypoints_out = (np.stack([p['keypoints'] for p in poses]) if poses
                     else np.zeros((0, self.skeleton.num_joints, 3), np.float32))

    he = tie_fwd = tie_bwd = previous_keypoints = None
    if self.has_temporal:
      he = self._human_embeddings(base['features'], keypoints_out)
      if self._previous is not None:
        tie = {k: np.asarray(v)[0] for k, v in
               self.model.temporal_infer(self._previous['maps'], base).items()}
        tie_fwd, tie_bwd = tie['tie_fwd'], tie['tie_bwd']        # [h, w, 2] output pixels
        previous_keypoints = self._previous['keypoints']
      self._previous = dict(maps=base, keypoints=keypoints_out)

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
          tie=None if tie_fwd is None else to_img(similarity_lib.sample_at_joints(tie_fwd, kp))))
    tie_backward = None
    if tie_bwd is not None:
      tie_backward = np.zeros((len(previous_keypoints), self.skeleton.num_joints, 2),
                              np.float32)
      for k, kp in enumerate(previous_keypoints):
        tie_backward[k] = to_img(similarity_lib.sample_at_joints(tie_bwd, kp))
    return FrameObservations(observations, tie_backward)

def load_inference_fn(workdir: str, config, step: int | None = None) -> NetworkInference:
  """``NetworkInference`` from a training workdir's checkpoint.

  A stage-3 ('temporal') checkpoint holds TemporalNet (trained) and the SpatialNet it was
  trained on (frozen); a stage-1/2 checkpoint holds SpatialNet only. The variables are checked
  against the config's models (a clear error naming the workdir when they differ) and placed
  on the device once.

  Raises:
    FileNotFoundError: no checkpoint.
    ValueError: variables that do not fit ``config.model``, or a SpatialNet-only checkpoint
      while ``config.track.similarity`` needs TemporalNet.
  """
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from artrack_jax import inference, train_lib  # pylint: disable=g-import-not-at-top
  saved = train_lib.load_trained_variables(workdir, step)
  what = f'{workdir} (step {saved["step"]})'
  trained = {'params': saved['params'], 'batch_stats': saved['batch_stats']}
  spatial, temporal = (saved['frozen'], trained) if saved['frozen'] else (trained, None)
  if temporal is None and config.track.similarity in TEMPORAL_SIMILARITIES:
    raise ValueError(f'{what}: the checkpoint holds SpatialNet only, but track.similarity = '
                     f'{config.track.similarity!r} needs TemporalNet; train stage 3 or pass '
                     '--similarity oks|iou|ke|ke_sie')
  model = inference.InferenceModel(config, spatial, temporal)
  size = int(config.data.image_size)
  h, j = size // 4, skeletons_lib.get(config.data.skeleton).num_joints
  expected = jax.eval_shape(lambda: model.spatial_model.init(
      jax.random.key(0), jnp.zeros((1, size, size, 3)), train=False))
  model.spatial_variables = jax.device_put(train_lib.conform_variables(
      spatial, {'params': expected['params'], 'batch_stats': expected.get('batch_stats', {})},
      f'{what} SpatialNet'))
  if temporal is not None:
    z = lambda *shape: jnp.zeros(shape)
    maps = (z(1, h, h, config.model.features), z(1, h, h, config.model.features),
            z(1, h, h, j), z(1, h, h, j), z(1, h, h, 2), z(1, h, h, 2), z(1, 1, 4), z(1, 1, 4))
    expected = jax.eval_shape(lambda: model.temporal_model.init(
        jax.random.key(0), *maps, train=False))
    model.temporal_variables = jax.device_put(train_lib.conform_variables(
        temporal, {'params': expected['params'],
                   'batch_stats': expected.get('batch_stats', {})}, f'{what} TemporalNet'))
  logger.info('restored %s: %s', what,
              'SpatialNet + TemporalNet' if temporal is not None else 'SpatialNet')
  return NetworkInference(model, config)


# ----------------------------------------------------------------------------------------------
# 3. Command line.

def load_config(path: str | None):
  """A config from a ``configs/*.py`` file (its ``get_config()``) or a workdir's
  ``config.json``; configs/default.py when ``path`` is None."""
  import ml_collections  # pylint: disable=g-import-not-at-top
  if path is None:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return load_config(os.path.join(here, 'configs', 'default.py'))
  if not os.path.isfile(path):
    raise FileNotFoundError(f'{path}: no such config file')
  if path.endswith('.json'):
    with open(path, encoding='utf-8') as f:
      try:
        return ml_collections.ConfigDict(json.load(f))
      except json.JSONDecodeError as e:
        raise ValueError(f'{path}: not valid JSON ({e})') from e
  spec = importlib.util.spec_from_file_location('artrack_track_config', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  if not hasattr(module, 'get_config'):
    raise ValueError(f'{path}: defines no get_config()')
  return module.get_config()


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
  if infer_fn is None:
    workdir, step = _workdir_and_step(args)
  if config is None:
    path = args.config
    if path is None and infer_fn is None and os.path.isfile(os.path.join(workdir,
                                                                          'config.json')):
      path = os.path.join(workdir, 'config.json')   # written by train_lib.train_and_evaluate
    config = load_config(path)
  if args.similarity:
    config.track.similarity = args.similarity
  if infer_fn is None:
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
