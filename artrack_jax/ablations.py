"""The paper's ablations as the paper ran them: Table 3 rows trained as their own models.

  python -m artrack_jax.ablations --workdir runs/ablations [--seeds 0,1] [--steps N] [--tiny]

Every Table 3 row is a SpatialNet trained with only its parts, on the main job's data and
schedule (configs/quickstart*.py), once per seed:

  ke, sie, ke_sie, ke_sie_aux      stage 1 with those losses (Eq. 2-5 switches)
  ke_pgg, sie_pgg, ke_sie_aux_pgg  stage 2: the row without PGG fine-tuned with PGG grouping
                                   the embeddings it has (Sec. 3.2)

Table 4 rows (oks, iou, ke, ke_sie, he, tie, he_tie, he_tie_pgg) track with the final model of
each seed (ke_sie_aux_pgg + its TemporalNet, stage 3). Every row is evaluated on the whole val
split; each AP and MOTA comes with a 95% bootstrap interval over the val sequences
(``evaluation.bootstrap``: 1000 draws, the same draws for every row and seed, a draw's value
being the mean over seeds). Table 4 rows also carry keypoint HOTA, DetA, AssA and LocA
(``evaluation.hota``, the PoseTrack21 kit's rules; mean over seeds and per seed, no interval).
Fig. 5 is the KE loss (pull + push) of ke_sie with and without the auxiliary ordinal loss.

Writes ``table.md``, ``table.json`` and ``ablations.png`` (rows with their intervals) and
``fig5_ke_aux.png`` under the workdir. Interrupted, it resumes: trained stages continue from
their checkpoints and finished evaluations are kept.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

from absl import logging
import numpy as np

from artrack_jax import checkpoints
from artrack_jax import quickstart
from artrack_jax import train_lib
from artrack_jax.evaluation import bootstrap
from artrack_jax.evaluation import hota as hota_lib
from artrack_jax.evaluation import posetrack
from artrack_jax.evaluation import tables
from artrack_jax.viz import plots
from artrack_jax.viz import report


@dataclasses.dataclass(frozen=True)
class Row:
  """One Table 3 row: which losses train it and which embeddings decode (and PGG groups) it."""
  ke: bool
  sie: bool
  aux: bool
  pgg_from: str | None = None    # the stage-1 row it fine-tunes with PGG


TABLE3 = {
    'ke': Row(True, False, False),
    'sie': Row(False, True, False),
    'ke_sie': Row(True, True, False),
    'ke_sie_aux': Row(True, True, True),
    'ke_pgg': Row(True, False, False, pgg_from='ke'),
    'sie_pgg': Row(False, True, False, pgg_from='sie'),
    'ke_sie_aux_pgg': Row(True, True, True, pgg_from='ke_sie_aux'),
}
TABLE4 = ('oks', 'iou', 'ke', 'ke_sie', 'he', 'tie', 'he_tie', 'he_tie_pgg')
FINAL_ROW = 'ke_sie_aux_pgg'
LABELS = {'ke': 'KE', 'sie': 'SIE', 'ke_sie': 'KE+SIE', 'ke_sie_aux': 'KE+SIE+aux',
          'ke_pgg': 'KE+PGG', 'sie_pgg': 'SIE+PGG', 'ke_sie_aux_pgg': 'Ours (KE+SIE+aux+PGG)',
          'oks': 'OKS', 'iou': 'IoU', 'he': 'HE', 'tie': 'TIE', 'he_tie': 'HE+TIE',
          'he_tie_pgg': 'Ours (HE+TIE+PGG)'}
# Totals of the paper's Tables 3 (AP) and 4 (MOTA), PoseTrack 2017 val.
PAPER = {'table3': {'ke': 70.9, 'sie': 71.3, 'ke_sie': 74.0, 'ke_sie_aux': 74.3,
                    'ke_pgg': 73.2, 'sie_pgg': 75.1, 'ke_sie_aux_pgg': 77.0},
         'table4': {'oks': 56.2, 'iou': 55.8, 'ke': 65.7, 'ke_sie': 67.7, 'he': 68.5,
                    'tie': 68.6, 'he_tie': 69.2, 'he_tie_pgg': 71.8}}
# The orderings the paper reports: (table, better row, worse row).
ORDERINGS = (
    ('table3', 'ke_sie', 'ke'), ('table3', 'ke_sie', 'sie'), ('table3', 'ke_sie_aux', 'ke_sie'),
    ('table3', 'ke_pgg', 'ke'), ('table3', 'sie_pgg', 'sie'),
    ('table3', 'ke_sie_aux_pgg', 'ke_sie_aux'),
    ('table4', 'he_tie', 'oks'), ('table4', 'he_tie', 'iou'), ('table4', 'ke', 'oks'),
    ('table4', 'ke_sie', 'ke'), ('table4', 'he_tie', 'he'), ('table4', 'he_tie', 'tie'),
    ('table4', 'he_tie_pgg', 'he_tie'),
)
NUM_SAMPLES = 1000
# Keypoint HOTA totals of the Table 4 rows: evaluation.hota result field -> label.
HOTA_FIELDS = (('hota', 'HOTA'), ('deta', 'DetA'), ('assa', 'AssA'), ('loca', 'LocA'))



def train_overrides(row: Row, seed: int) -> dict:
  """Config overrides of a Table 3 row's training (losses) and decoding (embeddings)."""
  return {'seed': seed, 'loss.use_ke': row.ke, 'loss.use_sie': row.sie,
          'loss.use_aux': row.aux, 'decode.use_ke': row.ke, 'decode.use_sie': row.sie,
          'pgg.use_ke': row.ke, 'pgg.use_sie': row.sie}


