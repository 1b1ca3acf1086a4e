"""Ground truth -> training targets (the codec's encode side) and its inverse for checks.

Everything here is pure NumPy and runs per example inside the input pipeline, so it is
vectorised over people and joints and draws each Gaussian only in a window around its joint.

Coordinates. Input pixels and output pixels both put pixel ``(row i, col j)``'s centre at
``(x=j, y=i)`` (docs/design.md). An output pixel covers a ``stride x stride`` block of input
pixels, so the two frames are related by ``x_out = (x_in + 0.5) / stride - 0.5``
(``geometry.input_to_output``); the image extent ``[-0.5, W - 0.5]`` maps onto ``[-0.5, w - 0.5]``.

Keys produced (docs/design.md, "Frame targets" and "Frame-pair examples"):

* ``heatmaps [h, w, J]``: Eq. 1's Gaussian ``exp(-d^2 / sigma^2)``, max over people.
* ``loss_mask [h, w]``: 0 where any input pixel of the output pixel's block is ignored.
* ``joint_index [P, J]``, ``joint_valid [P, J]``, ``joint_xy [P, J, 2]``: where each joint
  sits in the output map (KE pull/push, Eq. 2-3, and the SVF, Eq. 5, are sampled there).
* ``centers [P, 2]`` and ``svf_target [P, J, 2]`` (Eq. 5).
* ``order_keys [P, 3]``, ``order_valid [P, 3]``: the sort keys of the ordinal tasks (Eq. 4).
* for pairs, ``tvf_fwd_target``/``tvf_bwd_target`` and their masks (Eq. 7).
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import scipy.ndimage

from artrack_jax import geometry
from artrack_jax import skeletons as skeletons_lib

# Person fields that the pipeline pads to ``max_people`` and that pair alignment permutes.
PERSON_FIELDS = ('keypoints', 'track_id', 'bbox_head', 'bbox', 'side_sign')


def _skeleton(skeleton: skeletons_lib.Skeleton | str) -> skeletons_lib.Skeleton:
  return skeletons_lib.get(skeleton) if isinstance(skeleton, str) else skeleton


def _output_hw(output_size: int | tuple[int, int]) -> tuple[int, int]:
  if isinstance(output_size, (int, np.integer)):
    return int(output_size), int(output_size)
  h, w = output_size
  return int(h), int(w)


def _input_hw(example: Mapping[str, Any]) -> tuple[int, int]:
  if 'ignore_mask' in example:
    return tuple(np.shape(example['ignore_mask'])[:2])
  if 'image' in example:
    return tuple(np.shape(example['image'])[:2])
  raise KeyError("example has neither 'ignore_mask' nor 'image': cannot tell the input size")


def _people(example: Mapping[str, Any], num_joints: int) -> tuple[np.ndarray, np.ndarray]:
  """Returns keypoints [P, J, 3] float32 and person presence [P] bool, checked."""
  if 'keypoints' not in example:
    raise KeyError("example is missing field 'keypoints'")
  kp = np.asarray(example['keypoints'], np.float32)
  if kp.ndim != 3 or kp.shape[1:] != (num_joints, 3):
    raise ValueError(f"field 'keypoints' must be [P, {num_joints}, 3], got {kp.shape}")
  if 'person_valid' in example:
    present = np.asarray(example['person_valid']).reshape(-1) > 0
    if present.shape[0] != kp.shape[0]:
      raise ValueError(f"field 'person_valid' has {present.shape[0]} slots, "
                       f"'keypoints' has {kp.shape[0]}")
  else:
    present = np.ones(kp.shape[0], bool)
  return kp, present


def _gather_people(example: Mapping[str, Any], index: np.ndarray,
                   track_ids: np.ndarray | None = None) -> dict[str, Any]:
  """Copies ``example`` with its people re-slotted: slot k takes person ``index[k]`` (-1: none).

  Args:
    example: dict with person fields of leading size n.
    index: [P] int, source person per slot, -1 for an empty slot.
    track_ids: optional [P] int32 track id per slot (pairs keep the id in slots where the
      person is absent from this frame, so both frames' slots name the same track).
  """
  out = dict(example)
  index = np.asarray(index, np.int64)
  take = np.maximum(index, 0)
  present = index >= 0
  old_valid = (np.asarray(example['person_valid']) > 0 if 'person_valid' in example
               else np.ones(len(np.asarray(example['keypoints'])), bool))
  for key in PERSON_FIELDS:
    if key not in example:
      continue
    value = np.asarray(example[key])
    if len(value) == 0:
      gathered = np.zeros((len(index),) + value.shape[1:], value.dtype)
    else:
      gathered = value[take]
    fill = -1 if key == 'track_id' else 0
    mask = present.reshape((-1,) + (1,) * (gathered.ndim - 1))
    out[key] = np.where(mask, gathered, np.asarray(fill, gathered.dtype))
  if track_ids is not None:
    out['track_id'] = np.asarray(track_ids, np.int32)
  valid = np.zeros(len(index), np.float32)
  if len(old_valid):
    valid = np.where(present, old_valid[take], False).astype(np.float32)
  out['person_valid'] = valid
  return out


def canonical_sides(keypoints: np.ndarray, skeleton: skeletons_lib.Skeleton
                    ) -> tuple[np.ndarray, np.ndarray]:
  """Relabels the left/right pairs of people who face away (``data.canonical_sides``; not in
  the paper).

  A person faces away when the torso's left/right spread across its up vector (the sign of
  ``losses.facing_target``, from the four labelled torso joints) is negative; that person's
  pairs are exchanged, so that for everyone the "left" joints lie on the side where a person
  facing the camera has them. The heatmap channels then follow the image (which side of the
  body a joint is on), which a network learns quickly, instead of needing also which way the
  person faces (README, "Left and right"); the facing map (``losses.facing_loss``, trained
  with ``side_sign``) carries that, and ``decode.canonical_sides`` undoes the exchange per
  decoded person.

  Args:
    keypoints: [n, J, 3] (x, y, v) image pixels, v > 0 labelled.
    skeleton: needs left/right shoulders and hips.

  Returns:
    (keypoints with the pairs of people facing away exchanged [n, J, 3] float32,
     side_sign [n] float32: -1 exchanged, +1 kept, also where a torso joint is unlabelled).
  """
  kp = np.asarray(keypoints, np.float32)
  ls, rs, lh, rh = skeletons_lib.torso_joints(skeleton)
  xy = kp[..., :2].astype(np.float64)
  d = (xy[:, ls] - xy[:, rs]) + (xy[:, lh] - xy[:, rh])
  u = 0.5 * (xy[:, ls] + xy[:, rs]) - 0.5 * (xy[:, lh] + xy[:, rh])
  spread = d[:, 1] * u[:, 0] - d[:, 0] * u[:, 1]
  labelled = np.all(kp[:, [ls, rs, lh, rh], 2] > 0, axis=-1)
  away = labelled & (spread < 0)
  out = np.where(away[:, None, None], kp[:, np.asarray(skeleton.flip_permutation)], kp)
  return out.astype(np.float32), np.where(away, -1.0, 1.0).astype(np.float32)


def pad_people(example: Mapping[str, Any], max_people: int) -> dict[str, Any]:
  """Pads (or truncates) the person fields of ``example`` to ``max_people`` slots.

  When there are more people than slots, the people with the most labelled joints are kept
  (ties: original order), because they carry the most supervision.

  Args:
    example: dict with ``keypoints [n, J, 3]`` and optionally ``track_id [n]``,
      ``bbox_head [n, 4]``, ``bbox [n, 4]``, ``person_valid [n]``.
    max_people: P.

  Returns:
    A copy with the person fields at [P, ...] and ``person_valid [P]`` float32.
  """
  kp = np.asarray(example['keypoints'], np.float32)
  labelled = (kp[..., 2] > 0).sum(axis=-1)
  if 'person_valid' in example:
    labelled = np.where(np.asarray(example['person_valid']) > 0, labelled, -1)
  order = np.argsort(-labelled, kind='stable')[:max_people]
  order = np.sort(order)  # keep the original relative order of the people kept
  index = np.full(max_people, -1, np.int64)
  index[:len(order)] = order
  return _gather_people(example, index)


def _render_heatmaps(joint_xy: np.ndarray, joint_pixel: np.ndarray, valid: np.ndarray,
                     h: int, w: int, sigma: float) -> np.ndarray:
  """Eq. 1 ground truth: C*_j(p) = max_k exp(-||p - p_jk||^2 / sigma^2).

  Args:
    joint_xy: [P, J, 2] joint positions, output pixels.
    joint_pixel: [P, J, 2] int rounded positions (x, y).
    valid: [P, J] bool.

  Returns:
    [h, w, J] float32. Each Gaussian is drawn in a (2r+1)^2 window, r = ceil(3 sigma),
    around its rounded joint: outside it the Gaussian is below exp(-9) ~ 1.2e-4.
  """
  num_joints = joint_xy.shape[1]
  heat = np.zeros(h * w * num_joints, np.float32)
  person, joint = np.nonzero(valid)
  if person.size == 0:
    return heat.reshape(h, w, num_joints)
  r = int(np.ceil(3.0 * sigma))
  d = np.arange(-r, r + 1)
  # The 2-D Gaussian is separable: exp(-(dx^2 + dy^2) / s^2) = exp(-dx^2 / s^2) exp(-dy^2 / s^2),
  # so only 2 (2r+1) exponentials per joint are evaluated.
  xs = joint_pixel[person, joint, 0][:, None] + d[None, :]                       # [N, K]
  ys = joint_pixel[person, joint, 1][:, None] + d[None, :]                       # [N, K]
  gx = np.exp(-(xs - joint_xy[person, joint, 0][:, None]) ** 2 / sigma ** 2).astype(np.float32)
  gy = np.exp(-(ys - joint_xy[person, joint, 1][:, None]) ** 2 / sigma ** 2).astype(np.float32)
  gauss = gy[:, :, None] * gx[:, None, :]                                        # [N, K, K]
  inside = ((ys >= 0) & (ys < h))[:, :, None] & ((xs >= 0) & (xs < w))[:, None, :]
  flat = ((ys * w)[:, :, None] + xs[:, None, :]) * num_joints + joint[:, None, None]
  np.maximum.at(heat, flat[inside], gauss[inside])
  return heat.reshape(h, w, num_joints)


def _loss_mask(ignore_mask: np.ndarray | None, h: int, w: int) -> np.ndarray:
  """[h, w] float32: 0 where any input pixel of the output pixel's block is ignored."""
  if ignore_mask is None:
    return np.ones((h, w), np.float32)
  mask = np.asarray(ignore_mask)
  big_h, big_w = mask.shape[:2]
  if big_h % h or big_w % w:
    raise ValueError(f"field 'ignore_mask' of size {mask.shape} is not a whole multiple of the "
                     f'output size {(h, w)}')
  blocks = mask.reshape(h, big_h // h, w, big_w // w) > 0
  return 1.0 - blocks.any(axis=(1, 3)).astype(np.float32)


def encode_frame(example: Mapping[str, Any], output_size: int | tuple[int, int],
                 skeleton: skeletons_lib.Skeleton | str, sigma: float = 2.0) -> dict[str, Any]:
  """Builds the SpatialNet targets of one frame.

  Args:
    example: frame example with ``keypoints [P, J, 3]`` (x, y, v) in input pixels, optional
      ``person_valid [P]``, and ``ignore_mask [H, W]`` (or ``image [H, W, 3]`` when there is no
      ignore region) which fixes the input size.
    output_size: ``h`` (square) or ``(h, w)``; the stride is ``H / h``.
    skeleton: the joint set (its ``head_top``/``neck`` give the f2n/n2f key).
    sigma: Gaussian width in output pixels (Eq. 1; the paper uses 2).

  Returns:
    A copy of ``example`` with ``person_valid`` recomputed (a person needs a valid joint) and
    the target keys of docs/design.md added.
  """
  skel = _skeleton(skeleton)
  h, w = _output_hw(output_size)
  big_h, big_w = _input_hw(example)
  kp, present = _people(example, skel.num_joints)
  stride = np.array([big_w / w, big_h / h], np.float32)

  xy = geometry.input_to_output(kp[..., :2], stride)                                   # [P, J, 2]
  pixel = np.floor(xy + 0.5).astype(np.int64)                                 # [P, J, 2] (x, y)
  inside = ((pixel[..., 0] >= 0) & (pixel[..., 0] < w) &
            (pixel[..., 1] >= 0) & (pixel[..., 1] < h))
  valid = (kp[..., 2] > 0) & present[:, None] & inside                        # [P, J]
  validf = valid.astype(np.float32)
  count = validf.sum(axis=1)                                                  # [P]
  person_valid = (count > 0).astype(np.float32)

  # Eq. 5: the person centre is the mean of the person's joints.
  centers = (xy * validf[..., None]).sum(axis=1) / np.maximum(count, 1.0)[:, None]
  centers = np.where(person_valid[:, None] > 0, centers, 0.0).astype(np.float32)
  # The SVF is supervised at the rounded joint pixel, so SIE = pixel - SVF is exactly the centre.
  svf = np.where(valid[..., None], pixel - centers[:, None, :], 0.0).astype(np.float32)

  # Eq. 4 sort keys: centroid x (l2r, r2l), centroid y (t2b, b2t), head size (f2n, n2f).
  head = np.zeros(kp.shape[0], np.float32)
  head_valid = np.zeros(kp.shape[0], np.float32)
  if skel.head_top is not None and skel.neck is not None:
    both = valid[:, skel.head_top] & valid[:, skel.neck]
    diff = xy[:, skel.head_top] - xy[:, skel.neck]
    head = np.where(both, (diff ** 2).sum(axis=-1), 0.0).astype(np.float32)
    head_valid = both.astype(np.float32)
  order_keys = np.stack([centers[:, 0], centers[:, 1], head], axis=-1)
  order_valid = np.stack([person_valid, person_valid, head_valid], axis=-1)

  out = dict(example)
  out.update(
      person_valid=person_valid,
      heatmaps=_render_heatmaps(xy, pixel, valid, h, w, sigma),
      loss_mask=_loss_mask(example.get('ignore_mask'), h, w),
      joint_index=np.where(valid, pixel[..., 1] * w + pixel[..., 0], 0).astype(np.int32),
      joint_valid=validf,
      joint_xy=np.where(valid[..., None], xy, 0.0).astype(np.float32),
      centers=centers,
      svf_target=svf,
      order_keys=order_keys.astype(np.float32),
      order_valid=order_valid.astype(np.float32),
  )
  return out


def align_tracks(prev_track_id: np.ndarray, curr_track_id: np.ndarray,
                 max_people: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
  """Slots of a frame pair: the union of both frames' tracks, one track per slot.

  Tracks seen in both frames come first (they carry the temporal supervision of Eq. 7), then
  tracks only in the current frame, then tracks only in the previous one; within each group,
  the frame's own order. People with a negative track id have no identity: each gets its own
  slot.

  Args:
    prev_track_id: [n_prev] int track ids of frame t-1.
    curr_track_id: [n_curr] int track ids of frame t.
    max_people: P; ``None`` keeps every track.

  Returns:
    (prev_index [P], curr_index [P], track_id [P]): person of each frame per slot (-1: absent)
    and the slot's track id (-1 for empty slots).
  """
  prev_ids = [int(t) for t in np.asarray(prev_track_id).reshape(-1)]
  curr_ids = [int(t) for t in np.asarray(curr_track_id).reshape(-1)]
  for name, ids in (('prev', prev_ids), ('curr', curr_ids)):
    known = [t for t in ids if t >= 0]
    if len(set(known)) != len(known):
      raise ValueError(f"field 'track_id' of the {name} frame repeats a track id: {ids}")
  prev_pos = {t: i for i, t in enumerate(prev_ids) if t >= 0}
  slots = []  # (prev person, curr person, track id)
  for i, t in enumerate(curr_ids):
    if t >= 0 and t in prev_pos:
      slots.append((prev_pos[t], i, t))
  for i, t in enumerate(curr_ids):
    if t < 0 or t not in prev_pos:
      slots.append((-1, i, t))
  curr_set = {t for t in curr_ids if t >= 0}
  for i, t in enumerate(prev_ids):
    if t < 0 or t not in curr_set:
      slots.append((i, -1, t))
  size = len(slots) if max_people is None else max_people
  slots = slots[:size]
  out = np.full((3, size), -1, np.int64)
  if slots:
    out[:, :len(slots)] = np.asarray(slots, np.int64).T
  return out[0], out[1], out[2].astype(np.int32)


def encode_pair(prev_example: Mapping[str, Any], curr_example: Mapping[str, Any],
                output_size: int | tuple[int, int], skeleton: skeletons_lib.Skeleton | str,
                sigma: float = 2.0, max_people: int | None = None) -> dict[str, Any]:
  """Builds the TemporalNet targets of a frame pair (frame t-1 = prev, frame t = curr).

  Args:
    prev_example, curr_example: frame examples with unpadded person fields ``keypoints
      [n, J, 3]``, ``track_id [n]`` (and optionally ``bbox_head``, ``bbox``) in input pixels.
    output_size, skeleton, sigma: as in ``encode_frame``.
    max_people: P, the number of aligned slots; ``None``: as many as the union of tracks.

  Returns:
    ``{'prev': frame example, 'curr': frame example, 'tvf_fwd_target', 'tvf_fwd_valid',
    'tvf_bwd_target', 'tvf_bwd_valid'}``. Slot k of both frames is the same track (its
    ``track_id`` is set in both frames, ``person_valid`` says where the person is present).
  """
  for name, ex in (('prev', prev_example), ('curr', curr_example)):
    if 'track_id' not in ex:
      raise KeyError(f"{name} example is missing field 'track_id' (needed to align slots)")
  prev_index, curr_index, track_id = align_tracks(
      prev_example['track_id'], curr_example['track_id'], max_people)
  prev = encode_frame(_gather_people(prev_example, prev_index, track_id), output_size,
                      skeleton, sigma)
  curr = encode_frame(_gather_people(curr_example, curr_index, track_id), output_size,
                      skeleton, sigma)
  _, w = _output_hw(output_size)

  def pixel(frame):
    index = frame['joint_index']
    return np.stack([index % w, index // w], axis=-1).astype(np.float32)   # [P, J, 2]

  # Eq. 7, first term: joints at t point back to the centre of the same person at t-1.
  fwd_valid = curr['joint_valid'] * prev['person_valid'][:, None]
  fwd = (pixel(curr) - prev['centers'][:, None, :]) * fwd_valid[..., None]
  # Eq. 7, second term: joints at t-1 point forward to the person's centre at t.
  bwd_valid = prev['joint_valid'] * curr['person_valid'][:, None]
  bwd = (pixel(prev) - curr['centers'][:, None, :]) * bwd_valid[..., None]
  return {
      'prev': prev,
      'curr': curr,
      'tvf_fwd_target': fwd.astype(np.float32),
      'tvf_fwd_valid': fwd_valid.astype(np.float32),
      'tvf_bwd_target': bwd.astype(np.float32),
      'tvf_bwd_valid': bwd_valid.astype(np.float32),
  }


def render_svf(targets: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray]:
  """Dense per-joint-type SVF map from the sparse targets (what a perfect network predicts).

  Returns:
    (svf [h, w, J, 2], defined [h, w, J] bool): ``svf_target`` written at each valid joint's
    pixel. One map per joint type, so different joint types sharing a pixel do not collide.
  """
  h, w, num_joints = np.shape(targets['heatmaps'])
  svf = np.zeros((h * w, num_joints, 2), np.float32)
  defined = np.zeros((h * w, num_joints), bool)
  person, joint = np.nonzero(np.asarray(targets['joint_valid']) > 0)
  index = np.asarray(targets['joint_index'])[person, joint]
  svf[index, joint] = np.asarray(targets['svf_target'])[person, joint]
  defined[index, joint] = True
  return svf.reshape(h, w, num_joints, 2), defined.reshape(h, w, num_joints)


def decode_targets(targets: Mapping[str, Any], threshold: float = 0.5) -> np.ndarray:
  """Decodes frame targets back to people (the codec's decode side, used to check encoding).

  Joint candidates are the local maxima (3x3) of each heatmap above ``threshold``. Each
  candidate at pixel p is given the centre its SIE encodes, ``p - SVF(p)`` (Sec. 3.1.2), and
  joins the valid person whose centre is nearest; a person keeps its strongest candidate per
  joint type.

  Args:
    targets: output of ``encode_frame``.
    threshold: minimum heat of a candidate.

  Returns:
    [P, J, 3] float32 (x, y, score) in output pixels, slot k for the person with
    ``targets['centers'][k]``; score 0 where no candidate joined.
  """
  heat = np.asarray(targets['heatmaps'])
  h, w, num_joints = heat.shape
  centers = np.asarray(targets['centers'])
  person_valid = np.asarray(targets['person_valid']) > 0
  out = np.zeros((centers.shape[0], num_joints, 3), np.float32)
  if not person_valid.any():
    return out
  svf, defined = render_svf(targets)
  peaks = (heat == scipy.ndimage.maximum_filter(heat, size=(3, 3, 1), mode='constant')) & (
      heat > threshold) & defined
  ys, xs, js = np.nonzero(peaks)
  scores = heat[ys, xs, js]
  encoded = np.stack([xs, ys], axis=-1) - svf[ys, xs, js]                    # SIE, [N, 2]
  dist = ((encoded[:, None, :] - centers[None, :, :]) ** 2).sum(axis=-1)     # [N, P]
  dist = np.where(person_valid[None, :], dist, np.inf)
  owner = dist.argmin(axis=1)
  for n in np.argsort(scores, kind='stable'):  # ascending: the strongest candidate writes last
    out[owner[n], js[n]] = (xs[n], ys[n], scores[n])
  return out
