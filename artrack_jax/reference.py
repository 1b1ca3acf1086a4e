"""The reference model installed with the package, and the command that exports it.

``artrack_jax/reference_model/`` is an exported workdir: ``variables.msgpack`` (the final
SpatialNet, KE+SIE+aux+PGG, and its TemporalNet; no optimiser state), the ``config.json`` it
was trained with and ``provenance.json`` (the command, commit, data and measured metrics). It
was trained on the embedded synthetic benchmark only: it tracks the synthetic clips, not real
footage. ``python -m artrack_jax.track --video V --out O`` uses it when no ``--workdir`` is
given; ``eval.py --track --workdir D --temporal-workdir D`` with ``D`` = ``REFERENCE_DIR``
evaluates it.

Export a trained stage-3 workdir (the main job's or the ablations')::

  python -m artrack_jax.reference --temporal-workdir runs/quickstart/temporal \\
      --eval-dir runs/quickstart/eval --command "python -m artrack_jax.quickstart ..." \\
      --out artrack_jax/reference_model [--overwrite]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import subprocess
import sys
from typing import Any

from artrack_jax import checkpoints
from artrack_jax import configs_util
from artrack_jax import machine

REFERENCE_DIR = str(pathlib.Path(__file__).resolve().parent / 'reference_model')
PROVENANCE = 'provenance.json'
MAX_BYTES = 20 * 2**20


def available(directory: str | None = None) -> bool:
  """Whether an exported model is at ``directory`` (default: the installed reference)."""
  directory = REFERENCE_DIR if directory is None else directory
  return os.path.isfile(os.path.join(directory, checkpoints.EXPORTED_VARIABLES))


def provenance(directory: str | None = None) -> dict[str, Any]:
  directory = REFERENCE_DIR if directory is None else directory
  with open(os.path.join(directory, PROVENANCE), encoding='utf-8') as f:
    return json.load(f)


def _git_commit(path: str) -> str:
  try:
    return subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=path, capture_output=True,
                          text=True, check=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return 'unknown'


def _metrics(eval_dir: str) -> dict[str, dict[str, float]]:
  """Totals of the evaluation files: PoseTrack AP (Table 3 rows), MOTA (Table 4 rows)."""
  out: dict[str, dict[str, float]] = {'posetrack_ap': {}, 'posetrack_mota': {}}
  for name in sorted(os.listdir(eval_dir)):
    for prefix, key, metric in (('posetrack_ap_', 'posetrack_ap', 'ap'),
                                ('posetrack_mota_', 'posetrack_mota', 'mota')):
      if name.startswith(prefix) and name.endswith('.json'):
        with open(os.path.join(eval_dir, name), encoding='utf-8') as f:
          result = json.load(f)
        out[key][name[len(prefix):-len('.json')]] = float(result[metric]['Total'])
  return out


def export(temporal_workdir: str, out_dir: str, *, command: str, eval_dir: str | None = None,
           overwrite: bool = False, config: str | None = None) -> dict[str, Any]:
  """Writes an exported workdir of a stage-3 training workdir (module docstring).

  ``config`` (a config name or path) replaces the workdir's ``config.json`` in the export, e.g.
  to ship the decoding and tracking settings the evaluation used; the networks are checked
  against it.

  Raises:
    FileExistsError: ``out_dir`` holds a model and ``overwrite`` is not set.
    ValueError: the workdir holds no TemporalNet, or the export exceeds 20 MB.
  """
  if available(out_dir) and not overwrite:
    raise FileExistsError(f'{out_dir}: a model is already there (--overwrite replaces it)')
  config_path = os.path.join(temporal_workdir, 'config.json')
  if not os.path.isfile(config_path):
    raise FileNotFoundError(f'{temporal_workdir}: no config.json (is it a training workdir?)')
  trained = checkpoints.load_trained_variables(temporal_workdir)
  if not trained['frozen']:
    raise ValueError(f'{temporal_workdir}: holds SpatialNet only; export a stage-3 '
                     "('temporal') workdir, which holds both networks")
  shipped = configs_util.load_config(config if config is not None else config_path)
  # Fails here, naming the workdir, when the networks do not fit the shipped config.
  checkpoints.conform_variables(trained['frozen'], checkpoints.spatial_shapes(shipped),
                                f'{temporal_workdir} SpatialNet')
  checkpoints.conform_variables({'params': trained['params'],
                                 'batch_stats': trained['batch_stats']},
                                checkpoints.temporal_shapes(shipped),
                                f'{temporal_workdir} TemporalNet')
  os.makedirs(out_dir, exist_ok=True)
  path = checkpoints.save_exported_variables(trained, out_dir)
  with open(os.path.join(out_dir, 'config.json'), 'w', encoding='utf-8') as f:
    f.write(shipped.to_json_best_effort(indent=2))
  config = shipped.to_dict()
  size = sum(os.path.getsize(os.path.join(out_dir, n)) for n in os.listdir(out_dir))
  if size > MAX_BYTES:
    raise ValueError(f'{out_dir}: {size / 2**20:.1f} MB, over the 20 MB the package may carry')
  record = {
      'what': 'SpatialNet (KE+SIE+aux, fine-tuned with PGG) and TemporalNet (HE, TIE+PGG)',
      'trained_on': 'the embedded synthetic benchmark only (artrack_jax.data.synthetic); '
                    'not trained on real video',
      'command': command,
      'commit': _git_commit(os.path.dirname(os.path.abspath(__file__))),
      'data': {'name': config['data']['name'],
               'builder_config': config['data']['builder_config'],
               'image_size': config['data']['image_size']},
      'step': trained['step'],
      'source_workdir': os.path.abspath(temporal_workdir),
      'exported': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
      'bytes': size,
      'machine': machine.machine_info(),
  }
  if eval_dir:
    record['metrics'] = _metrics(eval_dir)
  with open(os.path.join(out_dir, PROVENANCE), 'w', encoding='utf-8') as f:
    json.dump(record, f, indent=2)
  print(f'exported {temporal_workdir} (step {trained["step"]}) -> {path} '
        f'({size / 2**20:.1f} MB)')
  return record


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(prog='python -m artrack_jax.reference',
                                   description=__doc__.split('\n')[0])
  parser.add_argument('--temporal-workdir', required=True, help='a stage-3 training workdir')
  parser.add_argument('--out', default=REFERENCE_DIR, help='where to write the exported model')
  parser.add_argument('--eval-dir', help="evaluation files whose totals go into provenance")
  parser.add_argument('--command', required=True,
                      help='the command that trained the model (for provenance.json)')
  parser.add_argument('--config', help="config to ship (name or path; default: the workdir's "
                      'config.json)')
  parser.add_argument('--overwrite', action='store_true', help='replace an exported model')
  args = parser.parse_args(argv)
  try:
    export(args.temporal_workdir, args.out, command=args.command, eval_dir=args.eval_dir,
           overwrite=args.overwrite, config=args.config)
  except (FileExistsError, FileNotFoundError, ValueError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  return 0


if __name__ == '__main__':
  sys.exit(main())
