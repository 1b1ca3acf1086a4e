"""Tests of Pose-Guided Grouping (grouping/pgg.py) against plain NumPy oracles of Alg. 1."""
import functools
import importlib.util
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from artrack_jax.grouping import pgg as pgg_lib

DELTA = 5.0


# ------------------------------------------------------------------------------------ oracles


def gbms_oracle(x, valid, delta, iterations):
  """Alg. 1 written as in the paper: X is D x N, W_ij by a double loop, X <- X W D^-1.

  Returns [R + 1, N_valid, D] float64 for the valid rows of x, in order.
  """
  big_x = np.asarray(x, np.float64)[np.asarray(valid, bool)].T        # D x N
  out = [big_x.T.copy()]
  for _ in range(iterations):
    n = big_x.shape[1]
    w = np.empty((n, n))
    for i in range(n):
      for j in range(n):
        w[i, j] = np.exp(-delta ** 2 / 2 * np.sum((big_x[:, i] - big_x[:, j]) ** 2))
    d = np.diag(w @ np.ones(n))
    big_x = big_x @ w @ np.linalg.inv(d)
    out.append(big_x.T.copy())
  return np.stack(out)


def select_oracle(heat, num_slots, tau):
  """Flat indices of the masked pixels, highest heat first, at most num_slots."""
  flat = np.asarray(heat).reshape(-1)
  idx = np.nonzero(flat > flat.dtype.type(tau))[0]     # compared in the heat's precision
  idx = idx[np.argsort(-flat[idx], kind='stable')]
  return idx[:num_slots]


def pull_push_oracle(emb, valid):
  """Eq. 2-3 with the conventions of losses.pull_push, by loops. emb [P, J, D]; valid [P, J]."""
  refs = {}
  pull_sum, pull_count = 0.0, 0
  for k in range(emb.shape[0]):
    joints = [j for j in range(emb.shape[1]) if valid[k, j] > 0]
    if not joints:
      continue
    refs[k] = np.mean([emb[k, j] for j in joints], axis=0)
    for j in joints:
      pull_sum += np.sum((emb[k, j] - refs[k]) ** 2)
      pull_count += 1
  pull = pull_sum / max(pull_count, 1)
  push = 0.0
  for k in refs:
    for k2 in refs:
      if k != k2:
        push += np.exp(-0.5 * np.sum((refs[k] - refs[k2]) ** 2))
  push /= max(len(refs) ** 2, 1)
  return pull, push


def pixel_grid(h, w):
  ys, xs = np.meshgrid(np.arange(h), np.arange(w), indexing='ij')
  return np.stack([xs, ys], -1).astype(np.float64)


def grouping_loss_oracle(heatmaps, ke, svf, joint_index, joint_valid, cfg):
  """Spatial PGG loss for a batch: NumPy selection, GBMS, slot lookup and pull/push."""
  b, h, w, num_joints = heatmaps.shape
  total, missed = 0.0, 0
  for i in range(b):
    heat = heatmaps[i].max(-1)
    sel = select_oracle(heat, cfg['num_slots'], cfg['tau'])
    sie = (pixel_grid(h, w) - svf[i]) / cfg['sie_scale']
    x_map = np.concatenate([ke[i], sie], -1).reshape(h * w, -1)
    xs = gbms_oracle(x_map[sel], np.ones(len(sel), bool), cfg['delta'], cfg['iterations'])
    where = {int(p): s for s, p in enumerate(sel)}
    found = np.zeros(joint_valid[i].shape)
    emb = np.zeros(xs.shape[:1] + joint_valid[i].shape + (xs.shape[-1],))
    for k in range(joint_valid.shape[1]):
      for j in range(num_joints):
        if joint_valid[i, k, j] > 0:
          if int(joint_index[i, k, j]) in where:
            found[k, j] = 1
            emb[:, k, j] = xs[:, where[int(joint_index[i, k, j])]]
          else:
            missed += 1
    image = 0.0
    for r in range(xs.shape[0]):
      ke_part = np.stack([emb[r, :, j, j] for j in range(num_joints)], 1)[..., None]
      image += sum(pull_push_oracle(ke_part, found))
      image += sum(pull_push_oracle(emb[r, :, :, num_joints:num_joints + 2], found))
    total += image / xs.shape[0]
  return total / b, missed


