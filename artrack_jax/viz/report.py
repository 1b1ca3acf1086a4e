"""Markdown tables of the ablation results (Tables 3 and 4 of the paper) from a runs directory.

  python -m artrack_jax.viz.report --runs RUNS_DIR --out results.md [--plots PLOTS_DIR]

Every number in the report is read from a result file under RUNS_DIR; rows without a file are
left out, nothing is filled in. The layout read (every file optional):

  RUNS_DIR/eval/posetrack_ap_<row>.json
      PoseTrack result dict (`python -m artrack_jax.evaluation.cli --gt ... --pred ... --out`)
      of a pose estimation row: Table 3, AP per column (Head ... Ankl, Total), in percent.
  RUNS_DIR/eval/coco_ap_<row>.json
      COCO keypoint stats (`evaluation.cli --coco-gt ... --coco-pred ... --out`, or the dict of
      `train_lib.evaluate`: AP, AP50, AP75, APM, APL, AR, ... as fractions) of a pose estimation
      row: Table 3 as COCO-style OKS AP, shown in percent.
  RUNS_DIR/eval/posetrack_mota_<row>.json
      PoseTrack result dict of a tracker row: Table 4, MOTA per column plus the toolkit's total
      MOTP, precision and recall, and, where the dict has `hota` (`evaluation.hota` results, as
      `evaluation.tables` and `evaluation.cli --metrics ap,mota,hota` write them), the total
      keypoint HOTA, DetA, AssA and LocA of the PoseTrack21 kit.
  RUNS_DIR/eval/intervals.json
      `{'ap': ..., 'mota': ...}` of `evaluation.bootstrap.row_intervals` (the main job writes
      it): a 95% interval column for Table 3 and 4 totals and the paired differences.
  RUNS_DIR/timings.json
      {"total_seconds": float, "stages": {name: seconds}, "machine": machine_info()} (each key
      optional): the wall time of the pipeline and the machine it ran on.

`<row>` is a key of `ROW_LABELS` (`ke`, `ke_sie_aux_pgg`, `he_tie`, ...); rows are listed in the
paper's order, unknown keys after them under their own name. Values are printed to one decimal;
a metric the evaluation could not define (NaN, written as null; COCO's -1) prints as `n/a`.
"""
from __future__ import annotations

import argparse
import collections
import datetime
import glob
import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from artrack_jax.evaluation import posetrack
from artrack_jax.machine import format_machine, machine_info

EVAL_DIR = 'eval'
TIMINGS_FILE = 'timings.json'
# File name prefix of each table's results.
POSETRACK_AP_PREFIX = 'posetrack_ap_'
COCO_AP_PREFIX = 'coco_ap_'
POSETRACK_MOTA_PREFIX = 'posetrack_mota_'

# Row key (the <row> of the file names) -> label in the tables (the paper's names).
ROW_LABELS = {
    # Table 3: spatial grouping ablations (pose estimation).
    'ke': 'KE',
    'sie': 'SIE',
    'ke_sie': 'KE+SIE',
    'ke_sie_aux': 'KE+SIE+aux',
    'ke_pgg': 'KE+PGG',
    'sie_pgg': 'SIE+PGG',
    'ke_sie_aux_pgg': 'Ours (KE+SIE+aux+PGG)',
    # Table 4: tracker similarities (`tracking/similarity.py` names) and the full model.
    'oks': 'OKS',
    'iou': 'IoU',
    'he': 'HE',
    'tie': 'TIE',
    'he_tie': 'HE+TIE',
    'he_tie_pgg': 'Ours (HE+TIE+PGG)',
}
# The rows of each table in the paper's order ('ke' and 'ke_sie' name the grouping in Table 3
# and the tracker similarity in Table 4).
TABLE3_ROWS = ('ke', 'sie', 'ke_sie', 'ke_sie_aux', 'ke_pgg', 'sie_pgg', 'ke_sie_aux_pgg')
TABLE4_ROWS = ('oks', 'iou', 'ke', 'ke_sie', 'he', 'tie', 'he_tie', 'he_tie_pgg')
# COCO columns shown (the stats of `evaluation.coco.STAT_NAMES` of Table 5 plus AR).
COCO_COLUMNS = ('AP', 'AP50', 'AP75', 'APM', 'APL', 'AR')


