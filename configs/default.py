"""Re-exports artrack_jax/configs/default.py, the only copy of this config.

In a clone, `--config configs/default.py` and `--config default` load the same config.
"""
from artrack_jax.configs.default import get_config  # pylint: disable=unused-import
