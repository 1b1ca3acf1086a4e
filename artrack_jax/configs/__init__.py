"""The configuration files, installed with the package: `configs_util.load_config('quickstart')`,
`python train.py --config quickstart` or `artrack-train --config quickstart`.

Each module is a config file (`get_config()`; variants load `default` and override it). The
repository's top-level `configs/*.py` re-export these modules, so `--config
configs/quickstart.py` in a clone loads the same config; the files here are the only copy.
"""