class ReportInputError(ValueError):
  """A result file that cannot be reported; the message names the file and the field."""


# ---------------------------------------------------------------------------------------------
# Reading.


def load_json_object(path: str) -> dict[str, Any]:
  """Reads a JSON file that must hold an object (a result dict, `timings.json`).

  Raises:
    ReportInputError: (a ValueError) naming the file, when it is not JSON or not an object.
  """
  try:
    with open(path, encoding='utf-8') as f:
      data = json.load(f)
  except json.JSONDecodeError as e:
    raise ReportInputError(f'{path}: not valid JSON: {e}') from None
  if not isinstance(data, dict):
    raise ReportInputError(f'{path}: expected a JSON object, got {type(data).__name__}')
  return data


def _number_or_none(value: Any, path: str, field: str) -> float | None:
  """A result value: a number, or None where the evaluation wrote null (NaN)."""
  if value is None:
    return None
  if isinstance(value, bool) or not isinstance(value, (int, float)):
    raise ReportInputError(f'{path}: field {field} must be a number or null, got {value!r}')
  return None if math.isnan(value) else float(value)


def find_results(runs_dir: str, prefix: str) -> dict[str, str]:
  """Row key -> path of `runs_dir/eval/<prefix><row>.json`, in table order (see module doc)."""
  pattern = os.path.join(runs_dir, EVAL_DIR, f'{prefix}*.json')
  found = {}
  for path in sorted(glob.glob(pattern)):
    row = os.path.basename(path)[len(prefix):-len('.json')]
    if row:
      found[row] = path
  return found


def _ordered_rows(found: Mapping[str, str], table_rows: Sequence[str]) -> list[str]:
  known = [row for row in table_rows if row in found]
  return known + sorted(row for row in found if row not in table_rows)


def row_label(row: str) -> str:
  return ROW_LABELS.get(row, row)


def _posetrack_columns(path: str, result: Mapping[str, Any], metric: str,
                       columns: Sequence[str]) -> list[float | None]:
  if metric not in result or not isinstance(result[metric], dict):
    raise ReportInputError(f'{path}: field {metric!r} missing (evaluated with '
                           f'--no-{"ap" if metric == "ap" else "mota"}?)')
  per_column = result[metric]
  values = []
  for column in columns:
    if column not in per_column:
      raise ReportInputError(f'{path}: field {metric}.{column} missing')
    values.append(_number_or_none(per_column[column], path, f'{metric}.{column}'))
  return values


def _coco_columns(path: str, stats: Mapping[str, Any]) -> list[float | None]:
  values = []
  for column in COCO_COLUMNS:
    if column not in stats:
      raise ReportInputError(f'{path}: field {column!r} missing (expected the stats of '
                             'evaluation.coco.evaluate_keypoints)')
    value = _number_or_none(stats[column], path, column)
    # COCOeval writes -1 for a statistic without ground truth (e.g. no medium people).
    values.append(None if value is None or value < 0 else 100.0 * value)
  return values


# ---------------------------------------------------------------------------------------------
# Formatting.


def format_value(value: float | None) -> str:
  """One decimal, as the paper's tables; `n/a` for a value the evaluation left undefined."""
  return 'n/a' if value is None else f'{value:.1f}'


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
  lines = ['| ' + ' | '.join(header) + ' |',
           '| --- |' + ' ---: |' * (len(header) - 1)]
  lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
  return '\n'.join(lines)


def _data_note(results: Mapping[str, Mapping[str, Any]]) -> str:
  """What the PoseTrack rows were evaluated on; says so when rows differ."""
  described = collections.OrderedDict()
  for row, result in results.items():
    key = (result.get('num_sequences'), result.get('num_labeled_frames'),
           result.get('toolkit_quirks'))
    described.setdefault(key, []).append(row_label(row))
  parts = []
  for (sequences, frames, quirks), labels in described.items():
    text = f'{sequences} sequences, {frames} labelled frames, toolkit quirks ' + (
        'on' if quirks else 'off')
    parts.append(text if len(described) == 1 else f'{", ".join(labels)}: {text}')
  prefix = 'Evaluated on ' if len(described) == 1 else (
      'Rows were evaluated on different data; compare with care. ')
  return prefix + '; '.join(parts) + '.'


