"""The trackers users pick today: frame-to-frame box IoU or OKS association (mmpose 0.x).

These reproduce mmpose 0.x ``get_track_id``: every pose of frame t is matched to the poses of
frame t-1 only (no memory of lost tracks), by box IoU or by OKS, with a threshold of 0.3; a pose
without a match above the threshold starts a new track. ``matching='greedy'`` follows mmpose
(poses of frame t in their order each take the most similar remaining pose of frame t-1);
``matching='hungarian'`` solves the assignment with ``scipy.optimize.linear_sum_assignment``.

They are the paper's Table 4 "OKS" and "IoU" rows, and the benchmark statistics run them on
ground-truth poses to show that association alone is not trivial on the synthetic clips.
"""
from __future__ import annotations

import numpy as np
import scipy.optimize

from artrack_jax import skeletons
from artrack_jax.data.types import Frame, Person, Sequence


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """IoU of boxes (x, y, w, h).

  Args:
    a: [N, 4]; b: [M, 4].

  Returns:
    [N, M].
  """
  a = np.asarray(a, np.float64).reshape(-1, 4)
  b = np.asarray(b, np.float64).reshape(-1, 4)
  lo = np.maximum(a[:, None, :2], b[None, :, :2])
  hi = np.minimum(a[:, None, :2] + a[:, None, 2:], b[None, :, :2] + b[None, :, 2:])
  inter = np.prod(np.clip(hi - lo, 0, None), -1)
  union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - inter
  return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def oks(a: np.ndarray, b: np.ndarray, area_a: np.ndarray, area_b: np.ndarray,
        sigmas) -> np.ndarray:
  """Object keypoint similarity between two sets of poses (mmpose ``oks_iou`` with vis_thr).

  ``OKS = mean_j exp(-d_j^2 / (2 s^2 (2 sigma_j)^2))`` over the joints labelled (v > 0) in both
  poses, with ``s^2`` the mean of the two box areas; 0 when they share no joint.

  Args:
    a: [N, J, 3]; b: [M, J, 3] keypoints (x, y, v).
    area_a: [N]; area_b: [M] box areas.
    sigmas: [J] per-joint sigmas (``Skeleton.oks_sigmas``).

  Returns:
    [N, M].
  """
  a = np.asarray(a, np.float64)
  b = np.asarray(b, np.float64)
  var = (2 * np.asarray(sigmas, np.float64)) ** 2
  d2 = ((a[:, None, :, :2] - b[None, :, :, :2]) ** 2).sum(-1)          # [N, M, J]
  scale = (np.asarray(area_a, np.float64)[:, None] + np.asarray(area_b, np.float64)[None]) / 2
  e = d2 / var / (scale[..., None] + np.spacing(1)) / 2
  both = (a[:, None, :, 2] > 0) & (b[None, :, :, 2] > 0)
  n = both.sum(-1)
  total = np.where(both, np.exp(-e), 0.0).sum(-1)
  return np.where(n > 0, total / np.maximum(n, 1), 0.0)


def similarity_matrix(current: list[Person], previous: list[Person], similarity: str,
                      skeleton: skeletons.Skeleton) -> np.ndarray:
  """[len(current), len(previous)] IoU or OKS."""
  if not current or not previous:
    return np.zeros((len(current), len(previous)))
  if similarity == 'iou':
    return box_iou(np.stack([p.bbox for p in current]), np.stack([p.bbox for p in previous]))
  if similarity == 'oks':
    area = lambda ps: np.array([float(p.bbox[2]) * float(p.bbox[3]) for p in ps])
    return oks(np.stack([p.keypoints for p in current]), np.stack([p.keypoints for p in previous]),
               area(current), area(previous), skeleton.oks_sigmas)
  raise ValueError(f"similarity must be 'iou' or 'oks', got {similarity!r}")


def match(sim: np.ndarray, threshold: float, matching: str = 'greedy') -> np.ndarray:
  """Assigns each row (pose of frame t) a column (pose of frame t-1) or -1.

  A pair is accepted only when its similarity is strictly above ``threshold`` (mmpose).
  """
  n, m = sim.shape
  out = np.full(n, -1, np.int64)
  if n == 0 or m == 0:
    return out
  if matching == 'greedy':
    free = np.ones(m, bool)
    for i in range(n):
      if not free.any():
        break
      cand = np.where(free, sim[i], -np.inf)
      j = int(np.argmax(cand))
      if cand[j] > threshold:
        out[i] = j
        free[j] = False
    return out
  if matching == 'hungarian':
    rows, cols = scipy.optimize.linear_sum_assignment(-sim)
    ok = sim[rows, cols] > threshold
    out[rows[ok]] = cols[ok]
    return out
  raise ValueError(f"matching must be 'greedy' or 'hungarian', got {matching!r}")


def track_sequence(seq: Sequence, similarity: str = 'iou', threshold: float = 0.3,
                   matching: str = 'greedy') -> Sequence:
  """Re-assigns track ids frame to frame; poses are copied unchanged.

  Args:
    seq: poses per frame (ground truth or predictions); input track ids are ignored.
    similarity: 'iou' (person boxes) or 'oks' (keypoints, skeleton's sigmas).
    threshold: minimum similarity (exclusive) to continue a track.
    matching: 'greedy' (mmpose 0.x) or 'hungarian'.

  Returns:
    A new Sequence with track ids 0, 1, 2, ... in order of first appearance. Frames without
    people break every track (no memory of lost tracks).
  """
  skeleton = skeletons.get(seq.skeleton)
  next_id = 0
  previous: list[Person] = []
  frames = []
  for fr in seq.frames:
    people = [Person(track_id=-1, keypoints=np.array(p.keypoints), bbox=np.array(p.bbox),
                     bbox_head=None if p.bbox_head is None else np.array(p.bbox_head),
                     scores=None if p.scores is None else np.array(p.scores), score=p.score)
              for p in fr.people]
    assignment = match(similarity_matrix(people, previous, similarity, skeleton), threshold,
                       matching)
    for p, j in zip(people, assignment):
      if j >= 0:
        p.track_id = previous[j].track_id
      else:
        p.track_id = next_id
        next_id += 1
    frames.append(Frame(image_path=fr.image_path, frame_id=fr.frame_id, is_labeled=fr.is_labeled,
                        people=people, ignore_regions=[np.array(r) for r in fr.ignore_regions],
                        width=fr.width, height=fr.height, image_id=fr.image_id))
    previous = people
  return Sequence(name=seq.name, frames=frames, skeleton=seq.skeleton, vid_id=seq.vid_id)
