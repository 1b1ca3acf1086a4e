"""Training curves and per-joint PoseTrack bars, written as PNG files.

  python -m artrack_jax.viz.plots --workdir RUNS/spatial [--workdir RUNS/pgg ...] [--overlay]
      [--result KE=RUNS/eval/posetrack_mota_ke.json --result HE+TIE=... ...] --out PLOTS_DIR

Writes `PLOTS_DIR/training_curves.png` from the workdirs' `metrics.jsonl` (the records of
`metrics_writer.MetricsWriter`: `train/...` every `log_every` steps, `val/...` or `eval/...`
after evaluations) and `PLOTS_DIR/posetrack_<metric>.png` (AP and MOTA) from PoseTrack result
JSON files (`python -m artrack_jax.evaluation.cli --gt ... --pred ... --out result.json`).

Several workdirs (the training stages spatial -> pgg -> temporal) are drawn one after the other
on a common step axis (stage boundaries marked), or on top of each other with `--overlay`.

Figures are built on matplotlib's Agg canvas directly (no pyplot), so importing this module
changes no global matplotlib state and works without a display.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import figure as mpl_figure
from matplotlib.backends import backend_agg

from artrack_jax import metrics_writer
from artrack_jax.viz import report
from artrack_jax.evaluation import coco
from artrack_jax.evaluation import posetrack

TRAINING_CURVES_FILE = 'training_curves.png'
# The loss terms of Sec. 3.4 as `losses.spatial_loss` / `temporal_loss` name them (before
# weighting); any other `*_loss` name (e.g. the PGG losses) is a term too.
LOSS_TERMS = ('det', 'ke', 'aux', 'sie', 'he', 'tie')
# Counters of the trainer's non-finite-step guard.
SKIP_COUNTERS = ('skipped', 'skipped_steps', 'consecutive_skips')
# Per-joint metrics of a PoseTrack result and their axis titles.
POSETRACK_METRICS = {
    'ap': 'AP (%)', 'mota': 'MOTA (%)', 'motp': 'MOTP (%)', 'precision': 'Precision (%)',
    'recall': 'Recall (%)', 'ap_precision': 'AP precision (%)', 'ap_recall': 'AP recall (%)'}
_LINESTYLES = ('-', '--', ':', '-.')
# What COCOeval reports for a statistic without data (no ground truth in its area range).
COCO_NO_DATA = -1.0


# ---------------------------------------------------------------------------------------------
# Training curves.


@dataclasses.dataclass
class RunCurves:
  """The logged scalars of one workdir.

  Attributes:
    label: name of the run in legends (the workdir's base name by default).
    series: metric name (as logged, e.g. `train/loss`) -> (steps [N] int64, values [N]
      float64), sorted by step.
  """
  label: str
  series: dict[str, tuple[np.ndarray, np.ndarray]]

  @property
  def first_step(self) -> int:
    return min(int(steps[0]) for steps, _ in self.series.values())

  @property
  def last_step(self) -> int:
    return max(int(steps[-1]) for steps, _ in self.series.values())


def load_curves(workdir: str, label: str | None = None) -> RunCurves:
  """Reads `workdir/metrics.jsonl` into per-metric series.

  A resumed run appends the steps after its last checkpoint a second time; the record written
  last wins, as it belongs to the run whose parameters were kept. A COCO statistic of -1
  (pycocotools' "no data": no ground truth in that area range) is no value and is left out;
  a series of only such values is dropped.

  Raises:
    FileNotFoundError: no metrics file.
    ValueError: a record without an integer `step`, a value that is not a number, or no
      scalars at all (the message names the file and the record).
  """
  path = os.path.join(os.fspath(workdir), metrics_writer.METRICS_FILE)
  records = metrics_writer.read_metrics(workdir)
  by_name: dict[str, dict[int, float]] = {}
  for number, record in enumerate(records, 1):
    if not isinstance(record, dict):
      raise ValueError(f'{path}: record {number} is not a JSON object')
    step = record.get('step')
    if isinstance(step, bool) or not isinstance(step, int):
      raise ValueError(f'{path}: record {number}: field \'step\' must be an integer, got '
                       f'{step!r}')
    for name, value in record.items():
      if name == 'step':
        continue
      if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f'{path}: record {number}: field {name!r} must be a number, got '
                         f'{value!r}')
      by_name.setdefault(name, {})[step] = float(value)
  if not by_name:
    raise ValueError(f'{path}: no metrics recorded')
  series = {}
  for name, values in by_name.items():
    if name.rpartition('/')[0] not in ('', 'train') and _is_coco_stat(name):
      values = {step: v for step, v in values.items() if v != COCO_NO_DATA}
      if not values:
        continue
    steps = np.asarray(sorted(values), np.int64)
    series[name] = (steps, np.asarray([values[s] for s in steps.tolist()], np.float64))
  if label is None:
    label = os.path.basename(os.path.normpath(os.fspath(workdir)))
  return RunCurves(label=label, series=series)


def _is_coco_stat(name: str) -> bool:
  """`val/AP`, `eval/APM`, ... : a COCOeval statistic (`coco.STAT_NAMES`) of an evaluation."""
  return name.rpartition('/')[2] in coco.STAT_NAMES


@dataclasses.dataclass(frozen=True)
class _Panel:
  title: str
  log_scale: bool
  markers: bool = False   # sparse series (evaluations) are drawn with markers


def panel_of(name: str) -> _Panel:
  """The panel a logged metric is drawn in, from its name alone (any set of names works)."""
  prefix, _, short = name.rpartition('/')
  if prefix in ('', 'train'):
    if short == 'loss':
      return _Panel('Total loss', True)
    if short in LOSS_TERMS or short.endswith('_loss'):
      return _Panel('Loss terms', True)
    if short == 'learning_rate':
      return _Panel('Learning rate', True)
    if short == 'steps_per_second':
      return _Panel('Training speed (steps/s)', False)
    if short == 'grad_norm':
      return _Panel('Gradient norm', True)
    if short in SKIP_COUNTERS:
      return _Panel('Skipped (non-finite) steps', False)
    # Parts of a term (`ke_pull`, `pgg_push_sie_last`, ...) are grouped by the term's name.
    family = short.split('_')[0]
    return _Panel(f'{family}: parts and diagnostics', True)
  if short.startswith('num_'):
    return _Panel(f'{prefix}: counts', False, markers=True)
  return _Panel(f'{prefix} metrics', False, markers=True)


def _panel_order(panel: _Panel) -> tuple[int, str]:
  fixed = ('Total loss', 'Loss terms', 'Learning rate', 'Training speed (steps/s)',
           'Gradient norm', 'Skipped (non-finite) steps')
  if panel.title in fixed:
    return (fixed.index(panel.title), '')
  # Evaluation metrics next, then the parts of the loss terms, then counts.
  if panel.title.endswith(' metrics'):
    return (len(fixed), panel.title)
  if panel.title.endswith(': counts'):
    return (len(fixed) + 2, panel.title)
  return (len(fixed) + 1, panel.title)


def _short_name(name: str) -> str:
  prefix, _, short = name.rpartition('/')
  return short if prefix in ('', 'train') else name


def step_offsets(runs: Sequence[RunCurves], overlay: bool) -> list[int]:
  """Step offset of each run on the common axis.

  Concatenated, a run whose steps start again from the beginning (a new stage's train state)
  continues where the previous one ended; a run that already counts on (steps beyond the
  previous end) keeps its steps.
  """
  offsets, end = [], 0
  for run in runs:
    offset = 0 if overlay or run.first_step > end else end
    offsets.append(offset)
    end = max(end, run.last_step + offset)
  return offsets


def _save(fig: mpl_figure.Figure, out_png: str) -> None:
  directory = os.path.dirname(os.path.abspath(out_png))
  os.makedirs(directory, exist_ok=True)
  backend_agg.FigureCanvasAgg(fig)
  fig.savefig(out_png, format='png', dpi=100)


def plot_training_curves(workdirs: Sequence[str], out_png: str, *, overlay: bool = False,
                         labels: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
  """Training curves of one or more workdirs: losses (log scale), learning rate, steps/s,
  gradient norm, skipped steps and the evaluation metrics, each against the step.

  Args:
    workdirs: training directories with a `metrics.jsonl`, in training order (stages).
    out_png: the PNG file to write.
    overlay: draw the runs on top of each other at their own steps instead of one after the
      other.
    labels: legend name of each workdir (default: the directories' base names).

  Returns:
    What was drawn, panel title (in order) -> {'metrics': logged names in the panel,
    'log_scale': bool, 'non_finite': number of NaN/inf values marked instead of drawn}.

  Raises:
    FileNotFoundError, ValueError: see `load_curves`.
  """
  if not workdirs:
    raise ValueError('plot_training_curves needs at least one workdir')
  if labels is not None and len(labels) != len(workdirs):
    raise ValueError(f'{len(labels)} labels for {len(workdirs)} workdirs')
  runs = [load_curves(w, None if labels is None else labels[i]) for i, w in enumerate(workdirs)]
  offsets = step_offsets(runs, overlay)

  # panel -> metric names in first-seen order (so colours are stable across runs).
  panels: dict[_Panel, list[str]] = {}
  for run in runs:
    for name in run.series:
      names = panels.setdefault(panel_of(name), [])
      if name not in names:
        names.append(name)
  ordered = sorted(panels, key=_panel_order)

  columns = 2 if len(ordered) > 1 else 1
  rows = math.ceil(len(ordered) / columns)
  # Fixed margins: an automatic layout engine doubles the drawing time of a many-panel figure.
  height = 3.6 * rows
  fig = mpl_figure.Figure(figsize=(7.0 * columns, height))
  fig.subplots_adjust(left=0.07 if columns > 1 else 0.12, right=0.98, top=1 - 0.35 / height,
                      bottom=0.55 / height, hspace=0.45, wspace=0.18)
  colours = [f'C{i}' for i in range(10)]
  drawn = {}
  for index, panel in enumerate(ordered):
    ax = fig.add_subplot(rows, columns, index + 1)
    names = panels[panel]
    positive = True
    nonfinite_steps = []
    labelled = set()
    for r, (run, offset) in enumerate(zip(runs, offsets)):
      for m, name in enumerate(names):
        if name not in run.series:
          continue
        steps, values = run.series[name]
        finite = np.isfinite(values)
        nonfinite_steps.extend((steps[~finite] + offset).tolist())
        positive &= bool(np.all(values[finite] > 0))
        if overlay and len(names) == 1:
          colour, style = colours[r % 10], '-'
          label = f'{_short_name(name)} [{run.label}]'
        elif overlay:
          colour, style = colours[m % 10], _LINESTYLES[r % len(_LINESTYLES)]
          label = f'{_short_name(name)} [{run.label}]'
        else:
          # One colour per metric across the stages, one legend entry per metric.
          colour, style = colours[m % 10], '-'
          label = None if name in labelled else _short_name(name)
          labelled.add(name)
        ax.plot(steps[finite] + offset, values[finite], style, color=colour, label=label,
                marker='o' if panel.markers else None, markersize=3, linewidth=1.2)
    if nonfinite_steps:
      # Non-finite values cannot be drawn on the axis; mark their steps along the top edge so
      # a diverging loss stays visible.
      ax.plot(nonfinite_steps, np.ones(len(nonfinite_steps)), 'x', color='red',
              transform=ax.get_xaxis_transform(), clip_on=False,
              label=f'non-finite ({len(nonfinite_steps)})')
    log_scale = panel.log_scale and positive
    if log_scale:
      ax.set_yscale('log')
    title = panel.title + (' (log scale)' if log_scale else '')
    drawn[panel.title] = {'metrics': list(names), 'log_scale': log_scale,
                          'non_finite': len(nonfinite_steps)}
    ax.set_title(title, fontsize=10)
    ax.set_xlabel('step')
    ax.grid(True, which='major', alpha=0.3)
    if not overlay and len(runs) > 1:
      for run, offset in zip(runs[1:], offsets[1:]):
        if offset > 0:
          ax.axvline(offset, color='grey', linestyle=':', linewidth=1)
      if index == 0:
        for run, offset in zip(runs, offsets):
          ax.annotate(run.label, xy=(offset + run.first_step, 1.0),
                      xycoords=('data', 'axes fraction'), xytext=(2, -10),
                      textcoords='offset points', fontsize=8, color='grey')
    handles, _ = ax.get_legend_handles_labels()
    if handles:
      ax.legend(fontsize=7, ncol=2 if len(handles) > 6 else 1)
  _save(fig, out_png)
  return drawn


# ---------------------------------------------------------------------------------------------
# Per-joint bars.


def column_values(result: Mapping[str, Any], metric: str, columns: Sequence[str],
                  where: str) -> np.ndarray:
  """The values of `result[metric][column]` [len(columns)] float64; null (no ground truth,
  written by the CLI for NaN) gives NaN.

  Raises:
    ValueError: metric or column missing, or a value that is not a number (names `where`).
  """
  if metric not in result:
    available = sorted(k for k, v in result.items() if isinstance(v, dict))
    raise ValueError(f'{where}: no {metric!r} in the result (it has {available}); was it '
                     f'evaluated with --no-{"ap" if metric.startswith("ap") else "mota"}?')
  per_column = result[metric]
  if not isinstance(per_column, dict):
    raise ValueError(f'{where}: field {metric!r} must be an object of column -> value')
  values = []
  for column in columns:
    if column not in per_column:
      raise ValueError(f'{where}: field {metric!r} has no column {column!r}')
    value = per_column[column]
    if value is None:
      values.append(math.nan)
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
      raise ValueError(f'{where}: field {metric}.{column} must be a number or null, got '
                       f'{value!r}')
    else:
      values.append(float(value))
  return np.asarray(values, np.float64)


def plot_per_joint_bars(results: Mapping[str, Mapping[str, Any]], metric: str, out_png: str, *,
                        columns: Sequence[str] = posetrack.COLUMN_NAMES,
                        title: str | None = None) -> np.ndarray:
  """Grouped bars of a per-joint PoseTrack metric, one bar per result in each column.

  Args:
    results: label -> result dict of `evaluation.posetrack.evaluate` (or its JSON), in the
      order the bars are drawn (e.g. the tracker similarity rows of Table 4).
    metric: 'ap', 'mota', 'motp', 'precision', 'recall', 'ap_precision' or 'ap_recall'.
    out_png: the PNG file to write.
    columns: the groups along the x axis: the printed columns (Head ... Ankl, Total) by default;
      joint names (`posetrack.JOINT_NAMES`) work too.
    title: the figure title (default: the metric's name).

  Returns:
    The plotted values [len(results), len(columns)] in percent (NaN where a joint has no
    ground truth; drawn as 'n/a').
  """
  if metric not in POSETRACK_METRICS:
    raise ValueError(f'metric must be one of {sorted(POSETRACK_METRICS)}, got {metric!r}')
  if not results:
    raise ValueError('plot_per_joint_bars needs at least one result')
  labels = list(results)
  values = np.stack([column_values(results[label], metric, columns, f'result {label!r}')
                     for label in labels])

  num_results, num_columns = values.shape
  width = 0.8 / num_results
  x = np.arange(num_columns)
  fig = mpl_figure.Figure(figsize=(max(7.0, 0.35 * num_columns * num_results + 2.0), 4.2),
                          layout='constrained')
  ax = fig.add_subplot(1, 1, 1)
  finite = values[np.isfinite(values)]
  top = max(100.0, float(finite.max())) if finite.size else 100.0
  bottom = min(0.0, float(finite.min())) if finite.size else 0.0
  span = top - bottom
  for r, label in enumerate(labels):
    positions = x - 0.4 + width * (r + 0.5)
    row = values[r]
    ax.bar(positions, np.nan_to_num(row, nan=0.0), width * 0.95, label=label, color=f'C{r % 10}')
    for position, value in zip(positions, row):
      # One decimal, as the toolkit prints its tables.
      text = 'n/a' if math.isnan(value) else f'{value:.1f}'
      y = 0.0 if math.isnan(value) else value
      ax.text(position, y + (0.01 * span if y >= 0 else -0.01 * span), text, rotation=90,
              ha='center', va='bottom' if y >= 0 else 'top', fontsize=7)
  ax.axhline(0.0, color='black', linewidth=0.8)
  ax.set_xticks(x, list(columns))
  ax.set_ylim(bottom - (0.12 * span if bottom < 0 else 0.0), top + 0.12 * span)
  ax.set_ylabel(POSETRACK_METRICS[metric])
  ax.set_title(title or POSETRACK_METRICS[metric].replace(' (%)', '') + ' per joint', fontsize=11)
  ax.grid(True, axis='y', alpha=0.3)
  if num_results > 1:
    ax.legend(fontsize=8, ncol=min(num_results, 4), loc='upper left', bbox_to_anchor=(0, -0.08))
  _save(fig, out_png)
  return values


# ---------------------------------------------------------------------------------------------
# Command line.


def _parse_result_argument(argument: str) -> tuple[str, str]:
  """'LABEL=PATH' -> (label, path); a bare path is labelled by its file stem."""
  label, sep, path = argument.partition('=')
  if not sep:
    path = argument
    label = os.path.splitext(os.path.basename(argument))[0]
  if not label or not path:
    raise ValueError(f'--result {argument!r}: expected LABEL=PATH or PATH')
  return label, path


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='artrack_jax.viz.plots',
      description='Training curves (metrics.jsonl) and per-joint AP/MOTA bars as PNG.')
  parser.add_argument('--workdir', action='append', default=[],
                      help='a training workdir with metrics.jsonl (repeat, in stage order)')
  parser.add_argument('--overlay', action='store_true',
                      help='overlay the workdirs instead of concatenating their steps')
  parser.add_argument('--result', action='append', default=[],
                      help='LABEL=PATH of a PoseTrack result JSON (evaluation.cli --out); '
                           'repeat to compare rows')
  parser.add_argument('--metrics', default='ap,mota',
                      help='comma-separated per-joint metrics to draw for the results '
                           f'(of {", ".join(POSETRACK_METRICS)})')
  parser.add_argument('--out', required=True, help='directory for the PNG files')
  return parser


def main(argv: list[str] | None = None) -> int:
  """Writes the plots; returns the process exit code."""
  parser = _parser()
  args = parser.parse_args(argv)
  if not args.workdir and not args.result:
    parser.error('give at least one --workdir or --result')
  written = []
  try:
    if args.workdir:
      path = os.path.join(args.out, TRAINING_CURVES_FILE)
      plot_training_curves(args.workdir, path, overlay=args.overlay)
      written.append(path)
    if args.result:
      results = {}
      for argument in args.result:
        label, path = _parse_result_argument(argument)
        if label in results:
          raise ValueError(f'--result label {label!r} given twice')
        results[label] = report.load_json_object(path)
      for metric in (m.strip() for m in args.metrics.split(',') if m.strip()):
        if metric not in POSETRACK_METRICS:
          raise ValueError(f'--metrics: unknown metric {metric!r} (known: '
                           f'{", ".join(POSETRACK_METRICS)})')
        having = {label: r for label, r in results.items() if metric in r}
        missing = [label for label in results if label not in having]
        if missing:
          print(f'{metric}: not in the results of {missing}; left out of its chart',
                file=sys.stderr)
        if not having:
          continue
        path = os.path.join(args.out, f'posetrack_{metric}.png')
        plot_per_joint_bars(having, metric, path)
        written.append(path)
  except (OSError, ValueError) as e:
    print(f'error: {e}', file=sys.stderr)
    return 1
  for path in written:
    print(path)
  return 0


if __name__ == '__main__':
  sys.exit(main())