def _sources(runs_dir: str, paths: Sequence[str]) -> str:
  return 'Sources: ' + ', '.join(f'`{os.path.relpath(p, runs_dir)}`' for p in paths) + '.'


INTERVALS_FILE = 'intervals.json'


def _intervals(runs_dir: str, metric: str) -> dict[str, Any]:
  """The main job's bootstrap intervals of one metric ('ap' or 'mota'), or {}."""
  path = os.path.join(runs_dir, EVAL_DIR, INTERVALS_FILE)
  if not os.path.isfile(path):
    return {}
  return load_json_object(path).get(metric) or {}


def _interval_cell(intervals: Mapping[str, Any], row: str) -> str:
  r = (intervals.get('rows') or {}).get(row)
  if r is None:
    return 'n/a'
  return f'{format_value(r["low"])} .. {format_value(r["high"])}'


def differences_section(runs_dir: str) -> str | None:
  """The paired differences of the paper's orderings with their intervals."""
  lines = []
  for metric, name in (('ap', 'AP'), ('mota', 'MOTA')):
    intervals = _intervals(runs_dir, metric)
    for pair, r in (intervals.get('differences') or {}).items():
      a, b = pair.split(' - ')
      if r['low'] > 0:
        verdict = 'above, beyond the interval'
      elif r['high'] < 0:
        verdict = 'below, beyond the interval'
      else:
        verdict = 'not separated'
      lines.append([f'{row_label(a)} - {row_label(b)}', name, f'{r["value"]:+.1f}',
                    f'{r["low"]:+.1f} .. {r["high"]:+.1f}', verdict])
  if not lines:
    return None
  level = int(round(100 * (_intervals(runs_dir, 'mota') or _intervals(runs_dir, 'ap'))['level']))
  return '\n\n'.join([
      f'## Differences with {level}% bootstrap intervals over sequences',
      markdown_table(['Rows', 'Metric', 'Difference', f'{level}% interval', 'Verdict'], lines),
      f'Paired: both rows resampled with the same draws of val sequences. Source: '
      f'`{os.path.join(EVAL_DIR, INTERVALS_FILE)}`.'])


def table3_posetrack(runs_dir: str) -> str | None:
  """Table 3: PoseTrack AP per column of the pose estimation rows (None without files)."""
  found = find_results(runs_dir, POSETRACK_AP_PREFIX)
  if not found:
    return None
  rows, results = [], {}
  order = _ordered_rows(found, TABLE3_ROWS)
  intervals = _intervals(runs_dir, 'ap')
  for row in order:
    result = load_json_object(found[row])
    results[row] = result
    values = _posetrack_columns(found[row], result, 'ap', posetrack.COLUMN_NAMES)
    rows.append([row_label(row)] + [format_value(v) for v in values]
                + ([_interval_cell(intervals, row)] if intervals else []))
  return '\n\n'.join([
      '## Table 3: pose estimation ablation (PoseTrack AP, %)',
      markdown_table(['Method'] + list(posetrack.COLUMN_NAMES)
                     + (['Total 95% interval'] if intervals else []), rows),
      _data_note(results) + ' ' + _sources(runs_dir, [found[r] for r in order])])


def table3_coco(runs_dir: str) -> str | None:
  """Table 3 rows as COCO-style keypoint AP (OKS), in percent (None without files)."""
  found = find_results(runs_dir, COCO_AP_PREFIX)
  if not found:
    return None
  rows = []
  order = _ordered_rows(found, TABLE3_ROWS)
  for row in order:
    values = _coco_columns(found[row], load_json_object(found[row]))
    rows.append([row_label(row)] + [format_value(v) for v in values])
  return '\n\n'.join([
      '## Table 3: pose estimation ablation (COCO-style keypoint AP, OKS, %)',
      markdown_table(['Method'] + list(COCO_COLUMNS), rows),
      _sources(runs_dir, [found[r] for r in order])])


# Keypoint HOTA fields of a Table 4 result's `hota` (evaluation/hota.py) and their labels.
HOTA_COLUMNS = (('hota', 'HOTA'), ('deta', 'DetA'), ('assa', 'AssA'), ('loca', 'LocA'))


