"""Tests of the trainer (train_lib.py), the metrics writer and inference.py.

The step arithmetic, the non-finite guard and the stop rule are checked on a toy linear task
against NumPy; checkpoint resumption, stage hand-off, the frozen SpatialNet of stage 3,
inference and evaluation on the tiny SpatialNet/TemporalNet with synthetic clips. Compiled
functions are shared through module-scoped fixtures.
"""
import importlib.util
import json
import os
import pathlib
import re
import struct
import subprocess
import sys

import grain
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from tensorboardX.proto import event_pb2

from artrack_jax import checkpoints
from artrack_jax import geometry
from artrack_jax import inference
from artrack_jax import metrics_writer
from artrack_jax import skeletons
from artrack_jax import train_lib
from artrack_jax.data import pipeline
from artrack_jax.data import synthetic
from artrack_jax.evaluation import keypoint_ap
from artrack_jax.grouping import pgg

ROOT = pathlib.Path(__file__).resolve().parents[1]
CONFIGS = ROOT / 'configs'


def load_config(name):
  spec = importlib.util.spec_from_file_location(f'test_config_{name}', CONFIGS / f'{name}.py')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def synthetic_records(split, clips, num_frames, size=64):
  clips = [synthetic.generate_clip(split, i, num_frames=num_frames, image_size=size)
           for i in range(clips)]
  return pipeline.records_from_sequences([s for s, _ in clips], [im for _, im in clips])


def copy_tree(tree):
  return jax.tree.map(np.array, jax.device_get(tree))


def assert_trees_equal(a, b, atol=0.0):
  leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
  assert jax.tree.structure(a) == jax.tree.structure(b)
  for x, y in zip(leaves_a, leaves_b):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=0, atol=atol)


# -------------------------------------------------------------------------------------------
# Optimiser schedule.


def test_learning_rate_schedule_is_the_papers():
  optim = load_config('default').optim
  schedule = train_lib.learning_rate_schedule(optim)
  # Sec. 3.4: 2e-4 for the first 250k updates, then 1e-5.
  for count, expected in [(0, 2e-4), (249_999, 2e-4), (250_000, 1e-5), (299_999, 1e-5)]:
    assert float(schedule(count)) == pytest.approx(expected, rel=1e-6), count
  optim.decay_step = 0
  constant = train_lib.learning_rate_schedule(optim)
  assert float(constant(10**6)) == pytest.approx(2e-4, rel=1e-6)


# -------------------------------------------------------------------------------------------
# The train step on a toy task: linear least squares with a running-mean "batch statistic".


def toy_task():
  def init_variables(rng):
    del rng
    return {'w': jnp.zeros(3, jnp.float32)}, {'mean': jnp.zeros(3, jnp.float32)}, {}

  def loss_fn(params, batch_stats, frozen, batch, rng):
    del frozen, rng
    loss = jnp.mean((batch['x'] @ params['w'] - batch['y']) ** 2)
    stats = {'mean': 0.9 * batch_stats['mean'] + 0.1 * batch['x'].mean(axis=0)}
    return loss, (stats, {'mse': loss})

  return train_lib.Task(name='toy', model=None, init_variables=init_variables,
                        loss_fn=loss_fn)


@pytest.fixture(scope='module')
def toy():
  config = load_config('tiny')
  config.optim.decay_step = 1
  trainer = train_lib.create_trainer(config, toy_task())
  rng = np.random.default_rng(0)
  batches = [{'x': rng.normal(size=(4, 3)).astype(np.float32),
              'y': rng.normal(size=(4,)).astype(np.float32)} for _ in range(2)]
  return config, trainer, batches


def _adam_numpy(w, grads, learning_rates, b1=0.9, b2=0.999, eps=1e-8):
  m = v = np.zeros_like(w)
  for t, (g, lr) in enumerate(zip(grads, learning_rates), 1):
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    w = w - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
  return w


