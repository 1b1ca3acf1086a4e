"""Pose-Guided Grouping (PGG): differentiable Gaussian blurring mean shift on masked pixels.

Paper Section 3.2, Algorithm 1. The pose mask ``M = max_j C_j > tau`` keeps the pixels near
detected body parts; their embeddings ``X`` (KE concatenated with SIE for SpatialNet, the TIE
alone for TemporalNet) go through ``R`` iterations of Gaussian blurring mean shift (GBMS):

  W_ij = exp(-delta^2 / 2 ||x_i - x_j||^2),   D = diag(W 1),   X <- X W D^-1.

Fixed shapes inside ``jit``: the masked pixels are placed into a static number ``N`` of *slots*
(``pgg.num_slots``). When more pixels pass the mask than there are slots, the ones with the
highest heat are kept (``lax.top_k``); unused slots are padding, carried by ``slot_valid``, hold
zeros, and neither give nor receive weight in the mean shift.

Two implementations give the same values:

* ``'direct'`` forms the ``[N, N]`` affinity W: memory grows as N^2.
* ``'blockwise'`` never materialises W. Rows are processed in blocks and, for each row block,
  a ``lax.scan`` over column blocks accumulates the numerator ``sum_j W_ij x_j`` and the running
  normaliser ``sum_j W_ij`` -- the way memory-efficient attention is computed. Memory grows
  linearly in N (plus one ``[B, B]`` block). No running maximum is needed: every valid slot has
  weight ``exp(0) = 1`` with itself, so each row's normaliser lies in ``[1, N]`` and can neither
  overflow nor underflow; off-diagonal weights that underflow to 0 in float32 are below
  ``exp(-87)`` relative to that self weight and so genuinely negligible. Its gradient is a
  ``jax.custom_vjp`` whose backward pass is blockwise as well (see ``_gbms_blockwise_bwd``): a
  ``jax.checkpoint`` of the scan body would still store one ``[B, D + 1]`` carry per (row block,
  column block) pair, i.e. ``N^2 / B`` memory, whereas the custom VJP keeps only the input,
  output and normaliser (``O(N D)``) and recomputes each W block once.

Squared distances are formed as ``|x_i|^2 + |x_j|^2 - 2 x_i . x_j`` so that a block costs one
matrix product; to keep that expansion well conditioned the embeddings are first centred on the
mean of the valid slots. GBMS is translation equivariant (the update is a convex combination of
the points), so the centring changes nothing but rounding. Matrix products use
``Precision.HIGHEST`` so that accelerators do not silently fall back to reduced-precision
float32 matmuls, which would change which pixels group together.

Units: KE is unitless; SIE/TIE are in output pixels and are divided by ``pgg.sie_scale`` before
grouping so that a single bandwidth ``delta`` serves both (with ``delta = 5``, weights fall to
``exp(-1/2)`` at an embedding distance of 0.2, i.e. ``0.2 * sie_scale`` output pixels of SIE).
The grouping losses are computed in that same scaled space.
"""
from __future__ import annotations

import functools
from typing import Any, Mapping

import jax
import jax.numpy as jnp
from jax import lax

from artrack_jax import geometry
from artrack_jax import losses

_HIGHEST = lax.Precision.HIGHEST
IMPLEMENTATIONS = ('direct', 'blockwise', 'auto')


# ---------------------------------------------------------------------------------------------
# Slot selection (Alg. 1, line 1) and scatter back.
# ---------------------------------------------------------------------------------------------


def instance_agnostic_heat(heatmaps):
  """Max over joint types, C_bar(p) = max_j C_j(p) (Section 3.2).

  Args:
    heatmaps: [..., h, w, J] confidence heatmaps.

  Returns:
    [..., h, w] instance-agnostic heat; the pose mask is ``heat > tau``.
  """
  return jnp.max(heatmaps, axis=-1)