def _train(config, workdir: str) -> None:
  """Trains a row (resuming from its checkpoint); a row already at its last step is skipped
  without building its train step."""
  last = os.path.join(checkpoints.checkpoint_dir(workdir), str(int(config.train.num_steps)))
  if os.path.isdir(last):
    print(f'{workdir}: trained ({config.train.num_steps} steps)', flush=True)
    return
  train_lib.train_and_evaluate(config, workdir)


class Ablations:
  """Trains and evaluates every row under one workdir, sharing the main job's data step."""

  def __init__(self, workdir: str, seeds: list[int], tiny: bool = False,
               rows: list[str] | None = None, steps: int | None = None):
    """``rows``: a subset of the Table 3 rows (tests); Table 4 needs the final row.
    ``steps``: stage-1 training steps (the learning-rate drop stays at the same fraction of
    the run); None: the main job's schedule."""
    self.workdir = os.path.abspath(workdir)
    self.seeds = seeds
    self.steps = steps
    self.job = quickstart.Job(self.workdir, tiny=tiny)
    self.rows = {r: TABLE3[r] for r in (TABLE3 if rows is None else rows)}
    missing = [r.pgg_from for r in self.rows.values()
               if r.pgg_from is not None and r.pgg_from not in self.rows]
    if missing:
      raise ValueError(f'ablations: PGG rows need their stage-1 rows {missing}')
    self.table4 = FINAL_ROW in self.rows

  def row_dir(self, seed: int, row: str) -> str:
    return os.path.join(self.workdir, f'seed{seed}', row)

  def config(self, stage: str, row: str, seed: int, init_from: str | None = None):
    overrides = train_overrides(TABLE3[row], seed)
    if init_from is not None:
      overrides['train.init_from'] = init_from
    config = self.job.config(stage, overrides)
    if self.steps is not None and stage == 'spatial':
      fraction = config.optim.decay_step / config.train.num_steps
      config.train.num_steps = self.steps
      config.optim.decay_step = int(round(fraction * self.steps))
    return config

  # -- training ---------------------------------------------------------------------------

  def train_all(self) -> None:
    checkpoints.quiet_checkpoint_logs()
    for seed in self.seeds:
      for name, row in self.rows.items():
        start = time.time()
        if row.pgg_from is None:
          stage, init = 'spatial', None
        else:
          stage, init = 'pgg', os.path.join(self.row_dir(seed, row.pgg_from), 'model')
        print(f'\n=== seed {seed}: {name} ({stage}) ===', flush=True)
        _train(self.config(stage, name, seed, init),
               os.path.join(self.row_dir(seed, name), 'model'))
        print(f'[{name} seed {seed}] {time.time() - start:.0f} s', flush=True)
      if not self.table4:
        continue
      print(f'\n=== seed {seed}: TemporalNet on {FINAL_ROW} ===', flush=True)
      _train(self.config('temporal', FINAL_ROW, seed,
                         os.path.join(self.row_dir(seed, FINAL_ROW), 'model')),
             os.path.join(self.workdir, f'seed{seed}', 'temporal'))

  # -- evaluation -------------------------------------------------------------------------

  def evaluate_all(self) -> None:
    for seed in self.seeds:
      for name, row in self.rows.items():
        out = os.path.join(self.row_dir(seed, name), 'eval_run')
        if os.path.isfile(os.path.join(out, 'eval', f'posetrack_ap_{name}.json')):
          continue
        stage = 'spatial' if row.pgg_from is None else 'pgg'
        tables.evaluate_tracking(
            self.config(stage, name, seed), os.path.join(self.row_dir(seed, name), 'model'),
            split='val', out_dir=out, similarities=(), use_pgg=(row.pgg_from is not None,),
            print_tables=False)
      out = os.path.join(self.workdir, f'seed{seed}', 'table4')
      if self.table4 and not os.path.isfile(os.path.join(out, 'eval', 'posetrack_mota_he_tie_pgg.json')):
        tables.evaluate_tracking(
            self.config('temporal', FINAL_ROW, seed),
            os.path.join(self.row_dir(seed, FINAL_ROW), 'model'),
            os.path.join(self.workdir, f'seed{seed}', 'temporal'), split='val', out_dir=out,
            similarities=[s for s in TABLE4 if not s.endswith('_pgg')],
            use_pgg=(False, True), decode_ablations=False, print_tables=False)

  def row_files(self, table: str, row: str, seed: int) -> tuple[str, str]:
    """(gt dir, prediction dir) of a row's evaluation."""
    if table == 'table3':
      out = os.path.join(self.row_dir(seed, row), 'eval_run')
      return os.path.join(out, 'gt'), os.path.join(out, 'pred_ap', row)
    out = os.path.join(self.workdir, f'seed{seed}', 'table4')
    return os.path.join(out, 'gt'), os.path.join(out, 'pred', row)

  def statistics(self) -> dict[str, dict[str, list[bootstrap.SequenceStatistics]]]:
    """Per table, row: the per-seed sequence statistics for the bootstrap."""
    out = {'table3': {}, 'table4': {}}
    tables = [('table3', list(self.rows))] + ([('table4', list(TABLE4))] if self.table4 else [])
    for table, rows in tables:
      for row in rows:
        per_seed = []
        for seed in self.seeds:
          gt_dir, pred_dir = self.row_files(table, row, seed)
          gts, preds = posetrack.load_directories(gt_dir, pred_dir)
          per_seed.append(bootstrap.sequence_statistics(
              gts, preds, ap=table == 'table3', mota=table == 'table4'))
        out[table][row] = per_seed
    return out

  def hota_totals(self, row: str) -> dict:
    """Keypoint HOTA of a Table 4 row: total HOTA, DetA, AssA, LocA (%), mean over seeds,
    and ``per_seed``."""
    per_seed = []
    for seed in self.seeds:
      result = hota_lib.evaluate(*self.row_files('table4', row, seed))
      per_seed.append({label: float(result[field]['Total']) for field, label in HOTA_FIELDS})
    out = {label: float(np.mean([s[label] for s in per_seed])) for _, label in HOTA_FIELDS}
    out['per_seed'] = per_seed
    return out

  # -- tables -----------------------------------------------------------------------------

  def summarise(self) -> dict:
    stats = self.statistics()
    names = next(iter(stats['table3'].values()))[0].names
    samples = bootstrap.draws(len(names), NUM_SAMPLES, seed=0)
    steps = self.config('spatial', 'ke', self.seeds[0]).train.num_steps
    summary = {'seeds': self.seeds, 'stage1_steps': int(steps),
               'num_sequences': len(names), 'samples': NUM_SAMPLES,
               'level': 0.95, 'rows': {}, 'orderings': []}
    replicate_values = {}
    for table, metric in (('table3', 'ap'), ('table4', 'mota')):
      fn = bootstrap.METRICS[metric]
      for row, per_seed in stats.get(table, {}).items():
        every = np.arange(len(names))
        seeds = [fn(s, every) for s in per_seed]
        # A draw's value is the mean over seeds of the metric on the drawn sequences.
        reps = np.array([np.mean([fn(s, d) for s in per_seed]) for d in samples])
        replicate_values[table, row] = reps
        low, high = np.nanpercentile(reps, [2.5, 97.5])
        summary['rows'][f'{table}/{row}'] = {
            'table': table, 'row': row, 'metric': metric, 'label': LABELS[row],
            'value': float(np.mean(seeds)), 'low': float(low), 'high': float(high),
            'per_seed': [float(v) for v in seeds], 'paper': PAPER[table][row]}
        if table == 'table4':
          summary['rows'][f'{table}/{row}']['hota'] = self.hota_totals(row)
    for table, better, worse in ORDERINGS:
      if (table, better) not in replicate_values or (table, worse) not in replicate_values:
        continue
      a = summary['rows'][f'{table}/{better}']
      b = summary['rows'][f'{table}/{worse}']
      diff = replicate_values[table, better] - replicate_values[table, worse]
      d_low, d_high = np.nanpercentile(diff, [2.5, 97.5])
      if a['low'] > b['high']:
        verdict = 'reproduced'
      elif b['low'] > a['high']:
        verdict = 'contradicted'
      else:
        verdict = 'not separated'
      summary['orderings'].append({
          'table': table, 'better': better, 'worse': worse, 'verdict': verdict,
          'paired_verdict': paired_verdict(float(d_low), float(d_high)),
          'difference': a['value'] - b['value'], 'difference_low': float(d_low),
          'difference_high': float(d_high)})
    return summary

  def write(self, summary: dict) -> None:
    summary['machine'] = report.machine_info()
    with open(os.path.join(self.workdir, 'table.json'), 'w', encoding='utf-8') as f:
      json.dump(summary, f, indent=2)
    with open(os.path.join(self.workdir, 'table.md'), 'w', encoding='utf-8') as f:
      f.write(format_markdown(summary))
    plot_rows(summary, os.path.join(self.workdir, 'ablations.png'))
    if 'ke_sie' in self.rows and 'ke_sie_aux' in self.rows:
      plot_fig5([os.path.join(self.row_dir(s, 'ke_sie'), 'model') for s in self.seeds],
                [os.path.join(self.row_dir(s, 'ke_sie_aux'), 'model') for s in self.seeds],
                os.path.join(self.workdir, 'fig5_ke_aux.png'))

  def run(self) -> dict:
    start = time.time()
    print('\n=== data ===', flush=True)
    self.job.data()
    self.train_all()
    print('\n=== evaluate ===', flush=True)
    self.evaluate_all()
    summary = self.summarise()
    summary['wall_seconds_this_attempt'] = time.time() - start
    self.write(summary)
    print(format_markdown(summary), flush=True)
    return summary


