"""CPU quick start, stage 2: fine-tune the quick-start SpatialNet with PGG.

Run (after configs/quickstart.py trained in /tmp/artrack_quickstart):
  python train.py --config configs/quickstart_pgg.py --workdir /tmp/artrack_quickstart_pgg \
      --config.train.init_from=/tmp/artrack_quickstart

300 steps at 1e-4 with the PGG grouping loss on the 32 x 32 maps (every pixel a slot).
"""
import ml_collections

from artrack_jax import configs_util


def get_config() -> ml_collections.ConfigDict:
  stage = configs_util.load_config_module('pgg')
  c = stage.to_pgg(configs_util.load_config_module('quickstart').get_config())
  c.train.num_steps = 300
  c.train.eval_every = 300
  c.train.checkpoint_every = 100
  return c
