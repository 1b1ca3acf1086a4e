"""Stage 3 at the paper's size: TemporalNet (HE and TIE) with SpatialNet frozen (Sec. 3.3, 3.4).

Run (after stage 2, configs/pgg.py, in /tmp/artrack_pgg):
  python train.py --config configs/temporal.py --workdir /tmp/artrack_temporal \
      --config.train.init_from=/tmp/artrack_pgg

Frame pairs |t - t'| <= 5 from one clip; a 1-stack hourglass TIE branch; Adam at 2e-4 without
decay. The paper trains 40 epochs: with synthetic_posetrack/large_512 (300 clips x 32 frames,
about 45k ordered pairs) and batch 32 that is about 56k steps. The grouping loss on the
PGG-refined TIE (Sec. 3.3.2) is on (pgg.enabled). The checkpoint then holds TemporalNet and the
frozen SpatialNet, which `python -m artrack_jax.track --workdir /tmp/artrack_temporal` uses.
"""
import ml_collections

from artrack_jax import configs_util


def to_temporal(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Turns a SpatialNet config into its stage-3 config (shared with quickstart_temporal.py)."""
  c.stage = 'temporal'
  c.pgg.enabled = True
  c.optim.learning_rate = 2e-4
  c.optim.decay_step = 0                # constant rate (Sec. 3.4)
  return c


def get_config() -> ml_collections.ConfigDict:
  c = to_temporal(configs_util.load_config_module('default').get_config())
  c.train.num_steps = 56_000
  return c