def paired_verdict(low: float, high: float) -> str:
  """The verdict of a paired difference (better - worse) from its interval's bounds."""
  if low > 0:
    return 'reproduced'
  if high < 0:
    return 'contradicted'
  return 'not separated'


def format_markdown(summary: dict) -> str:
  """The two tables with intervals, and the paper's orderings row by row."""
  level = int(round(100 * summary['level']))
  lines = [f'Seeds {", ".join(map(str, summary["seeds"]))}; stage 1 '
           f'{summary["stage1_steps"]} steps per row; {summary["num_sequences"]} val '
           f'sequences; {level}% bootstrap intervals over sequences ({summary["samples"]} '
           'draws, the seeds\' mean per draw).', '']
  for table, title in (('table3', 'Table 3: PoseTrack AP (%), each row its own model'),
                       ('table4', 'Table 4: PoseTrack MOTA (%), final model of each seed; '
                        'keypoint HOTA, DetA, AssA, LocA (%, PoseTrack21 kit) of the same '
                        'files, mean over seeds')):
    rows = [r for r in summary['rows'].values() if r['table'] == table]
    with_hota = any('hota' in r for r in rows)
    hota_labels = [label for _, label in HOTA_FIELDS] if with_hota else []
    lines += [f'**{title}**', '', f'| row | value | {level}% interval | per seed | paper |'
              + ''.join(f' {label} |' for label in hota_labels),
              '| --- | ---: | ---: | ---: | ---: |' + ' ---: |' * len(hota_labels)]
    for r in rows:
      seeds = ' / '.join(f'{v:.1f}' for v in r['per_seed'])
      hota_cells = ''.join(f' {r["hota"][label]:.1f} |' if 'hota' in r else ' n/a |'
                           for label in hota_labels)
      lines.append(f'| {r["label"]} | {r["value"]:.1f} | {r["low"]:.1f} .. {r["high"]:.1f} | '
                   f'{seeds} | {r["paper"]:.1f} |{hota_cells}')
    lines.append('')
  lines += ['**The paper\'s orderings**', '',
            '| table | paper says | difference | interval of the difference | verdict | '
            'paired verdict |',
            '| --- | --- | ---: | ---: | --- | --- |']
  for o in summary['orderings']:
    paired = paired_verdict(o['difference_low'], o['difference_high'])
    lines.append(f'| {o["table"][-1]} | {LABELS[o["better"]]} > {LABELS[o["worse"]]} | '
                 f'{o["difference"]:+.1f} | {o["difference_low"]:+.1f} .. '
                 f'{o["difference_high"]:+.1f} | {o["verdict"]} | {paired} |')
  lines += ['', '"verdict" compares the rows\' own intervals: "reproduced" when they do not '
            'overlap, in the paper\'s order; "contradicted" when they do not overlap, in the '
            'other order; "not separated" when they overlap. "paired verdict" reads the '
            'interval of the difference (both rows resampled with the same draws of val '
            'sequences, so the sequences\' shared difficulty cancels): "reproduced" when it '
            'lies above zero, "contradicted" when below, "not separated" when it holds zero.']
  return '\n'.join(lines) + '\n'


