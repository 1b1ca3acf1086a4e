"""The `artrack-quickstart` console script: the main job (`artrack_jax.quickstart`, the same
flags as `python -m artrack_jax.quickstart`)."""
from absl import app

from artrack_jax import quickstart


def run() -> None:
  app.run(quickstart.main)
