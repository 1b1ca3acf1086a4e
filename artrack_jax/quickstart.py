"""The main job: the whole paper pipeline on the embedded synthetic benchmark, one command.

  python -m artrack_jax.quickstart --workdir runs/quickstart

Steps (each prints its progress; an interrupted run started again resumes: finished steps are
skipped, training resumes from its latest checkpoint):

  1. data      build the synthetic benchmark (TFDS `synthetic_posetrack/small_256`), write the
               val split in the PoseTrack/COCO file formats and print its statistics, with the
               MOTA of IoU/OKS trackers run on the ground-truth poses
  2. spatial   stage 1: SpatialNet (configs/quickstart.py)
  3. pgg       stage 2: fine-tune SpatialNet with Pose-Guided Grouping (configs/quickstart_pgg.py)
  4. temporal  stage 3: TemporalNet, SpatialNet frozen (configs/quickstart_temporal.py)
  5. evaluate  PoseTrack per-joint AP and COCO-style AP of stage 1 (without PGG) and stage 2
               (with PGG); PoseTrack MOTA and keypoint HOTA (DetA, AssA, LocA) of the
               tracker for every similarity of the paper's Table 4, on the same poses
  6. render    one tracked validation clip as an mp4 and frames, skeletons coloured by track id
  7. report    results.md (tables), plots/ (training curves, per-joint bars), timings.json

`--tiny` runs the same steps at test size (64-px data, a few steps) in a couple of minutes.
`--set STAGE:KEY=VALUE` (repeatable) changes one field of a stage's config, as `train.py`'s
`--config.KEY=VALUE` does, e.g. a longer stage 1 on a faster machine:

  python -m artrack_jax.quickstart --workdir runs/long \
      --set spatial:train.num_steps=24000 --set spatial:optim.decay_step=18000
"""
from __future__ import annotations

import ast
import json
import os
import shutil
import sys
import time

from absl import app
from absl import flags
from absl import logging

from artrack_jax import checkpoints
from artrack_jax import configs_util
from artrack_jax import track
from artrack_jax import train_lib
from artrack_jax.data import formats
from artrack_jax.data import synthetic
from artrack_jax.evaluation import bootstrap
from artrack_jax.evaluation import stats
from artrack_jax.evaluation import tables
from artrack_jax.viz import plots
from artrack_jax.viz import report

STEPS = ('data', 'spatial', 'pgg', 'temporal', 'evaluate', 'render', 'report')
# The differences the paper reports, (better, worse): Table 3 (AP) and Table 4 (MOTA).
TABLE3_PAIRS = (('ke_sie_aux', 'ke'), ('ke_sie_aux', 'sie'), ('ke_pgg', 'ke'),
                ('sie_pgg', 'sie'), ('ke_sie_aux_pgg', 'ke_sie_aux'))
TABLE4_PAIRS = (('he_tie', 'oks'), ('he_tie', 'iou'), ('he_tie_pgg', 'he_tie'),
                ('he_tie_pgg', 'oks'), ('he_tie_pgg', 'iou'))

FLAGS = flags.FLAGS
flags.DEFINE_string('workdir', 'runs/quickstart', 'Everything the job writes goes here.')
flags.DEFINE_list('steps', list(STEPS), f'Steps to run, a subset of {",".join(STEPS)}.')
flags.DEFINE_bool('tiny', False, 'Test size: 64-px data, a few training steps.')
flags.DEFINE_bool('force', False, 'Redo evaluation/render/report steps whose outputs exist.')
flags.DEFINE_multi_string('set', [], 'STAGE:KEY=VALUE: one field of a stage\'s config '
                          '(STAGE: spatial, pgg or temporal), e.g. spatial:train.num_steps=24000.')
STAGES = ('spatial', 'pgg', 'temporal')


def parse_settings(items: list[str]) -> dict[str, dict[str, str]]:
  """``['spatial:train.num_steps=24000', ...]`` -> ``{'spatial': {'train.num_steps': '24000'}}``.

  Values stay strings here; ``Job.config`` converts each to its field's type.
  """
  out: dict[str, dict[str, str]] = {}
  for item in items:
    stage, sep, rest = item.partition(':')
    key, eq, value = rest.partition('=')
    if not sep or not eq or not key:
      raise ValueError(f'--set {item!r}: expected STAGE:KEY=VALUE, e.g. spatial:train.num_steps=24000')
    if stage not in STAGES:
      raise ValueError(f'--set {item!r}: unknown stage {stage!r}; choose from {", ".join(STAGES)}')
    out.setdefault(stage, {})[key] = value
  return out


