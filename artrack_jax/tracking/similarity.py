"""Pairwise costs between the poses of the current frame and the tracked poses (Eq. 8-9).

Every similarity option returns a cost matrix ``[N_current, M_tracked]`` in *gate units*: 0 for
identical poses, and 1 at the natural decision boundary of the measure, so one gate
(``config.track.new_track_cost``, default 1) means the same thing for every option:

===========  ====================================================================================
option       cost
===========  ====================================================================================
``oks``      ``(1 - OKS) / 0.7``: OKS 0.3 (mmpose's match threshold) sits at 1. OKS uses the
             tracked pose's keypoint box area as the scale and the skeleton's sigmas.
``iou``      ``(1 - IoU) / 0.7`` of the keypoint boxes (IoU 0.3 at 1).
``ke``       ``||tag - tag'|| / tag_threshold`` (mean KE tags; 1 = AE's grouping threshold).
``ke_sie``   mean of the ``ke`` cost and ``||centre - centre'|| / (0.5 s)`` (SIE centres; ``s`` the
             tracked person's size), i.e. both must be small.
``he``       ``Psi_HE = ||H/|H| - H'/|H'|||^2`` in [0, 4] (Eq. 8 text): squared L2 distance of the
             L2-normalised human embeddings (1 = cosine similarity 0.5).
``tie``      ``Psi_TIE / (0.5 s)^2`` (Eq. 9): the squared centre discrepancies are measured in
             units of half the person's size; clipped to 4 so that a far pose weighs like an
             opposite HE.
``he_tie``   ``(lambda_HE Psi_HE + lambda_TIE Psi_TIE) / (lambda_HE + lambda_TIE)`` (Eq. 8-9 with
             lambda_HE = 3, lambda_TIE = 1): with both terms in [0, 4] the lambdas weigh them as
             the paper says, and dividing by their sum keeps the gate in the same units.
===========  ====================================================================================

The person size ``s`` is ``sqrt`` of the area of the tracked pose's keypoint box (at least 1
pixel); all coordinates (keypoints, SIE, TIE) must be in the same pixels.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from artrack_jax import skeletons as skeletons_lib
from artrack_jax.data.types import PoseObservation

SIMILARITIES = ('oks', 'iou', 'ke', 'ke_sie', 'he', 'tie', 'he_tie')
# The options that read each TemporalNet embedding, and those that need TemporalNet at all.
HE = ('he', 'he_tie')
TIE = ('tie', 'he_tie')
TEMPORAL = ('he', 'tie', 'he_tie')
# OKS / IoU of 0.3 (mmpose's threshold) maps to cost 1.
_OVERLAP_GATE = 0.3
# Cap of the normalised TIE cost (the HE cost's range is [0, 4]).
_TIE_CAP = 4.0


def keypoint_boxes(keypoints: np.ndarray) -> np.ndarray:
  """[N, J, 3] -> [N, 4] (x0, y0, x1, y1) around the present joints (zeros when none)."""
  present = keypoints[..., 2] > 0
  big = np.where(present[..., None], keypoints[..., :2], np.inf)
  small = np.where(present[..., None], keypoints[..., :2], -np.inf)
  lo, hi = big.min(axis=1), small.max(axis=1)
  boxes = np.concatenate([lo, hi], axis=-1)
  return np.where(present.any(axis=1)[:, None], boxes, 0.0)


def person_sizes(keypoints: np.ndarray) -> np.ndarray:
  """[N, J, 3] -> [N] sqrt of the keypoint box area, at least 1 pixel."""
  boxes = keypoint_boxes(keypoints)
  area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
  return np.maximum(np.sqrt(area), 1.0)


def _field(observations: Sequence[PoseObservation], name: str, option: str,
           dtype=np.float64) -> np.ndarray:
  values = [getattr(o, name) for o in observations]
  missing = [i for i, v in enumerate(values) if v is None]
  if missing:
    raise ValueError(f'similarity {option!r} needs PoseObservation.{name}; observation(s) '
                     f'{missing} have none')
  return np.asarray(values, dtype)


def oks_cost(current: np.ndarray, tracked: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
  """``(1 - OKS) / 0.7`` [N, M]; joints count where present in both poses.

  OKS = mean_j exp(-d_j^2 / (2 s^2 k_j^2)) with k_j = 2 sigma_j and s^2 the tracked pose's
  keypoint box area (COCO's definition with the box area standing in for the segment area).
  """
  both = (current[:, None, :, 2] > 0) & (tracked[None, :, :, 2] > 0)        # [N, M, J]
  d2 = ((current[:, None, :, :2] - tracked[None, :, :, :2]) ** 2).sum(-1)
  area = person_sizes(tracked) ** 2                                        # [M]
  k2 = (2.0 * np.asarray(sigmas)) ** 2
  e = np.exp(-d2 / (2.0 * area[None, :, None] * k2[None, None, :]))
  oks = (e * both).sum(-1) / np.maximum(both.sum(-1), 1)
  return (1.0 - oks) / (1.0 - _OVERLAP_GATE)


def iou_cost(current: np.ndarray, tracked: np.ndarray) -> np.ndarray:
  """``(1 - IoU) / 0.7`` [N, M] of the keypoint boxes."""
  a, b = keypoint_boxes(current)[:, None], keypoint_boxes(tracked)[None]
  iw = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
  ih = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
  inter = iw * ih
  area = lambda x: (x[..., 2] - x[..., 0]) * (x[..., 3] - x[..., 1])
  union = area(a) + area(b) - inter
  iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)
  return (1.0 - iou) / (1.0 - _OVERLAP_GATE)


def he_cost(current_he: np.ndarray, tracked_he: np.ndarray) -> np.ndarray:
  """Psi_HE [N, M] = squared L2 distance of L2-normalised embeddings, in [0, 4]."""
  # float32 halves the cost of the [N, E] x [E, M] product (E = 3072); the distances live in
  # [0, 4], where float32 is ample.
  a = np.asarray(current_he, np.float32)
  b = np.asarray(tracked_he, np.float32)
  a = a / np.maximum(np.sqrt((a * a).sum(-1, keepdims=True)), 1e-12)
  b = b / np.maximum(np.sqrt((b * b).sum(-1, keepdims=True)), 1e-12)
  return np.clip(2.0 - 2.0 * (a @ b.T).astype(np.float64), 0.0, 4.0)


def tie_cost(current_kp: np.ndarray, current_sie: np.ndarray, current_tie: np.ndarray,
             tracked_kp: np.ndarray, tracked_sie: np.ndarray,
             tracked_tie_bwd: np.ndarray | None) -> np.ndarray:
  """Normalised Psi_TIE [N, M] (Eq. 9).

  Psi_TIE = 1/2 mean_j (||T'(p_{j,k'}^{t-1}) - S^t(p_{j,k}^t)||^2
                        + ||T(p_{j,k}^t) - S^{t-1}(p_{j,k'}^{t-1})||^2)
  over the joints present in both poses, divided by (0.5 s)^2 and clipped to 4.

  Args:
    current_kp: [N, J, 3]; current_sie: [N, J, 2] S^t; current_tie: [N, J, 2] forward TIE T.
    tracked_kp: [M, J, 3]; tracked_sie: [M, J, 2] S^{t-1}.
    tracked_tie_bwd: [M, J, 2] backward TIE T' at the tracked poses' joints, computed with the
      current frame; NaN rows (or None) for tracks whose last pose is not from frame t-1: for
      those only the forward term is averaged.
  """
  both = (current_kp[:, None, :, 2] > 0) & (tracked_kp[None, :, :, 2] > 0)  # [N, M, J]
  fwd = ((current_tie[:, None] - tracked_sie[None]) ** 2).sum(-1)           # [N, M, J]
  if tracked_tie_bwd is None:
    tracked_tie_bwd = np.full(tracked_sie.shape, np.nan)
  has_bwd = ~np.isnan(tracked_tie_bwd).any(axis=(1, 2))                      # [M]
  bwd = ((np.nan_to_num(tracked_tie_bwd)[None] - current_sie[:, None]) ** 2).sum(-1)
  per_joint = np.where(has_bwd[None, :, None], 0.5 * (fwd + bwd), fwd)
  count = both.sum(-1)
  psi = (per_joint * both).sum(-1) / np.maximum(count, 1)
  scale = (0.5 * person_sizes(tracked_kp)) ** 2
  return np.where(count > 0, np.minimum(psi / scale[None], _TIE_CAP), _TIE_CAP)


def cost_matrix(option: str, current: Sequence[PoseObservation],
                tracked: Sequence[PoseObservation], skeleton: skeletons_lib.Skeleton, *,
                lambda_he: float = 3.0, lambda_tie: float = 1.0, tag_threshold: float = 1.0,
                tracked_tie_bwd: np.ndarray | None = None) -> np.ndarray:
  """Cost [N, M] of continuing each tracked pose with each current pose, in gate units.

  Args:
    option: one of ``SIMILARITIES``.
    current: the N observations of the current frame.
    tracked: the M tracks' last observations.
    skeleton: gives the OKS sigmas.
    lambda_he, lambda_tie: Eq. 8 weights (``he_tie``).
    tag_threshold: KE distance that counts as 1 (``ke``, ``ke_sie``).
    tracked_tie_bwd: [M, J, 2] backward TIE at the tracked poses' joints (NaN rows where not
      available); see ``tie_cost``.
  """
  if option not in SIMILARITIES:
    raise ValueError(f'config.track.similarity: unknown option {option!r}; choose one of '
                     f'{SIMILARITIES}')
  n, m = len(current), len(tracked)
  if n == 0 or m == 0:
    return np.zeros((n, m))
  kp_c = _field(current, 'keypoints', option)
  kp_t = _field(tracked, 'keypoints', option)
  if option == 'oks':
    return oks_cost(kp_c, kp_t, np.asarray(skeleton.oks_sigmas))
  if option == 'iou':
    return iou_cost(kp_c, kp_t)
  if option in ('ke', 'ke_sie'):
    ke = np.linalg.norm(_field(current, 'tag', option)[:, None]
                        - _field(tracked, 'tag', option)[None], axis=-1) / tag_threshold
    if option == 'ke':
      return ke
    centre = np.linalg.norm(_field(current, 'center', option)[:, None]
                            - _field(tracked, 'center', option)[None], axis=-1)
    return 0.5 * (ke + centre / (0.5 * person_sizes(kp_t))[None])
  costs = {}
  if option in ('he', 'he_tie'):
    costs['he'] = he_cost(_field(current, 'he', option, np.float32),
                          _field(tracked, 'he', option, np.float32))
  if option in ('tie', 'he_tie'):
    costs['tie'] = tie_cost(kp_c, _field(current, 'sie', option), _field(current, 'tie', option),
                            kp_t, _field(tracked, 'sie', option), tracked_tie_bwd)
  if option == 'he':
    return costs['he']
  if option == 'tie':
    return costs['tie']
  # Eq. 8: Psi = lambda_HE Psi_HE + lambda_TIE Psi_TIE, as a weighted mean (see module doc).
  return (lambda_he * costs['he'] + lambda_tie * costs['tie']) / (lambda_he + lambda_tie)
