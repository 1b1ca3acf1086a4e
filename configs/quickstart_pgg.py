"""Re-exports artrack_jax/configs/quickstart_pgg.py, the only copy of this config.

In a clone, `--config configs/quickstart_pgg.py` and `--config quickstart_pgg` load the same config.
"""
from artrack_jax.configs.quickstart_pgg import get_config  # pylint: disable=unused-import
