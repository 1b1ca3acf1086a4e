"""Training and evaluation of SpatialNet and TemporalNet (paper Sec. 3.4).

One readable trainer in sections:
  1. mesh and shardings: a 1-D `data` mesh over every device; batches are created already
     sharded along `data`, the train state is replicated;
  2. optimiser: Adam with the paper's step schedule (2e-4, then 1e-5 after `optim.decay_step`);
  3. tasks: what a stage trains ('spatial', 'pgg', 'temporal'): the module, how its variables
     are initialised, and its loss;
  4. train state and the pure train step (non-finite steps are skipped and counted);
  5. stage hand-off (`train.init_from`) and the periodic validation (`evaluation.keypoint_ap`);
  6. the training loop, `train_and_evaluate(config, workdir)`; checkpoints are written and
     read by `checkpoints`.

Stages (config.stage):
  'spatial'  stage 1: SpatialNet trained with `losses.spatial_loss` (Eq. 1-5).
  'pgg'      stage 2: SpatialNet fine-tuned from `train.init_from` (a stage-1 workdir) with the
             Pose-Guided Grouping loss added (Sec. 3.2, Alg. 1).
  'temporal' stage 3: TemporalNet trained on frame pairs; SpatialNet comes from
             `train.init_from` (a stage-2 workdir), is applied under `stop_gradient` and is not
             in the optimiser (Sec. 3.3, 3.4).
"""
from __future__ import annotations

import dataclasses
import functools
import os
import time
from typing import Any, Callable, Iterator, Mapping

from absl import logging
import flax
import jax
import jax.numpy as jnp
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P
import ml_collections
import numpy as np
import optax

from artrack_jax import checkpoints
from artrack_jax import geometry
from artrack_jax import losses
from artrack_jax import metrics_writer as metrics_writer_lib
from artrack_jax import skeletons
from artrack_jax.data import pipeline
from artrack_jax.evaluation import keypoint_ap
from artrack_jax.grouping import pgg
from artrack_jax.models import spatialnet
from artrack_jax.models import temporalnet

PyTree = Any
Batch = Mapping[str, Any]

STAGES = ('spatial', 'pgg', 'temporal')

# -------------------------------------------------------------------------------------------
# 1. Mesh and shardings.
# -------------------------------------------------------------------------------------------


def create_mesh(devices=None) -> Mesh:
  """A 1-D mesh with a `data` axis over every device (of every host).

  Auto axis types: shardings are given explicitly at the jit boundary and XLA propagates them
  inside, so a BatchNorm mean over the sharded batch axis is a mean over the global batch.
  """
  devices = jax.devices() if devices is None else list(devices)
  return jax.make_mesh((len(devices),), ('data',), axis_types=(AxisType.Auto,),
                       devices=devices)


def replicated_sharding(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def data_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) axis split over `data`, the other axes whole."""
  return NamedSharding(mesh, P('data'))


def local_batch_size(global_batch_size: int, mesh: Mesh) -> int:
  """This host's share of the global batch; the global batch must split evenly over devices."""
  num_devices = mesh.devices.size
  if global_batch_size % num_devices:
    raise ValueError(f'config.train.batch_size = {global_batch_size} is not divisible by the '
                     f'{num_devices} devices of the data mesh')
  return global_batch_size // jax.process_count()


# Host-side bookkeeping of the pipeline's examples that no loss reads (`image_id` is int64,
# which JAX would truncate); they stay on the host.
HOST_ONLY_KEYS = ('image_id', 'sequence_index', 'frame_id', 'transform', 'example_valid')


def device_batch(batch: Batch) -> dict[str, Any]:
  """`batch` without the host-only keys, at the top level and inside `prev` / `curr`."""
  return {k: (device_batch(v) if isinstance(v, Mapping) else v)
          for k, v in batch.items() if k not in HOST_ONLY_KEYS}


