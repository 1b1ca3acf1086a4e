"""Losses (Eq. 1-7) against plain NumPy loops, plus the properties every loss must have."""
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from artrack_jax import configs_util
from artrack_jax import losses

S, B, H, W, J, P, E = 2, 3, 8, 8, 4, 4, 6
MIRROR = np.array([1, 0, 3, 2])   # joints 0/1 and 2/3 are left/right pairs


def _loss_config(**overrides):
  c = configs_util.load_config('default').loss
  c.update(dict(det_weight=1.0, ke_weight=1e-3, aux_weight=1e-4, sie_weight=1e-4, use_ke=True,
                use_sie=True, use_aux=True, he_margin=0.3, tie_weight=1e-4))
  c.update(overrides)
  return c


def _random_frame(rng):
  """A frame batch: image 0 has 3 people and a padded slot, image 1 has one person with a
  missing key, image 2 has nobody."""
  joint_index = rng.integers(0, H * W, size=(B, P, J)).astype(np.int32)
  joint_valid = (rng.random((B, P, J)) > 0.25).astype(np.float32)
  joint_valid[:, :, 0] = 1.0
  person_valid = np.zeros((B, P), np.float32)
  person_valid[0, :3] = 1.0
  person_valid[1, 0] = 1.0
  joint_valid *= person_valid[..., None]
  joint_index *= person_valid[..., None].astype(np.int32)
  order_keys = rng.normal(size=(B, P, 3)).astype(np.float32) * person_valid[..., None]
  order_keys[0, 1, 0] = order_keys[0, 0, 0]          # a tie in x: that pair is excluded
  order_valid = np.repeat(person_valid[..., None], 3, axis=-1)
  order_valid[0, 2, 2] = 0.0                          # head size unknown
  order_keys[0, 2, 2] = 0.0
  return dict(
      heatmaps=rng.random((B, H, W, J)).astype(np.float32),
      loss_mask=(rng.random((B, H, W)) > 0.1).astype(np.float32),
      joint_index=joint_index, joint_valid=joint_valid, person_valid=person_valid,
      svf_target=rng.normal(size=(B, P, J, 2)).astype(np.float32) * 3 * joint_valid[..., None],
      order_keys=order_keys, order_valid=order_valid)


def _random_outputs(rng):
  return dict(heatmaps=rng.random((S, B, H, W, J)).astype(np.float32),
              ke=rng.normal(size=(S, B, H, W, J)).astype(np.float32),
              svf=rng.normal(size=(S, B, H, W, 2)).astype(np.float32) * 3,
              aux=rng.normal(size=(S, B, H, W, 6)).astype(np.float32))


@pytest.fixture(scope='module')
def frame():
  return _random_frame(np.random.default_rng(0))


@pytest.fixture(scope='module')
def outputs():
  return _random_outputs(np.random.default_rng(1))


# Every loss compiled once for the module (eager dispatch of these small ops is slow on CPU).
heatmap_loss = jax.jit(losses.heatmap_loss)
keypoint_embedding_loss = jax.jit(losses.keypoint_embedding_loss)
ordinal_loss = jax.jit(losses.ordinal_loss)
svf_loss = jax.jit(losses.svf_loss)
triplet_loss = jax.jit(losses.triplet_loss, static_argnames='margin')
tvf_loss = jax.jit(losses.tvf_loss)


@pytest.fixture(scope='module')
def jitted_spatial_loss():
  config = _loss_config()
  return jax.jit(lambda o, b: losses.spatial_loss(o, b, config))


# ------------------------------------------------------------------ NumPy oracles (plain loops)