def _hota_totals(path: str, result: Mapping[str, Any]) -> list[float | None] | None:
  """Total HOTA, DetA, AssA, LocA of a result's `hota`; None when it has none."""
  if 'hota' not in result:
    return None
  hota = result['hota']
  if not isinstance(hota, dict):
    raise ReportInputError(f'{path}: field \'hota\' must be an object (evaluation.hota '
                           'results)')
  values = []
  for field, _ in HOTA_COLUMNS:
    per_joint = hota.get(field)
    if not isinstance(per_joint, dict) or 'Total' not in per_joint:
      raise ReportInputError(f'{path}: field hota.{field}.Total missing')
    values.append(_number_or_none(per_joint['Total'], path, f'hota.{field}.Total'))
  return values


def table4(runs_dir: str) -> str | None:
  """Table 4: MOTA per column of the tracker rows, plus MOTP/precision/recall totals and,
  when the results have them, the keypoint HOTA / DetA / AssA / LocA totals."""
  found = find_results(runs_dir, POSETRACK_MOTA_PREFIX)
  if not found:
    return None
  rows, results, hota_totals = [], {}, {}
  order = _ordered_rows(found, TABLE4_ROWS)
  intervals = _intervals(runs_dir, 'mota')
  for row in order:
    path = found[row]
    results[row] = load_json_object(path)
    hota_totals[row] = _hota_totals(path, results[row])
  with_hota = any(v is not None for v in hota_totals.values())
  for row in order:
    path, result = found[row], results[row]
    values = _posetrack_columns(path, result, 'mota', posetrack.COLUMN_NAMES)
    totals = [_posetrack_columns(path, result, metric, ('Total',))[0]
              for metric in ('motp', 'precision', 'recall')]
    if with_hota:
      totals += hota_totals[row] or [None] * len(HOTA_COLUMNS)
    rows.append([row_label(row)] + [format_value(v) for v in values + totals]
                + ([_interval_cell(intervals, row)] if intervals else []))
  header = (['Tracker'] + [f'MOTA {c}' for c in posetrack.COLUMN_NAMES]
            + ['MOTP Total', 'Prec Total', 'Rec Total']
            + ([f'{label} Total' for _, label in HOTA_COLUMNS] if with_hota else [])
            + (['MOTA Total 95% interval'] if intervals else []))
  notes = [_data_note(results)]
  if with_hota:
    missing = [row_label(r) for r in order if hota_totals[r] is None]
    notes.append('HOTA, DetA, AssA, LocA: keypoint HOTA as the PoseTrack21 kit computes it '
                 '(`evaluation/hota.py`), means over the 19 localisation thresholds.'
                 + (f' Not in the results of {", ".join(missing)} (n/a).' if missing else ''))
  return '\n\n'.join([
      '## Table 4: tracking ablation (PoseTrack MOTA' + (' and keypoint HOTA' if with_hota
                                                         else '') + ', %)',
      markdown_table(header, rows),
      ' '.join(notes) + ' ' + _sources(runs_dir, [found[r] for r in order])])


# ---------------------------------------------------------------------------------------------
# Machine and wall time.


def format_duration(seconds: float) -> str:
  seconds = int(round(seconds))
  hours, rest = divmod(seconds, 3600)
  minutes, seconds = divmod(rest, 60)
  return f'{hours}:{minutes:02d}:{seconds:02d}'


def timings_section(runs_dir: str) -> str:
  """The machine line, and the wall time when `timings.json` exists."""
  path = os.path.join(runs_dir, TIMINGS_FILE)
  if not os.path.exists(path):
    return '## Machine\n\nReport written on: ' + format_machine(machine_info()) + (
        f'. No `{TIMINGS_FILE}` in the runs directory, so no wall time.')
  timings = load_json_object(path)
  lines = ['## Machine and wall time', '']
  machine = timings.get('machine')
  if machine is not None:
    if not isinstance(machine, dict):
      raise ReportInputError(f'{path}: field \'machine\' must be an object')
    lines.append('Runs made on: ' + format_machine(machine) + '.')
  else:
    lines.append('Report written on (the runs did not record their machine): '
                 + format_machine(machine_info()) + '.')
  if 'total_seconds' in timings:
    total = _number_or_none(timings['total_seconds'], path, 'total_seconds')
    if total is None:
      raise ReportInputError(f'{path}: field total_seconds must be a number')
    lines += ['', f'Wall time: {format_duration(total)} ({total:.0f} s).']
  stages = timings.get('stages')
  if stages is not None:
    if not isinstance(stages, dict):
      raise ReportInputError(f'{path}: field \'stages\' must be an object of name -> seconds')
    rows = []
    for name, seconds in stages.items():
      value = _number_or_none(seconds, path, f'stages.{name}')
      if value is None:
        raise ReportInputError(f'{path}: field stages.{name} must be a number')
      rows.append([name, format_duration(value), f'{value:.0f}'])
    lines += ['', markdown_table(['Stage', 'Wall time', 'Seconds'], rows)]
  return '\n'.join(lines)


