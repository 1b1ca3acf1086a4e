"""Online pose tracker (Section 3.3.3, Eq. 8-9), host side (NumPy/SciPy).

Each frame's poses are matched to the tracks by bipartite matching (Eq. 8, Hungarian algorithm
via ``scipy.optimize.linear_sum_assignment``) on the cost of ``similarity.cost_matrix`` (the
paper's ``he_tie``: Psi = lambda_HE Psi_HE + lambda_TIE Psi_TIE, or a Table 4 baseline). A matched
pair whose cost exceeds ``config.track.new_track_cost`` is refused and the pose starts a new
track.

Track life cycle:

* *active*: seen within the last ``max_missed + 1`` frames; matched with the full similarity.
  TIE compares with the track's last pose; its backward term needs that pose to be from the
  previous frame (the TemporalNet pair (t-1, t)), otherwise only the forward term is used.
* *lost* (beyond the paper): an ended track is remembered for ``reid_window`` more frames. A pose
  left unmatched after the first matching is compared with the lost tracks by Psi_HE alone
  (against the mean of the track's normalised human embeddings, which is steadier than its last
  one) and takes the track's id back when under ``config.track.reid_cost``. This keeps a person's id through a full occlusion. It needs human
  embeddings: when the observations carry no ``he`` (the ``oks``/``iou``/``ke`` baselines
  without TemporalNet) there is nothing to re-identify with and lost tracks simply end.
* forgotten after that.

Ids are never reused and are unique within a frame (each track is matched at most once).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import scipy.optimize

from artrack_jax import skeletons as skeletons_lib
from artrack_jax.tracking import similarity as similarity_lib
from artrack_jax.data.types import FrameObservations, PoseObservation

__all__ = ['FrameObservations', 'PoseObservation', 'Tracker']


@dataclasses.dataclass
class _Track:
  track_id: int
  observation: PoseObservation
  last_seen: int
  he_sum: np.ndarray | None               # [E] sum of the unit HEs seen (re-identification)
  tie_backward: np.ndarray | None = None   # [J, 2] T' at the last pose, set for frame t


def _unit_rows(vectors: list[np.ndarray]) -> np.ndarray:
  """[N, E] float32 L2-normalised rows (one product for the whole frame)."""
  m = np.asarray(vectors, np.float32)
  return m / np.maximum(np.sqrt((m * m).sum(-1, keepdims=True)), 1e-12)


class Tracker:
  """Online tracker: ``update`` once per frame, in frame order.

  Args:
    config: ``config.track`` (similarity, lambda_he, lambda_tie, new_track_cost, max_missed,
      reid_window; optional reid_cost, tag_threshold).
    skeleton: joint set of the observations (OKS sigmas).
  """

  def __init__(self, config, skeleton: skeletons_lib.Skeleton):
    self.similarity = str(config.similarity)
    if self.similarity not in similarity_lib.SIMILARITIES:
      raise ValueError(f'config.track.similarity: unknown option {self.similarity!r}; choose '
                       f'one of {similarity_lib.SIMILARITIES}')
    self.skeleton = skeleton
    self.lambda_he = float(config.lambda_he)
    self.lambda_tie = float(config.lambda_tie)
    self.new_track_cost = float(config.new_track_cost)
    self.reid_cost = float(config.reid_cost)
    self.max_missed = int(config.max_missed)
    self.reid_window = int(config.reid_window)
    self.tag_threshold = float(config.tag_threshold)
    if self.max_missed < 0 or self.reid_window < 0:
      raise ValueError('config.track.max_missed and reid_window must be >= 0, got '
                       f'{self.max_missed} and {self.reid_window}')
    self._tracks: list[_Track] = []
    self._next_id = 0
    self._last_frame: int | None = None
    self._last_tracks: list[_Track] = []   # tracks of the previous frame's observations, in order

  @property
  def uses_tie(self) -> bool:
    return self.similarity in ('tie', 'he_tie')

  def _cost(self, observations, tracks):
    tracked_bwd = None
    if self.uses_tie and tracks:
      tracked_bwd = np.stack([t.tie_backward if t.tie_backward is not None
                              else np.full((self.skeleton.num_joints, 2), np.nan)
                              for t in tracks])
    return similarity_lib.cost_matrix(
        self.similarity, observations, [t.observation for t in tracks], self.skeleton,
        lambda_he=self.lambda_he, lambda_tie=self.lambda_tie,
        tag_threshold=self.tag_threshold, tracked_tie_bwd=tracked_bwd)

  @staticmethod
  def _match(cost: np.ndarray, gate: float) -> list[tuple[int, int]]:
    if cost.size == 0:
      return []
    rows, cols = scipy.optimize.linear_sum_assignment(cost)
    return [(r, c) for r, c in zip(rows, cols) if cost[r, c] <= gate]

  def update(self, observations: Sequence[PoseObservation] | FrameObservations,
             frame_index: int, tie_backward: np.ndarray | None = None) -> np.ndarray:
    """Assigns track ids to the poses of frame ``frame_index``.

    Args:
      observations: the frame's poses (or a ``FrameObservations`` carrying tie_backward).
      frame_index: strictly increasing frame number.
      tie_backward: [K_prev, J, 2] backward TIE at the previous frame's observations (order
        of the previous call). Required for ``tie``/``he_tie`` when the previous frame had
        poses.

    Returns:
      [N] int64 track ids, unique within the frame.
    """
    if isinstance(observations, FrameObservations):
      if tie_backward is not None:
        raise ValueError('tie_backward given twice (argument and FrameObservations)')
      observations, tie_backward = observations.observations, observations.tie_backward
    observations = list(observations)
    frame_index = int(frame_index)
    if self._last_frame is not None and frame_index <= self._last_frame:
      raise ValueError(f'Tracker.update: frame_index {frame_index} does not follow '
                       f'{self._last_frame}')
    for t in self._tracks:
      t.tie_backward = None
    consecutive = self._last_frame is not None and frame_index == self._last_frame + 1
    if self.uses_tie and self._last_tracks and consecutive:
      if tie_backward is None:
        raise ValueError(f'similarity {self.similarity!r} needs the backward TIE at the '
                         f'previous frame\'s {len(self._last_tracks)} poses (tie_backward)')
      tie_backward = np.asarray(tie_backward, np.float64)
      if tie_backward.shape != (len(self._last_tracks), self.skeleton.num_joints, 2):
        raise ValueError(f'tie_backward has shape {tie_backward.shape}, expected '
                         f'{(len(self._last_tracks), self.skeleton.num_joints, 2)}')
      for t, bwd in zip(self._last_tracks, tie_backward):
        t.tie_backward = bwd

    gap = lambda t: frame_index - t.last_seen
    active = [t for t in self._tracks if gap(t) <= self.max_missed + 1]
    lost = [t for t in self._tracks if self.max_missed + 1 < gap(t)
            <= self.max_missed + 1 + self.reid_window]
    self._tracks = active + lost

    assigned: dict[int, _Track] = {}
    for r, c in self._match(self._cost(observations, active), self.new_track_cost):
      assigned[r] = active[c]

    # Re-identification of lost tracks by human embedding.
    left = [i for i in range(len(observations)) if i not in assigned]
    reid_tracks = [t for t in lost if t.he_sum is not None]
    has_he = bool(observations) and all(o.he is not None for o in observations)
    he_unit = _unit_rows([o.he for o in observations]) if has_he else None
    if left and reid_tracks and has_he:
      cost = similarity_lib.he_cost(he_unit[left], np.stack([t.he_sum for t in reid_tracks]))
      for r, c in self._match(cost, self.reid_cost):
        assigned[left[r]] = reid_tracks[c]

    ids = np.empty(len(observations), np.int64)
    frame_tracks = []
    for i, obs in enumerate(observations):
      track = assigned.get(i)
      if track is None:
        track = _Track(self._next_id, obs, frame_index, None)
        self._next_id += 1
        self._tracks.append(track)
      track.observation = obs
      track.last_seen = frame_index
      if he_unit is not None:
        track.he_sum = he_unit[i] if track.he_sum is None else track.he_sum + he_unit[i]
      ids[i] = track.track_id
      frame_tracks.append(track)
    self._last_tracks = frame_tracks
    self._last_frame = frame_index
    return ids
