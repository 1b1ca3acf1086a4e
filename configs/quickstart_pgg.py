"""CPU quick start, stage 2: fine-tune the quick-start SpatialNet with PGG.

Run (after configs/quickstart.py trained in /tmp/artrack_quickstart):
  python train.py --config configs/quickstart_pgg.py --workdir /tmp/artrack_quickstart_pgg \
      --config.train.init_from=/tmp/artrack_quickstart

300 steps at 1e-4 with the PGG grouping loss on the 32 x 32 maps (every pixel a slot).
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
  c = _load_sibling('pgg').to_pgg(_load_sibling('quickstart').get_config())
  c.train.num_steps = 300
  c.train.eval_every = 300
  c.train.checkpoint_every = 100
  return c