def shard_batch(batch: Batch, mesh: Mesh) -> PyTree:
  """Turns this host's NumPy batch into global arrays sharded along `data`.

  `make_array_from_process_local_data` assembles the global batch from every host's local
  part, so the same code runs on one host and on many.

  Args:
    batch: (nested) dict of arrays [B_local, ...].
    mesh: the data mesh.

  Returns:
    The same tree of `jax.Array` [B_local * process_count, ...] sharded as `P('data')`.
  """
  sharding = data_sharding(mesh)

  def make(path, x):
    x = np.asarray(x)
    if x.ndim == 0:
      raise ValueError(f'batch field {jax.tree_util.keystr(path)} has no batch axis')
    return jax.make_array_from_process_local_data(sharding, x)

  return jax.tree_util.tree_map_with_path(make, device_batch(batch))


# -------------------------------------------------------------------------------------------
# 2. Optimiser.
# -------------------------------------------------------------------------------------------


def learning_rate_schedule(optim_config: ml_collections.ConfigDict) -> optax.Schedule:
  """Sec. 3.4: `learning_rate` (2e-4), then `final_learning_rate` (1e-5) after `decay_step`.

  The schedule is a function of the number of applied updates; `decay_step <= 0` keeps the
  initial rate (stage 3 trains at 2e-4 throughout).
  """
  if optim_config.decay_step <= 0:
    return optax.constant_schedule(optim_config.learning_rate)
  return optax.piecewise_constant_schedule(
      optim_config.learning_rate,
      {int(optim_config.decay_step):
       optim_config.final_learning_rate / optim_config.learning_rate})


def create_optimizer(
    optim_config: ml_collections.ConfigDict) -> tuple[optax.GradientTransformation,
                                                      optax.Schedule]:
  """Adam with the paper's schedule, optionally after global-norm gradient clipping."""
  schedule = learning_rate_schedule(optim_config)
  parts = []
  if optim_config.grad_clip > 0:
    parts.append(optax.clip_by_global_norm(optim_config.grad_clip))
  # eps: Adam's denominator floor; a parameter whose gradient is pure rounding noise (a conv
  # bias before BatchNorm) moves by about +-learning_rate when |gradient| >> eps.
  parts.append(optax.adam(schedule, eps=float(optim_config.eps)))
  return optax.chain(*parts), schedule


# -------------------------------------------------------------------------------------------
# 3. Tasks: what each stage trains.
# -------------------------------------------------------------------------------------------

# loss_fn(params, batch_stats, frozen, batch, rng) -> (loss, (new_batch_stats, metrics)).
LossFn = Callable[[PyTree, PyTree, PyTree, Batch, jax.Array],
                  tuple[jax.Array, tuple[PyTree, dict[str, jax.Array]]]]


@dataclasses.dataclass(frozen=True)
class Task:
  """What one training stage optimises.

  Attributes:
    name: the stage ('spatial', 'pgg', 'temporal').
    model: the trained Flax module.
    init_variables: rng -> (params, batch_stats, frozen): the trained parameters, their
      BatchNorm statistics, and variables that are used but never trained (stage 3: the
      SpatialNet variables `{'params', 'batch_stats'}`; `{}` otherwise).
    loss_fn: (params, batch_stats, frozen, batch, rng) -> (loss, (new batch_stats, metrics)),
      on the global batch; metrics are scalars.
    frozen_model: the module the frozen variables belong to (stage 3: SpatialNet), or None.
  """
  name: str
  model: Any
  init_variables: Callable[[jax.Array], tuple[PyTree, PyTree, PyTree]]
  loss_fn: LossFn
  frozen_model: Any = None


def _split_variables(variables: Mapping[str, PyTree]) -> tuple[PyTree, PyTree]:
  unknown = set(variables) - {'params', 'batch_stats'}
  if unknown:
    raise ValueError(f'model has variable collections {sorted(unknown)} that the trainer does '
                     'not know how to handle (only params and batch_stats)')
  return variables['params'], variables.get('batch_stats', {})