# ----------------------------------------------------------------------------------- fixtures

CFG = dict(num_slots=40, tau=0.2, delta=DELTA, iterations=2, sie_scale=4.0,
           implementation='direct', block_size=16, use_ke=True, use_sie=True)


@pytest.fixture(scope='module')
def mean_shift_jit():
  return jax.jit(pgg_lib.mean_shift,
                 static_argnames=('delta', 'iterations', 'implementation', 'block_size'))


@pytest.fixture(scope='module')
def pgg_jit():
  return jax.jit(pgg_lib.pgg, static_argnames=(
      'num_slots', 'tau', 'delta', 'iterations', 'implementation', 'block_size'))


def clustered_points(rng, n, d, clusters=3, spread=0.15):
  centres = rng.normal(size=(clusters, d)) * 0.6
  labels = rng.integers(0, clusters, n)
  return (centres[labels] + spread * rng.normal(size=(n, d)) + 2.0).astype(np.float32)


@pytest.fixture(scope='module')
def points():
  rng = np.random.default_rng(0)
  x = clustered_points(rng, 50, 4)
  valid = rng.random(50) > 0.25
  return x, valid


@pytest.fixture(scope='module')
def loss_inputs():
  """A batch of 2 images, 10 x 12 output pixels, 3 joint types, 3 people."""
  rng = np.random.default_rng(1)
  b, h, w, num_joints, people = 2, 10, 12, 3, 3
  heatmaps = rng.random((b, h, w, num_joints)).astype(np.float32) ** 3
  joint_index = rng.integers(0, h * w, (b, people, num_joints)).astype(np.int32)
  joint_valid = (rng.random((b, people, num_joints)) > 0.2).astype(np.float32)
  person_valid = np.array([[1, 1, 1], [1, 1, 0]], np.float32)
  # Joints of valid people sit on hot pixels, except one left outside the mask (missed).
  for i in range(b):
    flat = heatmaps[i].reshape(h * w, num_joints)
    flat[joint_index[i].reshape(-1)] = np.maximum(flat[joint_index[i].reshape(-1)], 0.9)
  heatmaps[0].reshape(h * w, num_joints)[joint_index[0, 0, 1]] = 0.05
  joint_valid[0, 0, 1] = 1.0
  label = rng.integers(0, people, (b, h, w))
  ke = (label[..., None] * 0.5 + 0.15 * rng.normal(size=(b, h, w, num_joints)))
  svf = pixel_grid(h, w)[None] - 4.0 * (label[..., None] * 0.4 + 0.1 * rng.normal(size=(b, h, w, 2)))
  return dict(heatmaps=heatmaps, ke=ke.astype(np.float32), svf=svf.astype(np.float32),
              joint_index=joint_index, joint_valid=joint_valid, person_valid=person_valid)


# -------------------------------------------------------------------------------- mean shift


@pytest.mark.parametrize('implementation', ['direct', 'blockwise'])
def test_mean_shift_matches_numpy_loop_oracle(mean_shift_jit, points, implementation):
  x, valid = points
  xs = np.asarray(mean_shift_jit(x, valid, delta=DELTA, iterations=3,
                                 implementation=implementation, block_size=16))
  expected = gbms_oracle(x, valid, DELTA, 3)
  assert xs.shape == (4, 50, 4)
  np.testing.assert_allclose(xs[:, valid], expected, atol=2e-5)
  np.testing.assert_array_equal(xs[:, ~valid], 0.0)
  # The iterations actually move the points (the test would pass for an identity otherwise).
  assert np.abs(expected[-1] - expected[0]).max() > 0.05


def test_direct_and_blockwise_agree_values_and_gradients(mean_shift_jit, points):
  x, valid = points
  # 50 slots with blocks of 16: the last block is padded inside the blockwise implementation.
  direct = mean_shift_jit(x, valid, delta=DELTA, iterations=2, implementation='direct',
                          block_size=16)
  blockwise = mean_shift_jit(x, valid, delta=DELTA, iterations=2, implementation='blockwise',
                             block_size=16)
  np.testing.assert_allclose(np.asarray(blockwise), np.asarray(direct), atol=1e-5)

  probe = np.random.default_rng(2).normal(size=(3, 50, 4)).astype(np.float32)

  def objective(implementation, x_in):
    xs = pgg_lib.mean_shift(x_in, valid, DELTA, 2, implementation, 16)
    return jnp.sum(xs * probe)

  grads = jax.jit(lambda z: [jax.grad(functools.partial(objective, impl))(z)
                             for impl in ('direct', 'blockwise')])(x)
  scale = np.abs(np.asarray(grads[0])).max()
  np.testing.assert_allclose(np.asarray(grads[1]), np.asarray(grads[0]), atol=1e-5 * scale)
  np.testing.assert_array_equal(np.asarray(grads[1])[~valid], 0.0)


