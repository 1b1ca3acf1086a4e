"""Stage 2 at the paper's size: fine-tune SpatialNet with Pose-Guided Grouping (Sec. 3.2, 3.4).

Run (after stage 1, configs/default.py, in /tmp/artrack):
  python train.py --config configs/pgg.py --workdir /tmp/artrack_pgg \
      --config.train.init_from=/tmp/artrack

Starts from the stage-1 workdir's latest SpatialNet (a fresh Adam state) and adds the grouping
loss (Eq. 2-3 on the PGG-refined KE and SIE, R = 1 iteration) with weight loss.pgg_weight.
The paper does not give the fine-tuning length or rate; we continue at stage 1's final rate.
"""
import ml_collections

from artrack_jax import configs_util


def to_pgg(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Turns a stage-1 config into its stage-2 config (shared with quickstart_pgg.py)."""
  c.stage = 'pgg'
  c.pgg.enabled = True
  c.optim.learning_rate = c.optim.final_learning_rate
  c.optim.decay_step = 0                # constant rate
  return c


def get_config() -> ml_collections.ConfigDict:
  c = to_pgg(configs_util.load_config_module('default').get_config())
  c.train.num_steps = 50_000
  return c