def select_slots(heat, num_slots: int, tau: float = 0.2):
  """Places the pixels of the pose mask M = heat > tau into ``num_slots`` fixed slots.

  When more than ``num_slots`` pixels pass the mask, the ``num_slots`` with the highest heat are
  kept (``lax.top_k`` on the masked heat), so the output shape never depends on the data.

  Args:
    heat: [h, w] or [h * w] instance-agnostic heat (max over joints).
    num_slots: N, static.
    tau: mask threshold (paper: 0.2); a pixel is kept when heat > tau (strictly).

  Returns:
    slot_index: [N] int32 flat pixel index ``y * w + x`` of each slot (0 for padding).
    slot_valid: [N] bool, True where the slot holds a masked pixel.
  """
  if num_slots < 1:
    raise ValueError(f'pgg: num_slots must be >= 1, got {num_slots}')
  flat = jnp.reshape(lax.stop_gradient(heat), (-1,))
  masked = jnp.where(flat > tau, flat, -jnp.inf)
  # N entries of -inf appended, so top_k always has N candidates without comparing N with the
  # number of pixels (which may be symbolic under jax.export); they only fill padding slots.
  masked = jnp.concatenate([masked, jnp.full((num_slots,), -jnp.inf, masked.dtype)])
  top_heat, slot_index = lax.top_k(masked, num_slots)
  slot_valid = top_heat > tau
  slot_index = jnp.where(slot_valid, slot_index, 0).astype(jnp.int32)
  return slot_index, slot_valid


def gather_slots(embeddings, slot_index, slot_valid):
  """Embeddings of the slots' pixels.

  Args:
    embeddings: [h, w, D] or [h * w, D].
    slot_index: [N] flat pixel indices.
    slot_valid: [N] bool.

  Returns:
    [N, D] embeddings, zeros in padded slots.
  """
  flat = _flatten_map(embeddings, 'embeddings')
  x = jnp.take(flat, slot_index, axis=0, mode='clip')
  return jnp.where(slot_valid[:, None], x, jnp.zeros_like(x))


def scatter_slots(embeddings, refined, slot_index, slot_valid):
  """Writes refined slot embeddings back into the map.

  Pixels outside the slots (outside the pose mask, or dropped by the top-N selection) keep their
  unrefined values; decoding then reads one map whatever was refined.

  Args:
    embeddings: [h, w, D] (or [h * w, D]) unrefined map.
    refined: [N, D] refined slot embeddings (e.g. the last entry of ``pgg``'s output).
    slot_index: [N] flat pixel indices.
    slot_valid: [N] bool.

  Returns:
    Map with the same shape as ``embeddings``.
  """
  flat = _flatten_map(embeddings, 'embeddings')
  num_pixels = flat.shape[0]
  # Padded slots point past the end and are dropped by the scatter.
  index = jnp.where(slot_valid, slot_index, num_pixels)
  out = flat.at[index].set(jnp.asarray(refined, flat.dtype), mode='drop')
  return out.reshape(jnp.shape(embeddings))


def _flatten_map(embeddings, name):
  embeddings = jnp.asarray(embeddings)
  if embeddings.ndim == 3:
    return embeddings.reshape(-1, embeddings.shape[-1])
  if embeddings.ndim == 2:
    return embeddings
  raise ValueError(f'pgg: {name} must be [h, w, D] or [h * w, D], got shape {embeddings.shape}')


# ---------------------------------------------------------------------------------------------
# Gaussian blurring mean shift (Alg. 1, lines 3-8).
# ---------------------------------------------------------------------------------------------


def _gaussian_affinity(x_row, sq_row, v_row, x_col, sq_col, v_col, scale):
  """Masked Gaussian affinity block, W_ij = exp(-delta^2/2 ||x_i - x_j||^2) v_i v_j (Alg. 1, l. 4).

  Args:
    x_row: [Br, D]; sq_row: [Br] squared norms; v_row: [Br] validity (float).
    x_col: [Bc, D]; sq_col: [Bc]; v_col: [Bc].
    scale: delta^2 / 2.

  Returns:
    [Br, Bc] weights; zero in every row or column of a padded slot.
  """
  dot = jnp.dot(x_row, x_col.T, precision=_HIGHEST)
  # Rounding can make the expansion slightly negative for (near-)coincident points.
  dist2 = jnp.maximum(sq_row[:, None] + sq_col[None, :] - 2.0 * dot, 0.0)
  return jnp.exp(-scale * dist2) * (v_row[:, None] * v_col[None, :])