def test_train_step_is_adam_with_the_schedule(toy):
  _, trainer, batches = toy
  state = trainer.new_state()
  w = np.zeros(3, np.float64)
  grads, losses = [], []
  for batch in batches:
    x, y = batch['x'].astype(np.float64), batch['y'].astype(np.float64)
    residual = x @ w - y
    losses.append(np.mean(residual**2))
    grads.append(2.0 / len(y) * x.T @ residual)
    # The oracle's w moves with the real one so the second gradient is at the new point.
    w = _adam_numpy(np.zeros(3), grads, [2e-4, 1e-5][:len(grads)])
  lrs = []
  for i, batch in enumerate(batches):
    state, metrics = trainer.step(state, train_lib.shard_batch(batch, trainer.mesh))
    assert float(metrics['loss']) == pytest.approx(losses[i], rel=1e-5)
    assert float(metrics['mse']) == pytest.approx(losses[i], rel=1e-5)
    assert float(metrics['grad_norm']) == pytest.approx(np.linalg.norm(grads[i]), rel=1e-5)
    lrs.append(float(metrics['learning_rate']))
  # decay_step = 1: the first update at 2e-4, the second at 1e-5.
  np.testing.assert_allclose(lrs, [2e-4, 1e-5], rtol=1e-6)
  np.testing.assert_allclose(np.asarray(state.params['w']), w, rtol=1e-5, atol=1e-9)
  mean = 0.1 * batches[0]['x'].mean(0)
  mean = 0.9 * mean + 0.1 * batches[1]['x'].mean(0)
  np.testing.assert_allclose(np.asarray(state.batch_stats['mean']), mean, rtol=1e-6)
  assert int(state.step) == 2 and int(state.skipped_steps) == 0


def test_non_finite_steps_are_skipped_and_counted(toy):
  _, trainer, batches = toy
  state, _ = trainer.step(trainer.new_state(), train_lib.shard_batch(batches[0], trainer.mesh))
  before = copy_tree(state)
  bad = dict(batches[1], x=batches[1]['x'].copy())
  bad['x'][0, 0] = np.nan
  for k in (1, 2):
    state, metrics = trainer.step(state, train_lib.shard_batch(bad, trainer.mesh))
    assert not np.isfinite(float(metrics['loss']))
    assert int(metrics['skipped']) == 1 and int(state.consecutive_skips) == k
    # Nothing of the step reaches the parameters, statistics or optimiser state.
    assert_trees_equal(state.params, before.params)
    assert_trees_equal(state.batch_stats, before.batch_stats)
    assert_trees_equal(state.opt_state, before.opt_state)
  state, metrics = trainer.step(state, train_lib.shard_batch(batches[1], trainer.mesh))
  assert int(state.step) == 4 and int(state.skipped_steps) == 2
  assert int(state.consecutive_skips) == 0 and int(metrics['skipped']) == 0
  assert not np.allclose(np.asarray(state.params['w']), before.params['w'])
  # The update counter only counts applied steps: the second applied update uses count 1.
  assert float(metrics['learning_rate']) == pytest.approx(1e-5, rel=1e-6)


def test_training_stops_after_consecutive_non_finite_steps(toy, tmp_path):
  config, trainer, batches = toy
  config = config.copy_and_resolve_references()
  config.train.num_steps = 20
  config.train.max_consecutive_skips = 3
  config.train.checkpoint_every = 100
  bad = dict(batches[0], x=np.full_like(batches[0]['x'], np.inf))
  data = iter(grain.MapDataset.source([bad] * 20).to_iter_dataset())
  with pytest.raises(FloatingPointError, match='3 consecutive steps'):
    train_lib.train(config, str(tmp_path), trainer, data)


# -------------------------------------------------------------------------------------------
# Metrics: JSON lines and TensorBoard events.


def _read_tensorboard_scalars(logdir):
  """(tag, step, value) of every scalar in the event files (TFRecord framing, no TF)."""
  scalars = []
  for name in sorted(os.listdir(logdir)):
    with open(os.path.join(logdir, name), 'rb') as f:
      data = f.read()
    offset = 0
    while offset < len(data):
      (length,) = struct.unpack('<Q', data[offset:offset + 8])
      event = event_pb2.Event.FromString(data[offset + 12:offset + 12 + length])
      offset += 12 + length + 4
      for value in event.summary.value:
        scalars.append((value.tag, event.step, value.simple_value))
  return scalars


