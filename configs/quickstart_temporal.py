"""Re-exports artrack_jax/configs/quickstart_temporal.py, the only copy of this config.

In a clone, `--config configs/quickstart_temporal.py` and `--config quickstart_temporal` load
the same config.
"""
from artrack_jax.configs.quickstart_temporal import get_config  # pylint: disable=unused-import
