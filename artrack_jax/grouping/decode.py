"""Bottom-up decoding of SpatialNet outputs into poses (Section 3.1, following AE).

Two halves with an explicit host/device boundary:

* ``detect_candidates`` (device, jittable): heatmap NMS by max-pool equality and top-k per joint
  type, gathering the keypoint embedding (KE) and the spatial instance embedding (SIE) at every
  candidate.
* ``group_candidates`` / ``decode`` (host, NumPy/SciPy): greedy grouping joint type by joint
  type in the skeleton's ``decode_order`` with Hungarian assignment, then *refine* (fill the
  missing joints of every person) and *adjust* (quarter-pixel shift), as in Associative
  Embedding (Newell et al., 2017).

Assignment cost between a candidate and a person (the person's reference tag and centre are the
means of its joints' KE tags and SIE values):

* KE alone (AE's rule): ``round(||tag - ref_tag||) * 100 - heat``.
* SIE alone: ``round(||sie - ref_centre|| / sie_threshold) * 100 - heat``.
* KE + SIE: each distance is divided by its threshold (``tag_threshold``, ``sie_threshold`` in
  output pixels) and the two are summed before rounding, so that one unit of either distance
  weighs the same: ``round(d_tag / tag_threshold + d_sie / sie_threshold) * 100 - heat``.

Rounding makes near-equal distances tie so that the stronger detection wins, which is AE's
intent. A pair is accepted only when *each* used distance is under its own threshold; a
rejected (or unassigned) candidate starts a new person, up to ``max_people``.

Test-time augmentation: ``merge_flip`` averages the heatmaps of an image and of its mirror image
(joints permuted by the skeleton's flip permutation), *concatenates* the tags as AE does (the
tag becomes a vector of L values) and averages the SIE (centres mapped back to the unflipped
frame). ``merge_scales`` resizes the maps of several input scales to a common output size,
averages heatmaps and SIE, and concatenates tags. As in AE's ``match_by_tag``, the grouping
compares tag vectors by their root-mean-square difference over the L values, so
``tag_threshold`` means the same with and without flip test; AE's refine step (filling missing
joints) uses the L2 norm of the difference, and so does ours.

Coordinates are output pixels, pixel ``(row i, col j)`` having centre ``(x=j, y=i)``.
"""
from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import scipy.ndimage
import scipy.optimize

from artrack_jax import geometry
from artrack_jax import skeletons as skeletons_lib
from artrack_jax.data import types

# Cost given to the padding columns (AE pads with a huge cost when candidates outnumber people).
_HUGE_COST = 1e10


# ----------------------------------------------------------------------------------------------
# Device part.

def heatmap_nms(heatmaps: jax.Array, kernel: int = 3) -> jax.Array:
  """Keeps the pixels equal to the max over their ``kernel x kernel`` neighbourhood.

  Args:
    heatmaps: [B, h, w, J].
    kernel: odd window size (AE: 3, mmpose: 5).

  Returns:
    [B, h, w, J] heatmaps with non-maxima set to zero.
  """
  if kernel % 2 != 1:
    raise ValueError(f'decode.nms_kernel must be odd, got {kernel}')
  pooled = jax.lax.reduce_window(heatmaps, -jnp.inf, jax.lax.max, (1, kernel, kernel, 1),
                                 (1, 1, 1, 1), 'SAME')
  return jnp.where(heatmaps == pooled, heatmaps, 0.0)


