"""Stacked hourglass, SpatialNet and TemporalNet: shapes, values, BatchNorm modes, entry points."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from artrack_jax import configs_util
from artrack_jax import geometry
from artrack_jax.models import hourglass
from artrack_jax.models import spatialnet
from artrack_jax.models import temporalnet

B, SIZE, J, P, HE = 2, 64, 15, 3, 8
h = w = SIZE // 4


def _key(seed):
  # The 'rbg' generator compiles several times faster than threefry on CPU, which dominates
  # the cost of compiling `init`; determinism is the same.
  return jax.random.key(seed, impl='rbg')


@pytest.fixture(scope='module')
def images():
  return jax.random.normal(_key(0), (B, SIZE, SIZE, 3))


@pytest.fixture(scope='module')
def spatial():
  """Tiny SpatialNet, its variables and jitted applies (compiled once for the module)."""
  model = spatialnet.SpatialNet(num_joints=J, stacks=1, features=16, increase=8, depth=1)
  init = jax.jit(lambda key, x: model.init(key, x, train=False))
  train = jax.jit(lambda v, x: model.apply(v, x, train=True, mutable=['batch_stats']))
  evaluate = jax.jit(lambda v, x: model.apply(v, x, train=False))
  return model, init, train, evaluate


@pytest.fixture(scope='module')
def spatial_variables(spatial, images):
  return spatial[1](_key(1), images)


def test_spatialnet_outputs(spatial, spatial_variables, images):
  outputs = spatial[3](spatial_variables, images)
  shapes = {k: v.shape for k, v in outputs.items()}
  assert shapes == dict(heatmaps=(1, B, h, w, J), ke=(1, B, h, w, J), svf=(1, B, h, w, 2),
                        aux=(1, B, h, w, 6), features=(B, h, w, 16))
  assert all(v.dtype == jnp.float32 for v in outputs.values())
  assert float(jnp.abs(outputs['features']).mean()) > 0
  assert float(jnp.abs(outputs['ke']).mean()) > 0


def test_stacks_and_dtype_shapes(images):
  """Several stacks (merge path) and bfloat16 compute, traced without compiling."""
  model = spatialnet.SpatialNet(num_joints=J, stacks=3, features=16, increase=8, depth=2,
                                dtype=jnp.bfloat16)
  variables = jax.eval_shape(lambda: model.init(_key(0), images, train=False))
  outputs = jax.eval_shape(lambda v: model.apply(v, images, train=False), variables)
  assert outputs['heatmaps'].shape == (3, B, h, w, J)
  assert all(o.dtype == jnp.float32 for o in outputs.values())
  params = variables['params']['backbone']
  assert {f'head_{s}' for s in range(3)} <= set(params)
  assert {'merge_predictions_1', 'merge_features_1'} <= set(params)
  assert 'merge_features_2' not in params                 # the last stack does not merge
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(variables['params']))
  # Hourglass levels grow by `increase`: depth 2 -> 16, 24, 32 channels.
  low2 = params['hourglass_0']['low2']
  assert low2['low1']['conv']['kernel'].shape == (3, 3, 24, 32)


def test_stem_widths():
  config = configs_util.load_config('default')
  config.data.skeleton = 'posetrack'
  config.model.update(dict(stacks=1, features=16, increase=8, depth=2, dtype='float32',
                           stem_widths=(8, 12)))
  model = spatialnet.from_config(config)
  images = jnp.zeros((1, 32, 32, 3))
  variables = jax.eval_shape(lambda: model.init(_key(0), images, train=False))
  stem = variables['params']['backbone']['stem']
  assert stem['conv7x7']['conv']['kernel'].shape == (7, 7, 3, 8)
  assert stem['res1']['conv3']['kernel'].shape == (1, 1, 6, 12)
  assert stem['res3']['conv3']['kernel'].shape == (1, 1, 8, 16)
  outputs = jax.eval_shape(lambda v: model.apply(v, images, train=False), variables)
  assert outputs['features'].shape == (1, 8, 8, 16)


def test_features_are_the_stem_output(spatial, spatial_variables, images):
  outputs = spatial[3](spatial_variables, images)
  stem_vars = {c: spatial_variables[c]['backbone']['stem'] for c in ('params', 'batch_stats')}
  stem = jax.jit(lambda v, x: hourglass.Stem(16).apply(v, x, train=False))(stem_vars, images)
  np.testing.assert_allclose(outputs['features'], stem, atol=1e-5)


def test_init_is_deterministic(spatial, spatial_variables, images):
  again = spatial[1](_key(1), images)
  other = spatial[1](_key(2), images)
  same = jax.tree.map(np.array_equal, spatial_variables, again)
  assert all(jax.tree.leaves(same))
  kernel = lambda v: v['params']['backbone']['head_0']['kernel']  # noqa: E731
  assert not np.allclose(kernel(spatial_variables), kernel(other))


def test_batchnorm_train_and_eval(spatial, spatial_variables, images):
  _, _, train, evaluate = spatial
  out_train, updates = train(spatial_variables, images)
  # Train mode: batch statistics, so image 0's output depends on image 1; running stats move.
  out_train_swapped, _ = train(spatial_variables, images.at[1].set(3.0 * images[1]))
  assert not np.allclose(out_train['heatmaps'][:, 0], out_train_swapped['heatmaps'][:, 0])
  old = spatial_variables['batch_stats']['backbone']['stem']['conv7x7']['bn']['mean']
  new = updates['batch_stats']['backbone']['stem']['conv7x7']['bn']['mean']
  assert not np.allclose(old, new)
  # Eval mode: running statistics, images independent of each other.
  out_eval = evaluate(spatial_variables, images)
  out_eval_swapped = evaluate(spatial_variables, images.at[1].set(3.0 * images[1]))
  np.testing.assert_allclose(out_eval['heatmaps'][:, 0], out_eval_swapped['heatmaps'][:, 0],
                             atol=1e-5)
  assert not np.allclose(out_eval['heatmaps'], out_train['heatmaps'])


def test_input_size_checked(spatial, spatial_variables):
  with pytest.raises(ValueError, match='multiples of 8'):
    spatial[0].apply(spatial_variables, jnp.zeros((1, 36, 36, 3)), train=False)
  with pytest.raises(ValueError, match='NHWC'):
    spatial[0].apply(spatial_variables, jnp.zeros((1, 3, 64, 64)), train=False)


def test_pool_and_upsample_helpers():
  x = np.random.default_rng(0).normal(size=(2, 4, 6, 3)).astype(np.float32)
  pooled = hourglass.max_pool_2x2(jnp.asarray(x))
  expected = np.zeros((2, 2, 3, 3), np.float32)
  for i in range(2):
    for j in range(3):
      expected[:, i, j] = x[:, 2 * i:2 * i + 2, 2 * j:2 * j + 2].max(axis=(1, 2))
  np.testing.assert_array_equal(pooled, expected)
  up = hourglass.upsample_nearest_2x(jnp.asarray(x))
  np.testing.assert_array_equal(up, x.repeat(2, axis=1).repeat(2, axis=2))


@pytest.mark.parametrize('kernel_size', [1, 3, 7])
def test_conv_weight_grad_variants_agree(kernel_size):
  """'matmul' and 'xla' kernel gradients, and the 1x1 matmul path, equal XLA's convolution."""
  rng = np.random.default_rng(kernel_size)
  x = jnp.asarray(rng.normal(size=(2, 6, 5, 4)).astype(np.float32))
  kernel = jnp.asarray(rng.normal(size=(kernel_size, kernel_size, 4, 3)).astype(np.float32))
  params = {'params': {'kernel': kernel, 'bias': jnp.arange(3.0)}}
  target = jnp.asarray(rng.normal(size=(2, 6, 5, 3)).astype(np.float32))

  def reference(x, kernel):
    return jax.lax.conv_general_dilated(x, kernel, (1, 1), 'SAME',
                                        dimension_numbers=('NHWC', 'HWIO', 'NHWC'))

  def loss(apply, x, p):
    return (((apply(x, p) - target) ** 2) * target).sum()

  expected = jax.grad(lambda x, k: loss(lambda x, k: reference(x, k) + jnp.arange(3.0), x, k),
                      argnums=(0, 1))(x, kernel)
  for mode in ('xla', 'matmul'):
    conv = hourglass.Conv(3, kernel_size, weight_grad=mode)
    np.testing.assert_allclose(conv.apply(params, x), reference(x, kernel) + jnp.arange(3.0),
                               atol=1e-4)
    grads = jax.grad(lambda x, p: loss(lambda x, p: conv.apply(p, x), x, p), argnums=(0, 1))(
        x, params)
    np.testing.assert_allclose(grads[0], expected[0], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(grads[1]['params']['kernel'], expected[1], rtol=1e-4, atol=1e-4)
  with pytest.raises(ValueError, match='weight_grad'):
    hourglass.Conv(3, 3, weight_grad='fast').init(_key(0), x)


def test_svf_to_sie():
  svf = np.random.default_rng(0).normal(size=(2, 3, 4, 2)).astype(np.float32)
  sie = np.asarray(geometry.instance_embedding(jnp.asarray(svf)))
  for i in range(3):
    for j in range(4):
      np.testing.assert_allclose(sie[:, i, j], np.array([j, i]) - svf[:, i, j], atol=1e-6)
  np.testing.assert_array_equal(geometry.instance_embedding(svf), sie)   # the NumPy path


def test_from_config():
  config = configs_util.load_config('default')
  config.data.skeleton = 'coco'
  config.model.update(dict(stacks=1, features=16, increase=8, depth=2, dtype='bfloat16',
                           he_dim=32, roi_size=5, temporal_stacks=1))
  model = spatialnet.from_config(config)
  assert (model.num_joints, model.stacks, model.dtype) == (17, 1, jnp.bfloat16)
  tnet = temporalnet.from_config(config)
  assert (tnet.he_dim, tnet.roi_size, tnet.stacks) == (32, 5, 1)
  config.model.dtype = 'float64'
  with pytest.raises(ValueError, match='config.model.dtype'):
    spatialnet.from_config(config)


def test_facing_head(images):
  """The facing map (not in the paper) adds one 1x1 head per stack and an output; off, the
  variables are those of the paper's network (so earlier checkpoints still load)."""
  model = spatialnet.SpatialNet(num_joints=J, stacks=2, features=16, increase=8, depth=1,
                                facing_head=True)
  variables = jax.eval_shape(lambda: model.init(_key(0), images, train=False))
  outputs = jax.eval_shape(lambda v: model.apply(v, images, train=False), variables)
  assert outputs['facing'].shape == (2, B, h, w, 1)
  backbone = variables['params']['backbone']
  assert backbone['facing_0']['kernel'].shape == (1, 1, 16, 1) and 'facing_1' in backbone
  plain = spatialnet.SpatialNet(num_joints=J, stacks=2, features=16, increase=8, depth=1)
  plain_vars = jax.eval_shape(lambda: plain.init(_key(0), images, train=False))
  assert set(backbone) - set(plain_vars['params']['backbone']) == {'facing_0', 'facing_1'}
  config = configs_util.load_config('default')
  assert spatialnet.from_config(config).facing_head is False
  config.model.facing_head = True
  assert spatialnet.from_config(config).facing_head is True


def test_boxes_from_keypoints():
  rng = np.random.default_rng(0)
  kpts = rng.uniform(0, 16, size=(B, P, J, 3)).astype(np.float32)
  valid = (rng.random((B, P, J)) > 0.3).astype(np.float32)
  valid[0, 2] = 0.0                               # padded person
  valid[1, 1] = 0.0
  valid[1, 1, 4] = 1.0                            # one-joint person
  boxes, box_valid = temporalnet.boxes_from_keypoints(kpts, valid, margin=0.15, min_size=1.0)
  for b in range(B):
    for k in range(P):
      joints = kpts[b, k, valid[b, k] > 0, :2]
      if not len(joints):
        assert box_valid[b, k] == 0 and np.all(np.asarray(boxes[b, k]) == 0)
        continue
      lo, hi = joints.min(0), joints.max(0)
      size = hi - lo
      lo, hi = lo - 0.15 * size, hi + 0.15 * size
      grow = np.maximum(1.0 - (hi - lo), 0) / 2
      np.testing.assert_allclose(boxes[b, k], np.concatenate([lo - grow, hi + grow]), atol=1e-5)
      assert box_valid[b, k] == 1
  np.testing.assert_allclose(boxes[1, 1], [kpts[1, 1, 4, 0] - 0.5, kpts[1, 1, 4, 1] - 0.5,
                                           kpts[1, 1, 4, 0] + 0.5, kpts[1, 1, 4, 1] + 0.5],
                             atol=1e-5)


@pytest.fixture(scope='module')
def temporal(spatial, spatial_variables, images):
  """TemporalNet on frozen SpatialNet outputs of two frames, as the trainer feeds it."""
  frames = (images, jnp.roll(images, 3, axis=2))
  outs = [jax.lax.stop_gradient(spatial[3](spatial_variables, f)) for f in frames]
  rng = np.random.default_rng(1)
  kpts = rng.uniform(0, h - 1, size=(2, B, P, J, 3)).astype(np.float32)
  valid = np.ones((2, B, P, J), np.float32)
  boxes, _ = temporalnet.boxes_from_keypoints(kpts, valid)
  inputs = {name: dict(features=out['features'], heatmaps=out['heatmaps'][-1],
                       sie=geometry.instance_embedding(out['svf'][-1]), boxes=frame_boxes)
            for name, out, frame_boxes in zip(('prev', 'curr'), outs, boxes)}
  model = temporalnet.TemporalNet(he_dim=HE, he_channels=8, features=16, increase=8, depth=1)
  variables = jax.jit(lambda key: model.init(key, **inputs, train=False))(_key(3))
  return model, variables, inputs


def test_temporalnet_outputs_and_entry_points(temporal):
  model, variables, inputs = temporal
  tnet = temporalnet.TemporalNet
  # Padded boxes for every person but the first.
  other = inputs['curr']['boxes'].at[:, 1:].set(0.0)

  @jax.jit
  def run(v):
    train, updates = model.apply(v, **inputs, train=True, mutable=['batch_stats'])
    full = model.apply(v, **inputs, train=False)
    # Inference entry points.
    he = model.apply(v, inputs['curr']['features'], inputs['curr']['boxes'],
                     method=tnet.human_embedding)
    he_alone = model.apply(v, inputs['curr']['features'], other, method=tnet.human_embedding)
    fwd, bwd = model.apply(v, inputs['prev'], inputs['curr'], train=False,
                           method=tnet.temporal_vector_fields)
    return train, updates, full, he, he_alone, fwd, bwd

  outputs, updates, full, he, he_alone, fwd, bwd = run(variables)
  assert {k: v.shape for k, v in outputs.items()} == dict(
      he_prev=(B, P, HE), he_curr=(B, P, HE), tvf_fwd=(B, h, w, 2), tvf_bwd=(B, h, w, 2))
  np.testing.assert_allclose(jnp.linalg.norm(outputs['he_curr'], axis=-1), 1.0, atol=1e-5)
  assert 'batch_stats' in updates
  # HE has no BatchNorm: train and eval agree; TIE uses batch statistics in training.
  np.testing.assert_allclose(outputs['he_curr'], full['he_curr'], atol=1e-5)
  assert not np.allclose(outputs['tvf_fwd'], full['tvf_fwd'])
  np.testing.assert_allclose(he, full['he_curr'], atol=1e-5)
  np.testing.assert_allclose(fwd, full['tvf_fwd'], atol=1e-5)
  np.testing.assert_allclose(bwd, full['tvf_bwd'], atol=1e-5)
  # One person's embedding ignores the other (padded) boxes.
  np.testing.assert_allclose(he_alone[:, 0], he[:, 0], atol=1e-6)
  assert not np.allclose(he[:, 0], he[:, 1])


def test_temporalnet_gradients_reach_only_its_params(temporal):
  model, variables, inputs = temporal

  def loss(params):
    out, _ = model.apply({'params': params, 'batch_stats': variables['batch_stats']}, **inputs,
                         train=True, mutable=['batch_stats'])
    return (out['he_prev'] * out['he_curr']).sum() + jnp.abs(out['tvf_fwd']).mean()

  grads = jax.jit(jax.grad(loss))(variables['params'])
  leaves = jax.tree.leaves(grads)
  assert all(np.all(np.isfinite(g)) for g in leaves)
  assert float(jnp.abs(grads['he_head']['embed']['kernel']).sum()) > 0
  assert float(jnp.abs(grads['tie_heads_0']['kernel']).sum()) > 0