def _normalise(num, den, valid):
  """X W D^-1 (Alg. 1, line 6) with padded rows set to zero (no NaN when a row is empty)."""
  safe_den = jnp.where(valid > 0, den, 1.0)
  return jnp.where(valid[:, None] > 0, num / safe_den[:, None], 0.0)


def gbms_step_direct(x, valid, delta: float):
  """One GBMS iteration forming the [N, N] affinity (Alg. 1, lines 4-6).

  Args:
    x: [N, D] slot embeddings.
    valid: [N] slot validity (bool or 0/1).
    delta: kernel bandwidth (paper: 5).

  Returns:
    [N, D] updated embeddings, zeros in padded slots.
  """
  valid = valid.astype(x.dtype)
  sq = jnp.sum(x * x, axis=-1)
  w = _gaussian_affinity(x, sq, valid, x, sq, valid, 0.5 * delta ** 2)   # [N, N]
  num = jnp.dot(w, x, precision=_HIGHEST)                                 # (X W)^T, W symmetric
  den = jnp.sum(w, axis=1)                                                # diag of D
  return _normalise(num, den, valid)


def _to_blocks(a, num_blocks, block):
  return a.reshape((num_blocks, block) + a.shape[1:])


def _gbms_blockwise_fwd_impl(x, valid, scale, block):
  """Numerator and normaliser of one GBMS step, blockwise. x: [N, D] with N % block == 0."""
  n, d = x.shape
  nb = n // block
  sq = jnp.sum(x * x, axis=-1)
  cols = (_to_blocks(x, nb, block), _to_blocks(sq, nb, block), _to_blocks(valid, nb, block))

  def row_block(row):
    x_r, sq_r, v_r = row

    def col_step(carry, col):
      num, den = carry
      x_c, sq_c, v_c = col
      w = _gaussian_affinity(x_r, sq_r, v_r, x_c, sq_c, v_c, scale)   # [B, B], never [N, N]
      return (num + jnp.dot(w, x_c, precision=_HIGHEST), den + jnp.sum(w, axis=1)), None

    init = (jnp.zeros((block, d), x.dtype), jnp.zeros((block,), x.dtype))
    (num, den), _ = lax.scan(col_step, init, cols)
    return num, den

  num, den = lax.map(row_block, cols)
  return num.reshape(n, d), den.reshape(n)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _gbms_blockwise(x, valid, scale, block):
  num, den = _gbms_blockwise_fwd_impl(x, valid, scale, block)
  return _normalise(num, den, valid)


def _gbms_blockwise_fwd(x, valid, scale, block):
  num, den = _gbms_blockwise_fwd_impl(x, valid, scale, block)
  y = _normalise(num, den, valid)
  return y, (x, valid, y, den)


