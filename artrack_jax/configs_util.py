"""Loading configuration files outside of absl flags: the one config loader of the package.

A config is a file of the installed `artrack_jax/configs/` (its `get_config()`, looked up by
name: `'quickstart'`), any config file by path (`path/to/my.py`; the repository's top-level
`configs/*.py` re-export the packaged ones), or a training workdir's `config.json` (written by
`train_lib.train_and_evaluate`).
"""
from __future__ import annotations

import importlib.util
import json
import os
import pathlib

import ml_collections

# The installed package's configs (`pip install .` and `pip install -e .` alike).
CONFIGS_DIR = pathlib.Path(__file__).resolve().parent / 'configs'


def is_config_name(name_or_path: str | os.PathLike) -> bool:
  """`'quickstart'` is a name; `configs/quickstart.py`, `x.json`, `./x` are paths."""
  text = os.fspath(name_or_path)
  return (pathlib.Path(text).suffix not in ('.py', '.json')
          and os.sep not in text and '/' not in text)


def config_path(name_or_path: str | os.PathLike) -> pathlib.Path:
  """`'quickstart'` -> `<package>/configs/quickstart.py`; a `.py` or `.json` path as it is."""
  path = pathlib.Path(name_or_path)
  if is_config_name(name_or_path):
    path = CONFIGS_DIR / f'{path}.py'
    if not path.is_file():
      names = sorted(p.stem for p in CONFIGS_DIR.glob('*.py') if p.stem != '__init__')
      raise FileNotFoundError(f'no config named {name_or_path!r}: the installed configs are '
                              f'{", ".join(names)} (in {CONFIGS_DIR}); or give a .py path')
  if not path.is_file():
    raise FileNotFoundError(f'{path}: no such configuration file')
  return path


def resolve_config_flag(argv: list[str], flag: str = 'config') -> list[str]:
  """`argv` with a config name given to `--<flag>` replaced by its packaged file's path.

  ml_collections' `config_flags.DEFINE_config_file` loads paths only; this lets a command line
  take `--config quickstart` as well as `--config path/to/my.py` (a `name:arg` suffix is kept)
  and `--config path/to/config.json` (a workdir's saved configuration, through
  `configs_json.py`).
  """
  out = list(argv)
  for i, arg in enumerate(out):
    if arg == f'--{flag}' and i + 1 < len(out):
      index, value, prefix = i + 1, out[i + 1], ''
    elif arg.startswith(f'--{flag}='):
      index, value, prefix = i, arg[len(flag) + 3:], f'--{flag}='
    else:
      continue
    name, colon, rest = value.partition(':')
    if name and is_config_name(name):
      out[index] = f'{prefix}{config_path(name)}{colon}{rest}'
    elif name.endswith('.json') and not colon:
      json_path = config_path(name)   # raises FileNotFoundError naming it
      loader = pathlib.Path(__file__).with_name('configs_json.py')
      out[index] = f'{prefix}{loader}:{os.path.abspath(json_path)}'
  return out


def load_config_module(name_or_path: str | os.PathLike):
  """Imports a config file (by name or path) as a fresh module."""
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
        saved = json.load(f)
      except json.JSONDecodeError as e:
        raise ValueError(f'{path}: not valid JSON ({e})') from e
    if not isinstance(saved, dict):
      raise ValueError(f'{path}: expected a JSON object, got {type(saved).__name__}')
    # A workdir's config.json holds the fields of its time: fields added since then take
    # configs/default.py's value, so older workdirs (and the reference model) still load.
    config = load_config_module('default').get_config()
    _update(config, saved)
  else:
    config = load_config_module(path).get_config()
  return apply_overrides(config, overrides, path.name)


def apply_overrides(config: ml_collections.ConfigDict, overrides: dict | None,
                    name: str = 'config') -> ml_collections.ConfigDict:
  """Sets ``{'dotted.key': value}`` in ``config`` (in place; returned); every key must exist."""
  for key, value in (overrides or {}).items():
    node = config
    for part in key.split('.')[:-1]:
      if part not in node:
        raise KeyError(f'{name}: override {key!r}: no field {part!r}')
      node = node[part]
    leaf = key.split('.')[-1]
    if leaf not in node:
      raise KeyError(f'{name}: override {key!r}: no field {leaf!r}')
    node[leaf] = value
  return config


def _update(config: ml_collections.ConfigDict, saved: dict) -> None:
  """Sets `saved`'s values in `config`, recursively; fields `config` lacks are added."""
  for key, value in saved.items():
    if isinstance(value, dict) and isinstance(config.get(key), ml_collections.ConfigDict):
      _update(config[key], value)
    else:
      config[key] = value


def workdir_config(workdirs, path: str | None = None) -> ml_collections.ConfigDict:
  """`path`, else the first of `workdirs` that has a `config.json`, else the default config."""
  for workdir in workdirs:
    if path is None and workdir and os.path.isfile(os.path.join(workdir, 'config.json')):
      path = os.path.join(workdir, 'config.json')
  return load_config('default' if path is None else path)
