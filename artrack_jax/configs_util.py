"""Loading the configuration files of `configs/` outside of absl flags (notebooks, the main job)."""
from __future__ import annotations

import importlib.util
import os
import pathlib

import ml_collections

# The repository's configs/ directory (the package is used from a clone: `pip install -e .`).
CONFIGS_DIR = pathlib.Path(__file__).resolve().parents[1] / 'configs'


def config_path(name_or_path: str | os.PathLike) -> pathlib.Path:
  """`'quickstart'` -> `<repo>/configs/quickstart.py`; a path is returned as it is."""
  path = pathlib.Path(name_or_path)
  if path.suffix != '.py':
    path = CONFIGS_DIR / f'{path}.py'
  if not path.is_file():
    raise FileNotFoundError(f'{path}: no such configuration file (configs are looked up in '
                            f'{CONFIGS_DIR})')
  return path


def load_config_module(name_or_path: str | os.PathLike):
  """Imports a config file as a module (configs/ is a directory of files, not a package)."""
  path = config_path(name_or_path)
  spec = importlib.util.spec_from_file_location(f'artrack_config_{path.stem}', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def load_config(name_or_path: str | os.PathLike,
                overrides: dict | None = None) -> ml_collections.ConfigDict:
  """Runs a config file's `get_config()` and applies `{'dotted.key': value}` overrides.

  Overrides follow `--config.key=value` semantics: the key must exist.
  """
  path = config_path(name_or_path)
  config = load_config_module(path).get_config()
  for key, value in (overrides or {}).items():
    node = config
    for part in key.split('.')[:-1]:
      if part not in node:
        raise KeyError(f'{path.name}: override {key!r}: no field {part!r}')
      node = node[part]
    leaf = key.split('.')[-1]
    if leaf not in node:
      raise KeyError(f'{path.name}: override {key!r}: no field {leaf!r}')
    node[leaf] = value
  return config