def _gbms_blockwise_bwd(scale, block, residuals, g):
  """Blockwise VJP of one GBMS step; memory O(N D + B^2).

  With p_ij = W_ij / s_i, s_i = sum_j W_ij, y_i = sum_j p_ij x_j and W symmetric, the
  cotangent g_i = dL/dy_i gives, writing gh_i = g_i / s_i and beta_i = gh_i . y_i,

    dL/dx_k = sum_j W_kj gh_j + sum_j C_kj (x_k - x_j),
    C_kj = -2 (delta^2 / 2) W_kj (gh_k . x_j - beta_k + gh_j . x_k - beta_j),

  where the first term is x_j's role in the numerator and C collects the derivative of W_kj
  through both of its ends (k as the row and as the column). Each W block is recomputed once.
  """
  x, valid, y, den = residuals
  n, d = x.shape
  nb = n // block
  safe_den = jnp.where(valid > 0, den, 1.0)
  gh = jnp.where(valid[:, None] > 0, g / safe_den[:, None], 0.0)    # padded rows: constant 0
  beta = jnp.sum(gh * y, axis=-1)
  sq = jnp.sum(x * x, axis=-1)
  blocks = tuple(_to_blocks(a, nb, block) for a in (x, sq, valid, gh, beta))

  def row_block(row):
    x_r, sq_r, v_r, gh_r, beta_r = row

    def col_step(carry, col):
      wg, c_sum, c_x = carry
      x_c, sq_c, v_c, gh_c, beta_c = col
      w = _gaussian_affinity(x_r, sq_r, v_r, x_c, sq_c, v_c, scale)
      pair = (jnp.dot(gh_r, x_c.T, precision=_HIGHEST) - beta_r[:, None]
              + jnp.dot(x_r, gh_c.T, precision=_HIGHEST) - beta_c[None, :])
      c = -2.0 * scale * w * pair
      return (wg + jnp.dot(w, gh_c, precision=_HIGHEST), c_sum + jnp.sum(c, axis=1),
              c_x + jnp.dot(c, x_c, precision=_HIGHEST)), None

    init = (jnp.zeros((block, d), x.dtype), jnp.zeros((block,), x.dtype),
            jnp.zeros((block, d), x.dtype))
    (wg, c_sum, c_x), _ = lax.scan(col_step, init, blocks)
    return wg + x_r * c_sum[:, None] - c_x

  grad_x = lax.map(row_block, blocks).reshape(n, d)
  return grad_x, jnp.zeros_like(valid)


_gbms_blockwise.defvjp(_gbms_blockwise_fwd, _gbms_blockwise_bwd)