def spatial_task(config: ml_collections.ConfigDict, model=None) -> Task:
  """Stage 1 ('spatial') and stage 2 ('pgg'): SpatialNet on single frames.

  Loss: `losses.spatial_loss` (Eq. 1-5 with the weights det : KE : aux : SIE of Sec. 3.4), and
  in stage 2 also `config.loss.pgg_weight * pgg_grouping_loss` on the last stack (Sec. 3.2).

  Args:
    config: the full config.
    model: the SpatialNet module; built from the config when None.
  """
  model = spatialnet.from_config(config) if model is None else model
  use_pgg = config.stage == 'pgg'
  size = config.data.image_size
  torso = (skeletons.torso_joints(skeletons.get(config.data.skeleton))
           if config.loss.facing_weight > 0 else None)
  flip_permutation = skeletons.get(config.data.skeleton).flip_permutation

  def init_variables(rng):
    images = jnp.zeros((1, size, size, 3), jnp.float32)
    params, batch_stats = _split_variables(model.init({'params': rng}, images, train=False))
    return params, batch_stats, {}

  def loss_fn(params, batch_stats, frozen, batch, rng):
    del frozen
    outputs, updates = model.apply(
        {'params': params, 'batch_stats': batch_stats}, batch['image'], train=True,
        mutable=['batch_stats'], rngs={'dropout': rng})
    loss, metrics = losses.spatial_loss(outputs, batch, config.loss, torso=torso,
                                         flip_permutation=flip_permutation)
    metrics = dict(metrics)
    if use_pgg:
      # Sec. 3.2: pull/push (Eq. 2-3) on the PGG-refined KE and SIE of the last stack,
      # weighted by config.loss.pgg_weight inside.
      grouping_loss, grouping_metrics = pgg.pgg_grouping_loss(
          spatialnet.last_stack(outputs), batch, config.pgg, weight=config.loss.pgg_weight)
      metrics.update(grouping_metrics)
      loss = loss + grouping_loss
    metrics['loss'] = loss
    return loss, (updates.get('batch_stats', {}), metrics)

  return Task(name=config.stage, model=model, init_variables=init_variables, loss_fn=loss_fn)


