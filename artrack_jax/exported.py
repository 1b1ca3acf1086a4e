"""Running an exported model (``python -m artrack_jax.export``) without the model code.

  networks = exported.ExportedNetworks(directory)
  predictor = inference.FramePredictor(networks, networks.config)   # decoding and tracking

An export directory holds the network functions serialised with ``jax.export`` (StableHLO,
``functions/<name>[_<size>].jax``), their variables (``variables.msgpack``), the config they
were trained with (``config.json``) and ``manifest.json`` (input size and normalisation,
skeleton, decoding and tracking config, the functions' input shapes, versions).
``ExportedNetworks`` has the methods of ``inference.Networks`` that ``FramePredictor`` calls
(``spatial_infer``, ``pgg_refine``, ``pgg_refine_tie``, ``human_embedding``,
``temporal_infer``), backed by ``jax.export.deserialize``: the host-side decoding and the
tracker are the package's, one path for both back ends. Nothing here builds a Flax module.
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization as flax_serialization

from artrack_jax import configs_util

MANIFEST = 'manifest.json'
ONNX = 'onnx'
# The map arguments of the ONNX TemporalNet, in this order for each frame of the pair.
ONNX_MAPS = ('features', 'heatmaps', 'sie')
CONFIG = 'config.json'
VARIABLES = 'variables.msgpack'
FUNCTIONS = 'functions'
FORMAT_VERSION = 1


class ExportError(ValueError):
  """An export directory that cannot be used; the message names the file."""


def function_file(name: str, size: int | None = None) -> str:
  """Path (relative to the export directory) of a serialised function, at one input size."""
  return os.path.join(FUNCTIONS, f'{name}.jax' if size is None else f'{name}_{size}.jax')


def onnx_file(name: str, size: int) -> str:
  """Path (relative to the export directory) of an ONNX function at one network input size."""
  return os.path.join(ONNX, f'{name}_{size}.onnx')


def pgg_name(parts: tuple[bool, bool]) -> str:
  """The function name of PGG refinement of the embeddings ``parts`` = (KE, SIE)."""
  return 'pgg_' + '_'.join((['ke'] if parts[0] else []) + (['sie'] if parts[1] else []))


def read_manifest(directory: str) -> dict[str, Any]:
  path = os.path.join(directory, MANIFEST)
  if not os.path.isfile(path):
    raise ExportError(f'{directory}: no {MANIFEST} (not a directory written by '
                      'python -m artrack_jax.export)')
  try:
    with open(path, encoding='utf-8') as f:
      manifest = json.load(f)
  except ValueError as e:
    raise ExportError(f'{path}: not valid JSON ({e}); export the model again') from e
  if manifest.get('format_version') != FORMAT_VERSION:
    raise ExportError(f'{path}: format_version {manifest.get("format_version")!r}, this '
                      f'package reads {FORMAT_VERSION}; export the model again')
  return manifest


class ExportedNetworks:
  """The deserialised network functions of an export directory, with their variables.

  Args:
    directory: written by ``python -m artrack_jax.export``.

  Raises:
    ExportError: a missing or unreadable file (named), or a manifest of another format.
  """

  def __init__(self, directory: str):
    self.directory = directory
    self.manifest = read_manifest(directory)
    self._json(CONFIG)   # a clear error for a missing or unreadable file
    # Over configs/default.py, as a workdir's config.json: fields added since take defaults.
    self.config = configs_util.load_config(os.path.join(directory, CONFIG))
    self.step = self.manifest.get('step')
    self.what = f'{directory} (exported, step {self.step})'
    variables = self._variables()
    self._variables_of = {'spatial': jax.device_put(variables['spatial']),
                          'temporal': (jax.device_put(variables['temporal'])
                                       if variables.get('temporal') else None)}
    self._functions: dict[str, dict[Any, Any]] = {}
    for name, entry in self.manifest['functions'].items():
      sizes = entry['sizes']
      self._functions[name] = {
          size: jax.jit(self._deserialize(function_file(name, size)).call)
          for size in (sizes if sizes else [None])}

  def _json(self, name: str):
    path = os.path.join(self.directory, name)
    try:
      with open(path, encoding='utf-8') as f:
        return json.load(f)
    except (OSError, ValueError) as e:
      raise ExportError(f'{path}: unreadable ({e}); export the model again') from e

  def _variables(self):
    path = os.path.join(self.directory, VARIABLES)
    try:
      with open(path, 'rb') as f:
        return flax_serialization.msgpack_restore(f.read())
    except (OSError, ValueError) as e:
      raise ExportError(f'{path}: unreadable variables ({e}); export the model again') from e

  def _deserialize(self, relative: str) -> jax.export.Exported:
    path = os.path.join(self.directory, relative)
    try:
      with open(path, 'rb') as f:
        return jax.export.deserialize(bytearray(f.read()))
    except Exception as e:  # pylint: disable=broad-except
      raise ExportError(f'{path}: unreadable exported function ({type(e).__name__}: {e}); '
                        'export the model again') from e

  @property
  def has_temporal(self) -> bool:
    return self._variables_of['temporal'] is not None

  def _call(self, name: str, size: int, *args):
    if name not in self._functions:
      failed = self.manifest.get('failed', {}).get(name)
      raise ValueError(f'{self.directory}: no exported {name!r}' +
                       (f' (its export failed: {failed})' if failed else ''))
    by_size = self._functions[name]
    fn = by_size.get(None) or by_size.get(size)
    if fn is None:
      raise ValueError(f'{self.directory}: {name!r} was exported at input sizes '
                       f'{sorted(by_size)}, not {size} (export again with these test scales)')
    return fn(*args)

  # The methods of inference.Networks that FramePredictor calls.

  def spatial_infer(self, images) -> dict[str, jax.Array]:
    images = jnp.asarray(images, jnp.float32)
    return self._call('spatial', images.shape[1], self._variables_of['spatial'], images)

  def pgg_refine(self, outputs: Mapping[str, jax.Array], parts: tuple[bool, bool]):
    h = outputs['heatmaps'].shape[1]
    return self._call(pgg_name(parts), h, outputs['heatmaps'], outputs['ke'], outputs['svf'])

  def pgg_refine_tie(self, tie: jax.Array, heatmaps: jax.Array) -> jax.Array:
    return self._call('pgg_tie', tie.shape[1], tie, heatmaps)

  def human_embedding(self, features, keypoints, valid) -> jax.Array:
    self._require_temporal('human_embedding')
    return self._call('human_embedding', features.shape[1], self._variables_of['temporal'],
                      features, jnp.asarray(keypoints, jnp.float32),
                      jnp.asarray(valid, jnp.float32))

  def temporal_infer(self, prev: Mapping[str, Any], curr: Mapping[str, Any]
                     ) -> dict[str, jax.Array]:
    self._require_temporal('temporal_infer')
    pick = lambda maps: {k: maps[k] for k in ('features', 'heatmaps', 'sie')}
    return self._call('temporal', prev['heatmaps'].shape[1], self._variables_of['temporal'],
                      pick(prev), pick(curr))

  def _require_temporal(self, what: str):
    if not self.has_temporal:
      raise ValueError(f'{what}: {self.directory} holds no TemporalNet (export a workdir of '
                       "the 'temporal' stage)")



class OnnxNetworks(ExportedNetworks):
  """``ExportedNetworks`` whose functions run with ONNX Runtime where they were converted.

  Functions (or sizes) without an ONNX file run from their ``jax.export`` file (the manifest's
  ``onnx_failed`` says why). Needs the optional ``onnxruntime`` package.
  """

  def __init__(self, directory: str):
    super().__init__(directory)
    try:
      import onnxruntime  # pylint: disable=g-import-not-at-top
    except ImportError as e:
      raise ExportError(f'--onnx needs the optional package onnxruntime ({e})') from e
    if 'onnx' not in self.manifest:
      raise ExportError(f'{directory}: exported without ONNX (python -m artrack_jax.export '
                        '--onnx)')
    self.what = f'{directory} (ONNX, step {self.step})'
    self._sessions: dict[tuple[str, int], Any] = {}
    options = onnxruntime.SessionOptions()
    # Errors only: ONNX Runtime warns about every NHWC/NCHW shape hint the converter left.
    options.log_severity_level = 3
    for name, entry in self.manifest['onnx'].items():
      for size in entry['sizes']:
        path = os.path.join(directory, onnx_file(name, size))
        try:
          self._sessions[name, size] = onnxruntime.InferenceSession(
              path, options, providers=['CPUExecutionProvider'])
        except Exception as e:  # pylint: disable=broad-except
          raise ExportError(f'{path}: unreadable ONNX model ({type(e).__name__}: {e}); '
                            'export the model again') from e
    self.onnx_functions = sorted({name for name, _ in self._sessions})

  def _run(self, name: str, size: int, outputs_are_dict: bool, *args):
    """The ONNX function's outputs (by name when ``outputs_are_dict``), or None."""
    session = self._sessions.get((name, size))
    if session is None:
      return None
    feeds = {i.name: np.asarray(a, np.float32) for i, a in zip(session.get_inputs(), args)}
    outs = session.run(None, feeds)
    if outputs_are_dict:
      return dict(zip(self.manifest['onnx'][name]['outputs'], outs))
    return tuple(outs) if len(outs) > 1 else outs[0]

  def spatial_infer(self, images):
    size = np.shape(images)[1]
    out = self._run('spatial', size, True, images)
    return super().spatial_infer(images) if out is None else out

  def pgg_refine(self, outputs, parts):
    size = 4 * outputs['heatmaps'].shape[1]
    out = self._run(pgg_name(parts), size, False, outputs['heatmaps'], outputs['ke'],
                    outputs['svf'])
    return super().pgg_refine(outputs, parts) if out is None else out

  def pgg_refine_tie(self, tie, heatmaps):
    out = self._run('pgg_tie', 4 * tie.shape[1], False, tie, heatmaps)
    return super().pgg_refine_tie(tie, heatmaps) if out is None else out

  def human_embedding(self, features, keypoints, valid):
    self._require_temporal('human_embedding')
    out = self._run('human_embedding', 4 * features.shape[1], False, features, keypoints,
                    valid)
    return super().human_embedding(features, keypoints, valid) if out is None else out

  def temporal_infer(self, prev, curr):
    self._require_temporal('temporal_infer')
    args = [prev[k] for k in ONNX_MAPS] + [curr[k] for k in ONNX_MAPS]
    out = self._run('temporal', 4 * prev['heatmaps'].shape[1], True, *args)
    return super().temporal_infer(prev, curr) if out is None else out