def test_metrics_writer_jsonl_and_tensorboard(tmp_path):
  with metrics_writer.MetricsWriter(str(tmp_path), enabled=True) as writer:
    writer.write_scalars(10, {'train/loss': np.float32(0.5), 'train/lr': 2e-4})
    writer.write_scalars(20, {'train/loss': jnp.asarray(0.25), 'val/AP': float('nan')})
    with pytest.raises(ValueError, match="'bad' must be a scalar"):
      writer.write_scalars(30, {'bad': np.zeros(2)})
  records = metrics_writer.read_metrics(str(tmp_path))
  assert records[0] == {'step': 10, 'train/loss': 0.5, 'train/lr': pytest.approx(2e-4)}
  assert records[1]['step'] == 20 and records[1]['train/loss'] == 0.25
  assert np.isnan(records[1]['val/AP'])
  scalars = _read_tensorboard_scalars(tmp_path / metrics_writer.TENSORBOARD_DIR)
  assert ('train/loss', 10, 0.5) in scalars and ('train/loss', 20, 0.25) in scalars
  assert [s for s in scalars if s[0] == 'train/lr'] == [('train/lr', 10, pytest.approx(2e-4))]


def test_resumed_writer_drops_the_redone_records_only(tmp_path):
  with metrics_writer.MetricsWriter(str(tmp_path), enabled=True) as writer:
    for step in (1, 2, 3, 4):
      writer.write_scalars(step, {'train/loss': 1.0 / step})
    writer.write_scalars(2, {'val/AP': 0.1})
    writer.write_scalars(4, {'val/AP': 0.2})
    writer.write_scalars(4, {'eval/AP': 0.3})      # eval.py's: not the training loop's
  with open(tmp_path / metrics_writer.METRICS_FILE, 'a', encoding='utf-8') as f:
    f.write('{"step": 5, "train/lo')               # cut short by a crash
  with metrics_writer.MetricsWriter(str(tmp_path), enabled=True, resume_step=2) as writer:
    writer.write_scalars(3, {'train/loss': 0.7})
  lines = (tmp_path / metrics_writer.METRICS_FILE).read_text().splitlines()
  assert lines[-2] == '{"step": 5, "train/lo'
  with open(tmp_path / metrics_writer.METRICS_FILE, 'w', encoding='utf-8') as f:
    f.write('\n'.join(lines[:-2] + lines[-1:]) + '\n')
  records = metrics_writer.read_metrics(str(tmp_path))
  assert records == [{'step': 1, 'train/loss': 1.0}, {'step': 2, 'train/loss': 0.5},
                     {'step': 2, 'val/AP': 0.1}, {'step': 4, 'eval/AP': 0.3},
                     {'step': 3, 'train/loss': 0.7}]
  # TensorBoard hides the first run's events after step 2 (a purge event at step 3).
  assert metrics_writer.drop_records_after(str(tmp_path / metrics_writer.METRICS_FILE), 9) == 0
  purges = []
  for name in os.listdir(tmp_path / metrics_writer.TENSORBOARD_DIR):
    data = (tmp_path / metrics_writer.TENSORBOARD_DIR / name).read_bytes()
    offset = 0
    while offset < len(data):
      (length,) = struct.unpack('<Q', data[offset:offset + 8])
      event = event_pb2.Event.FromString(data[offset + 12:offset + 12 + length])
      offset += 12 + length + 4
      if event.session_log.status == event_pb2.SessionLog.START:
        purges.append(event.step)
  assert purges == [3]


def test_progress_line():
  line = metrics_writer.format_progress(1200, 3000, 2.0, {'loss': 0.0123, 'learning_rate': 2e-4})
  assert line == 'step 1200/3000 | 2.00 steps/s | loss 0.0123 | lr 2.0e-04 | eta 00:15:00'
  assert 'eta 1d 00:00:00' in metrics_writer.format_progress(0, 86400, 1.0, {})
  assert 'steps/s' not in metrics_writer.format_progress(1, 10, float('nan'), {})
  line = metrics_writer.format_progress(5, 10, 1.0, {'loss': 1.0, 'skipped_steps': 2.0})
  assert line == 'step 5/10 | 1.00 steps/s | loss 1 | skipped 2 | eta 00:00:05'