def plot_rows(summary: dict, out_png: str) -> None:
  """Both tables as horizontal interval bars."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
  for ax, (table, metric) in zip(axes, (('table3', 'AP'), ('table4', 'MOTA'))):
    rows = [r for r in summary['rows'].values() if r['table'] == table]
    if not rows:
      ax.set_axis_off()
      continue
    y = np.arange(len(rows))[::-1]
    values = np.array([r['value'] for r in rows])
    err = np.array([[r['value'] - r['low'] for r in rows], [r['high'] - r['value'] for r in rows]])
    ax.errorbar(values, y, xerr=err, fmt='o', capsize=3, color='tab:blue')
    for k, r in enumerate(rows):
      ax.plot(r['per_seed'], [y[k]] * len(r['per_seed']), 'x', color='tab:gray', ms=4)
    ax.set_yticks(y, [r['label'] for r in rows])
    ax.set_xlabel(f'PoseTrack {metric} (%), 95% interval; x: seeds')
    ax.grid(axis='x', alpha=0.3)
  fig.tight_layout()
  os.makedirs(os.path.dirname(out_png) or '.', exist_ok=True)
  fig.savefig(out_png, dpi=110)
  plt.close(fig)


def plot_fig5(without_aux: list[str], with_aux: list[str], out_png: str) -> None:
  """Fig. 5: the KE loss (train/ke = pull + push) over training, without and with aux."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(6, 3.6))
  for workdirs, color, label in ((without_aux, 'tab:cyan', 'KE+SIE'),
                                 (with_aux, 'tab:orange', 'KE+SIE+aux')):
    for k, workdir in enumerate(workdirs):
      steps, values = plots.load_curves(workdir).series['train/ke']
      ax.plot(steps, values, color=color, alpha=0.9 if k == 0 else 0.5,
              label=label if k == 0 else None)
  ax.set_xlabel('step')
  ax.set_ylabel('KE loss (pull + push)')
  ax.set_yscale('log')
  ax.legend()
  ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(out_png, dpi=110)
  plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--workdir', default='runs/ablations',
                      help='everything the run writes goes here')
  parser.add_argument('--seeds', default='0,1',
                      help='training seeds, comma-separated (each Table 3 row per seed)')
  parser.add_argument('--rows', default=','.join(TABLE3),
                      help='Table 3 rows to train (Table 4 needs ke_sie_aux_pgg)')
  parser.add_argument('--steps', type=int, default=None,
                      help="stage-1 training steps per row (default: the main job's)")
  parser.add_argument('--tiny', action='store_true',
                      help='test size: 64-px data, a few training steps')
  parser.add_argument('--rewrite-table', action='store_true',
                      help="write table.md again from the workdir's table.json (nothing is "
                           'trained or evaluated)')
  return parser


