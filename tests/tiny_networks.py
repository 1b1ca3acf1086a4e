"""Tiny SpatialNet + TemporalNet with fixed random weights, and checkpoints of them.

Shared by the tests of track.py and evaluation/tables.py: a config file on top of
configs/default.py with small networks (no training needed), variables drawn from a fixed seed,
and saved checkpoints as `train_lib` writes them.
"""
import os

import numpy as np

from artrack_jax import skeletons

J = skeletons.POSETRACK.num_joints

_CONFIG_TEMPLATE = '''
import importlib.util

_spec = importlib.util.spec_from_file_location('default_config', {default!r})
_default = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_default)


def get_config():
  c = _default.get_config()
  c.data.image_size = 32
  c.model.update(dict(stacks=1, features=8, increase=4, depth=1, he_dim=8, roi_size=3,
                      he_channels=8))
  # Random weights give weak, possibly negative heat: keep every candidate.
  c.decode.update(dict(det_threshold=-1e9, max_people=3, top_k=4, flip_test=True))
{extra}
  return c
'''


def write_config(path, extra: str = '') -> str:
  """Writes the tiny config file at `path`; `extra`: lines (2-space indented) before return."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  path.write_text(_CONFIG_TEMPLATE.format(default=os.path.join(root, 'configs', 'default.py'),
                                          extra=extra))
  return str(path)


def random_variables(config, seed: int = 0):
  """(spatial, temporal) variables of the config's networks, fixed random weights.

  BatchNorm variances are 1, means and biases 0, other weights N(0, 0.3^2); device arrays, like
  restored checkpoints, so that both share the compiled functions.
  """
  import jax
  import jax.numpy as jnp
  from artrack_jax.models import spatialnet, temporalnet
  rng = np.random.default_rng(seed)

  def fill(shapes):
    def value(key_path, s):
      name = jax.tree_util.keystr(key_path)
      if 'var' in name:
        return np.ones(s.shape, s.dtype)
      if 'mean' in name or 'bias' in name:
        return np.zeros(s.shape, s.dtype)
      return (rng.normal(size=s.shape) * 0.3).astype(s.dtype)
    return jax.device_put(jax.tree_util.tree_map_with_path(value, shapes))

  size = int(config.data.image_size)
  spatial = fill(jax.eval_shape(lambda: spatialnet.from_config(config).init(
      jax.random.key(0), jnp.zeros((1, size, size, 3)), train=False)))
  prev, curr = temporalnet.example_inputs(config, num_people=2)
  temporal = fill(jax.eval_shape(lambda: temporalnet.from_config(config).init(
      jax.random.key(1), prev, curr, train=False)))
  return spatial, temporal


def save_checkpoint(workdir, config, variables, frozen) -> None:
  """Saves `variables` (params, batch_stats) as step 3 of a train_lib checkpoint in workdir."""
  import jax.numpy as jnp
  from artrack_jax import checkpoints, train_lib
  state = train_lib.TrainState(step=jnp.asarray(3, jnp.int32), params=variables['params'],
                               batch_stats=variables['batch_stats'], opt_state={},
                               frozen=frozen, skipped_steps=jnp.zeros((), jnp.int32),
                               consecutive_skips=jnp.zeros((), jnp.int32))
  manager = checkpoints.create_checkpoint_manager(str(workdir), config.train)
  checkpoints.save_checkpoint(manager, state, force=True)
  manager.wait_until_finished()
  manager.close()
