"""Re-exports artrack_jax/configs/pgg.py, the only copy of this config.

In a clone, `--config configs/pgg.py` and `--config pgg` load the same config.
"""
from artrack_jax.configs.pgg import to_pgg, get_config  # pylint: disable=unused-import