@functools.partial(jax.jit, static_argnames=('top_k', 'nms_kernel'))
def detect_candidates(heatmaps: jax.Array, ke: jax.Array, sie: jax.Array, top_k: int,
                      nms_kernel: int = 3) -> dict[str, jax.Array]:
  """NMS and top-k per joint type; gathers the embeddings at the candidates.

  Args:
    heatmaps: [B, h, w, J].
    ke: [B, h, w, J] keypoint embedding (one tag per joint type) or [B, h, w, J, L] when several
      tag maps are stacked (flip test / multi-scale).
    sie: [B, h, w, 2] spatial instance embedding (x, y): the centre each pixel votes for.
    top_k: candidates kept per joint type (``decode.top_k``).
    nms_kernel: NMS window.

  Returns:
    dict with ``xy`` [B, J, K, 2] integer pixel (x, y) as float32, ``heat`` [B, J, K],
    ``tag`` [B, J, K, L], ``sie`` [B, J, K, 2].
  """
  b, h, w, j = heatmaps.shape
  if ke.ndim == 4:
    ke = ke[..., None]
  suppressed = heatmap_nms(heatmaps, nms_kernel)
  flat = jnp.transpose(suppressed, (0, 3, 1, 2)).reshape(b, j, h * w)
  heat, index = jax.lax.top_k(flat, top_k)                           # [B, J, K]
  xy = jnp.stack([index % w, index // w], axis=-1).astype(jnp.float32)
  ke_flat = jnp.transpose(ke, (0, 3, 1, 2, 4)).reshape(b, j, h * w, ke.shape[-1])
  tag = jnp.take_along_axis(ke_flat, index[..., None], axis=2)       # [B, J, K, L]
  sie_flat = sie.reshape(b, 1, h * w, 2)
  sie_at = jnp.take_along_axis(sie_flat, index[..., None], axis=2)  # [B, J, K, 2]
  return dict(xy=xy, heat=heat, tag=tag, sie=sie_at)


# ----------------------------------------------------------------------------------------------
# Host part.

def _distances(tag, sie, ref_tag, ref_center, use_ke, use_sie, tag_threshold, sie_threshold):
  """Normalised distances [N, M] of candidates to references, and per-term acceptance."""
  total = 0.0
  accept = True
  if use_ke:
    # AE's match_by_tag: root mean square over the tag dimension (not the L2 norm); the sum
    # and division of ``mean``, without its Python overhead.
    diff = tag[:, None, :] - ref_tag[None, :, :]
    d_tag = np.sqrt(np.add.reduce(diff * diff, axis=-1) / tag.shape[-1]) / tag_threshold
    total = total + d_tag
    accept = accept & (d_tag < 1.0)
  if use_sie:
    d_sie = np.linalg.norm(sie[:, None, :] - ref_center[None, :, :], axis=-1) / sie_threshold
    total = total + d_sie
    accept = accept & (d_sie < 1.0)
  return total, accept


def group_candidates(candidates: Mapping[str, np.ndarray], config,
                     skeleton: skeletons_lib.Skeleton) -> dict[str, np.ndarray]:
  """Greedy bottom-up grouping of one image's candidates (AE's rule, KE and/or SIE).

  Args:
    candidates: one image of ``detect_candidates``' output as NumPy: ``xy`` [J, K, 2],
      ``heat`` [J, K], ``tag`` [J, K, L], ``sie`` [J, K, 2].
    config: ``config.decode`` (det_threshold, tag_threshold, sie_threshold, use_ke, use_sie,
      max_people).
    skeleton: gives ``decode_order``.

  Returns:
    dict with ``joints`` [P, J, 3] (x, y, heat), ``present`` [P, J] bool, ``tags`` [P, J, L],
    ``sies`` [P, J, 2] for the P people found (P <= max_people).
  """
  use_ke = bool(config.use_ke)
  use_sie = bool(config.use_sie)
  if not (use_ke or use_sie):
    raise ValueError('decode: at least one of decode.use_ke and decode.use_sie must be True')
  det_threshold = float(config.det_threshold)
  tag_threshold = float(config.tag_threshold)
  sie_threshold = float(config.sie_threshold)
  max_people = int(config.max_people)
  xy, heat = np.asarray(candidates['xy']), np.asarray(candidates['heat'])
  tag, sie = np.asarray(candidates['tag']), np.asarray(candidates['sie'])
  num_joints = skeleton.num_joints
  if heat.shape[0] != num_joints:
    raise ValueError(f'decode: candidates have {heat.shape[0]} joint types, skeleton '
                     f'{skeleton.name!r} has {num_joints}')
  tag_dim = tag.shape[-1]
  # Each person's candidate per joint type (-1: none); joints, tags and SIE are gathered once
  # at the end. Running sums give each person's reference tag / centre (mean of its joints).
  chosen = np.full((max_people, num_joints), -1, np.int64)
  tag_sum = np.zeros((max_people, tag_dim), np.float64)
  sie_sum = np.zeros((max_people, 2), np.float64)
  count = np.zeros(max_people, np.int64)
  above = heat > det_threshold
  n = 0

  def add(persons, j, cands):
    """Gives candidates ``cands`` of joint type ``j`` to ``persons`` (distinct)."""
    chosen[persons, j] = cands
    if use_ke:
      tag_sum[persons] += tag[j, cands]
    if use_sie:
      sie_sum[persons] += sie[j, cands]
    count[persons] += 1

  for j in skeleton.decode_order:
    cand = np.flatnonzero(above[j])   # top-k order: strongest first
    if cand.size == 0:
      continue
    new = cand
    if n > 0:
      ref_tag = tag_sum[:n] / count[:n, None] if use_ke else None
      ref_center = sie_sum[:n] / count[:n, None] if use_sie else None
      dist, accept = _distances(tag[j, cand] if use_ke else None,
                                sie[j, cand] if use_sie else None, ref_tag,
                                ref_center, use_ke, use_sie, tag_threshold, sie_threshold)
      # More candidates than people: padding columns are "start a new person".
      cost = np.full((cand.size, max(n, cand.size)), _HUGE_COST)
      # np.rint is np.round at 0 decimals (half to even), without its Python wrapper.
      cost[:, :n] = np.rint(dist) * 100.0 - heat[j, cand][:, None]
      rows, cols = scipy.optimize.linear_sum_assignment(cost)
      ok = cols < n
      ok[ok] = accept[rows[ok], cols[ok]]
      add(cols[ok], j, cand[rows[ok]])
      new = np.sort(cand[rows[~ok]])   # keep the strongest-first order for new people
    new = new[:max_people - n]
    if new.size:
      add(np.arange(n, n + new.size), j, new)
      n += new.size
  chosen = chosen[:n]
  present = chosen >= 0
  k = np.where(present, chosen, 0)
  joint_index = np.arange(num_joints)[None, :]
  keep = present[..., None]
  joints = np.where(keep, np.concatenate([xy[joint_index, k], heat[joint_index, k][..., None]],
                                         -1), 0).astype(np.float32)
  tags = np.where(keep, tag[joint_index, k], 0).astype(np.float32)
  sies = np.where(keep, sie[joint_index, k], 0).astype(np.float32)
  return dict(joints=joints, present=present, tags=tags, sies=sies)


def refine(grouped: dict[str, np.ndarray], heatmaps: np.ndarray, ke: np.ndarray,
           sie: np.ndarray, config) -> dict[str, np.ndarray]:
  """Fills each person's missing joints from the whole maps (AE's refine, SIE-aware).

  For a missing joint ``j`` of a person with reference tag ``t`` and centre ``c``, the joint is
  placed at the argmax over all pixels of ``heat_j - round(||ke_j - t|| / tag_threshold)
  - round(||sie - c|| / sie_threshold)`` (each term only when that embedding is used), and kept
  when the heat there is positive.

  Args:
    grouped: ``group_candidates`` output.
    heatmaps: [h, w, J]; ke: [h, w, J, L]; sie: [h, w, 2].
    config: ``config.decode``.

  Returns:
    ``grouped`` with the filled joints (new arrays).
  """
  use_ke = bool(config.use_ke)
  use_sie = bool(config.use_sie)
  tag_threshold = float(config.tag_threshold)
  sie_threshold = float(config.sie_threshold)
  joints = grouped['joints'].copy()
  present = grouped['present'].copy()
  tags, sies = grouped['tags'].copy(), grouped['sies'].copy()
  if joints.shape[0] == 0:
    return dict(joints=joints, present=present, tags=tags, sies=sies)
  h, w, num_joints = heatmaps.shape
  count = np.maximum(grouped['present'].sum(1), 1)[:, None]
  ref_tag = (grouped['tags'] * grouped['present'][..., None]).sum(1) / count    # [P, L]
  ref_center = (grouped['sies'] * grouped['present'][..., None]).sum(1) / count  # [P, 2]
  incomplete = np.flatnonzero(~present.all(axis=1))
  if use_sie and incomplete.size:
    # [P', h, w] for the people with a missing joint: shared by all their joint types.
    d = sie[None] - ref_center[incomplete, None, None, :]
    sie_penalty = np.zeros((joints.shape[0], h, w))
    sie_penalty[incomplete] = np.round(np.sqrt((d * d).sum(-1)) / sie_threshold)
  for j in range(num_joints):
    people = np.flatnonzero(~present[:, j])
    if people.size == 0:
      continue
    score = np.broadcast_to(heatmaps[None, :, :, j], (people.size, h, w)).copy()
    if use_ke:
      d = ke[None, :, :, j, :] - ref_tag[people, None, None, :]
      score -= np.round(np.sqrt((d * d).sum(-1)) / tag_threshold)
    if use_sie:
      score -= sie_penalty[people]
    best = score.reshape(people.size, -1).argmax(axis=1)
    y, x = np.divmod(best, w)
    value = heatmaps[y, x, j]
    fill = value > 0
    p = people[fill]
    joints[p, j] = np.stack([x[fill], y[fill], value[fill]], axis=-1)
    present[p, j] = True
    tags[p, j] = ke[y[fill], x[fill], j]
    sies[p, j] = sie[y[fill], x[fill]]
  return dict(joints=joints, present=present, tags=tags, sies=sies)


def _facing_maps(outputs: Mapping[str, np.ndarray], config, bhw) -> np.ndarray | None:
  """``outputs['facing']`` as [B, h, w] when ``decode.facing_orient`` or
  ``decode.canonical_sides`` needs it, else None."""
  wanted = [k for k in ('facing_orient', 'canonical_sides') if bool(config.get(k, False))]
  if not wanted:
    return None
  if 'facing' not in outputs:
    raise ValueError(f'decode: decode.{wanted[0]} is True but outputs lack "facing" (a '
                     'SpatialNet trained with model.facing_head and loss.facing_weight > 0)')
  facing = np.asarray(outputs['facing'], np.float32)
  if facing.ndim == 4 and facing.shape[-1] == 1:
    facing = facing[..., 0]
  if facing.shape != tuple(bhw):
    raise ValueError(f'decode: outputs["facing"] must be [B, h, w(, 1)] = {tuple(bhw)}, '
                     f'got {np.shape(outputs["facing"])}')
  return facing


def _left_right_pairs(skeleton: skeletons_lib.Skeleton) -> list[tuple[int, int]]:
  """(left, right) joint indices of every flip pair, by the joints' names."""
  pairs = []
  for a, b in skeleton.flip_pairs:
    pairs.append((a, b) if skeleton.names[a].startswith('left') else (b, a))
  return pairs


def _person_region(xy, have, sies, torso_length, sie, xx, yy, sie_threshold):
  """[h, w] pixels in the person's joint box grown by half ``torso_length`` whose SIE lies
  within ``sie_threshold`` of the person's centre (no SIE gate when it is None)."""
  lo = xy[have].min(0) - 0.5 * torso_length
  hi = xy[have].max(0) + 0.5 * torso_length
  inside = (xx >= lo[0]) & (xx <= hi[0]) & (yy >= lo[1]) & (yy <= hi[1])
  if sie_threshold is not None:
    center = (sies * have[:, None]).sum(0) / max(int(have.sum()), 1)
    inside &= ((sie - center) ** 2).sum(-1) < sie_threshold ** 2
  return inside


def orient_pairs(grouped: dict[str, np.ndarray], heatmaps: np.ndarray, ke: np.ndarray,
                 sie: np.ndarray, facing: np.ndarray, config,
                 skeleton: skeletons_lib.Skeleton) -> dict[str, np.ndarray]:
  """Gives each left/right pair of a person the sides its facing says (not in AE or the paper).

  A network that does not know at a wrist which way its person faces puts both wrist channels
  on one wrist, or swaps them (README, "Left and right"). With a facing map (positive where
  the person faces the camera, ``losses.facing_loss``), read at the person's shoulders and
  hips, and the torso's up vector ``u`` (mid-shoulders - mid-hips), a pair's left joint is the
  one for which ``(d_y u_x - d_x u_y) * facing > 0`` with ``d = left - right``, as in
  ``losses.facing_target``. Per person whose four torso joints are present and whose
  ``|facing| >= decode.facing_min`` and whose decoded torso is at least
  ``decode.facing_torso_spread`` wide (``|D_y u_x - D_x u_y| / |u|^2`` with ``D`` the
  shoulders' plus the hips' difference, about 0.7 seen from the front, near 0 in profile:
  profile views are left as decoded), per pair:

  * both joints present and at most ``decode.facing_pair_radius`` output px apart (one joint
    taken twice): the other joint is the highest pixel of the pair's two heatmaps (their
    maximum) farther than that radius from it, inside the person's joint box grown by half
    the torso length, whose SIE lies within ``decode.sie_threshold`` of the person's centre
    (when SIE is used) and whose heat exceeds ``decode.det_threshold``; none: left as is;
  * then the two positions get the sides the facing gives (when their spread across the
    torso, ``|d_y u_x - d_x u_y| / |u|^2``, is at least 0.05; else left as decoded). A moved
    joint takes the larger of the two channels' heat at its pixel as its score, and its tag
    and SIE from there.

  Args:
    grouped: ``group_candidates`` / ``refine`` output (integer joint pixels).
    heatmaps: [h, w, J]; ke: [h, w, J, L]; sie: [h, w, 2]; facing: [h, w].
    config: ``config.decode``.
    skeleton: the joint set (needs left/right shoulders and hips).

  Returns:
    ``grouped`` with the pairs oriented (new arrays).
  """
  joints = grouped['joints'].copy()
  present = grouped['present'].copy()
  tags, sies = grouped['tags'].copy(), grouped['sies'].copy()
  if facing is None:
    raise ValueError('decode.facing_orient needs a facing map')
  ls, rs, lh, rh = skeletons_lib.torso_joints(skeleton)
  h, w, _ = heatmaps.shape
  facing_min = float(config.facing_min)
  radius = float(config.facing_pair_radius)
  torso_spread = float(config.facing_torso_spread)
  use_sie = bool(config.use_sie)
  sie_threshold = float(config.sie_threshold)
  det_threshold = float(config.det_threshold)
  yy, xx = np.mgrid[0:h, 0:w]
  pairs = _left_right_pairs(skeleton)
  for p in range(joints.shape[0]):
    if not present[p, [ls, rs, lh, rh]].all():
      continue
    xy = joints[p, :, :2]
    pix = np.clip(np.rint(xy[[ls, rs, lh, rh]]).astype(np.int64), 0, [w - 1, h - 1])
    f = float(facing[pix[:, 1], pix[:, 0]].mean())
    if abs(f) < facing_min:
      continue
    u = 0.5 * (xy[ls] + xy[rs]) - 0.5 * (xy[lh] + xy[rh])
    norm = float(u @ u)
    if norm <= 0:
      continue
    # How wide the torso looks, whatever the labels: near 0 in profile, where the image order
    # of a pair says nothing about its sides.
    spread = (xy[ls] - xy[rs]) + (xy[lh] - xy[rh])
    if abs(float(spread[1] * u[0] - spread[0] * u[1])) / norm < torso_spread:
      continue
    inside = None    # where this person's second joints may lie; built when first needed
    for left, right in pairs:
      if not (present[p, left] and present[p, right]):
        continue
      a, b = xy[left].copy(), xy[right].copy()
      moved = False
      if float(((a - b) ** 2).sum()) <= radius ** 2:
        if inside is None:
          inside = _person_region(xy, present[p], sies[p], np.sqrt(norm), sie, xx, yy,
                                  sie_threshold if use_sie else None)
        heat = np.maximum(heatmaps[..., left], heatmaps[..., right])
        ok = inside & (((xx - a[0]) ** 2 + (yy - a[1]) ** 2) > radius ** 2)
        score = np.where(ok, heat, -np.inf)
        best = int(score.argmax())
        if not score.flat[best] > det_threshold:
          continue
        b = np.array([best % w, best // w], np.float32)
        moved = True
      d = a - b
      side = float(d[1] * u[0] - d[0] * u[1]) / norm
      if abs(side) < 0.05:
        continue
      if side * f < 0:
        a, b = b, a
      elif not moved:
        continue
      for j, q in ((left, a), (right, b)):
        x, y = int(q[0]), int(q[1])
        joints[p, j] = (x, y, max(heatmaps[y, x, left], heatmaps[y, x, right]))
        tags[p, j] = ke[y, x, j]
        sies[p, j] = sie[y, x]
  return dict(joints=joints, present=present, tags=tags, sies=sies)


def canonical_to_anatomical(grouped: dict[str, np.ndarray], facing: np.ndarray,
                            skeleton: skeletons_lib.Skeleton) -> dict[str, np.ndarray]:
  """Anatomical sides for networks trained on image-side labels (``data.canonical_sides``).

  Such a network's "left" channels fire where a person facing the camera has the left joints;
  its facing map says which way the person faces. Per decoded person the map is read at the
  present shoulders and hips (at every present joint when none is), and a negative mean
  exchanges every left/right pair of that person (position, heat, tag and SIE together), as
  ``targets.canonical_sides`` exchanged the labels in training.

  Args:
    grouped: ``joints`` [P, J, 3] (x, y, heat; output pixels), ``present``, ``tags``, ``sies``
      of the decoded people.
    facing: [h, w] facing map.
    skeleton: the joint set (needs left/right shoulders and hips).

  Returns:
    ``grouped`` with the pairs of people facing away exchanged (new arrays).
  """
  if facing is None:
    raise ValueError('decode.canonical_sides needs a facing map (model.facing_head)')
  out = {k: np.array(v, copy=True) for k, v in grouped.items()}
  joints, present = out['joints'], out['present']
  h, w = facing.shape[:2]
  torso = list(skeletons_lib.torso_joints(skeleton))
  perm = np.asarray(skeleton.flip_permutation)
  for p in range(joints.shape[0]):
    read = [j for j in torso if present[p, j]] or list(np.flatnonzero(present[p]))
    if not read:
      continue
    pix = np.clip(np.rint(joints[p, read, :2]).astype(np.int64), 0, [w - 1, h - 1])
    if float(facing[pix[:, 1], pix[:, 0]].mean()) < 0:
      for key in ('joints', 'present', 'tags', 'sies'):
        out[key][p] = out[key][p, perm]
  return out


def adjust(joints: np.ndarray, present: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
  """Shifts each integer joint location 0.25 px towards its higher neighbour, in x and in y.

  Where both neighbours are equal the location is left unchanged (AE shifts down/left in that
  case; a symmetric peak is best left where it is).

  Args:
    joints: [P, J, 3] (x, y, heat), x and y integer pixels.
    present: [P, J] bool.
    heatmaps: [h, w, J].

  Returns:
    [P, J, 3] adjusted copy.
  """
  out = joints.copy()
  if joints.shape[0] == 0:
    return out
  h, w, _ = heatmaps.shape
  x = joints[..., 0].astype(np.int64)
  y = joints[..., 1].astype(np.int64)
  j = np.broadcast_to(np.arange(joints.shape[1]), x.shape)
  right = heatmaps[y, np.minimum(x + 1, w - 1), j]
  left = heatmaps[y, np.maximum(x - 1, 0), j]
  down = heatmaps[np.minimum(y + 1, h - 1), x, j]
  up = heatmaps[np.maximum(y - 1, 0), x, j]
  out[..., 0] += np.where(present, 0.25 * np.sign(right - left), 0.0)
  out[..., 1] += np.where(present, 0.25 * np.sign(down - up), 0.0)
  return out


def gaussian_subpixel(joints: np.ndarray, present: np.ndarray, heatmaps: np.ndarray,
                      blur_sigma: float = 0.0) -> np.ndarray:
  """Sub-pixel joint locations from a parabola fit to the log-heatmap, in x and in y.

  Eq. 1's target is a Gaussian, whose logarithm is a parabola: through the log-heat at the
  integer peak and its two neighbours along an axis, the parabola's vertex is the Gaussian's
  centre, ``x + (l[x-1] - l[x+1]) / (2 (l[x-1] - 2 l[x] + l[x+1]))``. This is the
  one-dimensional form of the second-order refinement of Zhang et al., "Distribution-Aware
  Coordinate Representation for Human Pose Estimation" (DARK, mmpose's ``dark`` decoding), and
  recovers locations that ``adjust``'s fixed quarter pixel cannot: one output pixel is four
  input pixels. The offset is kept within half a pixel (the peak is a local maximum, so the
  centre lies there); an axis without a concave fit (flat, border) is left unchanged.

  Args:
    joints: [P, J, 3] (x, y, heat), x and y integer pixels.
    present: [P, J] bool.
    heatmaps: [h, w, J].
    blur_sigma: if > 0, the maps are first smoothed by a Gaussian of this standard deviation
      (output pixels), as DARK does, which steadies the fit on noisy maps.

  Returns:
    [P, J, 3] refined copy (heat unchanged).
  """
  out = joints.copy()
  if joints.shape[0] == 0:
    return out
  heat = np.asarray(heatmaps, np.float64)
  if blur_sigma > 0:
    heat = scipy.ndimage.gaussian_filter(heat, (blur_sigma, blur_sigma, 0), mode='constant')
  h, w, _ = heat.shape
  log_heat = np.log(np.maximum(heat, 1e-10))
  x = joints[..., 0].astype(np.int64)
  y = joints[..., 1].astype(np.int64)
  j = np.broadcast_to(np.arange(joints.shape[1]), x.shape)

  def offset(before, centre, after, inside):
    curvature = before - 2.0 * centre + after
    ok = inside & (curvature < 0)
    value = np.where(ok, 0.5 * (before - after) / np.where(ok, curvature, -1.0), 0.0)
    return np.clip(value, -0.5, 0.5)

  centre = log_heat[y, x, j]
  dx = offset(log_heat[y, np.maximum(x - 1, 0), j], centre,
              log_heat[y, np.minimum(x + 1, w - 1), j], (x > 0) & (x < w - 1))
  dy = offset(log_heat[np.maximum(y - 1, 0), x, j], centre,
              log_heat[np.minimum(y + 1, h - 1), x, j], (y > 0) & (y < h - 1))
  out[..., 0] += np.where(present, dx, 0.0).astype(out.dtype)
  out[..., 1] += np.where(present, dy, 0.0).astype(out.dtype)
  return out


def _as_tag_maps(ke: np.ndarray) -> np.ndarray:
  return ke[..., None] if ke.ndim == 4 else ke


def _check_outputs(outputs: Mapping[str, np.ndarray], use_ke: bool, use_sie: bool):
  """Validates the map dict; returns (heatmaps, ke [B,h,w,J,L], sie) as float32 NumPy."""
  if 'heatmaps' not in outputs:
    raise ValueError(f'decode: outputs lack "heatmaps" (keys: {sorted(outputs)})')
  heatmaps = np.asarray(outputs['heatmaps'], np.float32)
  if heatmaps.ndim != 4:
    raise ValueError(f'decode: outputs["heatmaps"] must be [B, h, w, J], got {heatmaps.shape}')
  b, h, w, j = heatmaps.shape
  if 'ke' in outputs:
    ke = _as_tag_maps(np.asarray(outputs['ke'], np.float32))
  elif use_ke:
    raise ValueError('decode: decode.use_ke is True but outputs lack "ke"')
  else:
    ke = np.zeros((b, h, w, j, 1), np.float32)
  if ke.shape[:4] != (b, h, w, j):
    raise ValueError(f'decode: outputs["ke"] has shape {ke.shape}, heatmaps {heatmaps.shape}')
  if 'sie' in outputs:
    sie = np.asarray(outputs['sie'], np.float32)
  elif use_sie:
    raise ValueError('decode: decode.use_sie is True but outputs lack "sie"')
  else:
    sie = np.zeros((b, h, w, 2), np.float32)
  if sie.shape != (b, h, w, 2):
    raise ValueError(f'decode: outputs["sie"] must be [B, h, w, 2] = {(b, h, w, 2)}, '
                     f'got {sie.shape}')
  return heatmaps, ke, sie


def decode(outputs: Mapping[str, np.ndarray], config,
           skeleton: skeletons_lib.Skeleton) -> list[list[dict]]:
  """Decodes a batch of last-stack maps into poses.

  Args:
    outputs: ``heatmaps`` [B, h, w, J], ``ke`` [B, h, w, J] (or [B, h, w, J, L] after
      ``merge_flip`` / ``merge_scales``), ``sie`` [B, h, w, 2] (``geometry.instance_embedding`` of the SVF).
      ``ke`` / ``sie`` may be absent when ``use_ke`` / ``use_sie`` is off; ``facing``
      [B, h, w(, 1)] is read only with ``decode.facing_orient`` (``orient_pairs``) or
      ``decode.canonical_sides`` (``canonical_to_anatomical``).
    config: ``config.decode``.
    skeleton: the joint set of the maps.

  Returns:
    Per image, a list of poses sorted by decreasing score, each a dict with ``keypoints``
    [J, 3] (x, y, score) in output pixels (score 0 and x = y = 0 for a joint not found),
    ``score`` (mean heat over the J joints, AE's person score), ``tag`` [L] (mean KE of the
    joints) and ``center`` [2] (mean SIE of the joints).
  """
  use_ke = bool(config.use_ke)
  use_sie = bool(config.use_sie)
  heatmaps, ke, sie = _check_outputs(outputs, use_ke, use_sie)
  if heatmaps.shape[-1] != skeleton.num_joints:
    raise ValueError(f'decode: heatmaps have {heatmaps.shape[-1]} joints, skeleton '
                     f'{skeleton.name!r} has {skeleton.num_joints}')
  top_k = int(config.top_k)
  top_k = min(top_k, heatmaps.shape[1] * heatmaps.shape[2])
  candidates = jax.device_get(detect_candidates(
      heatmaps, ke, sie, top_k=top_k, nms_kernel=int(config.nms_kernel)))
  facing = _facing_maps(outputs, config, heatmaps.shape[:3])
  return [decode_image(candidates_i, heatmaps[i], ke[i], sie[i], config, skeleton,
                       None if facing is None else facing[i])
          for i, candidates_i in enumerate(
              {k: v[i] for k, v in candidates.items()} for i in range(heatmaps.shape[0]))]


def decode_image(candidates: Mapping[str, np.ndarray], heatmaps: np.ndarray, ke: np.ndarray,
                 sie: np.ndarray, config, skeleton: skeletons_lib.Skeleton,
                 facing: np.ndarray | None = None) -> list[dict]:
  """Host part of ``decode`` for one image: grouping, refine, adjust, pose dicts.

  Args:
    candidates: one image of ``detect_candidates``' output as NumPy.
    heatmaps: [h, w, J]; ke: [h, w, J, L]; sie: [h, w, 2].
    config: ``config.decode``.
    skeleton: the joint set.
    facing: [h, w] facing map, needed when ``config.facing_orient`` or
      ``config.canonical_sides`` is on.

  Returns:
    The image's poses, as ``decode`` describes.
  """
  grouped = group_candidates(candidates, config, skeleton)
  if int(config.min_joints) > 1:
    # A pose that grouping gave fewer joints is a stray peak; refine would fill it with other
    # people's joints (not in AE).
    keep = grouped['present'].sum(1) >= int(config.min_joints)
    grouped = {k: v[keep] for k, v in grouped.items()}
  if bool(config.refine):
    grouped = refine(grouped, heatmaps, ke, sie, config)
  if bool(config.get('facing_orient', False)):
    grouped = orient_pairs(grouped, heatmaps, ke, sie, facing, config, skeleton)
  subpixel = str(config.subpixel)
  if subpixel == 'quarter':
    joints = adjust(grouped['joints'], grouped['present'], heatmaps)
  elif subpixel == 'gaussian':
    joints = gaussian_subpixel(grouped['joints'], grouped['present'], heatmaps,
                               float(config.subpixel_blur))
  else:
    raise ValueError(f"decode.subpixel must be 'quarter' (AE's adjust) or 'gaussian', "
                     f'got {subpixel!r}')
  if bool(config.get('canonical_sides', False)):
    # After the sub-pixel step, which reads each joint's own channel at its peak.
    grouped = canonical_to_anatomical(dict(grouped, joints=joints), facing, skeleton)
    joints = grouped['joints']
  present = grouped['present']
  keypoints = np.where(present[..., None], joints, 0.0).astype(np.float32)     # [P, J, 3]
  count = np.maximum(present.sum(1), 1)[:, None]
  tags = (grouped['tags'] * present[..., None]).sum(1) / count
  centers = (grouped['sies'] * present[..., None]).sum(1) / count
  scores = keypoints[..., 2].mean(1)
  order = np.argsort(-scores, kind='stable')
  if float(config.pose_nms) > 0:
    order = pose_nms(keypoints, order, float(config.pose_nms), skeleton.oks_sigmas)
  if float(config.get('joint_nms', 0.0)) > 0:
    keypoints = joint_nms(keypoints, order, float(config.joint_nms))
    scores = keypoints[..., 2].mean(1)
    order = order[keypoints[order, :, 2].max(axis=1, initial=0.0) > 0]
    order = order[np.argsort(-scores[order], kind='stable')]
  joint_score = str(config.get('joint_score', 'heat'))
  if joint_score == 'heat_x_pose':
    keypoints = keypoints.copy()
    keypoints[..., 2] *= scores[:, None]
  elif joint_score != 'heat':
    raise ValueError(f"decode.joint_score must be 'heat' (AE) or 'heat_x_pose', "
                     f'got {joint_score!r}')
  return [dict(keypoints=keypoints[p], score=float(scores[p]), tag=tags[p], center=centers[p])
          for p in order]


def joint_nms(keypoints: np.ndarray, order: np.ndarray, radius: float) -> np.ndarray:
  """Joint-level NMS: a joint that a higher-scored pose already holds is dropped (not in AE).

  Refinement fills each pose's missing joints from the whole map, so a weak pose often takes
  the very peak another person's joint sits on; PoseTrack's per-joint AP and MOTA count every
  such copy as a false positive. Going down ``order``, a joint of type j within ``radius`` of
  a joint of type j of an earlier pose is removed (score 0, x = y = 0).

  Args:
    keypoints: [P, J, 3] (x, y, score), output pixels; score 0 where a joint was not found.
    order: pose indices by decreasing score (after ``pose_nms``).
    radius: output pixels.

  Returns:
    A copy of ``keypoints`` with the duplicate joints removed.
  """
  out = keypoints.copy()
  for i, p in enumerate(order[1:], start=1):
    held = out[order[:i]]                                                    # [i, J, 3]
    d2 = ((held[:, :, :2] - out[p, None, :, :2]) ** 2).sum(-1)               # [i, J]
    taken = ((d2 <= radius * radius) & (held[:, :, 2] > 0)).any(axis=0) & (out[p, :, 2] > 0)
    out[p, taken] = 0.0
  return out


def pose_nms(keypoints: np.ndarray, order: np.ndarray, threshold: float,
             sigmas: Sequence[float]) -> np.ndarray:
  """Greedy pose-level NMS: drops a pose whose OKS with a higher-scored kept pose exceeds
  ``threshold`` (not in AE; mmpose's bottom-up decoding offers the same).

  Refinement fills a weak pose's missing joints from the whole map, often with a stronger
  person's joints, so that one person can come out as several poses; each duplicate is a
  false positive for AP and MOTA.

  Args:
    keypoints: [P, J, 3] (x, y, score), output pixels; score 0 where a joint was not found.
    order: pose indices by decreasing score.
    threshold: OKS above which the lower-scored pose is dropped.
    sigmas: [J] the skeleton's OKS sigmas.

  Returns:
    The kept indices, in ``order``'s order.
  """
  var = (2 * np.asarray(sigmas, np.float64)) ** 2
  found = keypoints[..., 2] > 0
  kept: list[int] = []
  for p in order:
    if not found[p].any():
      continue
    duplicate = False
    for q in kept:
      both = found[p] & found[q]
      if not both.any():
        continue
      xy = keypoints[q, found[q], :2]
      area = max(float(np.prod(xy.max(0) - xy.min(0))), 1.0)   # the kept pose's box, px^2
      d2 = ((keypoints[p, both, :2] - keypoints[q, both, :2]) ** 2).sum(-1)
      # Over the joints both have, divided by the joints the weaker pose has: a pose that
      # shares a few joints with another and has others of its own is kept.
      oks = np.exp(-d2 / (2 * area * var[both])).sum() / found[p].sum()
      if oks > threshold:
        duplicate = True
        break
    if not duplicate:
      kept.append(int(p))
  return np.asarray(kept, np.int64)


# ----------------------------------------------------------------------------------------------
# Test-time augmentation.

def merge_flip(outputs: Mapping[str, np.ndarray], outputs_flipped: Mapping[str, np.ndarray],
               skeleton: skeletons_lib.Skeleton) -> dict[str, np.ndarray]:
  """Combines the maps of images and of their horizontal mirrors (flip test).

  Args:
    outputs: ``heatmaps`` [B, h, w, J], ``ke`` [B, h, w, J(, L)], ``sie`` [B, h, w, 2].
    outputs_flipped: the same maps computed on the mirrored images.
    skeleton: gives the flip permutation (left/right joints swap under mirroring).

  Returns:
    ``heatmaps`` averaged, ``ke`` [B, h, w, J, 2L] (tags concatenated, AE's choice: a person's
    tag then lives in a 2-D space and both predictions must agree), ``sie`` averaged with the
    mirrored centres mapped back (x -> w - 1 - x).
  """
  perm = skeleton.flip_permutation
  w = np.asarray(outputs['heatmaps']).shape[2]
  unflip = lambda a: np.asarray(a)[:, :, ::-1]
  merged = dict(heatmaps=0.5 * (np.asarray(outputs['heatmaps'])
                                + unflip(outputs_flipped['heatmaps'])[..., perm]))
  if 'ke' in outputs:
    ke = _as_tag_maps(np.asarray(outputs['ke']))
    ke_f = _as_tag_maps(unflip(outputs_flipped['ke']))[:, :, :, perm]
    merged['ke'] = np.concatenate([ke, ke_f], axis=-1)
  if 'facing' in outputs:
    # Mirroring keeps which way a person faces: the map is mirrored back, not negated.
    merged['facing'] = 0.5 * (np.asarray(outputs['facing'])
                              + unflip(outputs_flipped['facing']))
  if 'sie' in outputs:
    sie_f = unflip(outputs_flipped['sie']).copy()
    sie_f[..., 0] = (w - 1) - sie_f[..., 0]
    merged['sie'] = 0.5 * (np.asarray(outputs['sie']) + sie_f)
  return merged


def merge_scales(outputs_per_scale: Sequence[Mapping[str, np.ndarray]],
                 size: tuple[int, int]) -> dict[str, np.ndarray]:
  """Averages the maps of several input scales at one output size (multi-scale test).

  Each scale's maps cover the same image region at a different resolution; pixel centres are
  aligned (half-pixel convention), so a SIE value ``x_s`` at a map of width ``w_s`` becomes
  ``(x_s + 0.5) * w / w_s - 0.5``.

  Args:
    outputs_per_scale: per scale, ``heatmaps`` [B, h_s, w_s, J], ``ke`` [B, h_s, w_s, J(, L)],
      ``sie`` [B, h_s, w_s, 2].
    size: (h, w) of the merged maps (usually the scale-1 output size).

  Returns:
    ``heatmaps`` and ``sie`` averaged over scales, ``ke`` [B, h, w, J, sum L] concatenated.
  """
  if not outputs_per_scale:
    raise ValueError('merge_scales: no outputs given')
  h, w = size

  def resize(a):
    a = np.asarray(a, np.float32)
    if a.shape[1:3] == (h, w):
      return a
    return np.asarray(jax.image.resize(a, (a.shape[0], h, w) + a.shape[3:], 'linear',
                                       antialias=False))

  merged = dict(heatmaps=np.mean([resize(o['heatmaps']) for o in outputs_per_scale], axis=0))
  if all('ke' in o for o in outputs_per_scale):
    merged['ke'] = np.concatenate([resize(_as_tag_maps(np.asarray(o['ke'])))
                                   for o in outputs_per_scale], axis=-1)
  if all('facing' in o for o in outputs_per_scale):
    merged['facing'] = np.mean([resize(o['facing']) for o in outputs_per_scale], axis=0)
  if all('sie' in o for o in outputs_per_scale):
    sies = []
    for o in outputs_per_scale:
      sie = np.asarray(o['sie'], np.float32)
      h_s, w_s = sie.shape[1:3]
      sie = resize(sie).copy()
      sie[..., 0] = (sie[..., 0] + 0.5) * w / w_s - 0.5
      sie[..., 1] = (sie[..., 1] + 0.5) * h / h_s - 0.5
      sies.append(sie)
    merged['sie'] = np.mean(sies, axis=0)
  return merged


# ----------------------------------------------------------------------------------------------
# Back to image coordinates, and writers.

def poses_to_image(poses: Sequence[dict], output_to_image: np.ndarray) -> list[dict]:
  """Maps decoded poses from output pixels to original image pixels.

  Args:
    poses: one image's ``decode`` output.
    output_to_image: [2, 3] affine from output-map pixels to image pixels (the inverse of the
      input pipeline's image -> output transform; ``geometry.output_to_image_matrix``).

  Returns:
    New pose dicts; keypoint scores, tags and person scores unchanged, ``center`` mapped too
    (it is a location). Joints that were not found stay at (0, 0) with score 0.
  """
  out = []
  for pose in poses:
    keypoints = np.array(pose['keypoints'], np.float32)
    found = keypoints[:, 2] > 0
    keypoints[found, :2] = geometry.apply_affine(output_to_image, keypoints[found, :2])
    out.append(dict(pose, keypoints=keypoints,
                    center=geometry.apply_affine(output_to_image, np.asarray(pose['center']))))
  return out


def coco_results(image_ids: Sequence[int], poses_per_image: Sequence[Sequence[dict]],
                 skeleton: skeletons_lib.Skeleton) -> list[dict]:
  """COCO keypoint results ``[{image_id, category_id: 1, keypoints, score}]``.

  Keypoints are written in the skeleton's own order (COCO's 17 for ``coco``; the 15 PoseTrack
  joints for ``posetrack``, which the evaluator scores with the skeleton's sigmas), as
  ``[x, y, score] * J``.
  """
  if len(image_ids) != len(poses_per_image):
    raise ValueError(f'coco_results: {len(image_ids)} image ids for {len(poses_per_image)} '
                     'images')
  results = []
  for image_id, poses in zip(image_ids, poses_per_image):
    for pose in poses:
      keypoints = np.asarray(pose['keypoints'], np.float64)
      if keypoints.shape != (skeleton.num_joints, 3):
        raise ValueError(f'coco_results: image {image_id}: keypoints shape {keypoints.shape}, '
                         f'skeleton {skeleton.name!r} needs {(skeleton.num_joints, 3)}')
      results.append(dict(image_id=int(image_id), category_id=1,
                          keypoints=[round(float(v), 3) for v in keypoints.reshape(-1)],
                          score=float(pose['score'])))
  return results


def pose_to_person(pose: dict, track_id: int = -1) -> types.Person:
  """A decoded pose as a prediction ``data.types.Person`` (PoseTrack-style per-frame pose).

  ``v`` is 1 for the joints found (predicted, visibility unknown) and 0 elsewhere; ``scores``
  holds the per-joint heat; ``bbox`` is the box around the found joints.
  """
  keypoints = np.asarray(pose['keypoints'], np.float32)
  found = keypoints[:, 2] > 0
  out = np.zeros_like(keypoints)
  out[found, :2] = keypoints[found, :2]
  out[found, 2] = 1.0
  if found.any():
    lo, hi = keypoints[found, :2].min(0), keypoints[found, :2].max(0)
    bbox = np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]], np.float32)
  else:
    bbox = np.zeros(4, np.float32)
  return types.Person(track_id=int(track_id), keypoints=out, bbox=bbox, bbox_head=None,
                      scores=keypoints[:, 2].copy(), score=float(pose['score']))
