"""CPU quick start, stage 3: TemporalNet on frame pairs with the quick-start SpatialNet frozen.

Run (after configs/quickstart_pgg.py trained in /tmp/artrack_quickstart_pgg):
  python train.py --config configs/quickstart_temporal.py --workdir /tmp/artrack_qs_temporal \
      --config.train.init_from=/tmp/artrack_quickstart_pgg
Then track:  python -m artrack_jax.track --workdir /tmp/artrack_qs_temporal \
      --config configs/quickstart_temporal.py --video VIDEO --out OUT

400 steps at 1e-3 (a short run needs a larger step than the paper's 2e-4), 256-d human
embeddings.
"""
import importlib.util
import pathlib

import ml_collections


def _load_sibling(name: str):
  """Imports another file of configs/ (a directory of files, not a package) by path."""
  path = pathlib.Path(__file__).with_name(f'{name}.py')
  spec = importlib.util.spec_from_file_location(f'artrack_configs_{name}', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def get_config() -> ml_collections.ConfigDict:
  c = _load_sibling('temporal').to_temporal(_load_sibling('quickstart').get_config())
  c.optim.learning_rate = 1e-3
  c.train.num_steps = 400
  c.train.checkpoint_every = 100
  return c