# -------------------------------------------------------------------------------------------
# Tiny SpatialNet: resumption, stage hand-off, inference.


class Crash(Exception):
  pass


@pytest.fixture(scope='module')
def spatial(tmp_path_factory):
  """The tiny config, its trainer and 2 synthetic training clips of 4 frames at 64 px."""
  config = load_config('tiny')
  config.train.num_steps = 4
  config.train.checkpoint_every = 2
  trainer = train_lib.create_trainer(config)
  records = synthetic_records('train', clips=2, num_frames=4)
  index = pipeline.build_index(records)
  new_iterator = lambda: iter(pipeline.frame_dataset(records, config, 'train', seed=3,
                                                     index=index))
  return config, trainer, new_iterator, tmp_path_factory.mktemp('spatial')


@pytest.fixture(scope='module')
def resumed_and_uninterrupted(spatial):
  """Workdir 'a': crashes at step 3 (checkpoint at 2), rerun to 4; 'b': 4 steps at once."""
  config, trainer, new_iterator, root = spatial

  def crash(state, step):
    raise Crash(f'simulated crash after step {step}')

  crashing = config.copy_and_resolve_references()
  crashing.train.eval_every = 3
  with pytest.raises(Crash):
    train_lib.train(crashing, str(root / 'a'), trainer, new_iterator(), crash)
  manager = checkpoints.create_checkpoint_manager(str(root / 'a'), config.train,
                                                 read_only=True)
  assert manager.latest_step() == 2
  manager.close()
  resumed = train_lib.train(config, str(root / 'a'), trainer, new_iterator())
  uninterrupted = train_lib.train(config, str(root / 'b'), trainer, new_iterator())
  return resumed, uninterrupted, root


def test_resumed_run_continues_identically(resumed_and_uninterrupted):
  resumed, uninterrupted, root = resumed_and_uninterrupted
  assert int(resumed.step) == int(uninterrupted.step) == 4
  assert_trees_equal(resumed.params, uninterrupted.params, atol=1e-6)
  assert_trees_equal(resumed.batch_stats, uninterrupted.batch_stats, atol=1e-6)
  assert_trees_equal(resumed.opt_state, uninterrupted.opt_state, atol=1e-6)
  # The crashed run logged steps 1-3; the rerun redid step 3 (on the same batch) and replaced
  # its record: one record per step, the same as the uninterrupted run's.
  logged = [r for r in metrics_writer.read_metrics(root / 'a') if 'train/loss' in r]
  assert [r['step'] for r in logged] == [1, 2, 3, 4]
  reference = {r['step']: r['train/loss'] for r in metrics_writer.read_metrics(root / 'b')}
  assert [r['train/loss'] for r in logged] == [reference[s] for s in (1, 2, 3, 4)]


def test_facing_loss_trains_the_facing_head(spatial, tmp_path):
  """config.model.facing_head + loss.facing_weight (not in the paper): the facing term is
  logged and the facing kernels move."""
  config, _, new_iterator, _ = spatial
  config = config.copy_and_resolve_references()
  config.train.num_steps = 2
  config.train.eval_every = 0
  config.model.facing_head = True
  config.loss.facing_weight = 0.5
  trainer = train_lib.create_trainer(config)
  state = train_lib.train(config, str(tmp_path), trainer, new_iterator())
  records = [r for r in metrics_writer.read_metrics(tmp_path) if 'train/facing' in r]
  assert [r['step'] for r in records] == [1, 2]
  assert all(np.isfinite(r['train/facing']) and r['train/facing'] > 0 for r in records)
  initial = trainer.new_state()
  moved = np.abs(np.asarray(state.params['backbone']['facing_0']['kernel'])
                 - np.asarray(initial.params['backbone']['facing_0']['kernel'])).max()
  assert moved > 0