def gbms_step_blockwise(x, valid, delta: float, block_size: int = 1024):
  """One GBMS iteration without materialising W; same values as ``gbms_step_direct``.

  Args:
    x: [N, D] slot embeddings.
    valid: [N] slot validity.
    delta: kernel bandwidth.
    block_size: rows/columns per block (static); memory O(N D + block^2).

  Returns:
    [N, D] updated embeddings, zeros in padded slots.
  """
  if block_size < 1:
    raise ValueError(f'pgg: block_size must be >= 1, got {block_size}')
  n = x.shape[0]
  block = min(block_size, n)
  padded = -(-n // block) * block
  valid = valid.astype(x.dtype)
  x_p = jnp.pad(x, ((0, padded - n), (0, 0)))
  v_p = jnp.pad(valid, (0, padded - n))
  return _gbms_blockwise(x_p, v_p, 0.5 * float(delta) ** 2, block)[:n]


def resolve_implementation(implementation: str, num_slots: int, block_size: int) -> str:
  """'auto' -> 'blockwise' when num_slots > block_size, else 'direct'."""
  if implementation not in IMPLEMENTATIONS:
    raise ValueError(f'pgg: implementation must be one of {IMPLEMENTATIONS}, '
                     f'got {implementation!r}')
  if implementation == 'auto':
    return 'blockwise' if num_slots > block_size else 'direct'
  return implementation


def mean_shift(x, valid, delta: float = 5.0, iterations: int = 1,
               implementation: str = 'direct', block_size: int = 1024):
  """R iterations of masked Gaussian blurring mean shift (Alg. 1, lines 2-9).

  Args:
    x: [N, D] slot embeddings X^(1) (rows, not the paper's D x N columns).
    valid: [N] slot validity; padded slots neither contribute nor receive weight.
    delta: kernel bandwidth (paper: 5).
    iterations: R, static.
    implementation: 'direct', 'blockwise' or 'auto'.
    block_size: block of the blockwise implementation; 'auto' switches above it.

  Returns:
    [R + 1, N, D]: X^(1), ..., X^(R+1) (the input first); zeros in padded slots.
  """
  if iterations < 0:
    raise ValueError(f'pgg: iterations must be >= 0, got {iterations}')
  implementation = resolve_implementation(implementation, x.shape[0], block_size)
  valid_f = valid.astype(x.dtype)
  x0 = x * valid_f[:, None]
  # Centre on the valid slots' mean (translation equivariance): conditions the distance
  # expansion; stop_gradient is exact because the output does not depend on the centre.
  count = jnp.maximum(jnp.sum(valid_f), 1.0)
  centre = lax.stop_gradient(jnp.sum(x0, axis=0) / count)
  xc = (x - centre) * valid_f[:, None]
  if implementation == 'direct':
    step = functools.partial(gbms_step_direct, valid=valid_f, delta=delta)
  else:
    step = functools.partial(gbms_step_blockwise, valid=valid_f, delta=delta,
                             block_size=block_size)

  # A Python loop rather than lax.scan: differentiating a lax.scan whose body holds the
  # blockwise custom VJP makes JAX linearise the forward blocks and keep [N, N] residuals.
  # R is small (the paper uses R = 1).
  refined = []
  xr = xc
  for _ in range(iterations):
    xr = step(xr)
    refined.append((xr + centre) * valid_f[:, None])
  return jnp.stack([x0] + refined, axis=0)


def pgg(embeddings, heat, num_slots: int, tau: float = 0.2, delta: float = 5.0,
        iterations: int = 1, implementation: str = 'direct', block_size: int = 1024):
  """Pose-Guided Grouping of one image (Alg. 1); batch with ``jax.vmap``.

  Args:
    embeddings: [h, w, D] or [h * w, D] embeddings to group (concat of KE and scaled SIE, or
      the scaled TIE).
    heat: [h, w] (or [h * w]) instance-agnostic heat, max over joints.
    num_slots: N, static.
    tau: pose-mask threshold.
    delta: kernel bandwidth.
    iterations: R, static.
    implementation: 'direct', 'blockwise' or 'auto' (static).
    block_size: blockwise block size (static).

  Returns:
    xs: [R + 1, N, D] every iteration's slot embeddings, the input first.
    slot_index: [N] int32 flat pixel index y * w + x of each slot.
    slot_valid: [N] bool.
  """
  flat = _flatten_map(embeddings, 'embeddings')
  if heat.size != flat.shape[0]:
    raise ValueError(f'pgg: heat has {heat.size} pixels (shape {heat.shape}) but embeddings '
                     f'have {flat.shape[0]} (shape {embeddings.shape})')
  # Mean shift in at least float32: bfloat16 network outputs would blur the affinities.
  flat = flat.astype(jnp.promote_types(flat.dtype, jnp.float32))
  slot_index, slot_valid = select_slots(heat, num_slots, tau)
  x = gather_slots(flat, slot_index, slot_valid)
  xs = mean_shift(x, slot_valid, delta, iterations, implementation, block_size)
  return xs, slot_index, slot_valid


def pgg_from_config(embeddings, heat, pgg_config: Mapping[str, Any]):
  """``pgg`` with its hyper-parameters read from ``config.pgg``."""
  return pgg(embeddings, heat, num_slots=int(pgg_config['num_slots']),
             tau=float(pgg_config['tau']), delta=float(pgg_config['delta']),
             iterations=int(pgg_config['iterations']),
             implementation=str(pgg_config['implementation']),
             block_size=int(pgg_config['block_size']))


# ---------------------------------------------------------------------------------------------
# Spatial / temporal embeddings.
# ---------------------------------------------------------------------------------------------


def _spatial_parts(pgg_config):
  use_ke = bool(pgg_config['use_ke'])
  use_sie = bool(pgg_config['use_sie'])
  if not (use_ke or use_sie):
    raise ValueError('pgg: config.pgg has use_ke = use_sie = False; nothing to group')
  return use_ke, use_sie


def spatial_embeddings(ke, svf, sie_scale: float, use_ke: bool = True, use_sie: bool = True):
  """X for spatial grouping: concat(KE, SIE / sie_scale) along channels (Alg. 1, line 1).

  Args:
    ke: [..., h, w, J] keypoint embedding.
    svf: [..., h, w, 2] spatial vector field, output pixels.
    sie_scale: output pixels per embedding unit for the SIE.
    use_ke, use_sie: which parts to group (Table 3 ablations).

  Returns:
    [..., h, w, D], D = J * use_ke + 2 * use_sie; KE channels first.
  """
  parts = []
  if use_ke:
    parts.append(ke)
  if use_sie:
    parts.append(geometry.instance_embedding(svf) / sie_scale)
  return jnp.concatenate(parts, axis=-1)


def pgg_refine(outputs: Mapping[str, Any], pgg_config: Mapping[str, Any]) -> dict:
  """Refines KE and SIE of a batch with PGG for decoding (inference).

  Args:
    outputs: last-stack outputs, ``heatmaps`` [B, h, w, J], ``ke`` [B, h, w, J],
      ``svf`` [B, h, w, 2] (other keys are passed through).
    pgg_config: ``config.pgg``.

  Returns:
    A copy of ``outputs`` whose ``ke`` and ``svf`` hold the last PGG iteration at the slots'
    pixels (unrefined elsewhere), plus ``sie`` [B, h, w, 2] (output pixels) refined likewise;
    these three in float32 (or wider).
  """
  use_ke, use_sie = _spatial_parts(pgg_config)
  sie_scale = float(pgg_config['sie_scale'])
  # Refined maps in at least float32 (SIE holds pixel coordinates; bfloat16 would round them).
  ke, svf = (jnp.asarray(outputs[k]) for k in ('ke', 'svf'))
  ke = ke.astype(jnp.promote_types(ke.dtype, jnp.float32))
  svf = svf.astype(jnp.promote_types(svf.dtype, jnp.float32))
  num_joints = ke.shape[-1]
  x_map = spatial_embeddings(ke, svf, sie_scale, use_ke, use_sie)
  heat = instance_agnostic_heat(outputs['heatmaps'])

  def one(x_img, heat_img):
    xs, slot_index, slot_valid = pgg_from_config(x_img, heat_img, pgg_config)
    return scatter_slots(x_img, xs[-1], slot_index, slot_valid)

  refined = jax.vmap(one)(x_map, heat)
  result = dict(outputs)
  offset = 0
  if use_ke:
    result['ke'] = refined[..., :num_joints]
    offset = num_joints
  sie = geometry.instance_embedding(svf)
  if use_sie:
    sie = refined[..., offset:offset + 2] * sie_scale
    result['svf'] = geometry.instance_embedding(sie)
  result['sie'] = sie
  return result


# ---------------------------------------------------------------------------------------------
# Grouping losses on PGG outputs (Eq. 2-3 at every iteration).
# ---------------------------------------------------------------------------------------------


def joint_slots(slot_index, slot_valid, joint_index, joint_valid, num_pixels: int):
  """Slot holding each joint's pixel.

  Args:
    slot_index: [N] flat pixel indices; slot_valid: [N] bool.
    joint_index: [P, J] int flat pixel index y * w + x of each joint.
    joint_valid: [P, J] 0/1.
    num_pixels: h * w.

  Returns:
    slot: [P, J] int32 slot of the joint (0 where not found);
    found: [P, J] float32, 1 where the joint is valid and its pixel is one of the slots.
  """
  n = slot_index.shape[0]
  index = jnp.where(slot_valid, slot_index, num_pixels)
  slot_of_pixel = jnp.full((num_pixels,), -1, jnp.int32).at[index].set(
      jnp.arange(n, dtype=jnp.int32), mode='drop')
  slot = slot_of_pixel[jnp.clip(joint_index, 0, num_pixels - 1)]
  found = (slot >= 0) & (joint_valid > 0)
  return jnp.maximum(slot, 0), found.astype(jnp.float32)


def _pull_push_over_iterations(emb, valid):
  """Eq. 2-3 on each PGG iteration. emb: [R + 1, P, J, D]; valid: [P, J] -> ([R+1], [R+1])."""
  pull, push, _ = jax.vmap(losses.pull_push, in_axes=(0, None))(emb, valid)
  return pull, push


def _grouping_terms(x_map, heat, joint_index, joint_valid, groups, pgg_config):
  """PGG on one image and pull/push of each channel group at every iteration.

  Args:
    x_map: [h, w, D]; heat: [h, w]; joint_index, joint_valid: [P, J].
    groups: dict name -> 'per_joint' (channel j for joint j, Eq. 2 for KE) or a channel
      slice (the vector SIE / TIE).

  Returns:
    dict of per-image scalars.
  """
  h, w, _ = x_map.shape
  xs, slot_index, slot_valid = pgg_from_config(x_map, heat, pgg_config)
  slot, found = joint_slots(slot_index, slot_valid, joint_index, joint_valid, h * w)
  emb = xs[:, slot]                                                  # [R + 1, P, J, D]
  num_joints = joint_index.shape[-1]
  terms = {}
  for name, channels in groups.items():
    if channels == 'per_joint':
      part = jnp.diagonal(emb[..., :num_joints], axis1=-2, axis2=-1)[..., None]  # [R+1, P, J, 1]
    else:
      part = emb[..., channels]
    pull, push = _pull_push_over_iterations(part, found)
    # Mean over the R + 1 iterations (the paper applies Eq. 2-3 to all of them) so the loss
    # scale does not depend on R.
    terms[f'pull_{name}'] = pull.mean()
    terms[f'push_{name}'] = push.mean()
    terms[f'pull_{name}_last'] = pull[-1]
    terms[f'push_{name}_last'] = push[-1]
  joint_valid = (joint_valid > 0).astype(jnp.float32)
  mask_pixels = jnp.sum(heat > float(pgg_config['tau'])).astype(jnp.float32)
  num_slots = slot_valid.shape[0]
  terms['joints'] = joint_valid.sum()
  terms['joints_missed'] = (joint_valid - found).sum()
  terms['mask_pixels'] = mask_pixels
  terms['mask_overflow'] = jnp.maximum(mask_pixels - num_slots, 0.0)
  terms['slots_used'] = slot_valid.sum().astype(jnp.float32)
  return terms


def _reduce(terms, names, weight, prefix):
  """Batch mean of the per-image terms, weighted loss and metrics."""
  loss = 0.0
  metrics = {}
  for key, value in terms.items():
    if key in ('joints', 'joints_missed'):
      metrics[f'{prefix}_{key}'] = value.sum()       # counts over the batch
    else:
      metrics[f'{prefix}_{key}'] = value.mean()
  for name in names:
    loss = loss + terms[f'pull_{name}'].mean() + terms[f'push_{name}'].mean()
  loss = weight * loss
  metrics[f'{prefix}_loss'] = loss
  return loss, metrics


def _check_batch(name, array, shape_prefix):
  if array.shape[:len(shape_prefix)] != tuple(shape_prefix):
    raise ValueError(f'pgg loss: {name} has shape {array.shape}, expected leading '
                     f'dimensions {tuple(shape_prefix)}')


def pgg_grouping_loss(outputs: Mapping[str, Any], batch: Mapping[str, Any],
                      pgg_config: Mapping[str, Any], *, weight: float):
  """Grouping loss on the PGG outputs of SpatialNet (Section 3.2, Eq. 2-3).

  KE and SIE are refined jointly by PGG; pull (Eq. 2) and push (Eq. 3) are applied at every
  iteration to the refined KE (joint j of person k reads channel j at its pixel) and to the
  refined SIE (2 channels, in the scaled grouping space). Joints whose pixel is not among the
  slots are left out (metric ``pgg_joints_missed``).

  Args:
    outputs: last stack, ``heatmaps`` [B, h, w, J], ``ke`` [B, h, w, J], ``svf`` [B, h, w, 2].
    batch: ``joint_index`` [B, P, J] int, ``joint_valid`` [B, P, J], ``person_valid`` [B, P].
    pgg_config: ``config.pgg`` (num_slots, tau, delta, iterations, sie_scale, implementation,
      block_size; optional use_ke / use_sie, default True).
    weight: ``config.loss.pgg_weight``.

  Returns:
    (loss, metrics): weight * batch mean of sum over parts of mean over iterations of
    (pull + push); metrics prefixed ``pgg_``.
  """
  use_ke, use_sie = _spatial_parts(pgg_config)
  heatmaps, ke, svf = outputs['heatmaps'], outputs['ke'], outputs['svf']
  b, h, w, num_joints = heatmaps.shape
  _check_batch("outputs['ke']", ke, (b, h, w, num_joints))
  _check_batch("outputs['svf']", svf, (b, h, w, 2))
  _check_batch("batch['joint_index']", batch['joint_index'], (b,))
  if batch['joint_index'].shape[-1] != num_joints:
    raise ValueError(f"pgg loss: batch['joint_index'] has {batch['joint_index'].shape[-1]} "
                     f"joints, heatmaps have {num_joints}")
  joint_valid = batch['joint_valid'] * batch['person_valid'][..., None]
  x_map = spatial_embeddings(ke, svf, float(pgg_config['sie_scale']), use_ke, use_sie)
  groups = {}
  if use_ke:
    groups['ke'] = 'per_joint'
  if use_sie:
    start = num_joints if use_ke else 0
    groups['sie'] = slice(start, start + 2)
  heat = instance_agnostic_heat(heatmaps)
  terms = jax.vmap(lambda x, c, i, v: _grouping_terms(x, c, i, v, groups, pgg_config))(
      x_map, heat, batch['joint_index'], joint_valid)
  return _reduce(terms, list(groups), weight, 'pgg')


def pgg_temporal_loss(outputs: Mapping[str, Any], heatmaps_prev, heatmaps_curr,
                      batch: Mapping[str, Any], pgg_config: Mapping[str, Any], *,
                      weight: float):
  """Grouping loss on PGG-refined forward and backward TIE (Section 3.3.2).

  Forward TIE (frame t pixels encoding person centres at t-1) is masked by frame t's heatmaps
  and grouped at frame t's joints; backward TIE by frame t-1's heatmaps at frame t-1's joints.
  TIE = pixel - TVF, divided by ``pgg.sie_scale`` like the SIE.

  Args:
    outputs: TemporalNet outputs ``tvf_fwd``, ``tvf_bwd`` [B, h, w, 2] (output pixels).
    heatmaps_prev, heatmaps_curr: [B, h, w, J] heatmaps of frames t-1 and t.
    batch: frame-pair batch: ``prev`` / ``curr`` frame dicts with ``joint_index`` [B, P, J] and
      ``joint_valid``; ``tvf_fwd_valid``, ``tvf_bwd_valid`` [B, P, J].
    pgg_config: ``config.pgg``.
    weight: loss weight.

  Returns:
    (loss, metrics) with metrics prefixed ``pgg_tie_fwd_`` / ``pgg_tie_bwd_``.
  """
  sie_scale = float(pgg_config['sie_scale'])
  loss = 0.0
  metrics = {}
  for direction, heatmaps, frame in (('fwd', heatmaps_curr, 'curr'),
                                     ('bwd', heatmaps_prev, 'prev')):
    tvf = outputs[f'tvf_{direction}']
    b, h, w, _ = heatmaps.shape
    _check_batch(f"outputs['tvf_{direction}']", tvf, (b, h, w, 2))
    joint_index = batch[frame]['joint_index']
    _check_batch(f"batch['{frame}']['joint_index']", joint_index, (b,))
    joint_valid = batch[f'tvf_{direction}_valid'] * batch[frame]['joint_valid']
    tie = geometry.instance_embedding(tvf) / sie_scale
    heat = instance_agnostic_heat(heatmaps)
    groups = {'tie': slice(0, 2)}
    terms = jax.vmap(lambda x, c, i, v: _grouping_terms(x, c, i, v, groups, pgg_config))(
        tie, heat, joint_index, joint_valid)
    part_loss, part_metrics = _reduce(terms, ['tie'], weight, f'pgg_tie_{direction}')
    loss = loss + part_loss
    metrics.update(part_metrics)
  metrics['pgg_tie_loss'] = loss
  return loss, metrics
