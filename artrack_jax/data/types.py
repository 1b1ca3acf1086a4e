"""In-memory annotation types shared by the synthetic generator, the format readers/writers,
the TFDS builders and the input pipeline.

Coordinates are image pixels (x to the right, y down, origin at the top-left corner of the
top-left pixel's centre, i.e. pixel (i, j) has centre (j, i)). Keypoints are stored in the
skeleton of the data set (``posetrack`` for PoseTrack and the synthetic benchmark, ``coco`` for
COCO); visibility ``v``: 0 = not labelled, 1 = labelled but occluded, 2 = labelled and visible.
Joints outside the image are not labelled (v = 0), as in the real annotations.
"""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class Person:
  track_id: int                 # unique within a sequence; -1 for still images without ids
  keypoints: np.ndarray         # [J, 3] float32 (x, y, v)
  bbox: np.ndarray              # [4] float32 (x, y, w, h)
  bbox_head: np.ndarray | None  # [4] float32 (x, y, w, h); None when the format has none
  scores: np.ndarray | None = None  # [J] float32 per-joint scores (predictions only)
  score: float | None = None        # person score (predictions only)


@dataclasses.dataclass
class Frame:
  image_path: str               # relative to the data set root
  frame_id: int                 # index of the frame in its sequence
  is_labeled: bool
  people: list[Person]
  # Ignore regions: list of polygons, each [V, 2] float32 (x, y).
  ignore_regions: list[np.ndarray] = dataclasses.field(default_factory=list)
  width: int = 0
  height: int = 0
  image_id: int = -1            # COCO / PoseTrack 2018 image id


@dataclasses.dataclass
class Sequence:
  name: str                     # file stem, e.g. '000342_mpii_test' or 'synth_val_0007'
  frames: list[Frame]
  skeleton: str = 'posetrack'
  vid_id: int = -1


# Tracker input: what the networks give the tracker (tracking/tracker.py) for each frame.

@dataclasses.dataclass
class PoseObservation:
  """One pose of one frame, with what the similarity options read.

  All coordinates are in one pixel frame (usually the original image's).
  """
  keypoints: np.ndarray                 # [J, 3] (x, y, score); score 0 marks a missing joint
  score: float = 0.0                    # person score (mean joint heat)
  tag: np.ndarray | None = None         # [L] mean KE tag of the joints
  center: np.ndarray | None = None      # [2] mean SIE (the person's centre)
  he: np.ndarray | None = None          # [E] human embedding (Section 3.3.1)
  sie: np.ndarray | None = None         # [J, 2] SIE S^t at the joints
  tie: np.ndarray | None = None         # [J, 2] forward TIE T at the joints: centre at t-1

  @property
  def present(self) -> np.ndarray:
    """[J] bool: joints found."""
    return np.asarray(self.keypoints)[:, 2] > 0


@dataclasses.dataclass
class FrameObservations:
  """What the networks give the tracker for one frame.

  ``tie_backward`` [K_prev, J, 2] is the backward TIE T' (computed from the pair (t-1, t)) at the
  joints of the previous frame's observations, in the order they were given to the tracker.
  """
  observations: list[PoseObservation]
  tie_backward: np.ndarray | None = None
