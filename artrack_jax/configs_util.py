"""Loading configuration files outside of absl flags: the one config loader of the package.

A config is a `configs/*.py` file (its `get_config()`, looked up by name or path) or a training
workdir's `config.json` (written by `train_lib.train_and_evaluate`).
"""
from __future__ import annotations

import importlib.util
import json
import os
import pathlib

import ml_collections

# The repository's configs/ directory (the package is used from a clone: `pip install -e .`).
CONFIGS_DIR = pathlib.Path(__file__).resolve().parents[1] / 'configs'


def config_path(name_or_path: str | os.PathLike) -> pathlib.Path:
  """`'quickstart'` -> `<repo>/configs/quickstart.py`; a `.py` or `.json` path as it is."""
  path = pathlib.Path(name_or_path)
  if path.suffix not in ('.py', '.json'):
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
  if not hasattr(module, 'get_config'):
    raise ValueError(f'{path}: defines no get_config()')
  return module


def load_config(name_or_path: str | os.PathLike = 'default',
                overrides: dict | None = None) -> ml_collections.ConfigDict:
  """A config file's `get_config()` (or a `config.json`), with `{'dotted.key': value}` overrides.

  Overrides follow `--config.key=value` semantics: the key must exist.
  """
  path = config_path(name_or_path)
  if path.suffix == '.json':
    with open(path, encoding='utf-8') as f:
      try:
        config = ml_collections.ConfigDict(json.load(f))
      except json.JSONDecodeError as e:
        raise ValueError(f'{path}: not valid JSON ({e})') from e
  else:
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


def workdir_config(workdirs, path: str | None = None) -> ml_collections.ConfigDict:
  """`path`, else the first of `workdirs` that has a `config.json`, else configs/default.py."""
  for workdir in workdirs:
    if path is None and workdir and os.path.isfile(os.path.join(workdir, 'config.json')):
      path = os.path.join(workdir, 'config.json')
  return load_config('default' if path is None else path)
