"""The online tracking of a video: per frame, the predictor's observations, then the tracker.

  seq = online.track_video(frames, predictor.observe, config)

``infer_fn(frame)`` gives the frame's ``PoseObservation`` list (or ``FrameObservations`` with
the backward TIE), keypoints in frame pixels (``inference.FramePredictor.observe`` for trained
networks); the tracker (``tracker.Tracker``, Eq. 8-9) assigns ids; the result is a
``data.types.Sequence`` of the poses written out (``predicted_people``).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from artrack_jax import skeletons as skeletons_lib
from artrack_jax.data import formats
from artrack_jax.data import types
from artrack_jax.data.types import FrameObservations, PoseObservation
from artrack_jax.grouping import decode as decode_lib
from artrack_jax.tracking.tracker import Tracker

InferFn = Callable[[np.ndarray], 'list[PoseObservation] | FrameObservations']


def observation_to_person(obs: PoseObservation, track_id: int,
                          min_joint_score: float | np.ndarray = 0.0) -> types.Person:
  """A tracked observation as a prediction ``Person`` (v = 1 on found joints).

  Joints scored below ``min_joint_score`` (a number, or one per joint type) are left out of
  the prediction.
  """
  keypoints = np.asarray(obs.keypoints, np.float32).copy()
  keypoints[keypoints[:, 2] < min_joint_score, 2] = 0.0
  return decode_lib.pose_to_person(dict(keypoints=keypoints, score=obs.score), track_id)


def joint_thresholds(track_config, num_joints: int | None = None) -> float | np.ndarray:
  """``track.min_joint_scores`` as a [J] array when given, else ``track.min_joint_score``.

  Raises:
    ValueError: ``min_joint_scores`` does not hold one number per joint type.
  """
  per_type = tuple(track_config.get('min_joint_scores', ()) or ())
  if not per_type:
    return float(track_config.min_joint_score)
  try:
    values = np.asarray(per_type, np.float64)
  except (TypeError, ValueError):
    values = None
  if values is None or values.ndim != 1 or (num_joints is not None
                                            and len(values) != num_joints):
    raise ValueError(f'config.track.min_joint_scores = {per_type!r}: expected one number per '
                     f'joint type ({num_joints if num_joints is not None else "J"} numbers), or '
                     '() to use track.min_joint_score for all')
  return values


def predicted_people(observations: list[PoseObservation], track_ids, track_config
                     ) -> list[types.Person]:
  """The tracked poses of a frame that go into the output file.

  The tracker sees every decoded pose, but poses scored below ``track.min_pose_score`` and joints
  below ``track.min_joint_score`` (or ``track.min_joint_scores[j]`` for joint type j, when
  given) are not written: every written joint is a hypothesis for PoseTrack's MOTA, where an
  unconfident joint can only add a false positive. (AP, which ranks joints by score, loses
  little from the cut.)
  """
  min_pose = float(track_config.min_pose_score)
  min_joint = joint_thresholds(track_config,
                               len(observations[0].keypoints) if observations else None)
  return [observation_to_person(o, int(t), min_joint)
          for o, t in zip(observations, track_ids) if float(o.score) >= min_pose]


def track_video(frames: Iterable[np.ndarray | tuple[int, np.ndarray]], infer_fn: InferFn,
                config, *, name: str = 'video',
                image_path: Callable[[int], str] | None = None,
                on_frame: Callable[[int, np.ndarray, types.Frame], None] | None = None,
                keep_frames: bool = True) -> types.Sequence:
  """Runs ``infer_fn`` and the online tracker over a video.

  Args:
    frames: uint8 [H, W, 3] frames in order, or (frame index, frame) pairs of a selection of
      the video's frames (``video_io.read_frames``): the index becomes the frame's
      ``frame_id``/``image_id``, while the tracker counts the frames it is given.
    infer_fn: frame -> list[PoseObservation] (keypoints in frame pixels) or FrameObservations.
    config: the full config (``track``, ``data.skeleton``).
    name: sequence name.
    image_path: frame index -> the frame's ``image_path`` (default
      ``'<name>/<index:06d>.jpg'``).
    on_frame: called as ``on_frame(k, frame, types.Frame)`` after the k-th frame is tracked
      (rendering while reading keeps one pass over the video).
    keep_frames: keep the tracked frames in the returned ``Sequence``; without, its frames are
      empty and memory does not grow with the video (``on_frame`` then writes them out, e.g.
      to a ``formats.PoseTrack18Writer``).

  Returns:
    The tracked ``Sequence`` (skeleton ``config.data.skeleton``, vid_id 0; every frame
    labelled, image id = frame index).
  """
  skeleton = skeletons_lib.get(config.data.skeleton)
  joint_thresholds(config.track, skeleton.num_joints)   # a bad setting fails before any work
  tracker = Tracker(config.track, skeleton)
  out = []
  for index, item in enumerate(frames):
    frame_id, image = item if isinstance(item, tuple) else (index, item)
    result = infer_fn(image)
    observations = result.observations if isinstance(result, FrameObservations) else result
    for k, obs in enumerate(observations):
      kp = np.asarray(obs.keypoints)
      if kp.shape != (skeleton.num_joints, 3):
        raise ValueError(f'infer_fn: frame {index}, pose {k}: keypoints shape {kp.shape}, '
                         f'skeleton {skeleton.name!r} needs {(skeleton.num_joints, 3)}')
    ids = tracker.update(result, index)
    path = image_path(frame_id) if image_path is not None else f'{name}/{frame_id:06d}.jpg'
    frame = types.Frame(image_path=path, frame_id=frame_id, is_labeled=True,
                        people=predicted_people(observations, ids, config.track),
                        width=int(image.shape[1]), height=int(image.shape[0]),
                        image_id=frame_id)
    if keep_frames:
      out.append(frame)
    if on_frame is not None:
      on_frame(index, image, frame)
  # A user's video is video 0: PoseTrack 2018 files carry a numeric vid_id.
  return types.Sequence(name=name, frames=out, skeleton=skeleton.name, vid_id=0)


def write_sequence(seq: types.Sequence, path: str) -> None:
  """PoseTrack 2018 JSON of a tracked sequence (COCO-skeleton models converted first)."""
  if seq.skeleton != 'posetrack':
    seq = formats.convert_skeleton(seq, 'posetrack')
  formats.write_posetrack18(seq, path)