def test_load_trained_variables_and_pgg_initialisation(resumed_and_uninterrupted, spatial):
  _, uninterrupted, root = resumed_and_uninterrupted
  config, trainer, _, _ = spatial
  saved = checkpoints.load_trained_variables(str(root / 'b'))
  assert saved['step'] == 4 and saved['frozen'] == {}
  assert_trees_equal(saved['params'], copy_tree(uninterrupted.params))
  pgg_config = config.copy_and_resolve_references()
  pgg_config.stage = 'pgg'
  pgg_config.train.init_from = str(root / 'b')
  # Stage 2 trains the same SpatialNet: a fresh stage-1 state has the stage-2 layout (and
  # needs no second initialisation to compile).
  fresh = trainer.new_state()
  state = train_lib.initialize_from_previous_stage(fresh, pgg_config, trainer.mesh)
  assert_trees_equal(state.params, copy_tree(uninterrupted.params))
  assert_trees_equal(state.batch_stats, copy_tree(uninterrupted.batch_stats))
  assert int(state.step) == 0   # a new stage starts its own step count and Adam state
  other = jax.tree.map(lambda x: np.zeros(x.shape[:-1] + (x.shape[-1] + 1,), x.dtype),
                       copy_tree(state.params))
  with pytest.raises(ValueError, match='init_from=.*has shape'):
    train_lib.initialize_from_previous_stage(state.replace(params=other), pgg_config,
                                             trainer.mesh)


def test_inference_matches_the_network(resumed_and_uninterrupted, spatial):
  _, uninterrupted, root = resumed_and_uninterrupted
  config, trainer, _, _ = spatial
  model = inference.Networks.restore(str(root / 'b'), config)
  assert not model.has_temporal

  def batch_maps(flip_test, scales, pgg_refine=False):
    # The predictor's maps of the images under these test-time options.
    options = config.copy_and_resolve_references()
    options.decode.flip_test, options.decode.scales = flip_test, scales
    variant = inference.DecodeVariant.from_config(options, pgg=pgg_refine)
    maps = inference.FramePredictor(model, options, variants=(variant,)).batch_maps(images)
    return maps[variant.parts if pgg_refine else 'raw']

  images = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype(np.float32)
  maps = model.spatial_infer(images)
  variables = {'params': uninterrupted.params, 'batch_stats': uninterrupted.batch_stats}
  direct = trainer.task.model.apply(variables, images, train=False)
  for key in ('heatmaps', 'ke', 'svf', 'aux'):
    np.testing.assert_allclose(maps[key], direct[key][-1], atol=1e-5)
  np.testing.assert_allclose(maps['features'], direct['features'], atol=1e-5)
  xs, ys = np.meshgrid(np.arange(16), np.arange(16))
  np.testing.assert_allclose(maps['sie'], np.stack([xs, ys], -1) - maps['svf'], atol=1e-5)
  flipped = batch_maps(flip_test=True, scales=(1.0,))
  assert flipped['ke'].shape == (2, 16, 16, 15, 2)
  # The flip test averages a map with its mirror image's, joints swapped left/right.
  mirrored = jax.device_get(model.spatial_infer(images[:, :, ::-1]))['heatmaps'][:, :, ::-1]
  perm = skeletons.get('posetrack').flip_permutation
  np.testing.assert_allclose(flipped['heatmaps'],
                             0.5 * (maps['heatmaps'] + mirrored[..., perm]), atol=1e-5)
  two_scales = batch_maps(flip_test=False, scales=(1.0, 0.5))
  assert two_scales['heatmaps'].shape == (2, 16, 16, 15)
  assert two_scales['ke'].shape == (2, 16, 16, 15, 2)     # one tag per scale
  half = jax.device_get(model.spatial_infer(
      np.asarray(jax.image.resize(images, (2, 32, 32, 3), 'linear'))))['heatmaps']
  upsampled = np.asarray(jax.image.resize(half, (2, 16, 16, 15), 'linear', antialias=False))
  np.testing.assert_allclose(two_scales['heatmaps'], 0.5 * (maps['heatmaps'] + upsampled),
                             atol=1e-5)
  refined = batch_maps(flip_test=False, scales=(1.0,), pgg_refine=True)
  expected = pgg.pgg_refine({k: maps[k] for k in ('heatmaps', 'ke', 'svf')}, config.pgg)
  for key in ('ke', 'sie'):
    np.testing.assert_allclose(refined[key], expected[key], atol=1e-5)
  assert not np.allclose(refined['sie'], maps['sie'], atol=1e-3)   # PGG moved the SIE
  with pytest.raises(ValueError, match='no TemporalNet'):
    model.temporal_infer(maps, maps)


