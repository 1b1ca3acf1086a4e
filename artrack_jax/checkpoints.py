"""Checkpoints of a training workdir: Orbax save/restore, and the trained networks back.

  manager = checkpoints.create_checkpoint_manager(workdir, config.train)
  checkpoints.save_checkpoint(manager, state, train_iter)       # the trainer
  restored = checkpoints.restore(workdir, config)                # inference, stage hand-off

A stage-1/2 ('spatial', 'pgg') workdir holds SpatialNet; a stage-3 ('temporal') workdir holds
TemporalNet (trained) and the SpatialNet it was trained on (frozen), so both come back from it.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import logging as python_logging
import os
from typing import Any

from absl import logging
from etils import epath
import grain
import jax
import jax.numpy as jnp
import ml_collections
from flax import serialization as flax_serialization
import numpy as np
import orbax.checkpoint as ocp

from artrack_jax.models import spatialnet
from artrack_jax.models import temporalnet

PyTree = Any

CHECKPOINT_DIR = 'checkpoints'
EXPORTED_VARIABLES = 'variables.msgpack'


def checkpoint_dir(workdir: str) -> str:
  return os.path.join(os.path.abspath(os.fspath(workdir)), CHECKPOINT_DIR)


def create_checkpoint_manager(workdir: str, train_config: ml_collections.ConfigDict,
                              read_only: bool = False) -> ocp.CheckpointManager:
  """Orbax manager of `workdir/checkpoints/<step>/{state, input}`.

  `state` is the whole `TrainState` (StandardSave); `input` is the input iterator state as
  JSON, one file per process (grain's checkpoint handler), so a resumed run reads the same
  batches an uninterrupted one would.
  """
  options = ocp.CheckpointManagerOptions(
      save_interval_steps=max(int(train_config.checkpoint_every), 1),
      max_to_keep=train_config.keep_checkpoints or None,
      create=not read_only, read_only=read_only)
  return ocp.CheckpointManager(checkpoint_dir(workdir), options=options,
                               item_names=('state', 'input'))


def save_checkpoint(manager: ocp.CheckpointManager, state: PyTree,
                    data_iterator: Any = None, force: bool = False,
                    step: int | None = None) -> bool:
  """Saves at `step` (default: `state.step`) when the manager's interval says so (or `force`).

  Orbax copies the arrays to the host before returning and writes them in the background, so
  the state may be donated to the next step right away.
  """
  step = int(jax.device_get(state.step)) if step is None else int(step)
  items = {'state': ocp.args.StandardSave(state)}
  if data_iterator is not None:
    items['input'] = grain.checkpoint.CheckpointSave(data_iterator)
  return manager.save(step, args=ocp.args.Composite(**items), force=force)


def restore_checkpoint(manager: ocp.CheckpointManager, state: PyTree,
                       data_iterator: Any = None, step: int | None = None) -> PyTree:
  """Restores `state` (same structure, shapes and shardings) and the iterator in place.

  Args:
    manager: the workdir's manager.
    state: a freshly initialised state, the target of the restore.
    data_iterator: the input iterator whose position is restored, or None.
    step: which checkpoint; the latest when None.

  Returns:
    The restored state.
  """
  step = manager.latest_step() if step is None else step
  if step is None:
    raise FileNotFoundError(f'no checkpoint in {manager.directory}')
  items = {'state': ocp.args.StandardRestore(jax.tree.map(ocp.utils.to_shape_dtype_struct,
                                                          state))}
  input_dir = epath.Path(manager.directory) / str(step) / 'input'
  if data_iterator is not None:
    # grain writes one file per process, `process_<i>-of-<n>.json`.
    if (input_dir / f'process_{jax.process_index()}-of-{jax.process_count()}.json').exists():
      items['input'] = grain.checkpoint.CheckpointRestore(data_iterator)
    elif input_dir.is_dir():
      _restore_input_of_other_process_count(input_dir, data_iterator)
    else:
      logging.warning('%s/%d holds no input position (it was not written by training); the '
                      'input starts from its beginning.', manager.directory, step)
  try:
    restored = manager.restore(step, args=ocp.args.Composite(**items))
  except (ValueError, KeyError) as e:
    raise ValueError(f'{manager.directory}/{step}: the checkpoint does not match this '
                     f'config\'s train state (stage, model sizes, optimiser): {e}') from e
  return restored.state


def _restore_input_of_other_process_count(input_dir: epath.Path, data_iterator: Any) -> None:
  """The input position of a checkpoint written by another number of processes.

  A training host of the in-process pipeline (`data.num_workers = 0`) reads the elements
  `i::count` of one global stream and its state is `{'next_index': n}` (n of its elements
  read), so `n * count` global elements were read; with the new count each host has read
  `n * count / new_count` of its own. Other iterator states cannot be mapped: the input then
  starts from its beginning.
  """
  count = jax.process_count()
  files = sorted(input_dir.glob('process_0-of-*.json'))
  state = data_iterator.get_state()
  if files and isinstance(state, dict) and set(state) == {'next_index'}:
    saved = json.loads(files[0].read_text())
    old_count = int(files[0].stem.rsplit('-', 1)[1])
    if isinstance(saved, dict) and set(saved) == {'next_index'}:
      consumed = int(saved['next_index']) * old_count
      if consumed % count == 0:
        data_iterator.set_state({'next_index': consumed // count})
        logging.info('%s: input written by %d process(es), continued on %d at global example '
                     '%d.', input_dir, old_count, count, consumed)
        return
  logging.warning('%s holds no input position for process %d of %d (the checkpoint was '
                  'written by another number of processes); the input starts from its '
                  'beginning.', input_dir, jax.process_index(), count)


def save_exported_variables(trained: dict[str, PyTree], out_dir: str) -> str:
  """Writes `load_trained_variables`' dict as `out_dir/variables.msgpack` (an exported workdir:
  the networks without optimiser state, readable wherever this package is installed)."""
  os.makedirs(out_dir, exist_ok=True)
  path = os.path.join(out_dir, EXPORTED_VARIABLES)
  tree = jax.tree.map(np.asarray, {k: trained[k] for k in ('params', 'batch_stats', 'frozen')})
  tree['step'] = np.int64(trained['step'])
  tmp = path + '.tmp'
  with open(tmp, 'wb') as f:
    f.write(flax_serialization.msgpack_serialize(tree))
  os.replace(tmp, path)
  return path


def _load_exported_variables(workdir: str) -> dict[str, PyTree]:
  path = os.path.join(workdir, EXPORTED_VARIABLES)
  try:
    with open(path, 'rb') as f:
      tree = flax_serialization.msgpack_restore(f.read())
  except (OSError, ValueError) as e:
    raise ValueError(f'{path}: unreadable exported variables ({e}); export the model again') \
        from e
  for key in ('params', 'batch_stats', 'frozen', 'step'):
    if key not in tree:
      raise ValueError(f'{path}: field {key!r} missing')
  return {'params': tree['params'], 'batch_stats': tree['batch_stats'] or {},
          'frozen': tree['frozen'] or {}, 'step': int(np.asarray(tree['step']))}


def _unreadable_checkpoint(step_dir: str, manager: ocp.CheckpointManager,
                          error: Exception) -> ValueError:
  """The error of a checkpoint Orbax cannot read: the file at fault and what to do."""
  state = os.path.join(step_dir, 'state')
  culprit = None
  for name in ('_METADATA', 'manifest.ocdbt'):
    path = os.path.join(state, name)
    if not os.path.isfile(path):
      culprit = f'{path} is missing'
      break
  if culprit is None:
    try:
      with open(os.path.join(state, '_METADATA'), encoding='utf-8') as f:
        json.load(f)
    except ValueError:
      culprit = f'{os.path.join(state, "_METADATA")} is not valid JSON'
  if culprit is None:
    # TensorStore's message (innermost cause) names the array and the database it read.
    inner = error
    while inner.__cause__ is not None:
      inner = inner.__cause__
    culprit = f'array data under {state} unreadable: ' + str(inner).split(' [tensorstore_spec')[0]
  others = [s for s in manager.all_steps() if str(s) != os.path.basename(step_dir)]
  advice = (f'restore it from a copy, or pass --checkpoint {os.path.dirname(step_dir)}/<step> '
            f'with another step ({", ".join(map(str, others))})' if others else
            'restore it from a copy or train again')
  return ValueError(f'{step_dir}: damaged checkpoint: {culprit[:600]}; {advice}')


def load_trained_variables(workdir: str, step: int | None = None) -> dict[str, PyTree]:
  """The trained variables of another stage's workdir, as saved (host arrays).

  Used to start stage 2 from stage 1 and stage 3 from stage 2 (`config.train.init_from`), and
  by inference. An exported workdir (`variables.msgpack`, e.g. the reference model installed
  with the package) holds one step and is read the same way.

  Returns:
    {'params', 'batch_stats', 'frozen', 'step'} of the checkpoint's train state.
  """
  if os.path.isfile(os.path.join(workdir, EXPORTED_VARIABLES)):
    saved = _load_exported_variables(workdir)
    if step is not None and step != saved['step']:
      raise FileNotFoundError(f'{workdir}: exported at step {saved["step"]}, not {step}')
    return saved
  directory = checkpoint_dir(workdir)
  if not os.path.isdir(directory):
    raise FileNotFoundError(f'{workdir}: no {CHECKPOINT_DIR}/ directory and no '
                            f'{EXPORTED_VARIABLES} (is it a training workdir?)')
  manager = ocp.CheckpointManager(directory, item_names=('state', 'input'),
                                  options=ocp.CheckpointManagerOptions(read_only=True))
  try:
    step = manager.latest_step() if step is None else step
    if step is None:
      raise FileNotFoundError(f'{directory}: no checkpoint')
    if step not in manager.all_steps():
      raise FileNotFoundError(f'{directory}/{step}: no such checkpoint (steps there: '
                              f'{", ".join(map(str, manager.all_steps())) or "none"})')
    try:
      saved = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore()))
    except Exception as e:  # pylint: disable=broad-except
      raise _unreadable_checkpoint(os.path.join(directory, str(step)), manager, e) from e
  finally:
    manager.close()
  state = saved.state
  for key in ('params', 'batch_stats', 'frozen'):
    if key not in state:
      raise ValueError(f'{directory}/{step}/state: field {key!r} missing')
  return {'params': state['params'], 'batch_stats': state['batch_stats'] or {},
          'frozen': state['frozen'] or {}, 'step': int(np.asarray(state['step']))}


def conform_variables(loaded: PyTree, expected: PyTree, what: str) -> PyTree:
  """`loaded` laid out like `expected` (same tree, shapes, dtypes), or a clear error.

  Args:
    loaded: restored variables (nested dicts of arrays).
    expected: the model's variables, or their `jax.eval_shape`.
    what: names the source in error messages.

  Returns:
    NumPy arrays in the tree structure of `expected`.
  """
  loaded_paths = {jax.tree_util.keystr(p): x
                  for p, x in jax.tree_util.tree_leaves_with_path(loaded)}
  result = []
  for path, x in jax.tree_util.tree_leaves_with_path(expected):
    key = jax.tree_util.keystr(path)
    if key not in loaded_paths:
      raise ValueError(f'{what}: variable {key} missing (model configs differ?)')
    value = np.asarray(loaded_paths.pop(key))
    if value.shape != x.shape:
      raise ValueError(f'{what}: variable {key} has shape {value.shape}, the model expects '
                       f'{x.shape} (model configs differ?)')
    result.append(value.astype(x.dtype))
  if loaded_paths:
    raise ValueError(f'{what}: variables {sorted(loaded_paths)[:5]} are not in the model '
                     '(model configs differ?)')
  return jax.tree.unflatten(jax.tree.structure(expected), result)


@dataclasses.dataclass
class TrainedNetworks:
  """The variables of a workdir's networks, laid out like the config's models.

  Attributes:
    spatial: SpatialNet `{'params', 'batch_stats'}` (NumPy arrays).
    temporal: TemporalNet `{'params', 'batch_stats'}`, or None for a stage-1/2 workdir.
    step: the checkpoint's step.
    what: `'<workdir> (step <step>)'`, for messages.
  """
  spatial: PyTree
  temporal: PyTree | None
  step: int
  what: str


def _model_variables(init_fn) -> PyTree:
  expected = jax.eval_shape(init_fn)
  return {'params': expected['params'], 'batch_stats': expected.get('batch_stats', {})}


def spatial_shapes(config: ml_collections.ConfigDict) -> PyTree:
  """`jax.eval_shape` of SpatialNet's variables under `config.model`."""
  size = int(config.data.image_size)
  return _model_variables(functools.partial(
      spatialnet.from_config(config).init, jax.random.key(0), jnp.zeros((1, size, size, 3)),
      train=False))