def rewrite_table(workdir: str) -> str:
  """table.md from an existing table.json (e.g. one written by an earlier version)."""
  path = os.path.join(workdir, 'table.json')
  if not os.path.isfile(path):
    raise SystemExit(f'--rewrite-table: {path} does not exist; run the ablations first')
  with open(path, encoding='utf-8') as f:
    summary = json.load(f)
  for key in ('seeds', 'stage1_steps', 'num_sequences', 'samples', 'level', 'rows',
              'orderings'):
    if key not in summary:
      raise SystemExit(f'--rewrite-table: {path} has no field {key!r}')
  out = os.path.join(workdir, 'table.md')
  with open(out, 'w', encoding='utf-8') as f:
    f.write(format_markdown(summary))
  return out


def main(argv: list[str] | None = None) -> int:
  args = build_parser().parse_args(argv)
  if args.rewrite_table:
    print(f'wrote {rewrite_table(args.workdir)}')
    return 0
  logging.set_verbosity(logging.WARNING)
  rows = [r for r in args.rows.split(',') if r]
  unknown = sorted(set(rows) - set(TABLE3))
  if unknown:
    raise SystemExit(f'--rows: unknown rows {unknown}; choose from {list(TABLE3)}')
  Ablations(args.workdir, [int(s) for s in args.seeds.split(',') if s], tiny=args.tiny,
            rows=rows, steps=args.steps).run()
  return 0


if __name__ == '__main__':
  sys.exit(main())