# ---------------------------------------------------------------------------------------------
# The report.


def _plots_section(plots_dir: str, out_path: str) -> str | None:
  pngs = sorted(glob.glob(os.path.join(plots_dir, '*.png')))
  if not pngs:
    return None
  base = os.path.dirname(os.path.abspath(out_path))
  lines = ['## Plots']
  for png in pngs:
    name = os.path.splitext(os.path.basename(png))[0]
    lines.append(f'![{name}]({os.path.relpath(os.path.abspath(png), base)})')
  return '\n\n'.join(lines)


def build_report(runs_dir: str, *, plots_dir: str | None = None,
                 out_path: str = 'results.md') -> str:
  """The Markdown report of `runs_dir` (layout in the module docstring).

  Args:
    runs_dir: the runs directory.
    plots_dir: PNG files to link (e.g. from `python -m artrack_jax.viz.plots --out`).
    out_path: where the report will be written (image links are relative to it).

  Raises:
    FileNotFoundError: `runs_dir` does not exist.
    ReportInputError: a malformed result or timings file.
  """
  if not os.path.isdir(runs_dir):
    raise FileNotFoundError(f'{runs_dir}: runs directory does not exist')
  command = f'python -m artrack_jax.viz.report --runs {runs_dir} --out {out_path}'
  if plots_dir:
    command += f' --plots {plots_dir}'
  sections = [
      '# artrack-jax results',
      f'Written by `{command}` on '
      f'{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; every number is '
      'read from the files named under each table.']
  tables = [t for t in (table3_posetrack(runs_dir), table3_coco(runs_dir), table4(runs_dir),
                        differences_section(runs_dir))
            if t is not None]
  if tables:
    sections += tables
  else:
    sections.append(f'No evaluation results under `{os.path.join(runs_dir, EVAL_DIR)}` (expected '
                    f'`{POSETRACK_AP_PREFIX}<row>.json`, `{COCO_AP_PREFIX}<row>.json` or '
                    f'`{POSETRACK_MOTA_PREFIX}<row>.json`).')
  if plots_dir:
    plots = _plots_section(plots_dir, out_path)
    if plots is None:
      raise FileNotFoundError(f'{plots_dir}: no PNG files to link')
    sections.append(plots)
  sections.append(timings_section(runs_dir))
  return '\n\n'.join(sections) + '\n'


def write_report(runs_dir: str, out_path: str, *, plots_dir: str | None = None) -> str:
  """Writes `build_report(runs_dir)` to `out_path` and returns the text."""
  text = build_report(runs_dir, plots_dir=plots_dir, out_path=out_path)
  directory = os.path.dirname(os.path.abspath(out_path))
  os.makedirs(directory, exist_ok=True)
  with open(out_path, 'w', encoding='utf-8') as f:
    f.write(text)
  return text


def main(argv: list[str] | None = None) -> int:
  """Writes the report; returns the process exit code."""
  parser = argparse.ArgumentParser(
      prog='artrack_jax.viz.report',
      description='Markdown tables (Tables 3 and 4) from the result files of a runs directory.')
  parser.add_argument('--runs', required=True, help='the runs directory (layout: module doc)')
  parser.add_argument('--out', required=True, help='the Markdown file to write')
  parser.add_argument('--plots', help='a directory of PNG plots to link from the report')
  args = parser.parse_args(argv)
  try:
    write_report(args.runs, args.out, plots_dir=args.plots)
  except (OSError, ReportInputError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  print(args.out)
  return 0


if __name__ == '__main__':
  sys.exit(main())
