"""Losses of the paper, one pure function per equation.

Every function takes padded arrays with validity masks and returns ``(loss, metrics)`` where
``metrics`` is a dict of scalars. Invalid (padded) people and joints never contribute.

Conventions:
  * Each loss is computed per image and then averaged over the batch ``B`` (an image with
    nothing to supervise, e.g. no person, contributes zero to that average).
  * SpatialNet losses take predictions of every stack, ``[S, B, h, w, C]``, and sum over the
    stacks (intermediate supervision, Sec. 3.4).
  * Joint positions enter as ``joint_index`` [B, P, J] = flat index ``y * w + x`` of the rounded
    joint pixel; predictions are read there.
  * Sums over a person's joints are normalised by the number of labelled joints (the ``1/(J K)``
    of Eq. 2, 5 and 7 when every joint is labelled).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp


def _safe_div(num, den):
  return num / jnp.maximum(den, 1.0)


def pull_push(embeddings, valid):
  """Grouping pull (Eq. 2) and push (Eq. 3) terms for one image.

  Args:
    embeddings: [P, J, D] embedding sampled at each person's joints (D = 1 for KE).
    valid: [P, J] 1 where the joint is labelled and inside the map.

  Returns:
    (pull, push, reference): scalars and the reference embeddings [P, D].

  Eq. 2: pull = 1/(J K) sum_k sum_j ||m(p_jk) - mbar_k||^2, averaged over the valid joints.
  Eq. 3: push = 1/K^2 sum_k sum_k' exp(-1/2 ||mbar_k - mbar_k'||^2) over valid people. The
  k = k' terms equal 1 whatever the prediction (no gradient), so they are left out: a perfect
  embedding then has zero loss. K counts the people with at least one valid joint.
  """
  valid = valid.astype(embeddings.dtype)
  count = valid.sum(axis=1)                                          # [P]
  person = (count > 0).astype(embeddings.dtype)                      # [P]
  reference = _safe_div((embeddings * valid[..., None]).sum(axis=1), count[:, None])  # [P, D]
  sq = ((embeddings - reference[:, None, :]) ** 2).sum(axis=-1)      # [P, J]
  pull = _safe_div((sq * valid).sum(), valid.sum())
  diff = ((reference[:, None, :] - reference[None, :, :]) ** 2).sum(axis=-1)  # [P, P]
  pair = person[:, None] * person[None, :] * (1.0 - jnp.eye(person.shape[0], dtype=person.dtype))
  num_people = person.sum()
  push = (jnp.exp(-0.5 * diff) * pair).sum() / jnp.maximum(num_people ** 2, 1.0)
  return pull, push, reference


# ---------------------------------------------------------------------------------------------
# Reading predictions at joints.


def _check_rank(name, x, rank, shape_doc):
  if x.ndim != rank:
    raise ValueError(f'{name} must be {shape_doc}, got shape {x.shape}')


def _at_joints(maps, joint_index):
  """Every channel of ``maps`` at each joint's pixel.

  Args:
    maps: [B, h, w, C].
    joint_index: [B, P, J] flat pixel index.

  Returns:
    [B, P, J, C].
  """
  b, h, w, c = maps.shape
  flat = maps.reshape(b, h * w, c)
  index = jnp.clip(joint_index.reshape(b, -1), 0, h * w - 1)
  values = jax.vmap(lambda f, i: f[i])(flat, index)
  return values.reshape(joint_index.shape + (c,))


def _joint_channels_at_joints(maps, joint_index):
  """Channel j of ``maps`` at joint j of each person: [B, h, w, J], [B, P, J] -> [B, P, J]."""
  values = _at_joints(maps, joint_index)                              # [B, P, J, J]
  return jnp.diagonal(values, axis1=-2, axis2=-1)


def _masked_valid(joint_valid, person_valid):
  valid = joint_valid.astype(jnp.float32)
  if person_valid is not None:
    valid = valid * person_valid.astype(jnp.float32)[..., None]
  return valid


def _l1_at_joints(field, joint_index, valid, target):
  """Per-image mean over valid joints of ||field(p_jk) - target_jk||_1: [B]."""
  pred = _at_joints(field, joint_index)                               # [B, P, J, 2]
  l1 = jnp.abs(pred - target).sum(axis=-1)                            # [B, P, J]
  return _safe_div((l1 * valid).sum(axis=(1, 2)), valid.sum(axis=(1, 2)))


# ---------------------------------------------------------------------------------------------
# SpatialNet (Sec. 3.1).


def heatmap_loss(heatmaps, target, loss_mask, foreground_weight: float = 0.0,
                 mirror_permutation=None):
  """Detection loss, Eq. 1: squared error to the ground-truth heatmaps.

  Eq. 1 sums over joints and pixels; here it is the mean over them (as in Associative
  Embedding, whose normalisation the paper's loss weights 1 : 1e-3 : 1e-4 assume), with pixels
  under ignore regions left out (``loss_mask`` 0) but still counted in the mean.

  ``foreground_weight`` > 0 (not in the paper; 0 is Eq. 1) weighs each pixel's squared error
  by ``1 + foreground_weight * C*``: the few pixels near joints then count as much as the many
  background pixels, which a short training run needs (see configs/quickstart.py).

  ``mirror_permutation`` (not in the paper; ``config.loss.det_fg_mirrored``): the skeleton's
  left/right swap. With it the extra weight is ``foreground_weight * max(C*_j, C*_perm(j))``:
  a left elbow's channel weighs its error at the right elbows as much as at the left ones.
  Without it the weighted loss is lowest, for a network unsure which elbow is which, when both
  channels fire near 1 at both elbows (the optimum for an even guess is 11/12 with weight 10),
  and the error at the mirrored joint, the only signal that tells the sides apart, weighs 1/11
  of the error at the joint itself.

  Args:
    heatmaps: [S, B, h, w, J] predictions of every stack.
    target: [B, h, w, J] ground truth C*.
    loss_mask: [B, h, w] 0 inside ignore regions.
    foreground_weight: extra weight of the pixels near joints (``config.loss.det_fg_weight``).
    mirror_permutation: [J] left/right swap (``Skeleton.flip_permutation``) or None.

  Returns:
    (loss: sum over stacks of the batch mean, metrics: ``det_last_stack``).
  """
  _check_rank('heatmaps', heatmaps, 5, '[S, B, h, w, J]')
  sq = (heatmaps - target[None]) ** 2 * loss_mask[None, ..., None]
  near = target
  if mirror_permutation is not None:
    perm = jnp.asarray(mirror_permutation)
    if perm.shape != (target.shape[-1],):
      raise ValueError(f'mirror_permutation has shape {perm.shape}; the heatmaps have '
                       f'{target.shape[-1]} joints')
    near = jnp.maximum(target, target[..., perm])
  sq = sq * (1.0 + foreground_weight * near[None])   # weight 0: exactly Eq. 1
  per_stack = sq.mean(axis=(2, 3, 4)).mean(axis=1)                    # [S]
  return per_stack.sum(), dict(det_last_stack=per_stack[-1])


def keypoint_embedding_loss(ke, joint_index, joint_valid, person_valid=None):
  """KE grouping loss, Eq. 2 (pull) + Eq. 3 (push), with ``pull_push``.

  Args:
    ke: [S, B, h, w, J] one 1-D tag map per joint type.
    joint_index: [B, P, J] flat pixel index of each joint.
    joint_valid: [B, P, J] labelled and inside the map.
    person_valid: optional [B, P]; people with 0 are ignored.

  Returns:
    (loss: sum over stacks of the batch mean of pull + push, metrics: ``ke_pull``, ``ke_push``).
  """
  _check_rank('ke', ke, 5, '[S, B, h, w, J]')
  valid = _masked_valid(joint_valid, person_valid)
  tags = jax.vmap(_joint_channels_at_joints, in_axes=(0, None))(ke, joint_index)  # [S, B, P, J]
  pull, push, _ = jax.vmap(jax.vmap(pull_push, in_axes=(0, 0)), in_axes=(0, None))(
      tags[..., None], valid)                                          # [S, B]
  pull = pull.mean(axis=1).sum()
  push = push.mean(axis=1).sum()
  return pull + push, dict(ke_pull=pull, ke_push=push)


def _ordinal_order_term(reference, keys, key_valid, ascending: bool):
  """First term of Eq. 4 for one task and one image.

  Args:
    reference: [P] reference embedding mbar_k of each person.
    keys: [P] the ordering key (centroid x or y, or head size).
    key_valid: [P] 1 where the person exists and the key is defined.
    ascending: whether the task orders people by increasing key.

  Returns:
    1/K^2 sum_{k, k'} log(1 + exp(Ord * (mbar_k - mbar_k'))), Ord = 1 when k precedes k' in the
    task's order and -1 otherwise; pairs with equal or undefined keys are left out.
  """
  ordered = keys if ascending else -keys
  precedes = ordered[:, None] < ordered[None, :]
  follows = ordered[:, None] > ordered[None, :]
  pair = key_valid[:, None] * key_valid[None, :] * (precedes | follows)
  ord_sign = jnp.where(precedes, 1.0, -1.0)
  terms = jnp.logaddexp(0.0, ord_sign * (reference[:, None] - reference[None, :]))
  return (terms * pair).sum()


def ordinal_loss(aux, joint_index, joint_valid, order_keys, order_valid, person_valid=None):
  """Auxiliary geometric-ordinal loss, Eq. 4, summed over the six tasks.

  Task t in ``models.spatialnet.AUX_TASKS`` = (l2r, r2l, t2b, b2t, f2n, n2f) reads key ``t // 2`` of
  ``order_keys`` (centroid x, centroid y, head size) in ascending order for even t and
  descending for odd t: in l2r the left person precedes and should have the lower value, in f2n
  the far person (small head) precedes. Each task also has the pull term of Eq. 2 on its map.
  The order term is normalised by K^2 (K = people with a labelled joint), as in Eq. 4.

  Args:
    aux: [S, B, h, w, 6] ordinal maps.
    joint_index, joint_valid: [B, P, J].
    order_keys: [B, P, 3] centroid x, centroid y, head size.
    order_valid: [B, P, 3] 1 where the key is defined.
    person_valid: optional [B, P].

  Returns:
    (loss: sum over stacks of the batch mean, metrics: ``aux_order``, ``aux_pull``).
  """
  _check_rank('aux', aux, 5, '[S, B, h, w, 6]')
  if aux.shape[-1] != 6:
    raise ValueError(f'aux must have 6 channels (l2r, r2l, t2b, b2t, f2n, n2f), got {aux.shape}')
  valid = _masked_valid(joint_valid, person_valid)                    # [B, P, J]

  def one_image(values, valid, keys, key_valid):
    # values [P, J, 6]; valid [P, J]; keys, key_valid [P, 3].
    person = (valid.sum(axis=1) > 0).astype(jnp.float32)
    order_total, pull_total = 0.0, 0.0
    for t in range(6):
      pull, _, reference = pull_push(values[..., t:t + 1], valid)
      order = _ordinal_order_term(reference[:, 0], keys[:, t // 2],
                                  key_valid[:, t // 2] * person, ascending=t % 2 == 0)
      order_total += order / jnp.maximum(person.sum() ** 2, 1.0)
      pull_total += pull
    return order_total, pull_total

  values = jax.vmap(_at_joints, in_axes=(0, None))(aux, joint_index)  # [S, B, P, J, 6]
  order, pull = jax.vmap(jax.vmap(one_image), in_axes=(0, None, None, None))(
      values, valid, order_keys.astype(jnp.float32), order_valid.astype(jnp.float32))
  order = order.mean(axis=1).sum()
  pull = pull.mean(axis=1).sum()
  return order + pull, dict(aux_order=order, aux_pull=pull)


def svf_loss(svf, joint_index, joint_valid, svf_target, person_valid=None):
  """SIE loss, Eq. 5: L1 between the SVF at each labelled joint and ``joint - centre``.

  Args:
    svf: [S, B, h, w, 2] (x, y) output pixels.
    joint_index, joint_valid: [B, P, J].
    svf_target: [B, P, J, 2] rounded joint pixel - person centre.
    person_valid: optional [B, P].

  Returns:
    (loss: sum over stacks of the batch mean of the per-image mean over labelled joints of
    |dx| + |dy|, metrics: ``sie_last_stack``).
  """
  _check_rank('svf', svf, 5, '[S, B, h, w, 2]')
  valid = _masked_valid(joint_valid, person_valid)
  per_stack = jax.vmap(lambda f: _l1_at_joints(f, joint_index, valid, svf_target).mean())(svf)
  return per_stack.sum(), dict(sie_last_stack=per_stack[-1])


def facing_target(joint_index, joint_valid, width: int, torso_joints):
  """Which way each person faces, from the 2-D positions of four torso joints.

  With ``d = (left_shoulder - right_shoulder) + (left_hip - right_hip)`` and the torso's up
  vector ``u = mid-shoulders - mid-hips`` (image coordinates, y down), the target is
  ``(d_y u_x - d_x u_y) / |u|^2`` clipped to [-1, 1]: for an upright person the horizontal
  left-right spread over the torso length, positive when the person faces the camera (their
  left on the image's right), negative when they face away, near 0 in profile. It needs only
  the labelled keypoints, so any pose data set gives it.

  Args:
    joint_index, joint_valid: [B, P, J] flat output-pixel index and labels.
    width: output map width (the index is ``y * width + x``).
    torso_joints: indices (left_shoulder, right_shoulder, left_hip, right_hip).

  Returns:
    (target [B, P], valid [B, P] float: all four joints labelled and a non-zero torso).
  """
  xy = jnp.stack([joint_index % width, joint_index // width], axis=-1).astype(jnp.float32)
  ls, rs, lh, rh = (xy[..., i, :] for i in torso_joints)              # [B, P, 2]
  d = (ls - rs) + (lh - rh)
  u = 0.5 * (ls + rs) - 0.5 * (lh + rh)
  norm = (u ** 2).sum(axis=-1)
  valid = jnp.all(joint_valid[..., jnp.asarray(torso_joints)], axis=-1) & (norm > 0)
  target = jnp.clip(_safe_div(d[..., 1] * u[..., 0] - d[..., 0] * u[..., 1], norm), -1.0, 1.0)
  return target, valid.astype(jnp.float32)


def facing_loss(facing, joint_index, joint_valid, torso_joints, person_valid=None,
                side_sign=None):
  """Facing loss (not in the paper): the facing map at every labelled joint regresses the
  person's ``facing_target``.

  Telling a left wrist from a right one needs two things at the wrist: on which side of its
  partner it lies in the image, which the features there carry, and which way the person
  faces, which a short-trained network knows only at the torso (benchmarks/facing_probe.py).
  Supervising the facing at every joint puts it into the features the heatmap layers read.

  Args:
    facing: [S, B, h, w, 1].
    joint_index, joint_valid: [B, P, J].
    torso_joints: (left_shoulder, right_shoulder, left_hip, right_hip) indices.
    person_valid: optional [B, P].
    side_sign: optional [B, P]: -1 where the pipeline exchanged the person's left/right labels
      (``targets.canonical_sides``), whose facing target is then the negative of the one the
      exchanged labels give.

  Returns:
    (loss: sum over stacks of the batch mean of the per-image mean squared error over the
    labelled joints of people with a facing target, metrics: ``facing_last_stack``).
  """
  _check_rank('facing', facing, 5, '[S, B, h, w, 1]')
  target, person_ok = facing_target(joint_index, joint_valid, facing.shape[3], torso_joints)
  if side_sign is not None:
    target = target * side_sign
  valid = _masked_valid(joint_valid, person_valid) * person_ok[..., None]      # [B, P, J]

  def one_stack(f):
    pred = _at_joints(f, joint_index)[..., 0]                          # [B, P, J]
    sq = (pred - target[..., None]) ** 2
    return _safe_div((sq * valid).sum(axis=(1, 2)), valid.sum(axis=(1, 2))).mean()

  per_stack = jax.vmap(one_stack)(facing)
  return per_stack.sum(), dict(facing_last_stack=per_stack[-1])


def spatial_loss(outputs, batch, loss_config, torso=None, flip_permutation=None):
  """SpatialNet training loss (Sec. 3.4): weighted sum of Eq. 1-5 over all stacks.

  ``L = det_weight L_det + ke_weight L_KE + aux_weight L_aux + sie_weight L_SIE``
  (paper: 1 : 1e-3 : 1e-4 : 1e-4); ``use_ke``, ``use_aux``, ``use_sie`` switch terms off
  (Table 3 ablations) and are Python booleans (static under jit).

  Args:
    outputs: SpatialNet outputs (``heatmaps``, ``ke``, ``aux``, ``svf`` [S, B, h, w, C]).
    batch: frame batch with the targets of docs/design.md (``heatmaps``, ``loss_mask``,
      ``joint_index``, ``joint_valid``, ``svf_target``, ``order_keys``, ``order_valid``,
      ``person_valid``).
    loss_config: ``config.loss``.
    torso: ``skeletons.torso_joints(skeleton)``; needed when ``loss_config.facing_weight``
      > 0, which adds ``facing_weight * facing_loss`` (not in the paper; needs
      ``outputs['facing']``).
    flip_permutation: ``Skeleton.flip_permutation``; needed when ``loss_config.det_fg_mirrored``
      (the mirrored joints weigh as the joints in Eq. 1's foreground weight, ``heatmap_loss``).

  Returns:
    (loss scalar, metrics dict of scalars: each term before weighting plus ``loss``).
  """
  metrics = {}
  mirror = None
  if loss_config.get('det_fg_mirrored', False):
    if flip_permutation is None:
      raise ValueError('config.loss.det_fg_mirrored: spatial_loss needs flip_permutation= '
                       '(Skeleton.flip_permutation)')
    mirror = flip_permutation
  det, m = heatmap_loss(outputs['heatmaps'], batch['heatmaps'], batch['loss_mask'],
                        float(loss_config.det_fg_weight), mirror)
  metrics.update(m, det=det)
  total = loss_config.det_weight * det
  person_valid = batch['person_valid']
  if loss_config.use_ke:
    ke, m = keypoint_embedding_loss(outputs['ke'], batch['joint_index'], batch['joint_valid'],
                                    person_valid)
    metrics.update(m, ke=ke)
    total = total + loss_config.ke_weight * ke
  if loss_config.use_aux:
    aux, m = ordinal_loss(outputs['aux'], batch['joint_index'], batch['joint_valid'],
                          batch['order_keys'], batch['order_valid'], person_valid)
    metrics.update(m, aux=aux)
    total = total + loss_config.aux_weight * aux
  if loss_config.use_sie:
    sie, m = svf_loss(outputs['svf'], batch['joint_index'], batch['joint_valid'],
                      batch['svf_target'], person_valid)
    metrics.update(m, sie=sie)
    total = total + loss_config.sie_weight * sie
  facing_weight = float(loss_config.get('facing_weight', 0.0))
  if facing_weight > 0:
    if 'facing' not in outputs:
      raise ValueError('config.loss.facing_weight > 0 needs the facing map: set '
                       'config.model.facing_head=True')
    if torso is None:
      raise ValueError('config.loss.facing_weight > 0: spatial_loss needs torso= '
                       '(skeletons.torso_joints(skeleton))')
    facing, m = facing_loss(outputs['facing'], batch['joint_index'], batch['joint_valid'],
                            torso, person_valid, batch.get('side_sign'))
    metrics.update(m, facing=facing)
    total = total + facing_weight * facing
  metrics['loss'] = total
  return total, metrics


# ---------------------------------------------------------------------------------------------
# TemporalNet (Sec. 3.3).


def triplet_loss(he_prev, he_curr, valid_prev, valid_curr, margin: float = 0.3):
  """Human-embedding triplet loss, Eq. 6, over the people of two frames.

  Slot k of both frames is the same track. For every anchor (a valid person of either frame)
  the positive is the same slot in the other frame (when present there) and the negatives are
  all other valid people of both frames. All valid triplets are used and averaged per image
  (batch-all, not hardest-negative): with few people per frame every triplet is informative.

  Args:
    he_prev, he_curr: [B, P, E] human embeddings.
    valid_prev, valid_curr: [B, P] 1 where the person is present in that frame.
    margin: alpha of Eq. 6 (paper: 0.3), on squared distances.

  Returns:
    (loss, metrics: ``he_active`` fraction of triplets with non-zero loss, ``he_pos_dist`` and
    ``he_neg_dist`` mean squared distances of positive and negative pairs).
  """
  _check_rank('he_prev', he_prev, 3, '[B, P, E]')
  p = he_prev.shape[1]
  slot = jnp.concatenate([jnp.arange(p), jnp.arange(p)])
  frame = jnp.concatenate([jnp.zeros(p, jnp.int32), jnp.ones(p, jnp.int32)])
  same_slot = slot[:, None] == slot[None, :]
  other_frame = frame[:, None] != frame[None, :]

  def one_image(emb, valid):
    # emb [2P, E], valid [2P]. ||a - b||^2 by expansion keeps memory at [2P, 2P].
    sq = (emb * emb).sum(axis=-1)
    dist = jnp.maximum(sq[:, None] + sq[None, :] - 2.0 * emb @ emb.T, 0.0)
    pair = valid[:, None] * valid[None, :]
    positive = pair * (same_slot & other_frame)                       # [anchor, positive]
    negative = pair * (~same_slot)                                    # [anchor, negative]
    triplet = positive[:, :, None] * negative[:, None, :]             # [a, p, n]
    hinge = jnp.maximum(dist[:, :, None] - dist[:, None, :] + margin, 0.0)
    count = triplet.sum()
    loss = _safe_div((hinge * triplet).sum(), count)
    active = _safe_div(((hinge > 0) * triplet).sum(), count)
    pos_dist = _safe_div((dist * positive).sum(), positive.sum())
    neg_dist = _safe_div((dist * negative).sum(), negative.sum())
    return loss, active, pos_dist, neg_dist

  emb = jnp.concatenate([he_prev, he_curr], axis=1).astype(jnp.float32)
  valid = jnp.concatenate([valid_prev, valid_curr], axis=1).astype(jnp.float32)
  loss, active, pos_dist, neg_dist = jax.vmap(one_image)(emb, valid)
  return loss.mean(), dict(he_active=active.mean(), he_pos_dist=pos_dist.mean(),
                           he_neg_dist=neg_dist.mean())


def tvf_loss(tvf_fwd, tvf_bwd, joint_index_curr, joint_index_prev, fwd_target, fwd_valid,
             bwd_target, bwd_valid):
  """TIE loss, Eq. 7: L1 of the forward TVF at frame-t joints and backward TVF at t-1 joints.

  Args:
    tvf_fwd, tvf_bwd: [B, h, w, 2] output pixels.
    joint_index_curr, joint_index_prev: [B, P, J] flat joint pixels in frames t and t-1.
    fwd_target: [B, P, J, 2] joint(t) - centre(t-1); fwd_valid [B, P, J].
    bwd_target: [B, P, J, 2] joint(t-1) - centre(t); bwd_valid [B, P, J].

  Returns:
    (loss: batch mean of forward + backward terms, each the mean over its valid joints,
    metrics: ``tie_fwd``, ``tie_bwd``).
  """
  _check_rank('tvf_fwd', tvf_fwd, 4, '[B, h, w, 2]')
  fwd = _l1_at_joints(tvf_fwd, joint_index_curr, fwd_valid.astype(jnp.float32),
                      fwd_target).mean()
  bwd = _l1_at_joints(tvf_bwd, joint_index_prev, bwd_valid.astype(jnp.float32),
                      bwd_target).mean()
  return fwd + bwd, dict(tie_fwd=fwd, tie_bwd=bwd)


def temporal_loss(outputs, batch, loss_config):
  """TemporalNet training loss: ``he_weight L_HE (Eq. 6) + tie_weight L_TIE (Eq. 7)``.

  Args:
    outputs: TemporalNet outputs (``he_prev``, ``he_curr`` [B, P, E], ``tvf_fwd``, ``tvf_bwd``).
    batch: frame-pair batch: ``prev`` / ``curr`` frame dicts (``person_valid``,
      ``joint_index``) and ``tvf_fwd_target``, ``tvf_fwd_valid``, ``tvf_bwd_target``,
      ``tvf_bwd_valid``.
    loss_config: ``config.loss`` (``he_margin``, ``tie_weight``; ``he_weight`` defaults to 1).

  Returns:
    (loss, metrics: ``he``, ``tie`` before weighting, their parts, and ``loss``).
  """
  prev, curr = batch['prev'], batch['curr']
  he, metrics = triplet_loss(outputs['he_prev'], outputs['he_curr'], prev['person_valid'],
                             curr['person_valid'], margin=loss_config.he_margin)
  tie, m = tvf_loss(outputs['tvf_fwd'], outputs['tvf_bwd'], curr['joint_index'],
                    prev['joint_index'], batch['tvf_fwd_target'], batch['tvf_fwd_valid'],
                    batch['tvf_bwd_target'], batch['tvf_bwd_valid'])
  metrics.update(m, he=he, tie=tie)
  total = (loss_config.he_weight * he
           + loss_config.tie_weight * tie)
  metrics['loss'] = total
  return total, metrics
