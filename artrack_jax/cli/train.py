"""Trains one stage of artrack-jax.

  artrack-train --config quickstart --workdir /tmp/artrack_quickstart
  python train.py --config configs/tiny.py --workdir /tmp/t --config.train.num_steps=10

`--config` takes an installed config's name (`artrack_jax/configs/`) or a config file's path;
`--config.<key>=<value>` overrides any config value. Re-running with the same workdir resumes
from its latest checkpoint. Everything happens in `artrack_jax.train_lib.train_and_evaluate`.
"""
import sys

from absl import app
from absl import flags
from ml_collections import config_flags

from artrack_jax import checkpoints
from artrack_jax import configs_util
from artrack_jax import train_lib

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'Configuration: an installed config\'s name '
                                '(quickstart, tiny, ...) or a config file\'s path.',
                                lock_config=True)
flags.DEFINE_string('workdir', None, 'Checkpoints, metrics and evaluation results go here.')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  checkpoints.quiet_checkpoint_logs()
  train_lib.train_and_evaluate(FLAGS.config, FLAGS.workdir)


def run() -> None:
  """The `artrack-train` console script (and `python train.py`)."""
  try:
    argv = configs_util.resolve_config_flag(sys.argv)
  except FileNotFoundError as e:
    sys.exit(f'--config: {e}')
  app.run(main, argv=argv)
