"""Re-exports artrack_jax/configs/temporal.py, the only copy of this config.

In a clone, `--config configs/temporal.py` and `--config temporal` load the same config.
"""
from artrack_jax.configs.temporal import to_temporal, get_config  # pylint: disable=unused-import
