"""Re-exports artrack_jax/configs/tiny.py, the only copy of this config.

In a clone, `--config configs/tiny.py` and `--config tiny` load the same config.
"""
from artrack_jax.configs.tiny import get_config, shrink_quickstart  # pylint: disable=unused-import