def _read(maps, index, channel):
  """maps [h, w, C] at flat index."""
  return maps[index // W, index % W, channel]


def np_heatmap(pred, target, mask, foreground_weight=0.0, mirror=None):
  total = 0.0
  for s in range(S):
    for b in range(B):
      acc = 0.0
      for i, j, c in itertools.product(range(H), range(W), range(J)):
        near = target[b, i, j, c]
        if mirror is not None:
          near = max(near, target[b, i, j, mirror[c]])
        weight = mask[b, i, j] * (1.0 + foreground_weight * near)
        acc += weight * (pred[s, b, i, j, c] - target[b, i, j, c]) ** 2
      total += acc / (H * W * J) / B
  return total


def _people(frame, b):
  return [k for k in range(P) if frame['person_valid'][b, k] and frame['joint_valid'][b, k].any()]


def _reference_and_pull(values, frame, b):
  """values [P, J]: per-person mean over valid joints and the pull term of Eq. 2."""
  refs, sq, n = {}, 0.0, 0
  for k in _people(frame, b):
    joints = [j for j in range(J) if frame['joint_valid'][b, k, j]]
    refs[k] = np.mean([values[k, j] for j in joints])
    for j in joints:
      sq += (values[k, j] - refs[k]) ** 2
      n += 1
  return refs, (sq / n if n else 0.0)


def np_ke(ke, frame):
  pull_total = push_total = 0.0
  for s, b in itertools.product(range(S), range(B)):
    tags = np.array([[_read(ke[s, b], frame['joint_index'][b, k, j], j) for j in range(J)]
                     for k in range(P)])
    refs, pull = _reference_and_pull(tags, frame, b)
    push = 0.0
    for k, k2 in itertools.product(refs, refs):
      if k != k2:
        push += np.exp(-0.5 * (refs[k] - refs[k2]) ** 2)
    push /= max(len(refs) ** 2, 1)
    pull_total += pull / B
    push_total += push / B
  return pull_total, push_total


def np_ordinal(aux, frame):
  order_total = pull_total = 0.0
  for s, b, t in itertools.product(range(S), range(B), range(6)):
    values = np.array([[_read(aux[s, b], frame['joint_index'][b, k, j], t) for j in range(J)]
                       for k in range(P)])
    refs, pull = _reference_and_pull(values, frame, b)
    key, ascending = t // 2, t % 2 == 0
    order = 0.0
    for k, k2 in itertools.product(refs, refs):
      a, c = frame['order_keys'][b, k, key], frame['order_keys'][b, k2, key]
      if not (frame['order_valid'][b, k, key] and frame['order_valid'][b, k2, key]) or a == c:
        continue
      k_first = (a < c) if ascending else (a > c)
      ord_sign = 1.0 if k_first else -1.0
      order += np.log1p(np.exp(ord_sign * (refs[k] - refs[k2])))
    order_total += order / max(len(refs) ** 2, 1) / B
    pull_total += pull / B
  return order_total, pull_total


def np_l1_field(field, joint_index, valid, target):
  """field [B, h, w, 2]: batch mean of the per-image mean L1 over valid joints."""
  total = 0.0
  for b in range(B):
    acc, n = 0.0, 0
    for k, j in itertools.product(range(P), range(J)):
      if valid[b, k, j]:
        pred = [_read(field[b], joint_index[b, k, j], c) for c in range(2)]
        acc += abs(pred[0] - target[b, k, j, 0]) + abs(pred[1] - target[b, k, j, 1])
        n += 1
    total += (acc / n if n else 0.0) / B
  return total


def np_triplet(he_prev, he_curr, valid_prev, valid_curr, margin):
  total = 0.0
  for b in range(B):
    people = [(f, k) for f, v in enumerate((valid_prev, valid_curr)) for k in range(P) if v[b, k]]
    emb = {(0, k): he_prev[b, k] for k in range(P)}
    emb.update({(1, k): he_curr[b, k] for k in range(P)})
    acc, n = 0.0, 0
    for anchor in people:
      positive = (1 - anchor[0], anchor[1])
      if positive not in people:
        continue
      for negative in people:
        if negative[1] == anchor[1]:
          continue
        d_pos = np.sum((emb[anchor] - emb[positive]) ** 2)
        d_neg = np.sum((emb[anchor] - emb[negative]) ** 2)
        acc += max(0.0, d_pos - d_neg + margin)
        n += 1
    total += (acc / n if n else 0.0) / B
  return total


# ------------------------------------------------------------------------- against the oracles


def test_heatmap_loss_matches_loop(frame, outputs):
  loss, metrics = heatmap_loss(outputs['heatmaps'], frame['heatmaps'], frame['loss_mask'])
  np.testing.assert_allclose(loss, np_heatmap(outputs['heatmaps'], frame['heatmaps'],
                                              frame['loss_mask']), rtol=1e-5)
  assert 0 < metrics['det_last_stack'] < loss


def test_heatmap_loss_foreground_weight_matches_loop(frame, outputs):
  loss, _ = heatmap_loss(outputs['heatmaps'], frame['heatmaps'], frame['loss_mask'], 4.0)
  pred, target, mask = (np.asarray(a, np.float64) for a in (
      outputs['heatmaps'], frame['heatmaps'], frame['loss_mask']))
  total = np_heatmap(pred, target, mask, foreground_weight=4.0)
  np.testing.assert_allclose(loss, total, rtol=1e-5)
  plain, _ = heatmap_loss(outputs['heatmaps'], frame['heatmaps'], frame['loss_mask'])
  assert loss > plain
  # Zero weight is Eq. 1 exactly.
  zero, _ = heatmap_loss(outputs['heatmaps'], frame['heatmaps'], frame['loss_mask'], 0.0)
  np.testing.assert_array_equal(zero, plain)


def test_heatmap_loss_mirrored_foreground_matches_loop(frame, outputs):
  perm = MIRROR
  loss, _ = heatmap_loss(outputs['heatmaps'], frame['heatmaps'], frame['loss_mask'], 4.0, perm)
  pred, target, mask = (np.asarray(a, np.float64) for a in (
      outputs['heatmaps'], frame['heatmaps'], frame['loss_mask']))
  np.testing.assert_allclose(loss, np_heatmap(pred, target, mask, 4.0, perm), rtol=1e-5)
  unmirrored, _ = heatmap_loss(outputs['heatmaps'], frame['heatmaps'], frame['loss_mask'], 4.0)
  assert loss > unmirrored
  # A channel firing on its mirrored joint costs as much as missing its own joint.
  target = np.zeros((1, 4, 4, J), np.float32)
  target[0, 1, 1, perm[0]] = 1.0
  fired = np.zeros((1, 1, 4, 4, J), np.float32)
  fired[0, 0, 1, 1, 0] = 1.0
  one = np.ones((1, 4, 4), np.float32)
  cost = lambda m: float(losses.heatmap_loss(fired, target, one, 10.0, m)[0]) * 16 * J
  np.testing.assert_allclose([cost(None), cost(perm)], [1 + 11, 11 + 11], rtol=1e-5)
  with pytest.raises(ValueError, match='mirror_permutation has shape'):
    losses.heatmap_loss(fired, target, one, 10.0, perm[:-1])


def test_spatial_loss_mirrored_foreground_needs_the_permutation(frame, outputs):
  config = _loss_config(det_fg_weight=4.0, det_fg_mirrored=True)
  with pytest.raises(ValueError, match='flip_permutation'):
    losses.spatial_loss(outputs, frame, config)
  perm = MIRROR
  _, metrics = losses.spatial_loss(outputs, frame, config, flip_permutation=perm)
  expected, _ = heatmap_loss(outputs['heatmaps'], frame['heatmaps'], frame['loss_mask'], 4.0,
                             perm)
  np.testing.assert_allclose(metrics['det'], expected, rtol=1e-6)


def test_keypoint_embedding_loss_matches_loop(frame, outputs):
  loss, metrics = keypoint_embedding_loss(outputs['ke'], frame['joint_index'],
                                                 frame['joint_valid'], frame['person_valid'])
  pull, push = np_ke(outputs['ke'], frame)
  np.testing.assert_allclose(metrics['ke_pull'], pull, rtol=1e-5)
  np.testing.assert_allclose(metrics['ke_push'], push, rtol=1e-5)
  np.testing.assert_allclose(loss, pull + push, rtol=1e-5)


def test_ordinal_loss_matches_loop(frame, outputs):
  loss, metrics = ordinal_loss(outputs['aux'], frame['joint_index'], frame['joint_valid'],
                                      frame['order_keys'], frame['order_valid'],
                                      frame['person_valid'])
  order, pull = np_ordinal(outputs['aux'], frame)
  np.testing.assert_allclose(metrics['aux_order'], order, rtol=1e-5)
  np.testing.assert_allclose(metrics['aux_pull'], pull, rtol=1e-5)
  np.testing.assert_allclose(loss, order + pull, rtol=1e-5)


def test_ordinal_loss_direction():
  """l2r: the left person must get the lower value; r2l the opposite."""
  joint_index = np.array([[[0], [1]]], np.int32)                        # [1, 2, 1]
  valid = np.ones((1, 2, 1), np.float32)
  keys = np.array([[[0.0, 0.0, 0.0], [5.0, 0.0, 0.0]]], np.float32)      # person 0 on the left
  key_valid = np.array([[[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]], np.float32)
  aux = np.zeros((1, 1, 1, 2, 6), np.float32)
  aux[0, 0, 0, :, 0] = [-10.0, 10.0]                                   # l2r: left low
  aux[0, 0, 0, :, 1] = [10.0, -10.0]                                   # r2l: right low
  _, m = ordinal_loss(aux, joint_index, valid, keys, key_valid)
  assert float(m['aux_order']) < 1e-8                 # only x is a valid key
  aux[0, 0, 0, :, 0] = [10.0, -10.0]                                   # l2r now wrong
  _, m = ordinal_loss(aux, joint_index, valid, keys, key_valid)
  # Two ordered pairs, each log(1 + e^20), over K^2 = 4.
  np.testing.assert_allclose(m['aux_order'], 2 * np.log1p(np.exp(20.0)) / 4, rtol=1e-5)


def test_svf_loss_matches_loop(frame, outputs):
  loss, metrics = svf_loss(outputs['svf'], frame['joint_index'], frame['joint_valid'],
                                  frame['svf_target'], frame['person_valid'])
  expected = [np_l1_field(outputs['svf'][s], frame['joint_index'], frame['joint_valid'],
                          frame['svf_target']) for s in range(S)]
  np.testing.assert_allclose(loss, sum(expected), rtol=1e-5)
  np.testing.assert_allclose(metrics['sie_last_stack'], expected[-1], rtol=1e-5)


def _random_pair(rng):
  prev, curr = _random_frame(rng), _random_frame(rng)
  curr['person_valid'][0] = [1.0, 0.0, 1.0, 1.0]    # track 1 left, track 3 entered
  curr['joint_valid'] *= curr['person_valid'][..., None]
  fwd_valid = curr['joint_valid'] * prev['person_valid'][..., None]
  bwd_valid = prev['joint_valid'] * curr['person_valid'][..., None]
  return dict(prev=prev, curr=curr,
              tvf_fwd_target=rng.normal(size=(B, P, J, 2)).astype(np.float32) * 4,
              tvf_fwd_valid=fwd_valid,
              tvf_bwd_target=rng.normal(size=(B, P, J, 2)).astype(np.float32) * 4,
              tvf_bwd_valid=bwd_valid)


@pytest.fixture(scope='module')
def pair():
  return _random_pair(np.random.default_rng(2))


@pytest.fixture(scope='module')
def temporal_outputs():
  rng = np.random.default_rng(3)
  he = rng.normal(size=(2, B, P, E)).astype(np.float32) * 0.4
  return dict(he_prev=he[0], he_curr=he[1],
              tvf_fwd=rng.normal(size=(B, H, W, 2)).astype(np.float32) * 4,
              tvf_bwd=rng.normal(size=(B, H, W, 2)).astype(np.float32) * 4)


def test_triplet_loss_matches_loop(pair, temporal_outputs):
  o = temporal_outputs
  loss, metrics = triplet_loss(o['he_prev'], o['he_curr'], pair['prev']['person_valid'],
                                      pair['curr']['person_valid'], margin=0.3)
  expected = np_triplet(o['he_prev'], o['he_curr'], pair['prev']['person_valid'],
                        pair['curr']['person_valid'], 0.3)
  assert expected > 0
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  assert 0 < metrics['he_active'] <= 1


def test_tvf_loss_matches_loop(pair, temporal_outputs):
  o = temporal_outputs
  loss, metrics = tvf_loss(o['tvf_fwd'], o['tvf_bwd'], pair['curr']['joint_index'],
                                  pair['prev']['joint_index'], pair['tvf_fwd_target'],
                                  pair['tvf_fwd_valid'], pair['tvf_bwd_target'],
                                  pair['tvf_bwd_valid'])
  fwd = np_l1_field(o['tvf_fwd'], pair['curr']['joint_index'], pair['tvf_fwd_valid'],
                    pair['tvf_fwd_target'])
  bwd = np_l1_field(o['tvf_bwd'], pair['prev']['joint_index'], pair['tvf_bwd_valid'],
                    pair['tvf_bwd_target'])
  np.testing.assert_allclose(metrics['tie_fwd'], fwd, rtol=1e-5)
  np.testing.assert_allclose(metrics['tie_bwd'], bwd, rtol=1e-5)
  np.testing.assert_allclose(loss, fwd + bwd, rtol=1e-5)


# ------------------------------------------------------------------------------- combinations


def test_spatial_loss_weights_and_jit(frame, outputs, jitted_spatial_loss):
  loss, metrics = jitted_spatial_loss(outputs, frame)
  eager_loss, eager_metrics = losses.spatial_loss(outputs, frame, _loss_config())
  np.testing.assert_allclose(loss, eager_loss, rtol=1e-6)
  for key in eager_metrics:
    np.testing.assert_allclose(metrics[key], eager_metrics[key], rtol=1e-5)
  det = np_heatmap(outputs['heatmaps'], frame['heatmaps'], frame['loss_mask'])
  pull, push = np_ke(outputs['ke'], frame)
  order, aux_pull = np_ordinal(outputs['aux'], frame)
  sie = sum(np_l1_field(outputs['svf'][s], frame['joint_index'], frame['joint_valid'],
                        frame['svf_target']) for s in range(S))
  expected = det + 1e-3 * (pull + push) + 1e-4 * (order + aux_pull) + 1e-4 * sie
  np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_spatial_loss_zero_weights_and_switches(frame, outputs):
  zero = _loss_config(det_weight=0.0, ke_weight=0.0, aux_weight=0.0, sie_weight=0.0)
  loss, metrics = losses.spatial_loss(outputs, frame, zero)
  assert float(loss) == 0.0 and metrics['ke'] > 0 and metrics['sie'] > 0
  off = _loss_config(use_ke=False, use_aux=False, use_sie=False)
  loss, metrics = losses.spatial_loss(outputs, frame, off)
  assert set(metrics) == {'det', 'det_last_stack', 'loss'}
  np.testing.assert_allclose(loss, metrics['det'], rtol=1e-7)
  only_sie = _loss_config(det_weight=0.0, use_ke=False, use_aux=False, sie_weight=2.0)
  loss, metrics = losses.spatial_loss(outputs, frame, only_sie)
  np.testing.assert_allclose(loss, 2.0 * metrics['sie'], rtol=1e-7)


def test_temporal_loss(pair, temporal_outputs):
  loss, metrics = jax.jit(lambda o, b: losses.temporal_loss(o, b, _loss_config()))(
      temporal_outputs, pair)
  np.testing.assert_allclose(loss, metrics['he'] + 1e-4 * metrics['tie'], rtol=1e-6)
  zero = _loss_config(tie_weight=0.0, he_weight=0.0)
  loss, _ = losses.temporal_loss(temporal_outputs, pair, zero)
  assert float(loss) == 0.0


def _pad_frame(frame, rng):
  """One more person slot holding garbage that the masks must hide."""
  out = {}
  for key, value in frame.items():
    if key in ('heatmaps', 'loss_mask'):
      out[key] = value
      continue
    extra = rng.normal(size=value[:, :1].shape) * 5
    if key == 'joint_index':
      extra = rng.integers(0, H * W, size=value[:, :1].shape)
    if key == 'person_valid':
      extra = np.zeros_like(value[:, :1])
    if key == 'joint_valid':
      extra = np.ones_like(value[:, :1])      # labelled joints of an invalid person
    out[key] = np.concatenate([value, extra.astype(value.dtype)], axis=1)
  return out


def test_padding_has_no_effect(frame, outputs, jitted_spatial_loss, pair, temporal_outputs):
  rng = np.random.default_rng(4)
  loss, metrics = jitted_spatial_loss(outputs, frame)
  padded_loss, padded_metrics = jitted_spatial_loss(outputs, _pad_frame(frame, rng))
  np.testing.assert_allclose(padded_loss, loss, rtol=1e-5)
  for key in metrics:
    np.testing.assert_allclose(padded_metrics[key], metrics[key], rtol=1e-5, atol=1e-7)
  o = temporal_outputs
  junk = rng.normal(size=(B, 1, E)).astype(np.float32)
  pad = lambda x: np.concatenate([x, np.zeros((B, 1), np.float32)], axis=1)  # noqa: E731
  padded, _ = triplet_loss(np.concatenate([o['he_prev'], junk], 1),
                                  np.concatenate([o['he_curr'], -junk], 1),
                                  pad(pair['prev']['person_valid']),
                                  pad(pair['curr']['person_valid']))
  plain, _ = triplet_loss(o['he_prev'], o['he_curr'], pair['prev']['person_valid'],
                                 pair['curr']['person_valid'])
  np.testing.assert_allclose(padded, plain, rtol=1e-6)


# ----------------------------------------------------------------- perfect predictions, grads


def _perfect(frame):
  """Outputs that solve every spatial task exactly for ``frame`` (unique joint pixels)."""
  rng = np.random.default_rng(5)
  out = dict(heatmaps=np.broadcast_to(frame['heatmaps'], (S, B, H, W, J)).copy(),
             ke=rng.normal(size=(S, B, H, W, J)).astype(np.float32),
             svf=np.zeros((S, B, H, W, 2), np.float32),
             aux=np.zeros((S, B, H, W, 6), np.float32))
  for b in range(B):
    for k in range(P):
      for j in range(J):
        if not frame['joint_valid'][b, k, j]:
          continue
        i, x = divmod(int(frame['joint_index'][b, k, j]), W)
        out['ke'][:, b, i, x, j] = 20.0 * k                           # far apart tags
        out['svf'][:, b, i, x] = frame['svf_target'][b, k, j]
        for t in range(6):
          key = frame['order_keys'][b, k, t // 2]
          out['aux'][:, b, i, x, t] = (1 if t % 2 == 0 else -1) * 60.0 * key
  return out


def test_perfect_prediction_gives_zero(jitted_spatial_loss):
  frame = _random_frame(np.random.default_rng(6))
  # Distinct pixels for every labelled joint (and a spread of the ordering keys).
  for b in range(B):
    frame['joint_index'][b] = np.arange(P * J).reshape(P, J) * frame['person_valid'][b][:, None]
  frame['order_keys'] = np.round(frame['order_keys'], 1)
  loss, metrics = jitted_spatial_loss(_perfect(frame), frame)
  for key in ('det', 'ke', 'sie'):
    assert float(metrics[key]) < 1e-6, key
  assert float(metrics['aux']) < 1e-2   # logistic terms: log(1 + e^-6) per pair at worst
  one_hot = np.eye(P, E, dtype=np.float32)[None].repeat(B, 0)
  he, _ = triplet_loss(one_hot, one_hot, np.ones((B, P)), np.ones((B, P)))
  assert float(he) == 0.0


def test_gradients_finite_even_without_people(frame, outputs):
  empty = {k: np.zeros_like(v) if k not in ('heatmaps', 'loss_mask') else v
           for k, v in frame.items()}
  grad_fn = jax.jit(jax.grad(lambda o, b: losses.spatial_loss(o, b, _loss_config())[0]))
  for batch in (frame, empty):
    grads = grad_fn(outputs, batch)
    for key, g in grads.items():
      assert np.all(np.isfinite(g)), key
  assert np.abs(grads['ke']).sum() == 0.0           # nobody: only the heatmaps learn
  g = jax.jit(jax.grad(lambda e: losses.triplet_loss(e, e, jnp.zeros((B, P)),
                                                       jnp.zeros((B, P)))[0]))(jnp.ones((B, P, E)))
  assert np.all(g == 0)


# Facing loss (not in the paper): joints 0..3 play left/right shoulder, left/right hip.
TORSO = (0, 1, 2, 3)


def _torso_index(points, width=W):
  """[P, 4, 2] (x, y) -> [1, P, 4] flat index."""
  points = np.asarray(points)
  return (points[..., 1] * width + points[..., 0])[None].astype(np.int32)


def test_facing_target_signs():
  #            left shoulder, right shoulder, left hip, right hip  (x, y), y down
  people = [[(5, 1), (2, 1), (4, 5), (3, 5)],     # upright, facing the camera: left on the right
            [(2, 1), (5, 1), (3, 5), (4, 5)],     # upright, facing away
            [(3, 1), (3, 1), (3, 5), (3, 5)],     # profile: no spread
            [(2, 5), (5, 5), (3, 1), (4, 1)]]     # upside down, facing the camera
  index = _torso_index(people)
  valid = np.ones_like(index, np.float32)
  target, ok = jax.jit(losses.facing_target, static_argnums=(2, 3))(index, valid, W, TORSO)
  # d = (3, 0) + (1, 0), |u| = 4: 4 * 4 / 16 = 1 for the upright person facing the camera.
  np.testing.assert_allclose(target[0], [1.0, -1.0, 0.0, 1.0], atol=1e-6)
  np.testing.assert_array_equal(ok[0], [1, 1, 1, 1])
  valid[0, 1, 2] = 0.0                                # a hip unlabelled: no target
  _, ok = losses.facing_target(index, valid, W, TORSO)
  np.testing.assert_array_equal(ok[0], [1, 0, 1, 1])


def test_facing_loss_matches_loop():
  rng = np.random.default_rng(3)
  people = [[(5, 0), (2, 0), (4, 4), (3, 4)], [(2, 2), (5, 2), (3, 6), (4, 6)]]
  index = np.concatenate([_torso_index(people), np.array([[[9], [60]]], np.int32)], axis=-1)
  valid = np.ones(index.shape, np.float32)
  valid[0, 1, 4] = 0.0
  facing = rng.normal(size=(S, 1, H, W, 1)).astype(np.float32)
  loss, metrics = jax.jit(losses.facing_loss, static_argnums=3)(facing, index, valid, TORSO)
  expected = 0.0
  for s in range(S):
    errors = [(facing[s, 0, index[0, p, j] // W, index[0, p, j] % W, 0] - t) ** 2
              for p, t in enumerate((1.0, -1.0)) for j in range(5) if valid[0, p, j]]
    expected += np.mean(errors)
  np.testing.assert_allclose(loss, expected, rtol=1e-5)
  np.testing.assert_allclose(metrics['facing_last_stack'], np.mean(errors), rtol=1e-5)
  # The target itself gives zero.
  perfect = np.zeros_like(facing)
  for p, t in enumerate((1.0, -1.0)):
    for j in range(5):
      perfect[:, 0, index[0, p, j] // W, index[0, p, j] % W, 0] = t
  assert float(losses.facing_loss(perfect, index, valid, TORSO)[0]) == 0.0


def test_facing_loss_side_sign_negates_the_target():
  # Labels exchanged by targets.canonical_sides: the person facing away (second) now has a
  # positive spread; side_sign -1 restores the negative target.
  people = [[(5, 0), (2, 0), (4, 4), (3, 4)], [(5, 2), (2, 2), (4, 6), (3, 6)]]
  index = _torso_index(people)
  valid = np.ones(index.shape, np.float32)
  perfect = np.zeros((1, 1, H, W, 1), np.float32)
  for p, t in enumerate((1.0, -1.0)):
    for j in range(4):
      perfect[:, 0, index[0, p, j] // W, index[0, p, j] % W, 0] = t
  sign = np.array([[1.0, -1.0]], np.float32)
  assert float(losses.facing_loss(perfect, index, valid, TORSO, side_sign=sign)[0]) == 0.0
  assert float(losses.facing_loss(perfect, index, valid, TORSO)[0]) > 0.5


def test_spatial_loss_facing_term(frame, outputs):
  rng = np.random.default_rng(4)
  with_facing = dict(outputs, facing=rng.normal(size=(S, B, H, W, 1)).astype(np.float32))
  base, _ = losses.spatial_loss(outputs, frame, _loss_config())
  loss, metrics = losses.spatial_loss(with_facing, frame, _loss_config(facing_weight=0.5),
                                      torso=TORSO)
  np.testing.assert_allclose(loss, base + 0.5 * metrics['facing'], rtol=1e-6)
  assert metrics['facing'] > 0
  with pytest.raises(ValueError, match='model.facing_head'):
    losses.spatial_loss(outputs, frame, _loss_config(facing_weight=0.5), torso=TORSO)


def test_torso_joints_of_skeletons():
  from artrack_jax import skeletons
  pt = skeletons.get('posetrack')
  assert [pt.names[i] for i in skeletons.torso_joints(pt)] == [
      'left_shoulder', 'right_shoulder', 'left_hip', 'right_hip']
  assert len(skeletons.torso_joints(skeletons.get('coco'))) == 4
  legless = skeletons.Skeleton(name='legless', names=('left_shoulder', 'right_shoulder'),
                               flip_pairs=((0, 1),), limbs=(), decode_order=(0, 1),
                               head_top=None, neck=None, oks_sigmas=(0.1, 0.1))
  with pytest.raises(ValueError, match="'left_hip', 'right_hip'.*legless"):
    skeletons.torso_joints(legless)