# -------------------------------------------------------------------------------------------
# Stage 3: SpatialNet frozen.


def test_temporal_step_leaves_spatialnet_unchanged(resumed_and_uninterrupted, spatial):
  _, uninterrupted, root = resumed_and_uninterrupted
  config, _, _, _ = spatial
  config = config.copy_and_resolve_references()
  config.stage = 'temporal'
  config.train.init_from = str(root / 'b')
  trainer = train_lib.create_trainer(config)
  state = train_lib.initialize_from_previous_stage(trainer.new_state(), config, trainer.mesh)
  spatial_variables = {'params': copy_tree(uninterrupted.params),
                       'batch_stats': copy_tree(uninterrupted.batch_stats)}
  assert_trees_equal(state.frozen, spatial_variables)
  # The optimiser only holds TemporalNet's parameters.
  is_adam = lambda x: isinstance(x, optax.ScaleByAdamState)
  adam = [x for x in jax.tree.leaves(state.opt_state, is_leaf=is_adam) if is_adam(x)]
  assert len(adam) == 1
  assert jax.tree.structure(adam[0].mu) == jax.tree.structure(state.params)
  before = copy_tree(state)
  records = synthetic_records('train', clips=1, num_frames=4)
  batch = next(iter(pipeline.pair_dataset(records, config, 'train')))
  state, metrics = trainer.step(state, train_lib.shard_batch(batch, trainer.mesh))
  assert int(metrics['skipped']) == 0 and np.isfinite(float(metrics['loss']))
  assert float(metrics['he']) >= 0 and float(metrics['tie']) > 0
  assert_trees_equal(state.frozen, before.frozen)
  changed = [not np.array_equal(a, b) for a, b in
             zip(jax.tree.leaves(copy_tree(state.params)), jax.tree.leaves(before.params))]
  assert all(changed)
  # A stage-3 workdir restores both networks: TemporalNet trained, SpatialNet frozen.
  manager = checkpoints.create_checkpoint_manager(str(root / 'c'), config.train)
  checkpoints.save_checkpoint(manager, state, force=True)
  manager.wait_until_finished()
  manager.close()
  model = inference.Networks.restore(str(root / 'c'), config)
  assert model.has_temporal
  assert_trees_equal(model.spatial_variables, spatial_variables)
  assert_trees_equal(model.temporal_variables,
                     {'params': copy_tree(state.params),
                      'batch_stats': copy_tree(state.batch_stats)})


# -------------------------------------------------------------------------------------------
# Evaluation.


def test_output_to_image_inverts_the_pipeline_mapping():
  transform = np.array([[0.5, 0.0, 3.0], [0.0, 0.5, -1.0]])   # image -> input pixels
  image_xy = np.array([[10.0, 20.0], [31.5, 7.25]])
  input_xy = image_xy @ transform[:, :2].T + transform[:, 2]
  output_xy = (input_xy + 0.5) / 4 - 0.5
  mapped = geometry.apply_affine(geometry.output_to_image_matrix(transform, 4.0), output_xy)
  np.testing.assert_allclose(mapped, image_xy, atol=1e-9)