def test_padding_invariance(mean_shift_jit, points):
  x, valid = points
  base = np.asarray(mean_shift_jit(x, valid, delta=DELTA, iterations=2,
                                   implementation='direct', block_size=16))
  # Garbage in the padded slots and 14 extra padded slots change no valid output.
  rng = np.random.default_rng(3)
  x_pad = np.concatenate([x, rng.normal(size=(14, 4)).astype(np.float32)])
  x_pad[:50][~valid] = rng.normal(size=((~valid).sum(), 4)) + 2.0
  valid_pad = np.concatenate([valid, np.zeros(14, bool)])
  for implementation in ('direct', 'blockwise'):
    padded = np.asarray(mean_shift_jit(x_pad, valid_pad, delta=DELTA, iterations=2,
                                       implementation=implementation, block_size=16))
    np.testing.assert_allclose(padded[:, :50][:, valid], base[:, valid], atol=1e-5)
    np.testing.assert_array_equal(padded[:, ~valid_pad], 0.0)


def test_permutation_equivariance(mean_shift_jit, points):
  x, valid = points
  perm = np.random.default_rng(4).permutation(50)
  base = np.asarray(mean_shift_jit(x, valid, delta=DELTA, iterations=2,
                                   implementation='direct', block_size=16))
  permuted = np.asarray(mean_shift_jit(x[perm], valid[perm], delta=DELTA, iterations=2,
                                       implementation='direct', block_size=16))
  np.testing.assert_allclose(permuted, base[:, perm], atol=1e-5)


def test_blockwise_memory_is_linear_in_forward_and_backward():
  """XLA's buffer assignment: the blockwise forward+backward never holds an [N, N] array."""
  def temp_bytes(n, implementation):
    valid = jnp.ones(n, bool)

    def objective(z):
      return jnp.sum(pgg_lib.mean_shift(z, valid, DELTA, 2, implementation, 128)[1:] ** 2)

    x = jax.ShapeDtypeStruct((n, 4), jnp.float32)
    return jax.jit(jax.grad(objective)).lower(x).compile().memory_analysis().temp_size_in_bytes

  small, large = temp_bytes(1024, 'blockwise'), temp_bytes(2048, 'blockwise')
  assert large < 2.5 * small                 # doubling N at most doubles memory (plus slack)
  assert large < 2048 ** 2 * 4 / 4           # far below a single [N, N] float32 matrix
  assert temp_bytes(2048, 'direct') > 2048 ** 2 * 4   # the direct one does hold W