def temporal_task(config: ml_collections.ConfigDict, model=None, spatial_model=None) -> Task:
  """Stage 3 ('temporal'): TemporalNet on frame pairs with SpatialNet frozen (Sec. 3.3, 3.4).

  SpatialNet runs both frames in inference mode (BatchNorm running statistics) with the
  `frozen` variables and its last-stack maps go through `stop_gradient`: it is neither
  differentiated nor in the optimiser. Human boxes for the HE branch come from the
  ground-truth joints of each frame (Sec. 3.3.1: boxes covering a pose's keypoints).

  Loss: `losses.temporal_loss` (HE triplet Eq. 6 + TVF Eq. 7), plus, when `config.pgg.enabled`,
  the grouping loss (Eq. 2-3) on the PGG-refined forward and backward TIE (Sec. 3.3.2),
  weighted by `config.loss.pgg_weight`.

  Args:
    config: the full config.
    model: the TemporalNet module; built from the config when None.
    spatial_model: the frozen SpatialNet module; built from the config when None.
  """
  model = temporalnet.from_config(config) if model is None else model
  spatial_model = spatialnet.from_config(config) if spatial_model is None else spatial_model
  size = config.data.image_size
  use_pgg = bool(config.pgg.enabled)

  def spatial_maps(frozen, images):
    """Frozen SpatialNet, last stack: features, heatmaps and SIE of [2, B, H, W, 3] images."""
    def one(frame_images):
      outputs = spatialnet.last_stack(spatial_model.apply(frozen, frame_images, train=False))
      return {'features': outputs['features'], 'heatmaps': outputs['heatmaps'],
              'sie': geometry.instance_embedding(outputs['svf'])}
    return jax.lax.stop_gradient(jax.vmap(one)(images))

  def boxes(frame):
    valid = frame['joint_valid'] * frame['person_valid'][..., None]
    return temporalnet.boxes_from_keypoints(frame['joint_xy'], valid)[0]

  def init_variables(rng):
    spatial_rng, temporal_rng = jax.random.split(rng)
    frozen = spatial_model.init({'params': spatial_rng},
                                jnp.zeros((1, size, size, 3), jnp.float32), train=False)
    _split_variables(frozen)  # Validates the collections.
    prev, curr = temporalnet.example_inputs(config)
    params, batch_stats = _split_variables(model.init({'params': temporal_rng}, prev, curr,
                                                      train=False))
    return params, batch_stats, dict(frozen)

  def loss_fn(params, batch_stats, frozen, batch, rng):
    prev, curr = batch['prev'], batch['curr']
    maps = spatial_maps(frozen, jnp.stack([prev['image'], curr['image']]))
    inputs = [dict({k: v[t] for k, v in maps.items()}, boxes=boxes(frame))
              for t, frame in enumerate((prev, curr))]
    outputs, updates = model.apply(
        {'params': params, 'batch_stats': batch_stats}, *inputs, train=True,
        mutable=['batch_stats'], rngs={'dropout': rng})
    loss, metrics = losses.temporal_loss(outputs, batch, config.loss)
    metrics = dict(metrics)
    if use_pgg:
      # Sec. 3.3.2: forward TIE is masked by frame t's heatmaps, backward by frame t-1's.
      tie_loss, tie_metrics = pgg.pgg_temporal_loss(
          outputs, maps['heatmaps'][0], maps['heatmaps'][1], batch, config.pgg,
          weight=config.loss.pgg_weight)
      metrics.update(tie_metrics)
      loss = loss + tie_loss
    metrics['loss'] = loss
    return loss, (updates.get('batch_stats', {}), metrics)

  return Task(name='temporal', model=model, init_variables=init_variables, loss_fn=loss_fn,
              frozen_model=spatial_model)


def create_task(config: ml_collections.ConfigDict) -> Task:
  """The task of `config.stage`."""
  builders = {'spatial': spatial_task, 'pgg': spatial_task, 'temporal': temporal_task}
  if config.stage not in builders:
    raise ValueError(f'config.stage = {config.stage!r}; expected one of {STAGES}')
  return builders[config.stage](config)


# -------------------------------------------------------------------------------------------
# 4. Train state and the train step.
# -------------------------------------------------------------------------------------------


@flax.struct.dataclass
class TrainState:
  """Everything a step reads and writes; replicated over the mesh, checkpointed whole.

  Attributes:
    step: int32 [], number of train steps taken (batches consumed, skipped ones included).
    params: the trained parameters.
    batch_stats: BatchNorm running statistics of the trained model.
    opt_state: the optimiser state of `params`.
    frozen: variables used but never trained (stage 3: SpatialNet's); `{}` otherwise.
    skipped_steps: int32 [], steps whose loss or gradient was not finite (not applied).
    consecutive_skips: int32 [], length of the current run of skipped steps.
  """
  step: jax.Array
  params: PyTree
  batch_stats: PyTree
  opt_state: PyTree
  frozen: PyTree
  skipped_steps: jax.Array
  consecutive_skips: jax.Array


def _init_state_fn(task: Task, optimizer: optax.GradientTransformation):
  def init(rng):
    params, batch_stats, frozen = task.init_variables(rng)
    return TrainState(step=jnp.zeros((), jnp.int32), params=params, batch_stats=batch_stats,
                      opt_state=optimizer.init(params), frozen=frozen,
                      skipped_steps=jnp.zeros((), jnp.int32),
                      consecutive_skips=jnp.zeros((), jnp.int32))
  return init