class _GroundTruthModel(inference.FramePredictor):
  """Stands in for a network: returns the maps a perfect SpatialNet would predict."""

  def __init__(self, batches, config):
    super().__init__(None, config)
    self._maps = []
    for batch in batches:
      b, h, w, _ = batch['heatmaps'].shape
      sie = np.zeros((b, h, w, 2), np.float32)
      for i, p, j in zip(*np.nonzero(batch['joint_valid'] * batch['person_valid'][..., None])):
        pixel = batch['joint_index'][i, p, j]
        sie[i, pixel // w, pixel % w] = batch['centers'][i, p]   # SIE = the person's centre
      self._maps.append({'heatmaps': batch['heatmaps'], 'sie': sie})

  def batch_maps(self, images):
    maps = self._maps.pop(0)
    assert len(images) == len(maps['heatmaps'])
    return {'raw': maps}


@pytest.mark.parametrize('split', ['val', 'train'])
def test_evaluate_model_gives_high_ap_for_ground_truth_maps(tmp_path, split):
  config = load_config('tiny')
  config.decode.use_ke = False        # the stand-in predicts SIE only
  config.train.eval_batch_size = 4
  records = synthetic_records('val', clips=1, num_frames=6)
  index = pipeline.build_index(records)
  # The stand-in's maps come from unaugmented batches in record order: evaluating the
  # training split must read it the same way (once, no augmentation), or AP collapses.
  batches = list(pipeline.frame_dataset(records, config, 'val', index=index, batch_size=4,
                                        shard_index=0, shard_count=1))
  results_path = tmp_path / 'results.json'
  metrics = keypoint_ap.evaluate_model(_GroundTruthModel(batches, config), config, records,
                                       index=index, split=split,
                                       results_path=str(results_path))
  assert metrics['num_images'] == 6
  # Ground-truth maps decode to the annotated people up to the output stride's rounding.
  assert metrics['AP50'] > 0.9 and metrics['AP'] > 0.5
  results = json.loads(results_path.read_text())
  assert {r['image_id'] for r in results} <= {int(r['image_id']) for r in records}
  ground_truth = keypoint_ap.coco_ground_truth(records, [0], [int(records[0]['image_id'])],
                                             skeletons.get('posetrack'))
  people = [a for a in ground_truth['annotations'] if not a['iscrowd']]
  labelled = [k for k in records[0]['keypoints'] if (k[:, 2] > 0).any()]
  assert len(people) == len(labelled)
  np.testing.assert_allclose(np.reshape(people[0]['keypoints'], (-1, 3)), labelled[0])


# -------------------------------------------------------------------------------------------
# Command lines.


def _run(args, timeout=900):
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True,
                        text=True, timeout=timeout)