def _typed(key: str, text: str, current):
  """``text`` as a value of ``current``'s type (the ``--config.key=value`` conversions)."""
  if isinstance(current, bool):
    if text.lower() not in ('true', 'false', '1', '0'):
      raise ValueError(f'--set {key}={text}: expected true or false')
    return text.lower() in ('true', '1')
  if isinstance(current, (int, float)):
    try:
      return type(current)(text)
    except ValueError:
      kind = 'an integer' if isinstance(current, int) else 'a number'
      raise ValueError(f'--set {key}={text}: expected {kind}') from None
  if isinstance(current, str):
    return text
  try:
    value = ast.literal_eval(text)
  except (ValueError, SyntaxError):
    raise ValueError(f'--set {key}={text}: not a Python literal (e.g. (1, 2) or None)') from None
  if isinstance(current, (tuple, list)) and isinstance(value, (tuple, list)):
    return type(current)(value)
  return value


def _banner(text: str) -> None:
  print(f'\n=== {text} ===', flush=True)


class Job:
  """The main job's steps, sharing one workdir layout."""

  def __init__(self, workdir: str, tiny: bool = False, force: bool = False,
               settings: dict[str, dict[str, str]] | None = None):
    self.workdir = os.path.abspath(workdir)
    self.tiny = tiny
    self.settings = settings or {}
    self.force = force
    self.tfds_dir = os.path.join(self.workdir, 'tfds')
    self.files_dir = os.path.join(self.workdir, 'synthetic')   # val split in the file formats
    self.eval_dir = os.path.join(self.workdir, 'eval')
    self.timings_path = os.path.join(self.workdir, 'timings.json')
    os.makedirs(self.workdir, exist_ok=True)
    self._check_settings()

  # -- configuration -------------------------------------------------------------------------

  def _check_settings(self) -> None:
    """Keeps ``--set`` in ``settings.json``; a workdir resumed with other ones is an error."""
    path = os.path.join(self.workdir, 'settings.json')
    if os.path.isfile(path):
      with open(path, encoding='utf-8') as f:
        try:
          saved = json.load(f)
        except json.JSONDecodeError as e:
          raise ValueError(f'{path}: not valid JSON ({e})') from e
      if saved != self.settings:
        raise ValueError(f'{path}: this workdir was run with --set {saved}, not {self.settings}; '
                         'give the same --set to resume it, or use another --workdir')
    elif self.settings:
      with open(path, 'w', encoding='utf-8') as f:
        json.dump(self.settings, f, indent=1)

  def stage_workdir(self, stage: str) -> str:
    return os.path.join(self.workdir, stage)

  def config(self, stage: str, overrides: dict | None = None):
    """The config of a stage, pointed at this job's data and previous stage.

    ``overrides`` (``{'dotted.key': value}``, the ablations' switches) are applied first, the
    job's ``--set`` fields (strings, converted to each field's type) last.
    """
    name = {'spatial': 'quickstart', 'pgg': 'quickstart_pgg',
            'temporal': 'quickstart_temporal'}[stage]
    settings = {'data.data_dir': self.tfds_dir}
    if stage == 'pgg':
      settings['train.init_from'] = self.stage_workdir('spatial')
    elif stage == 'temporal':
      settings['train.init_from'] = self.stage_workdir('pgg')
    config = configs_util.load_config(name, {**settings, **(overrides or {})})
    if self.tiny:
      configs_util.load_config_module('tiny').shrink_quickstart(config)
    user = {}
    for key, text in self.settings.get(stage, {}).items():
      node = config
      for part in key.split('.'):
        if not hasattr(node, 'keys') or part not in node:
          raise KeyError(f'--set {stage}:{key}: {name} has no field {key!r}')
        node = node[part]
      user[key] = _typed(f'{stage}:{key}', text, node)
    return configs_util.apply_overrides(config, user, name)

  # -- timings -------------------------------------------------------------------------------

  def _timings(self) -> dict:
    if os.path.isfile(self.timings_path):
      with open(self.timings_path, encoding='utf-8') as f:
        return json.load(f)
    return {'stages': {}}

  def record_time(self, step: str, seconds: float) -> None:
    timings = self._timings()
    # A resumed step adds the time of each attempt.
    timings['stages'][step] = timings['stages'].get(step, 0.0) + seconds
    timings['total_seconds'] = sum(timings['stages'].values())
    timings['machine'] = report.machine_info()
    with open(self.timings_path, 'w', encoding='utf-8') as f:
      json.dump(timings, f, indent=2)

  # -- steps ---------------------------------------------------------------------------------

  def data(self) -> None:
    # Imported here: tensorflow_datasets takes seconds to import and only this step needs it.
    from artrack_jax.data import tfds_builders  # pylint: disable=g-import-not-at-top
    from artrack_jax.data.tfds_builders import synthetic_posetrack as synthetic_builder  # pylint: disable=g-import-not-at-top
    config = self.config('spatial')
    for split in ('train', 'val'):
      source = tfds_builders.load_split(config.data.name, split, self.tfds_dir,
                                        config=config.data.builder_config)
      print(f'{config.data.name}/{config.data.builder_config} {split}: {len(source)} frames')
    gt_dir = os.path.join(self.files_dir, 'annotations', 'posetrack18', 'val')
    complete = os.path.join(self.files_dir, 'val_written')
    # The marker is written last, so a run interrupted while writing writes the files again.
    if self.force or not os.path.isfile(complete):
      # The same clips as the TFDS val split (same generator, seed and sizes), as files.
      builder_config = {c.name: c for c in synthetic_builder.SyntheticPosetrack.BUILDER_CONFIGS}[
          config.data.builder_config]
      written = synthetic.write_dataset(
          self.files_dir, {'val': dict(builder_config.clips)['val']},
          num_frames=builder_config.num_frames, image_size=builder_config.image_size,
          seed=builder_config.seed)
      sequences = written['val']
      with open(complete, 'w', encoding='utf-8') as f:
        f.write(f'{len(sequences)} clips\n')
    else:
      sequences = formats.read_posetrack_dir(gt_dir)
    print(stats.format_statistics(
        stats.split_statistics(sequences, metadata=stats.load_metadata(self.files_dir, 'val'),
                               gt_dir=gt_dir),
        title=f'val ({len(sequences)} clips)'), flush=True)

  def train(self, stage: str) -> None:
    checkpoints.quiet_checkpoint_logs()
    train_lib.train_and_evaluate(self.config(stage), self.stage_workdir(stage))

  def evaluate(self) -> None:
    """PoseTrack AP/MOTA and COCO-style AP on the val split, rows of the paper's Tables 3 and 4.

    Table 4 and the Table 3 rows with PGG use the final networks (stage 2 SpatialNet, stage 3
    TemporalNet); the Table 3 rows without PGG use the stage-1 SpatialNet, trained without PGG,
    so that '+PGG' compares a model before and after the PGG fine-tuning, as the paper does.
    KE-only and SIE-only rows are decode-time ablations of those models (not retrained).
    """
    marker = os.path.join(self.eval_dir, 'posetrack_ap_ke_sie_aux.json')
    if os.path.isfile(marker) and not self.force:
      print(f'{marker} exists; evaluation skipped')
      return
    print('Final networks (stage 2 SpatialNet + stage 3 TemporalNet): Table 4, Table 3 +PGG rows')
    tables.evaluate_tracking(
        self.config('temporal'), self.stage_workdir('pgg'), self.stage_workdir('temporal'),
        split='val', out_dir=self.workdir)
    print('Stage-1 SpatialNet (trained without PGG): Table 3 rows without PGG')
    tables.evaluate_tracking(
        self.config('spatial'), self.stage_workdir('spatial'), split='val',
        out_dir=os.path.join(self.workdir, 'stage1'), similarities=(), use_pgg=(False,))
    self.intervals()
    # The stage-1 rows replace the final model's rows of the same names in the tables (copied
    # last: the marker above says the whole step is done).
    stage1_eval = os.path.join(self.workdir, 'stage1', 'eval')
    for name in sorted(os.listdir(stage1_eval)):
      if name.startswith(('posetrack_ap_', 'coco_ap_')):
        shutil.copyfile(os.path.join(stage1_eval, name), os.path.join(self.eval_dir, name))

  def intervals(self) -> dict:
    """95% bootstrap intervals over the val sequences of every Table 3 AP and Table 4 MOTA
    row, and of the differences the paper reports, written to ``eval/intervals.json``."""
    stage1 = os.path.join(self.workdir, 'stage1')
    table3, table4 = {}, {}
    for base in (self.workdir, stage1):
      ap_dir = os.path.join(base, 'pred_ap')
      for row in sorted(os.listdir(ap_dir)) if os.path.isdir(ap_dir) else []:
        # Rows without PGG come from the stage-1 model (as in the tables).
        if row.endswith('_pgg') == (base == self.workdir):
          table3[row] = (os.path.join(base, 'gt'), os.path.join(ap_dir, row))
    mota_dir = os.path.join(self.workdir, 'pred')
    for row in sorted(os.listdir(mota_dir)) if os.path.isdir(mota_dir) else []:
      table4[row] = (os.path.join(self.workdir, 'gt'), os.path.join(mota_dir, row))
    result = {
        'ap': bootstrap.row_intervals(table3, 'ap', pairs=TABLE3_PAIRS) if table3 else None,
        'mota': bootstrap.row_intervals(table4, 'mota', pairs=TABLE4_PAIRS) if table4 else None}
    os.makedirs(self.eval_dir, exist_ok=True)
    with open(os.path.join(self.eval_dir, 'intervals.json'), 'w', encoding='utf-8') as f:
      json.dump(result, f, indent=2)
    for table in ('ap', 'mota'):
      for name, r in ((result[table] or {}).get('differences') or {}).items():
        print(f'{table} {name}: {r["value"]:+.1f} (95% interval {r["low"]:+.1f} .. '
              f'{r["high"]:+.1f})')
    return result

  def render(self) -> None:
    out = os.path.join(self.workdir, 'render')
    images_dir = os.path.join(self.files_dir, 'images', 'val')
    clips = sorted(os.listdir(images_dir))
    if not clips:
      raise FileNotFoundError(f'{images_dir}: no validation clip to render (run the data step)')
    clip = os.path.join(images_dir, clips[0])
    if os.path.isdir(out) and not self.force:
      print(f'{out} exists; skipped')
      return
    args = track.build_parser().parse_args(
        ['--workdir', self.stage_workdir('temporal'), '--video', clip, '--out', out, '--frames'])
    track.run(args, config=self.config('temporal'))
    print(f'rendered {clip} -> {out}')

  def report(self) -> None:
    plots_dir = os.path.join(self.workdir, 'plots')
    workdirs = [self.stage_workdir(s) for s in ('spatial', 'pgg', 'temporal')
                if os.path.isfile(os.path.join(self.stage_workdir(s), 'metrics.jsonl'))]
    if workdirs:
      plots.plot_training_curves(workdirs, os.path.join(plots_dir, 'training_curves.png'))
    results = {}
    for name in sorted(os.listdir(self.eval_dir)) if os.path.isdir(self.eval_dir) else []:
      if name.startswith('posetrack_mota_') and name.endswith('.json'):
        results[name[len('posetrack_mota_'):-len('.json')]] = report.load_json_object(
            os.path.join(self.eval_dir, name))
    for metric in ('ap', 'mota'):
      if results:
        plots.plot_per_joint_bars(results, metric,
                                  os.path.join(plots_dir, f'posetrack_{metric}.png'))
    path = os.path.join(self.workdir, 'results.md')
    report.write_report(self.workdir, plots_dir=plots_dir, out_path=path)
    print(open(path, encoding='utf-8').read())

  def run(self, steps) -> None:
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
      raise ValueError(f'unknown steps {unknown}; choose from {STEPS}')
    start = time.time()
    for step in STEPS:
      if step not in steps:
        continue
      _banner(f'{step} ({STEPS.index(step) + 1}/{len(STEPS)})')
      t0 = time.time()
      if step in ('spatial', 'pgg', 'temporal'):
        self.train(step)
      else:
        getattr(self, step)()
      self.record_time(step, time.time() - t0)
      print(f'[{step}] done in {time.time() - t0:.0f} s (job so far {time.time() - start:.0f} s)',
            flush=True)


def main(argv) -> None:
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  logging.set_verbosity(logging.INFO)
  try:
    settings = parse_settings(FLAGS.set)
  except ValueError as e:
    raise app.UsageError(str(e)) from None
  Job(FLAGS.workdir, tiny=FLAGS.tiny, force=FLAGS.force, settings=settings).run(FLAGS.steps)


if __name__ == '__main__':
  app.run(main)
  sys.exit(0)