def prng_key(seed: int) -> jax.Array:
  """The run's root key.

  XLA's RngBitGenerator ('rbg') rather than the default threefry: initialising a stacked
  hourglass draws ~100 truncated-normal tensors, and threefry's unrolled hash makes that
  initialisation take minutes to compile on a CPU; rbg compiles several times faster.
  Deterministic for a given seed, platform and JAX version, like threefry.
  """
  return jax.random.key(seed, impl='rbg')


def _all_finite(tree: PyTree) -> jax.Array:
  leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]
  return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def train_step(state: TrainState, batch: Batch, *, task: Task,
               optimizer: optax.GradientTransformation, schedule: optax.Schedule,
               seed: int) -> tuple[TrainState, dict[str, jax.Array]]:
  """One optimisation step on the global batch; pure.

  A step whose loss or gradient is not finite changes nothing but the step and skip counters:
  its update, optimiser state and BatchNorm statistics are dropped, so a NaN never reaches the
  parameters. The host stops training after `train.max_consecutive_skips` such steps in a row.

  Args:
    state: the replicated train state.
    batch: the global batch, sharded along `data`.
    task: the stage's model and loss.
    optimizer: the Optax optimiser of `state.params`.
    schedule: the learning-rate schedule, for logging.
    seed: the run's seed; the step's PRNG key is `fold_in(key(seed), step)` so that a resumed
      run draws the same randomness as an uninterrupted one.

  Returns:
    (new state, metrics): metrics are replicated scalars (the loss's own metrics plus `loss`,
    `grad_norm`, `learning_rate`, `skipped`, `skipped_steps`, `consecutive_skips`).
  """
  rng = jax.random.fold_in(prng_key(seed), state.step)
  grad_fn = jax.value_and_grad(task.loss_fn, has_aux=True)
  (loss, (batch_stats, metrics)), grads = grad_fn(
      state.params, state.batch_stats, state.frozen, batch, rng)
  updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)

  finite = jnp.isfinite(loss) & _all_finite(grads)
  keep_if_finite = functools.partial(
      jax.tree.map, lambda new, old: jnp.where(finite, new, old))
  skipped = jnp.logical_not(finite).astype(jnp.int32)
  # The optimiser's update count only advances on applied steps.
  learning_rate = schedule(state.step - state.skipped_steps)
  new_state = state.replace(
      step=state.step + 1,
      params=keep_if_finite(params, state.params),
      batch_stats=keep_if_finite(batch_stats, state.batch_stats),
      opt_state=keep_if_finite(opt_state, state.opt_state),
      skipped_steps=state.skipped_steps + skipped,
      consecutive_skips=(state.consecutive_skips + 1) * skipped)
  metrics = dict(metrics)
  metrics.update(loss=loss, grad_norm=optax.tree.norm(grads), learning_rate=learning_rate,
                 skipped=skipped, skipped_steps=new_state.skipped_steps,
                 consecutive_skips=new_state.consecutive_skips)
  return new_state, metrics


def make_train_step(task: Task, optimizer: optax.GradientTransformation,
                    schedule: optax.Schedule, mesh: Mesh, seed: int):
  """`train_step` jitted over the mesh: state replicated and donated, batch split on `data`."""
  step_fn = functools.partial(train_step, task=task, optimizer=optimizer, schedule=schedule,
                              seed=seed)
  return jax.jit(step_fn,
                 in_shardings=(replicated_sharding(mesh), data_sharding(mesh)),
                 out_shardings=(replicated_sharding(mesh), replicated_sharding(mesh)),
                 donate_argnums=(0,))


