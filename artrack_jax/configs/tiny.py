"""Tiny SpatialNet config for tests and smoke runs: 1 stack, 32 features, 64 px, batch 2.

Run:  python train.py --config configs/tiny.py --workdir /tmp/artrack_tiny
It trains 3 steps in seconds on a CPU; it checks that everything runs, not that anything is
learned (configs/quickstart.py learns).
"""
import ml_collections

from artrack_jax import configs_util


def get_config() -> ml_collections.ConfigDict:
  c = configs_util.load_config_module('default').get_config()
  c.data.image_size = 64            # output maps 16 x 16
  c.data.max_people = 4
  c.model.stacks = 1
  c.model.features = 32
  c.model.increase = 16
  c.model.depth = 2                 # 16 -> 8 -> 4
  c.model.he_dim = 16
  c.model.roi_size = 3
  c.model.he_channels = 16
  c.pgg.num_slots = 64
  c.pgg.block_size = 32
  c.optim.decay_step = 2
  c.train.batch_size = 2
  c.train.num_steps = 3
  c.train.log_every = 1
  c.train.eval_every = 0            # evaluation only at the end
  c.train.checkpoint_every = 2
  c.train.keep_checkpoints = 2
  c.train.eval_batches = 1          # validation batches per evaluation
  c.decode.flip_test = False
  c.decode.top_k = 8
  c.data.builder_config = 'tiny_64'  # synthetic_posetrack: 3/2/2 clips x 8 frames at 64 px
  return c


def shrink_quickstart(config: ml_collections.ConfigDict) -> None:
  """The main job's `--tiny` run (artrack_jax.quickstart): its stage configs at test size, the
  tiny data set and model, a handful of steps."""
  config.data.builder_config = 'tiny_64'
  config.data.image_size = 64
  config.data.train_crop = 0        # whole 64-px frames
  config.data.max_people = 6
  config.model.features = 16
  config.model.increase = 8
  config.model.depth = 2
  config.model.he_dim = 32
  config.pgg.num_slots = 64
  config.train.batch_size = 2
  config.train.num_steps = 3
  config.train.log_every = 1
  config.train.eval_every = 0
  config.train.eval_batches = 1
  config.train.eval_batch_size = 2
  config.train.checkpoint_every = 3
  config.decode.flip_test = False