@pytest.mark.parametrize('implementation', ['direct', 'blockwise'])
def test_degenerate_cases_have_finite_values_and_gradients(implementation):
  rng = np.random.default_rng(5)
  x = rng.normal(size=(20, 3)).astype(np.float32)
  none = np.zeros(20, bool)
  one = np.zeros(20, bool)
  one[7] = True
  coincide = np.ones(20, bool)
  x_same = np.tile(x[:1], (20, 1))

  @jax.jit
  def run(x_in, valid):
    def objective(z):
      return jnp.sum(pgg_lib.mean_shift(z, valid, DELTA, 2, implementation, 8) ** 2)
    return pgg_lib.mean_shift(x_in, valid, DELTA, 2, implementation, 8), jax.grad(objective)(x_in)

  xs, g = map(np.asarray, run(x, none))
  np.testing.assert_array_equal(xs, 0.0)
  np.testing.assert_array_equal(g, 0.0)
  xs, g = map(np.asarray, run(x, one))
  np.testing.assert_allclose(xs[:, 7], np.tile(x[7], (3, 1)), rtol=1e-6)   # a lone point stays
  np.testing.assert_allclose(g[7], 2 * 3 * x[7], rtol=1e-5)               # d/dx of 3 ||x||^2
  np.testing.assert_array_equal(np.delete(g, 7, 0), 0.0)
  xs, g = map(np.asarray, run(x_same, coincide))
  np.testing.assert_allclose(xs, np.broadcast_to(x_same, (3, 20, 3)), rtol=1e-6)
  # Coincident points: the mean of the cloud is a fixed point; the sum over all slots of
  # 3 ||x||^2 then has gradient 2 * 3 * x at every slot.
  assert np.all(np.isfinite(g))
  np.testing.assert_allclose(g, 2 * 3 * x_same, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize('implementation', ['direct', 'blockwise'])
def test_gradient_matches_finite_differences_float64(implementation):
  rng = np.random.default_rng(6)
  with jax.enable_x64(True):
    x = clustered_points(rng, 24, 3, spread=0.12).astype(np.float64)
    valid = np.ones(24, bool)
    valid[[3, 17]] = False
    probe = rng.normal(size=(3, 24, 3))

    def objective(z):
      return jnp.sum(pgg_lib.mean_shift(z, valid, DELTA, 2, implementation, 8) * probe)

    f = jax.jit(jax.value_and_grad(objective))
    grad = np.asarray(f(jnp.asarray(x))[1])
    assert grad.dtype == np.float64
    eps = 1e-6
    for _ in range(3):
      direction = rng.normal(size=x.shape)
      numeric = (float(f(x + eps * direction)[0])
                 - float(f(x - eps * direction)[0])) / (2 * eps)
      np.testing.assert_allclose(np.sum(grad * direction), numeric, rtol=1e-6, atol=1e-8)


# --------------------------------------------------------------------------- slots and pgg()


def test_top_n_selection_keeps_highest_heat():
  rng = np.random.default_rng(7)
  heat = rng.random((9, 11)).astype(np.float32)
  heat[0, 0] = 0.2            # exactly tau: outside the mask (strict >)
  num_masked = int((heat > 0.2).sum())
  for num_slots in (10, num_masked, 200):   # overflow, exact, more slots than pixels
    index, valid = map(np.asarray, pgg_lib.select_slots(heat, num_slots, 0.2))
    expected = select_oracle(heat, num_slots, 0.2)
    assert index.shape == (num_slots,) and valid.shape == (num_slots,)
    assert valid.sum() == len(expected)
    np.testing.assert_array_equal(index[valid], expected)
    np.testing.assert_array_equal(index[~valid], 0)
    assert 0 not in index[valid]


def test_pgg_matches_oracle_and_scatter_back(pgg_jit):
  rng = np.random.default_rng(8)
  h, w = 8, 9
  heat = rng.random((h, w)).astype(np.float32) ** 2
  emb = clustered_points(rng, h * w, 5).reshape(h, w, 5)
  xs, index, valid = map(np.asarray, pgg_jit(emb, heat, num_slots=30, tau=0.2, delta=DELTA,
                                             iterations=2, implementation='direct',
                                             block_size=16))
  sel = select_oracle(heat, 30, 0.2)
  assert len(sel) == 30 and valid.all()    # the mask overflows the 30 slots
  np.testing.assert_array_equal(index, sel)
  expected = gbms_oracle(emb.reshape(-1, 5)[sel], np.ones(30, bool), DELTA, 2)
  np.testing.assert_allclose(xs, expected, atol=2e-5)

  refined = np.asarray(pgg_lib.scatter_slots(emb, xs[-1], index, valid))
  flat = emb.reshape(-1, 5).copy()
  flat[sel] = expected[-1]
  np.testing.assert_allclose(refined, flat.reshape(h, w, 5), atol=2e-5)
  untouched = np.setdiff1d(np.arange(h * w), sel)
  np.testing.assert_array_equal(refined.reshape(-1, 5)[untouched], emb.reshape(-1, 5)[untouched])


def test_pgg_jit_fixed_shapes_vmap_and_no_recompile():
  rng = np.random.default_rng(9)
  heat = (rng.random((3, 6, 7)) ** 2).astype(np.float32)
  heat[1] = 0.0                               # an image where nothing passes the mask
  emb = clustered_points(rng, 3 * 6 * 7, 4).reshape(3, 6, 7, 4)
  kwargs = dict(num_slots=24, tau=0.2, delta=DELTA, iterations=1, implementation='blockwise',
                block_size=8)
  batched = jax.jit(jax.vmap(functools.partial(pgg_lib.pgg, **kwargs)))
  xs_b, index_b, valid_b = map(np.asarray, batched(emb, heat))
  assert xs_b.shape == (3, 2, 24, 4)
  assert not valid_b[1].any()
  np.testing.assert_array_equal(xs_b[1], 0.0)
  for i in (0, 2):
    sel = select_oracle(heat[i], 24, 0.2)
    assert valid_b[i].sum() == len(sel)
    np.testing.assert_array_equal(index_b[i][valid_b[i]], sel)
    expected = gbms_oracle(emb[i].reshape(-1, 4)[sel], np.ones(len(sel), bool), DELTA, 1)
    np.testing.assert_allclose(xs_b[i][:, valid_b[i]], expected, atol=2e-5)
  # Different numbers of masked pixels per image reuse one compiled function.
  batched(emb, heat[::-1].copy())
  assert batched._cache_size() == 1


def test_auto_implementation_and_bad_input():
  assert pgg_lib.resolve_implementation('auto', 2048, 1024) == 'blockwise'
  assert pgg_lib.resolve_implementation('auto', 1024, 1024) == 'direct'
  with pytest.raises(ValueError, match='implementation'):
    pgg_lib.resolve_implementation('dense', 10, 4)
  with pytest.raises(ValueError, match='heat'):
    pgg_lib.pgg(jnp.zeros((4, 5, 3)), jnp.zeros((4, 4)), num_slots=4)
  with pytest.raises(ValueError, match='num_slots'):
    pgg_lib.select_slots(jnp.zeros((4, 4)), 0)


def test_default_config_has_the_pgg_keys():
  path = pathlib.Path(__file__).resolve().parents[1] / 'configs' / 'default.py'
  spec = importlib.util.spec_from_file_location('default_config', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  pgg_config = module.get_config().pgg
  for key in ('num_slots', 'tau', 'delta', 'iterations', 'sie_scale', 'implementation',
              'block_size'):
    assert key in pgg_config, key
  assert pgg_lib.resolve_implementation(pgg_config.implementation, pgg_config.num_slots,
                                        pgg_config.block_size) == 'blockwise'


# ------------------------------------------------------------------------------------ losses


@pytest.fixture(scope='module')
def spatial_loss_fn():
  def loss_fn(outputs, batch, weight, cfg_items):
    return pgg_lib.pgg_grouping_loss(outputs, batch, dict(cfg_items), weight=weight)
  return jax.jit(loss_fn, static_argnames=('cfg_items',))


def _split(inputs):
  outputs = {k: inputs[k] for k in ('heatmaps', 'ke', 'svf')}
  batch = {k: inputs[k] for k in ('joint_index', 'joint_valid', 'person_valid')}
  return outputs, batch


def test_grouping_loss_matches_numpy_oracle(spatial_loss_fn, loss_inputs):
  outputs, batch = _split(loss_inputs)
  loss, metrics = spatial_loss_fn(outputs, batch, 0.5, tuple(CFG.items()))
  joint_valid = batch['joint_valid'] * batch['person_valid'][..., None]
  expected, missed = grouping_loss_oracle(outputs['heatmaps'], outputs['ke'], outputs['svf'],
                                          batch['joint_index'], joint_valid, CFG)
  np.testing.assert_allclose(float(loss), 0.5 * expected, rtol=1e-4)
  assert missed >= 1
  assert float(metrics['pgg_joints_missed']) == missed
  assert float(metrics['pgg_joints']) == joint_valid.sum()
  heat = outputs['heatmaps'].max(-1)
  np.testing.assert_allclose(float(metrics['pgg_mask_pixels']), (heat > 0.2).sum((1, 2)).mean())
  np.testing.assert_allclose(float(metrics['pgg_slots_used']),
                             np.minimum((heat > 0.2).sum((1, 2)), CFG['num_slots']).mean())
  zero, _ = spatial_loss_fn(outputs, batch, 0.0, tuple(CFG.items()))
  assert float(zero) == 0.0


def test_grouping_loss_is_zero_for_perfect_embeddings(spatial_loss_fn, loss_inputs):
  # Same shapes as loss_inputs (the compiled loss is reused). Each person owns a band of rows
  # where every pixel carries the person's exact KE and SIE; people are far apart in both.
  b, h, w, num_joints = loss_inputs['heatmaps'].shape
  people = loss_inputs['joint_index'].shape[1]
  owner = np.repeat(np.arange(h) * people // h, w).reshape(h, w)          # 0, 0, .., 2, 2
  heatmaps = np.zeros((b, h, w, num_joints), np.float32)
  joint_index = np.zeros((b, people, num_joints), np.int32)
  for k in range(people):
    rows = np.nonzero(owner[:, 0] == k)[0]
    for j in range(num_joints):
      joint_index[:, k, j] = rows[j % len(rows)] * w + 2 * j
      heatmaps[:, rows[j % len(rows)], 2 * j, j] = 1.0
  ke = np.broadcast_to((10.0 * owner)[None, :, :, None], (b, h, w, num_joints))
  # Centres 40 output pixels (10 scaled units) apart: the SIE push term vanishes too.
  centre = np.stack([40.0 * owner, 40.0 * owner + 3.0], -1)
  svf = np.broadcast_to(pixel_grid(h, w) - centre, (b, h, w, 2))
  outputs = dict(heatmaps=heatmaps, ke=ke.astype(np.float32), svf=svf.astype(np.float32))
  batch = dict(joint_index=joint_index, joint_valid=np.ones((b, people, num_joints), np.float32),
               person_valid=np.ones((b, people), np.float32))
  loss, metrics = spatial_loss_fn(outputs, batch, 1.0, tuple(CFG.items()))
  assert float(loss) < 1e-6
  assert float(metrics['pgg_joints_missed']) == 0.0
  # Moving one joint's KE away from its person raises the loss.
  ke_bad = ke.copy()
  ke_bad[0, joint_index[0, 1, 0] // w, joint_index[0, 1, 0] % w, 0] += 1.0
  bad, _ = spatial_loss_fn(dict(outputs, ke=ke_bad.astype(np.float32)), batch, 1.0,
                           tuple(CFG.items()))
  assert float(bad) > 0.01


def test_grouping_loss_with_an_empty_pose_mask(spatial_loss_fn, loss_inputs):
  # No pixel passes the mask: every slot is padding, every joint is missed, the loss is 0.
  outputs, batch = _split(loss_inputs)
  outputs = dict(outputs, heatmaps=np.zeros_like(outputs['heatmaps']))
  loss, metrics = spatial_loss_fn(outputs, batch, 1.0, tuple(CFG.items()))
  assert float(loss) == 0.0
  valid = batch['joint_valid'] * batch['person_valid'][..., None]
  assert float(metrics['pgg_joints_missed']) == valid.sum()
  assert float(metrics['pgg_slots_used']) == 0.0


def test_grouping_loss_gradients_reach_ke_and_svf_float64(loss_inputs):
  outputs, batch = _split(loss_inputs)
  cfg = dict(CFG, iterations=1, implementation='blockwise', block_size=16)
  with jax.enable_x64(True):
    ke = outputs['ke'].astype(np.float64)
    svf = outputs['svf'].astype(np.float64)

    def objective(ke_in, svf_in):
      outs = dict(outputs, ke=ke_in, svf=svf_in)
      return pgg_lib.pgg_grouping_loss(outs, batch, cfg, weight=1.0)[0]

    f = jax.jit(jax.value_and_grad(objective, argnums=(0, 1)))
    g_ke, g_svf = map(np.asarray, f(ke, svf)[1])
    assert np.all(np.isfinite(g_ke)) and np.all(np.isfinite(g_svf))
    assert np.abs(g_ke).max() > 0 and np.abs(g_svf).max() > 0
    # Pixels outside the pose mask get no gradient.
    outside = outputs['heatmaps'].max(-1) <= 0.2
    assert np.all(g_ke[outside] == 0) and np.all(g_svf[outside] == 0)
    rng = np.random.default_rng(10)
    eps = 1e-6
    for _ in range(2):
      d_ke, d_svf = rng.normal(size=ke.shape), rng.normal(size=svf.shape)
      numeric = (float(f(ke + eps * d_ke, svf + eps * d_svf)[0])
                 - float(f(ke - eps * d_ke, svf - eps * d_svf)[0])) / (2 * eps)
      analytic = np.sum(g_ke * d_ke) + np.sum(g_svf * d_svf)
      np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-9)


def test_temporal_loss_matches_numpy_oracle(loss_inputs):
  rng = np.random.default_rng(11)
  b, h, w, num_joints = loss_inputs['heatmaps'].shape
  heat_curr = loss_inputs['heatmaps']
  heat_prev = np.roll(heat_curr, 1, axis=2)
  tvf_fwd = rng.normal(size=(b, h, w, 2)).astype(np.float32)
  tvf_bwd = rng.normal(size=(b, h, w, 2)).astype(np.float32)
  curr = dict(joint_index=loss_inputs['joint_index'], joint_valid=loss_inputs['joint_valid'])
  prev = dict(joint_index=np.roll(loss_inputs['joint_index'], 1, axis=1),
              joint_valid=loss_inputs['joint_valid'])
  fwd_valid = (rng.random((b, 3, num_joints)) > 0.3).astype(np.float32)
  bwd_valid = (rng.random((b, 3, num_joints)) > 0.3).astype(np.float32)
  batch = dict(prev=prev, curr=curr, tvf_fwd_valid=fwd_valid, tvf_bwd_valid=bwd_valid)
  loss, metrics = jax.jit(lambda o, hp, hc, bt: pgg_lib.pgg_temporal_loss(
      o, hp, hc, bt, CFG, weight=2.0))(dict(tvf_fwd=tvf_fwd, tvf_bwd=tvf_bwd),
                                       heat_prev, heat_curr, batch)

  def one_direction(heatmaps, tvf, frame, valid):
    total = 0.0
    for i in range(b):
      sel = select_oracle(heatmaps[i].max(-1), CFG['num_slots'], CFG['tau'])
      tie = ((pixel_grid(h, w) - tvf[i]) / CFG['sie_scale']).reshape(h * w, 2)
      xs = gbms_oracle(tie[sel], np.ones(len(sel), bool), DELTA, CFG['iterations'])
      where = {int(p): s for s, p in enumerate(sel)}
      jv = valid[i] * frame['joint_valid'][i]
      found = np.zeros_like(jv)
      emb = np.zeros((xs.shape[0],) + jv.shape + (2,))
      for k in range(jv.shape[0]):
        for j in range(num_joints):
          pixel = int(frame['joint_index'][i, k, j])
          if jv[k, j] > 0 and pixel in where:
            found[k, j] = 1
            emb[:, k, j] = xs[:, where[pixel]]
      total += np.mean([sum(pull_push_oracle(emb[r], found)) for r in range(xs.shape[0])])
    return total / b

  expected = 2.0 * (one_direction(heat_curr, tvf_fwd, curr, fwd_valid)
                    + one_direction(heat_prev, tvf_bwd, prev, bwd_valid))
  np.testing.assert_allclose(float(loss), expected, rtol=1e-4)
  assert expected > 0.01
  np.testing.assert_allclose(float(metrics['pgg_tie_loss']), float(loss))


def test_pgg_refine_writes_refined_ke_and_svf(loss_inputs):
  outputs, _ = _split(loss_inputs)
  outputs = dict(outputs, aux=np.ones((2, 10, 12, 6), np.float32))
  refined = jax.jit(lambda o: pgg_lib.pgg_refine(o, CFG))(outputs)
  assert set(refined) == {'heatmaps', 'ke', 'svf', 'aux', 'sie'}
  h, w, num_joints = 10, 12, 3
  for i in range(2):
    sel = select_oracle(outputs['heatmaps'][i].max(-1), CFG['num_slots'], CFG['tau'])
    sie = pixel_grid(h, w) - outputs['svf'][i]
    x_map = np.concatenate([outputs['ke'][i], sie / CFG['sie_scale']], -1).reshape(h * w, -1)
    xs = gbms_oracle(x_map[sel], np.ones(len(sel), bool), DELTA, CFG['iterations'])
    x_map[sel] = xs[-1]
    ke = x_map[:, :num_joints].reshape(h, w, num_joints)
    sie_ref = (x_map[:, num_joints:] * CFG['sie_scale']).reshape(h, w, 2)
    np.testing.assert_allclose(np.asarray(refined['ke'][i]), ke, atol=1e-4)
    np.testing.assert_allclose(np.asarray(refined['sie'][i]), sie_ref, atol=1e-4)
    np.testing.assert_allclose(np.asarray(refined['svf'][i]), pixel_grid(h, w) - sie_ref,
                               atol=1e-4)