@dataclasses.dataclass(frozen=True)
class Trainer:
  """A task with its optimiser and jitted functions on a mesh.

  Built once per (task, optimiser config, mesh, seed) and reusable: training again with the same
  trainer (a resumed run in a notebook, tests) reuses the compiled step.

  Attributes:
    task: the stage's model and loss.
    mesh: the data mesh.
    optimizer, schedule: from `create_optimizer(config.optim)`.
    seed: the run's seed (initialisation and the per-step PRNG keys).
    init_state: jitted, rng -> replicated `TrainState`.
    step: jitted `train_step`, (state, global batch) -> (state, metrics); donates the state.
  """
  task: Task
  mesh: Mesh
  optimizer: optax.GradientTransformation
  schedule: optax.Schedule
  seed: int
  init_state: Callable[[jax.Array], TrainState]
  step: Callable[[TrainState, PyTree], tuple[TrainState, dict[str, jax.Array]]]

  def new_state(self) -> TrainState:
    return self.init_state(prng_key(self.seed))


def create_trainer(config: ml_collections.ConfigDict, task: Task | None = None,
                   mesh: Mesh | None = None) -> Trainer:
  """The trainer of `config` (task from `config.stage` when None; mesh over all devices)."""
  task = create_task(config) if task is None else task
  mesh = create_mesh() if mesh is None else mesh
  optimizer, schedule = create_optimizer(config.optim)
  init_state = jax.jit(_init_state_fn(task, optimizer), out_shardings=replicated_sharding(mesh))
  step = make_train_step(task, optimizer, schedule, mesh, int(config.seed))
  return Trainer(task=task, mesh=mesh, optimizer=optimizer, schedule=schedule,
                 seed=int(config.seed), init_state=init_state, step=step)


# -------------------------------------------------------------------------------------------
# 5. Stage hand-off and periodic validation.
# -------------------------------------------------------------------------------------------


def initialize_from_previous_stage(state: TrainState, config: ml_collections.ConfigDict,
                                   mesh: Mesh) -> TrainState:
  """Stage 2 starts from stage 1's SpatialNet; stage 3 freezes stage 2's SpatialNet.

  Returns `state` with the previous stage's variables put in place (replicated).
  """
  init_from = config.train.init_from
  previous = checkpoints.load_trained_variables(init_from)
  what = f'config.train.init_from={init_from}'
  if previous['frozen']:
    raise ValueError(f'{what} is a temporal-stage workdir; give a spatial or pgg workdir')
  put = lambda tree: jax.device_put(tree, replicated_sharding(mesh))
  if config.stage == 'pgg':
    # The optimiser state starts afresh: Adam's moments of stage 1 describe another loss.
    params = checkpoints.conform_variables(previous['params'], state.params, what)
    batch_stats = checkpoints.conform_variables(previous['batch_stats'], state.batch_stats, what)
    return state.replace(params=put(params), batch_stats=put(batch_stats))
  if config.stage == 'temporal':
    spatial = {'params': previous['params'], 'batch_stats': previous['batch_stats']}
    return state.replace(frozen=put(checkpoints.conform_variables(spatial, state.frozen, what)))
  raise ValueError(f'config.train.init_from is set but stage {config.stage!r} has no previous '
                   'stage; leave it empty')


# evaluate_fn(state, step) -> scalar results (written under `val/`).
EvaluateFn = Callable[['TrainState', int], Mapping[str, float]]


def spatial_variables_of(state: TrainState) -> dict[str, PyTree]:
  """SpatialNet's variables in a train state, as host arrays (the frozen ones in stage 3)."""
  if state.frozen:
    variables = state.frozen
  else:
    variables = {'params': state.params, 'batch_stats': state.batch_stats}
  # Replicated arrays: this host's first copy is the whole value (also on many hosts).
  return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), variables)


def make_evaluate_fn(config: ml_collections.ConfigDict, workdir: str) -> EvaluateFn:
  """The periodic validation of `train`: AP of the current SpatialNet (`keypoint_ap`)."""
  evaluate_variables = keypoint_ap.make_evaluate_fn(config, workdir)
  return lambda state, step: evaluate_variables(spatial_variables_of(state), step)


