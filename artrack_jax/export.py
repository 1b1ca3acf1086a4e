"""Export a trained model: ``python -m artrack_jax.export``.

  python -m artrack_jax.export --workdir runs/quickstart/temporal --out exported/
  python -m artrack_jax.export --out exported/            # the installed reference model
  python -m artrack_jax.track --exported exported/ --video in.mp4 --out out/

writes the network functions serialised with ``jax.export`` (StableHLO, runnable by any
``jax`` of a compatible calling convention, without this package's model code), their
variables, the config and ``manifest.json`` (see ``exported``). The functions, each with a
symbolic batch dimension ``b`` (the flip test is a batch of 2: the frame and its mirror) and,
where the function allows, symbolic spatial sizes; otherwise one file per size the config's
test scales need:

  spatial          (variables, images [b, S, S, 3]) -> heatmaps, ke, svf, sie, aux, features
  pgg_<ke|sie|ke_sie>  (heatmaps, ke, svf [b, h, w, .]) -> PGG-refined (ke, sie) (Sec. 3.2)
  pgg_tie          (tie [b, h, w, 2], heatmaps) -> PGG-refined TIE
  human_embedding  (variables, features [b, h, w, C], keypoints [b, P, J, 3], valid [b, P, J])
                   -> HE [b, P, E] (Sec. 3.3.1; P = decode.max_people)
  temporal         (variables, prev, curr: features, heatmaps, sie) -> tvf/tie fwd/bwd (3.3.2)

The functions are lowered for CPU and CUDA (``--platforms``): one file runs on either. A
function whose export fails is named in the manifest's ``failed`` with the error; the rest
are written. The output folder is written under a temporary name and renamed when complete.

``--onnx`` (the optional ``jax2onnx`` and ``onnxruntime`` packages) also converts ``spatial``,
``human_embedding``, ``temporal`` and the PGG functions (jax2onnx 0.17 fails on PGG) to ONNX
(``onnx/<name>_<size>.onnx``, variables as initializers, batch dimension ``B`` dynamic, one
file per input size) and checks each with ONNX
Runtime against JAX on random inputs (largest difference in the manifest's ``onnx``; more than
``ONNX_TOLERANCE`` and the file is not kept). A function that does not convert is named in
``onnx_failed``; ``track --exported DIR --onnx`` runs it from its ``jax.export`` file.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
from importlib import metadata
import json
import logging
import os
import platform
import shutil
import sys
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization as flax_serialization

from artrack_jax import configs_util
from artrack_jax import exported
from artrack_jax import inference
from artrack_jax import skeletons as skeletons_lib
from artrack_jax import track
from artrack_jax.data import augment
from artrack_jax.data import formats


def _versions() -> dict[str, str]:
  out = {'python': platform.python_version()}
  for package in ('jax', 'jaxlib', 'flax', 'numpy', 'artrack-jax'):
    try:
      out[package] = metadata.version(package)
    except metadata.PackageNotFoundError:
      out[package] = 'not installed'
  out['jax.export calling convention'] = str(
      jax.export.maximum_supported_calling_convention_version)
  return out


def _spec(shape, dtype=jnp.float32) -> jax.ShapeDtypeStruct:
  return jax.ShapeDtypeStruct(tuple(shape), dtype)


def _specs_of(tree) -> Any:
  return jax.tree.map(lambda x: _spec(np.shape(x), np.asarray(x).dtype), tree)


class _Exporter:
  """Exports functions for ``platforms``: symbolic sizes first, else one per listed size."""

  def __init__(self, platforms: tuple[str, ...]):
    self.platforms = platforms
    self.files: dict[str, bytes] = {}
    self.functions: dict[str, dict[str, Any]] = {}
    self.failed: dict[str, str] = {}

  def add(self, name: str, fn, make_args, sizes: list[int], multiple: int) -> None:
    """Exports ``fn`` at the argument specs ``make_args(b, h, w)``.

    First with symbolic ``b`` and sides ``h = multiple * h'``, ``w = multiple * w'`` (the
    sides the hourglass accepts); if that fails, at each side in ``sizes`` (``b`` symbolic).
    """
    b, h, w = jax.export.symbolic_shape('b, h, w')
    try:
      self._write(name, None, jax.export.export(jax.jit(fn), platforms=self.platforms)(
          *make_args(b, multiple * h, multiple * w)))
      self.functions[name]['sizes'] = []
      return
    except Exception as e:  # pylint: disable=broad-except
      symbolic_error = f'{type(e).__name__}: {str(e).splitlines()[0][:300]}'
    b, = jax.export.symbolic_shape('b')
    try:
      for size in sizes:
        self._write(name, size, jax.export.export(jax.jit(fn), platforms=self.platforms)(
            *make_args(b, size, size)))
      self.functions[name]['sizes'] = list(sizes)
      self.functions[name]['symbolic_size_error'] = symbolic_error
    except Exception as e:  # pylint: disable=broad-except
      self.functions.pop(name, None)
      for size in sizes:
        self.files.pop(exported.function_file(name, size), None)
      self.failed[name] = f'{type(e).__name__}: {str(e).splitlines()[0][:500]}'

  def _write(self, name: str, size: int | None, exp: jax.export.Exported) -> None:
    self.files[exported.function_file(name, size)] = bytes(exp.serialize())
    self.functions[name] = dict(inputs=[str(a) for a in exp.in_avals],
                                outputs=[str(a) for a in exp.out_avals],
                                platforms=list(exp.platforms))


ONNX_TOLERANCE = 1e-4
DEFAULT_PLATFORMS = ('cpu', 'cuda')


def _onnx_functions(networks: inference.Networks, input_sizes: list[int], size: int,
                    people: int, j: int):
  """(name, network input size, flat function, input specs, output names) to convert.

  Variables are closed over (ONNX initializers); map dicts are flat arguments in the order of
  ``exported.ONNX_MAPS``.
  """
  out = []
  spatial_keys = sorted(jax.eval_shape(networks.spatial_infer, _spec((1, size, size, 3))))
  config = networks.config
  parts = inference.DecodeVariant.from_config(config).parts
  for s in input_sizes:
    maps = jax.eval_shape(networks.spatial_infer, _spec((1, s, s, 3)))
    shape = lambda k, maps=maps: ('B',) + tuple(maps[k].shape[1:])
    out.append(('spatial', s, functools.partial(networks.spatial_function,
                                                networks.spatial_variables),
                [('B', s, s, 3)], spatial_keys))
    out.append((exported.pgg_name(parts), s, functools.partial(
        inference.pgg_refine_maps, pgg_config=dict(config.pgg.to_dict(), use_ke=parts[0],
                                                   use_sie=parts[1])),
                [shape('heatmaps'), shape('ke'), shape('svf')], ['ke', 'sie']))
    out.append(('pgg_tie', s, functools.partial(inference.pgg_refine_tie,
                                                pgg_config=config.pgg.to_dict()),
                [shape('sie'), shape('heatmaps')], ['tie']))
  if networks.has_temporal:
    maps = jax.eval_shape(networks.spatial_infer, _spec((1, size, size, 3)))
    shape = lambda k: ('B',) + tuple(maps[k].shape[1:])
    out.append(('human_embedding', size, functools.partial(
        networks.human_embedding_function, networks.temporal_variables),
                [shape('features'), ('B', people, j, 3), ('B', people, j)], ['he']))

    def temporal(*flat, variables=networks.temporal_variables):
      n = len(exported.ONNX_MAPS)
      prev = dict(zip(exported.ONNX_MAPS, flat[:n]))
      curr = dict(zip(exported.ONNX_MAPS, flat[n:]))
      return networks.temporal_function(variables, prev, curr)
    tvf_keys = sorted(jax.eval_shape(temporal, *[_spec((1,) + shape(k)[1:])
                                                 for k in exported.ONNX_MAPS * 2]))
    out.append(('temporal', size, temporal, [shape(k) for k in exported.ONNX_MAPS] * 2,
                tvf_keys))
  return out


@contextlib.contextmanager
def _quiet_logger(name: str, level: int = logging.ERROR):
  """Raises ``name``'s log level meanwhile: onnx_ir warns once per shape value of a converted
  model that it does not serialise an intermediate's type, dozens of lines per function that
  say nothing about the result (which is checked against JAX below)."""
  logger = logging.getLogger(name)
  before = logger.level
  logger.setLevel(max(level, before))
  try:
    yield
  finally:
    logger.setLevel(before)


def export_onnx(networks: inference.Networks, directory: str, input_sizes: list[int]
                ) -> tuple[dict[str, Any], dict[str, str]]:
  """Converts the network functions to ONNX in ``directory/onnx/`` (module docstring).

  Returns:
    ({name: {sizes, inputs, outputs, max_abs_diff}}, {name: why it is not there}).
  """
  import jax2onnx  # pylint: disable=g-import-not-at-top
  import onnxruntime  # pylint: disable=g-import-not-at-top
  config = networks.config
  size = int(config.data.image_size)
  j = skeletons_lib.get(config.data.skeleton).num_joints
  people = int(config.decode.max_people)
  rng = np.random.default_rng(0)
  done: dict[str, Any] = {}
  failed: dict[str, str] = {}
  os.makedirs(os.path.join(directory, exported.ONNX), exist_ok=True)
  for name, s, fn, specs, output_names in _onnx_functions(networks, input_sizes, size, people, j):
    if name in failed:
      continue
    try:
      with _quiet_logger('onnx_ir'):
        model = jax2onnx.to_onnx(fn, specs, model_name=name, output_names=output_names)
      data = model.SerializeToString()
      options = onnxruntime.SessionOptions()
      options.log_severity_level = 3   # errors only (see exported.OnnxNetworks)
      session = onnxruntime.InferenceSession(data, options, providers=['CPUExecutionProvider'])
      args = [rng.normal(size=(2,) + tuple(spec[1:])).astype(np.float32) for spec in specs]
      got = session.run(None, {i.name: a for i, a in zip(session.get_inputs(), args)})
      want = jax.tree.leaves(fn(*args))
      diff = max(float(np.abs(np.asarray(g) - np.asarray(w)).max()) for g, w in zip(got, want))
      if diff > ONNX_TOLERANCE:
        raise ValueError(f'ONNX Runtime differs from JAX by {diff:.3g} (> {ONNX_TOLERANCE})')
    except Exception as e:  # pylint: disable=broad-except
      failed[name] = f'{type(e).__name__}: {str(e).splitlines()[0][:500]}'
      done.pop(name, None)
      continue
    with open(os.path.join(directory, exported.onnx_file(name, s)), 'wb') as f:
      f.write(data)
    entry = done.setdefault(name, dict(sizes=[], inputs=[list(map(str, x)) for x in specs],
                                       outputs=output_names, max_abs_diff=0.0))
    entry['sizes'].append(s)
    entry['max_abs_diff'] = max(entry['max_abs_diff'], diff)
  for name in failed:   # a function that failed at one size is not used at any
    for s in input_sizes:
      path = os.path.join(directory, exported.onnx_file(name, s))
      if os.path.exists(path):
        os.unlink(path)
  return done, failed


def export_networks(networks: inference.Networks, out_dir: str, *,
                    overwrite: bool = False, onnx: bool = False,
                    platforms: tuple[str, ...] = DEFAULT_PLATFORMS) -> dict[str, Any]:
  """Writes an export directory of ``networks`` (module docstring); returns the manifest.

  ``platforms``: what the ``jax.export`` functions are lowered for (each runs on any of them;
  lowering for 'cuda' needs no GPU).

  Raises:
    FileExistsError: ``out_dir`` exists and ``overwrite`` is not set.
    NotADirectoryError: ``out_dir`` is a file.
  """
  out_dir = os.path.abspath(out_dir)
  if os.path.isfile(out_dir):
    raise NotADirectoryError(f'--out {out_dir}: a file, not a folder')
  if os.path.lexists(out_dir) and not overwrite:
    raise FileExistsError(f'{out_dir}: already there (--overwrite replaces it)')
  config = networks.config
  skeleton = skeletons_lib.get(config.data.skeleton)
  scales, multiple = inference.validated_scales(config)
  size = int(config.data.image_size)
  input_sizes = sorted({inference.input_size(size, s, multiple) for s in scales})
  map_sizes = [s // 4 for s in input_sizes]
  map_multiple = multiple // 4   # output stride 4
  j = skeleton.num_joints
  # Channel counts of the maps, from one abstract evaluation at the training size.
  maps = jax.eval_shape(networks.spatial_infer, _spec((1, size, size, 3)))
  channels = {k: v.shape[-1] for k, v in maps.items()}
  ex = _Exporter(tuple(platforms))

  spatial_vars = _specs_of(networks.spatial_variables)
  ex.add('spatial', networks.spatial_function,
         lambda b, h, w: (spatial_vars, _spec((b, h, w, 3))), input_sizes, multiple)
  map_spec = lambda b, h, w, key: _spec((b, h, w, channels[key]))
  parts = inference.DecodeVariant.from_config(config).parts
  ex.add(exported.pgg_name(parts),
         functools.partial(inference.pgg_refine_maps,
                           pgg_config=dict(config.pgg.to_dict(), use_ke=parts[0],
                                           use_sie=parts[1])),
         lambda b, h, w: (map_spec(b, h, w, 'heatmaps'), map_spec(b, h, w, 'ke'),
                          map_spec(b, h, w, 'svf')), map_sizes, map_multiple)
  ex.add('pgg_tie', functools.partial(inference.pgg_refine_tie, pgg_config=config.pgg.to_dict()),
         lambda b, h, w: (_spec((b, h, w, 2)), map_spec(b, h, w, 'heatmaps')), map_sizes,
         map_multiple)
  variables = {'spatial': networks.spatial_variables}
  if networks.has_temporal:
    variables['temporal'] = networks.temporal_variables
    temporal_vars = _specs_of(networks.temporal_variables)
    people = int(config.decode.max_people)
    ex.add('human_embedding', networks.human_embedding_function,
           lambda b, h, w: (temporal_vars, map_spec(b, h, w, 'features'),
                            _spec((b, people, j, 3)), _spec((b, people, j))), [size // 4],
           map_multiple)
    pair = lambda b, h, w: {k: map_spec(b, h, w, k) for k in ('features', 'heatmaps', 'sie')}
    ex.add('temporal', networks.temporal_function,
           lambda b, h, w: (temporal_vars, pair(b, h, w), pair(b, h, w)), [size // 4],
           map_multiple)

  manifest = dict(
      format_version=exported.FORMAT_VERSION, source=networks.what, step=networks.step,
      input=dict(image_size=size, scales=list(scales), input_sizes=input_sizes,
                 side_multiple=multiple, layout='NHWC float32, RGB',
                 normalisation=dict(mean=np.asarray(augment.IMAGENET_MEAN).tolist(),
                                    std=np.asarray(augment.IMAGENET_STD).tolist(),
                                    formula='(uint8 RGB - mean) / std'),
                 letterbox='the frame scaled to fit S x S, centred, black borders '
                           '(data.augment.frame_matrix)',
                 flip_test=bool(config.decode.flip_test)),
      output_stride=4,
      skeleton=dict(name=skeleton.name, joints=list(skeleton.names),
                    flip_pairs=[list(p) for p in skeleton.flip_pairs],
                    limbs=[list(p) for p in skeleton.limbs]),
      decode=config.decode.to_dict(), track=config.track.to_dict(), pgg=config.pgg.to_dict(),
      platforms=list(platforms), functions=ex.functions, failed=ex.failed,
      versions=_versions())
  parent = os.path.dirname(out_dir)
  os.makedirs(parent, exist_ok=True)
  tmp = os.path.join(parent, formats.partial_name(os.path.basename(out_dir)))
  try:
    os.makedirs(os.path.join(tmp, exported.FUNCTIONS))
    for relative, data in ex.files.items():
      with open(os.path.join(tmp, relative), 'wb') as f:
        f.write(data)
    with open(os.path.join(tmp, exported.VARIABLES), 'wb') as f:
      f.write(flax_serialization.msgpack_serialize(jax.tree.map(np.asarray, variables)))
    with open(os.path.join(tmp, exported.CONFIG), 'w', encoding='utf-8') as f:
      f.write(config.to_json_best_effort(indent=1))
    if onnx:
      manifest['onnx'], manifest['onnx_failed'] = export_onnx(networks, tmp, input_sizes)
    with open(os.path.join(tmp, exported.MANIFEST), 'w', encoding='utf-8') as f:
      json.dump(manifest, f, indent=1, default=str)
    if os.path.lexists(out_dir):
      old = os.path.join(parent, formats.partial_name(os.path.basename(out_dir)))
      os.replace(out_dir, old)
      os.replace(tmp, out_dir)
      shutil.rmtree(old, ignore_errors=True)
    else:
      os.replace(tmp, out_dir)
  except BaseException:
    shutil.rmtree(tmp, ignore_errors=True)
    raise
  return manifest


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog='python -m artrack_jax.export', description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  model = parser.add_mutually_exclusive_group()
  model.add_argument('--workdir', help='training workdir (latest checkpoint); default: the '
                     'installed reference model')
  model.add_argument('--checkpoint', help='one checkpoint: WORKDIR/checkpoints/<step>')
  parser.add_argument('--config', help="config the model was trained with (default: the "
                      "workdir's config.json, else configs/default.py)")
  parser.add_argument('--out', required=True, help='export folder (created)')
  parser.add_argument('--overwrite', action='store_true', help='replace an existing --out')
  parser.add_argument('--platforms', default=','.join(DEFAULT_PLATFORMS),
                      help='comma-separated platforms the jax.export functions are lowered '
                      'for (cpu, cuda, rocm, tpu; default %(default)s)')
  parser.add_argument('--onnx', action='store_true', help='also convert to ONNX (needs the '
                      'optional jax2onnx and onnxruntime packages)')
  return parser


def main(argv: list[str] | None = None) -> int:
  args = build_parser().parse_args(argv)
  try:
    missing = [m for m in ('jax2onnx', 'onnxruntime') if importlib.util.find_spec(m) is None]
    if args.onnx and missing:
      raise ValueError(f'--onnx needs the optional packages jax2onnx and onnxruntime (pip '
                       f'install jax2onnx onnxruntime); missing: {", ".join(missing)}')
    if os.path.lexists(args.out) and not args.overwrite:
      raise FileExistsError(f'{args.out}: already there (--overwrite replaces it)')
    workdir, step = track.workdir_and_step(args)
    config = configs_util.workdir_config([workdir], args.config)
    networks = inference.Networks.restore(workdir, config, step)
    manifest = export_networks(networks, args.out, overwrite=args.overwrite, onnx=args.onnx,
                               platforms=tuple(args.platforms.split(',')))
  except (ValueError, FileNotFoundError, FileExistsError, NotADirectoryError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  print(f'{networks.what} -> {args.out}: ' + ', '.join(
      f'{name} ({"symbolic size" if not entry["sizes"] else "sizes " + str(entry["sizes"])})'
      for name, entry in manifest['functions'].items()))
  for name, error in manifest['failed'].items():
    print(f'not exported: {name}: {error}', file=sys.stderr)
  for name, entry in manifest.get('onnx', {}).items():
    print(f'ONNX: {name} (sizes {entry["sizes"]}, largest difference from JAX '
          f'{entry["max_abs_diff"]:.2g})')
  for name, error in manifest.get('onnx_failed', {}).items():
    print(f'ONNX: not converted: {name}: {error}', file=sys.stderr)
  return 0


if __name__ == '__main__':
  sys.exit(main())