def temporal_shapes(config: ml_collections.ConfigDict) -> PyTree:
  """`jax.eval_shape` of TemporalNet's variables under `config.model`."""
  prev, curr = temporalnet.example_inputs(config)
  return _model_variables(functools.partial(
      temporalnet.from_config(config).init, jax.random.key(0), prev, curr, train=False))


def restore(workdir: str, config: ml_collections.ConfigDict,
            step: int | None = None) -> TrainedNetworks:
  """The networks of a training workdir's checkpoint (the latest unless `step`).

  The variables are checked against the config's models, with an error naming the workdir when
  they differ, rather than at the first image.

  Raises:
    FileNotFoundError: no checkpoint; ValueError: variables that do not fit `config.model`.
  """
  saved = load_trained_variables(workdir, step)
  what = f'{workdir} (step {saved["step"]})'
  trained = {'params': saved['params'], 'batch_stats': saved['batch_stats']}
  spatial, temporal = (saved['frozen'], trained) if saved['frozen'] else (trained, None)
  spatial = conform_variables(spatial, spatial_shapes(config), f'{what} SpatialNet')
  if temporal is not None:
    temporal = conform_variables(temporal, temporal_shapes(config), f'{what} TemporalNet')
  logging.info('restored %s: %s', what,
               'SpatialNet + TemporalNet' if temporal is not None else 'SpatialNet')
  return TrainedNetworks(spatial=spatial, temporal=temporal, step=saved['step'], what=what)


class _DropLibraryInfo:
  """Logging filter: drops INFO records that come from a library's source tree."""

  def __init__(self, fragment: str):
    self.fragment = fragment

  def filter(self, record) -> bool:
    return record.levelno > 20 or self.fragment not in record.pathname


def quiet_checkpoint_logs() -> None:
  """Hides Orbax's INFO logs (dozens of lines per save) so the progress lines stay readable.

  Warnings and errors still show. Called by train.py and eval.py.
  """
  python_logging.getLogger('absl').addFilter(_DropLibraryInfo(f'{os.sep}orbax{os.sep}'))