# -------------------------------------------------------------------------------------------
# 6. The training loop.
# -------------------------------------------------------------------------------------------


def _check_skips(metrics: Mapping[str, jax.Array], step: int, max_consecutive: int) -> None:
  """Stops training after `max_consecutive` non-finite steps in a row (as big_vision does)."""
  consecutive = int(metrics['consecutive_skips'])
  if max_consecutive > 0 and consecutive >= max_consecutive:
    raise FloatingPointError(
        f'step {step}: the loss or gradient was not finite in {consecutive} consecutive steps '
        f'(last loss {float(metrics["loss"])}); those updates were skipped. Lower '
        'config.optim.learning_rate, set config.optim.grad_clip, or check the input data.')


def _mean_metrics(history: list[Mapping[str, jax.Array]]) -> dict[str, float]:
  """Mean of each scalar over the steps since the last log (one device-to-host transfer)."""
  history = jax.device_get(history)
  means = {name: float(np.mean([m[name] for m in history])) for name in history[0]}
  # Counters are not averaged: the last value is the current one.
  for name in ('skipped_steps', 'consecutive_skips'):
    if name in means:
      means[name] = float(history[-1][name])
  return means


def train(config: ml_collections.ConfigDict, workdir: str, trainer: Trainer,
          train_iter: Iterator[Batch], evaluate_fn: EvaluateFn | None = None) -> TrainState:
  """Trains to `config.train.num_steps`, resuming from `workdir` when it has a checkpoint.

  A workdir without checkpoint starts from `config.train.init_from` (stage 2 and 3) or from
  scratch. A checkpoint is written every `train.checkpoint_every` steps and at the end, with
  the input iterator's position.

  Args:
    config: the full config (stage, train).
    workdir: where checkpoints, `metrics.jsonl` and TensorBoard events go.
    trainer: `create_trainer(config)`.
    train_iter: yields this host's batches (dicts of NumPy arrays [B_local, ...]); a grain
      `DatasetIterator`, whose position is checkpointed and restored.
    evaluate_fn: called every `config.train.eval_every` steps and at the end.

  Returns:
    The final train state.
  """
  mesh = trainer.mesh
  train_config = config.train
  local_batch_size(train_config.batch_size, mesh)  # Validates the batch split.
  state = trainer.new_state()
  manager = checkpoints.create_checkpoint_manager(workdir, train_config)
  if manager.latest_step() is not None:
    state = checkpoints.restore_checkpoint(manager, state, train_iter)
    logging.info('Resumed from %s at step %d.', manager.directory, int(state.step))
  elif train_config.init_from:
    state = initialize_from_previous_stage(state, config, mesh)
    logging.info('Stage %s initialised from %s.', config.stage, train_config.init_from)
  elif config.stage == 'temporal':
    logging.warning('Stage temporal without config.train.init_from: SpatialNet is randomly '
                    'initialised and frozen; TemporalNet learns nothing useful from it.')

  step_fn = trainer.step
  num_steps = int(train_config.num_steps)
  log_every = max(int(train_config.log_every), 1)
  eval_every = int(train_config.eval_every)
  max_consecutive_skips = int(train_config.max_consecutive_skips)
  start_step = int(jax.device_get(state.step))
  # The steps after the checkpoint are redone: their earlier records go.
  writer = metrics_writer_lib.MetricsWriter(workdir, resume_step=start_step)
  history, previous_metrics = [], None
  last_log_time, last_log_step = time.perf_counter(), start_step
  try:
    for step in range(start_step + 1, num_steps + 1):
      try:
        local_batch = next(train_iter)
      except StopIteration:
        raise RuntimeError(f'the training input ended after {step - 1} steps; training inputs '
                           f'must repeat to reach config.train.num_steps={num_steps}') from None
      state, metrics = step_fn(state, shard_batch(local_batch, mesh))
      if step == start_step + 1:
        # Leave compilation out of the steps/s.
        jax.block_until_ready(metrics)
        logging.info('First step (compilation included) took %.1f s.',
                     time.perf_counter() - last_log_time)
        last_log_time, last_log_step = time.perf_counter(), step
      elif previous_metrics is not None:
        # The previous step has finished (or nearly) by now: checking it does not stall the
        # step just dispatched.
        _check_skips(previous_metrics, step - 1, max_consecutive_skips)
      previous_metrics = metrics
      history.append(metrics)

      if step % log_every == 0 or step == num_steps:
        _check_skips(metrics, step, max_consecutive_skips)
        scalars = _mean_metrics(history)
        history = []
        now = time.perf_counter()
        steps_per_second = ((step - last_log_step) / (now - last_log_time)
                            if step > last_log_step else float('nan'))
        last_log_time, last_log_step = now, step
        if np.isfinite(steps_per_second):
          scalars['steps_per_second'] = steps_per_second
        writer.write_scalars(step, {f'train/{k}': v for k, v in scalars.items()})
        logging.info('%s', metrics_writer_lib.format_progress(step, num_steps, steps_per_second,
                                                              scalars))

      # Only a saving step waits for the state (reading state.step would wait every step).
      if step == num_steps or manager.should_save(step):
        checkpoints.save_checkpoint(manager, state, train_iter, force=step == num_steps,
                                    step=step)

      if evaluate_fn is not None and ((eval_every > 0 and step % eval_every == 0)
                                      or step == num_steps):
        results = evaluate_fn(state, step)
        writer.write_scalars(step, {f'val/{k}': v for k, v in results.items()})
        logging.info('step %d validation: %s', step,
                     ', '.join(f'{k} {v:.4f}' for k, v in results.items()))
        # Evaluation time is not training time.
        last_log_time = time.perf_counter()
  finally:
    manager.wait_until_finished()
    manager.close()
    writer.close()
  return state


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> TrainState:
  """Runs a stage end to end: data, model, training with periodic validation, checkpoints.

  Importable from a notebook; `train.py` only parses flags and calls it. Re-running with the
  same workdir resumes from its latest checkpoint.

  Args:
    config: the full config (`configs/*.py`).
    workdir: checkpoints, `config.json`, `metrics.jsonl`, TensorBoard events, evaluation
      results.

  Returns:
    The final train state.
  """
  if config.distributed:
    jax.distributed.initialize()
  if config.stage not in STAGES:
    raise ValueError(f'config.stage = {config.stage!r}; expected one of {STAGES}')
  workdir = os.path.abspath(os.fspath(workdir))
  if jax.process_index() == 0:
    os.makedirs(workdir, exist_ok=True)
    with open(os.path.join(workdir, 'config.json'), 'w', encoding='utf-8') as f:
      f.write(config.to_json_best_effort(indent=2))
  logging.info('Stage %s on %d device(s), %d process(es); workdir %s.', config.stage,
               jax.device_count(), jax.process_count(), workdir)

  trainer = create_trainer(config)
  split = config.data.train_split
  source = pipeline.data_source(config, split)
  index = pipeline.build_index(source, os.path.join(workdir, f'index_{split}.npz'))
  make_dataset = pipeline.pair_dataset if config.stage == 'temporal' else pipeline.frame_dataset
  # 'train': the pipeline's training mode (augmented, shuffled, repeated) on any split.
  train_iter = iter(make_dataset(source, config, 'train', seed=int(config.seed), index=index))
  # Stage 3 leaves SpatialNet unchanged, so its AP would not move; TemporalNet is judged by
  # tracking (artrack_jax.track and the PoseTrack evaluation).
  evaluate_fn = None if config.stage == 'temporal' else make_evaluate_fn(config, workdir)
  return train(config, workdir, trainer, train_iter, evaluate_fn)
