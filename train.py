"""Trains one stage of artrack-jax: `artrack_jax.cli.train` (installed as `artrack-train`).

  python train.py --config configs/quickstart.py --workdir /tmp/artrack_quickstart
  python train.py --config tiny --workdir /tmp/t --config.train.num_steps=10

`--config` takes a config file's path or an installed config's name; `--config.<key>=<value>`
overrides any config value. Re-running with the same workdir resumes from its latest
checkpoint. Everything happens in `artrack_jax.train_lib.train_and_evaluate`.
"""
from artrack_jax.cli import train

if __name__ == '__main__':
  train.run()
