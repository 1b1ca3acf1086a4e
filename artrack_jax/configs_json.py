"""A config file for ml_collections' `--config` that loads a `config.json` (a workdir's).

`config_flags.DEFINE_config_file` imports Python files only; `configs_util.resolve_config_flag`
turns `--config path/to/config.json` into `--config <this file>:path/to/config.json`, so a
workdir's saved configuration takes `--config.<key>=<value>` overrides like any config file.
"""
import ml_collections

from artrack_jax import configs_util


def get_config(path: str) -> ml_collections.ConfigDict:
  if not path:
    raise ValueError('configs_json needs the config.json path after the colon')
  return configs_util.load_config(path)