def test_eval_py_dispatches_prediction_files(tmp_path):
  skeleton = skeletons.get('posetrack')
  keypoints = np.zeros((skeleton.num_joints, 3))
  keypoints[:, 0] = np.linspace(20, 40, skeleton.num_joints)
  keypoints[:, 1] = np.linspace(10, 90, skeleton.num_joints)
  keypoints[:, 2] = 2
  ground_truth = {
      'images': [{'id': 7, 'width': 64, 'height': 100}],
      'annotations': [{'id': 1, 'image_id': 7, 'category_id': 1,
                       'keypoints': keypoints.ravel().tolist(), 'num_keypoints': 15,
                       'bbox': [20, 10, 20, 80], 'area': 1600.0, 'iscrowd': 0}],
      'categories': [{'id': 1, 'name': 'person', 'keypoints': list(skeleton.names)}]}
  results = [{'image_id': 7, 'category_id': 1, 'keypoints': keypoints.ravel().tolist(),
              'score': 0.9}]
  (tmp_path / 'gt.json').write_text(json.dumps(ground_truth))
  (tmp_path / 'res.json').write_text(json.dumps(results))
  proc = _run(['eval.py', '--coco-gt', str(tmp_path / 'gt.json'), '--coco-pred',
               str(tmp_path / 'res.json')], timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert re.search(r'^AP\s+100\.00$', proc.stdout, re.M), proc.stdout


@pytest.mark.slow
def test_train_py_then_eval_py(tmp_path):
  """train.py with overrides on the tiny synthetic TFDS data, then eval.py on its workdir."""
  common = ['--config', 'configs/tiny.py', '--workdir', str(tmp_path / 'run'),
            f'--config.data.data_dir={tmp_path / "tfds"}']
  proc = _run(['train.py', *common, '--config.train.num_steps=2'])
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'step 2/2' in proc.stderr
  records = metrics_writer.read_metrics(tmp_path / 'run')
  assert [r['step'] for r in records if 'train/loss' in r] == [1, 2]
  assert [r['step'] for r in records if 'val/AP' in r] == [2]
  config = json.loads((tmp_path / 'run' / 'config.json').read_text())
  assert config['train']['num_steps'] == 2 and config['stage'] == 'spatial'
  assert os.path.isfile(tmp_path / 'run' / 'eval' / 'results_val_2.json')
  # No --config: the workdir's config.json (its data_dir included), as track reads it.
  proc = _run(['eval.py', '--workdir', str(tmp_path / 'run')])
  assert proc.returncode == 0, proc.stderr[-3000:]
  assert 'config.json (the workdir' in proc.stderr
  assert re.search(r'^AP\s+\d+\.\d\d$', proc.stdout, re.M), proc.stdout
  evaluated = [r for r in metrics_writer.read_metrics(tmp_path / 'run') if 'eval/AP' in r]
  assert len(evaluated) == 1 and evaluated[0]['step'] == 2


@pytest.mark.slow
def test_train_and_evaluate_read_the_configured_splits(tmp_path):
  """config.data.train_split / eval_split, joined splits included, reach the data sources."""
  config = load_config('tiny')
  config.data.data_dir = str(tmp_path / 'tfds')
  config.data.train_split = 'train+val'
  config.data.eval_split = 'val+test'
  config.train.num_steps = 1
  config.train.eval_batches = 0             # the whole evaluation split
  train_lib.train_and_evaluate(config, str(tmp_path / 'run'))
  sizes = {s: len(pipeline.data_source(config, s)) for s in ('train', 'val', 'test')}
  with np.load(tmp_path / 'run' / 'index_train+val.npz') as data:
    assert len(data['frame_id']) == sizes['train'] + sizes['val']
  with np.load(tmp_path / 'run' / 'index_val+test.npz') as data:
    labelled = int(data['is_labeled'].sum())
    assert len(data['frame_id']) == sizes['val'] + sizes['test']
  assert not (tmp_path / 'run' / 'index_train.npz').exists()
  (record,) = [r for r in metrics_writer.read_metrics(tmp_path / 'run') if 'val/AP' in r]
  assert record['val/num_images'] == labelled
  assert (tmp_path / 'run' / 'eval' / 'results_val+test_1.json').is_file()


# -------------------------------------------------------------------------------------------
# bfloat16 compute (config.model.dtype), as on accelerators, here on the CPU.

# Relative difference allowed between the bfloat16 and float32 losses of the same steps.
# bfloat16 keeps 8 significant bits (relative rounding 2**-9 = 0.2% per operation); on the tiny
# config the 5 losses (0.64 -> 0.48) differed by 0.007% to 0.18% (CPU, jax 0.10.2), so 1% leaves
# 5x room and still fails on a loss that bfloat16 breaks.
BF16_LOSS_RTOL = 0.01


@pytest.mark.slow
def test_bfloat16_training_tracks_float32():
  """--config.model.dtype=bfloat16: from the same weights on the same batches, every loss is
  finite and within BF16_LOSS_RTOL of float32's, and the parameters stay float32."""
  records = synthetic_records('train', clips=2, num_frames=4)
  index = pipeline.build_index(records)
  num_steps = 5
  losses, initial = {}, None
  for dtype in ('float32', 'bfloat16'):
    config = load_config('tiny')
    config.model.dtype = dtype
    trainer = train_lib.create_trainer(config)
    if initial is None:
      initial = copy_tree(trainer.new_state())
    state = jax.device_put(initial, train_lib.replicated_sharding(trainer.mesh))
    batches = iter(pipeline.frame_dataset(records, config, 'train', seed=3, index=index))
    losses[dtype] = []
    for _ in range(num_steps):
      state, metrics = trainer.step(state, train_lib.shard_batch(next(batches), trainer.mesh))
      assert int(metrics['skipped']) == 0, f'{dtype}: non-finite loss or gradient'
      losses[dtype].append(float(metrics['loss']))
    assert {x.dtype for x in jax.tree.leaves(state.params)} == {np.dtype(np.float32)}
    assert all(np.isfinite(jax.device_get(x)).all() for x in jax.tree.leaves(state.params))
  f32, bf16 = np.asarray(losses['float32']), np.asarray(losses['bfloat16'])
  assert np.all(np.isfinite(bf16))
  np.testing.assert_allclose(bf16, f32, rtol=BF16_LOSS_RTOL)
  assert not np.array_equal(bf16, f32), 'model.dtype=bfloat16 computed in float32'
