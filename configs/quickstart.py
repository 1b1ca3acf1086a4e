"""Re-exports artrack_jax/configs/quickstart.py, the only copy of this config.

In a clone, `--config configs/quickstart.py` and `--config quickstart` load the same config.
"""
from artrack_jax.configs.quickstart import get_config  # pylint: disable=unused-import
