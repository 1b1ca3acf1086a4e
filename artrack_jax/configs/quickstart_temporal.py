"""CPU quick start, stage 3: TemporalNet on frame pairs with the quick-start SpatialNet frozen.

Run (after configs/quickstart_pgg.py trained in /tmp/artrack_quickstart_pgg):
  python train.py --config configs/quickstart_temporal.py --workdir /tmp/artrack_qs_temporal \
      --config.train.init_from=/tmp/artrack_quickstart_pgg
Then track:  python -m artrack_jax.track --workdir /tmp/artrack_qs_temporal \
      --config configs/quickstart_temporal.py --video VIDEO --out OUT

400 steps at 1e-3 (a short run needs a larger step than the paper's 2e-4), 256-d human
embeddings.
"""
import ml_collections

from artrack_jax import configs_util


def get_config() -> ml_collections.ConfigDict:
  stage = configs_util.load_config_module('temporal')
  c = stage.to_temporal(configs_util.load_config_module('quickstart').get_config())
  c.optim.learning_rate = 1e-3
  c.train.num_steps = 400
  c.train.checkpoint_every = 100
  return c
