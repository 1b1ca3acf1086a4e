"""Plots: training curves from metrics.jsonl, per-joint bars from real PoseTrack results."""
import json
import math
import os

import numpy as np
import pytest
from PIL import Image

from artrack_jax import metrics_writer
from artrack_jax.evaluation import cli
from artrack_jax.evaluation import posetrack
from artrack_jax.viz import plots
from artrack_jax.viz import report

J = 15


# -- Inputs. ---------------------------------------------------------------------------------


def write_metrics(workdir, records):
  os.makedirs(workdir, exist_ok=True)
  with open(os.path.join(workdir, metrics_writer.METRICS_FILE), 'w') as f:
    for record in records:
      f.write(json.dumps(record, allow_nan=True) + '\n')


def stage_records(num_steps, extra=None, nan_at=None):
  """Trainer-like records: train/ every 10 steps (names as train_lib logs them), val/ at 100s."""
  records = []
  for step in range(10, num_steps + 1, 10):
    record = {'step': step, 'train/loss': 1.0 / step, 'train/det': 0.5 / step,
              'train/det_last_stack': 0.2 / step, 'train/ke': 0.1, 'train/ke_pull': 0.01,
              'train/ke_push': 0.02, 'train/grad_norm': 2.0, 'train/learning_rate': 2e-4,
              'train/skipped': 0.0, 'train/skipped_steps': 0.0, 'train/consecutive_skips': 0.0,
              'train/steps_per_second': 3.0, **(extra or {})}
    if step == nan_at:
      record['train/loss'] = math.nan
    records.append(record)
    if step % 100 == 0:
      records.append({'step': step, 'val/AP': step / 1000, 'val/AP50': 0.5,
                      'val/num_images': 8.0})
  return records


def pose(cx, cy):
  j = np.arange(J)
  return np.stack([cx + 2.0 * (j % 5), cy + 2.0 * (j // 5)], axis=1)


def annolist(frames, role):
  """PoseTrack 2017 file of frames [[(track_id, x, y, dropped joints, x shift)]]."""
  images = []
  for people in frames:
    rects = []
    for track_id, cx, cy, dropped, shift in people:
      xy = pose(cx, cy) + np.asarray([shift, 0.0])
      points = []
      for j in range(J):
        if j in dropped:
          continue
        point = {'id': [j], 'x': [float(xy[j, 0])], 'y': [float(xy[j, 1])]}
        if role == 'pred':
          point['score'] = [0.9 - 0.01 * j]
        points.append(point)
      rect = {'track_id': [track_id], 'annopoints': [{'point': points}]}
      if role == 'gt':
        rect.update(x1=[cx], y1=[cy], x2=[cx + 10.0], y2=[cy + 10.0])
      rects.append(rect)
    images.append({'image': [{'name': 'x.jpg'}], 'annorect': rects})
  return {'annolist': images}


def evaluate_files(root, gt_frames, pred_frames):
  """Runs the evaluation CLI on one sequence; returns the path of its --out JSON."""
  for role, frames in (('gt', gt_frames), ('pred', pred_frames)):
    os.makedirs(os.path.join(root, role), exist_ok=True)
    with open(os.path.join(root, role, 'seq.json'), 'w') as f:
      json.dump(annolist(frames, role), f)
  out = os.path.join(root, 'result.json')
  assert cli.main(['--gt', os.path.join(root, 'gt'), '--pred', os.path.join(root, 'pred'),
                   '--out', out]) == 0
  return out


@pytest.fixture(scope='module')
def result_files(tmp_path_factory):
  """Two real results: 'swap' (an identity switch, a shifted person) and 'no_head_top'
  (head_top never annotated: its AP and MOTA are undefined, null in the JSON)."""
  root = tmp_path_factory.mktemp('posetrack')
  head_top = posetrack.JOINT_NAMES.index('head_top')
  pred = [[(0, 10, 10, (), 0.0), (1, 60, 10, (), 6.0 if t == 1 else 0.0)] for t in range(4)]
  pred[2] = [(1, 10, 10, (), 0.0), (0, 60, 10, (), 0.0)]
  swap = evaluate_files(str(root / 'swap'),
                        [[(0, 10, 10, {head_top}, 0.0), (1, 60, 10, (), 0.0)]] * 4, pred)
  no_head_top = evaluate_files(
      str(root / 'no_head_top'), [[(0, 10, 10, {head_top}, 0.0),
                                   (1, 60, 10, {head_top}, 0.0)]] * 4, pred)
  return {'swap': swap, 'no_head_top': no_head_top}


def assert_png(path, min_width, min_height):
  with Image.open(path) as image:
    assert image.format == 'PNG'
    assert image.width >= min_width and image.height >= min_height
    assert image.width <= 4000 and image.height <= 4000
    pixels = np.asarray(image.convert('RGB'))
  # Something is drawn: many distinct colours, not a blank canvas.
  assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20


# -- Training curves. ------------------------------------------------------------------------


def test_load_curves_keeps_the_last_record_of_a_resumed_step(tmp_path):
  write_metrics(tmp_path, [{'step': 10, 'train/loss': 3.0}, {'step': 20, 'train/loss': 2.0},
                           {'step': 20, 'train/loss': 5.0, 'val/AP': 0.25},
                           {'step': 30, 'train/loss': 1.0}])
  run = plots.load_curves(str(tmp_path))
  steps, values = run.series['train/loss']
  np.testing.assert_array_equal(steps, [10, 20, 30])
  np.testing.assert_array_equal(values, [3.0, 5.0, 1.0])
  np.testing.assert_array_equal(run.series['val/AP'][0], [20])
  assert run.label == os.path.basename(str(tmp_path))
  assert (run.first_step, run.last_step) == (10, 30)


def test_load_curves_leaves_out_pycocotools_no_data(tmp_path):
  # COCOeval gives -1 for an area range without ground truth (APM on small frames).
  write_metrics(tmp_path, [{'step': 10, 'train/loss': -1.0, 'val/AP': 0.1, 'val/APM': -1.0,
                            'val/APL': -1.0, 'val/num_people': -1.0},
                           {'step': 20, 'train/loss': 2.0, 'val/AP': -1.0, 'val/APL': 0.3,
                            'eval/ARM': -1.0}])
  run = plots.load_curves(str(tmp_path))
  np.testing.assert_array_equal(run.series['val/AP'][0], [10])
  np.testing.assert_array_equal(run.series['val/APL'][0], [20])
  np.testing.assert_array_equal(run.series['val/APL'][1], [0.3])
  assert 'val/APM' not in run.series and 'eval/ARM' not in run.series
  # Other values of -1 (a loss, a count) are values.
  np.testing.assert_array_equal(run.series['train/loss'][1], [-1.0, 2.0])
  np.testing.assert_array_equal(run.series['val/num_people'][1], [-1.0])
  drawn = plots.plot_training_curves([str(tmp_path)], str(tmp_path / 'curves.png'))
  assert drawn['val metrics']['metrics'] == ['val/AP', 'val/APL']


def test_load_curves_errors_name_the_file_and_record(tmp_path):
  with pytest.raises(FileNotFoundError):
    plots.load_curves(str(tmp_path / 'missing'))
  write_metrics(tmp_path, [{'step': 10, 'train/loss': 1.0}, {'step': '20', 'train/loss': 1.0}])
  with pytest.raises(ValueError, match=r"metrics.jsonl: record 2: field 'step'"):
    plots.load_curves(str(tmp_path))
  write_metrics(tmp_path, [{'step': 10, 'train/loss': 'low'}])
  with pytest.raises(ValueError, match=r"record 1: field 'train/loss' must be a number"):
    plots.load_curves(str(tmp_path))
  write_metrics(tmp_path, [{'step': 10}])
  with pytest.raises(ValueError, match='no metrics recorded'):
    plots.load_curves(str(tmp_path))


def test_panel_of_groups_the_trainer_names():
  titles = {name: plots.panel_of(name).title for name in (
      'train/loss', 'train/det', 'train/ke', 'train/pgg_loss', 'train/pgg_tie_loss',
      'train/ke_pull', 'train/pgg_push_sie_last', 'train/he_active', 'train/learning_rate',
      'train/steps_per_second', 'train/grad_norm', 'train/skipped_steps', 'val/AP',
      'eval/AP50', 'val/num_images')}
  assert titles == {
      'train/loss': 'Total loss', 'train/det': 'Loss terms', 'train/ke': 'Loss terms',
      'train/pgg_loss': 'Loss terms', 'train/pgg_tie_loss': 'Loss terms',
      'train/ke_pull': 'ke: parts and diagnostics',
      'train/pgg_push_sie_last': 'pgg: parts and diagnostics',
      'train/he_active': 'he: parts and diagnostics', 'train/learning_rate': 'Learning rate',
      'train/steps_per_second': 'Training speed (steps/s)', 'train/grad_norm': 'Gradient norm',
      'train/skipped_steps': 'Skipped (non-finite) steps', 'val/AP': 'val metrics',
      'eval/AP50': 'eval metrics', 'val/num_images': 'val: counts'}


def test_step_offsets_concatenate_restarted_stages_and_keep_global_steps():
  def run(first, last):
    return plots.RunCurves('r', {'train/loss': (np.asarray([first, last]), np.ones(2))})
  # Stage 2 restarts at step 10: it continues after stage 1's last step (200); stage 3 counts
  # on from 400 already (beyond 200 + 100), so it keeps its steps.
  runs = [run(10, 200), run(10, 100), run(400, 500)]
  assert plots.step_offsets(runs, overlay=False) == [0, 200, 0]
  assert plots.step_offsets(runs, overlay=True) == [0, 0, 0]


def test_training_curves_png(tmp_path):
  spatial, pgg = str(tmp_path / 'spatial'), str(tmp_path / 'pgg')
  write_metrics(spatial, stage_records(200))
  write_metrics(pgg, stage_records(100, extra={'train/pgg_loss': 0.3,
                                               'train/pgg_mask_pixels': 40.0}, nan_at=50))
  out = str(tmp_path / 'plots' / 'curves.png')
  drawn = plots.plot_training_curves([spatial, pgg], out)
  assert_png(out, 1000, 1500)
  assert list(drawn) == [
      'Total loss', 'Loss terms', 'Learning rate', 'Training speed (steps/s)', 'Gradient norm',
      'Skipped (non-finite) steps', 'val metrics', 'det: parts and diagnostics',
      'ke: parts and diagnostics', 'pgg: parts and diagnostics', 'val: counts']
  assert drawn['Total loss'] == {'metrics': ['train/loss'], 'log_scale': True, 'non_finite': 1}
  assert drawn['Loss terms']['metrics'] == ['train/det', 'train/ke', 'train/pgg_loss']
  assert drawn['Loss terms']['log_scale'] and drawn['Learning rate']['log_scale']
  # Counters are zero: a log axis cannot show them.
  assert drawn['Skipped (non-finite) steps']['log_scale'] is False
  assert drawn['val metrics'] == {'metrics': ['val/AP', 'val/AP50'], 'log_scale': False,
                                  'non_finite': 0}


def test_training_curves_overlay(tmp_path):
  first, second = str(tmp_path / 'a'), str(tmp_path / 'b')
  write_metrics(first, [{'step': 10, 'train/loss': 1.0}, {'step': 20, 'train/loss': -0.5},
                        {'step': 20, 'eval/AP': 0.25}])
  write_metrics(second, [{'step': 10, 'train/loss': math.inf}, {'step': 20, 'train/loss': 0.5}])
  out = str(tmp_path / 'overlay.png')
  drawn = plots.plot_training_curves([first, second], out, overlay=True, labels=['A', 'B'])
  assert_png(out, 1000, 300)
  # A negative loss value turns the log axis off; the infinity is marked, not drawn.
  assert drawn == {'Total loss': {'metrics': ['train/loss'], 'log_scale': False,
                                  'non_finite': 1},
                   'eval metrics': {'metrics': ['eval/AP'], 'log_scale': False,
                                    'non_finite': 0}}


def test_training_curves_argument_errors(tmp_path):
  with pytest.raises(ValueError, match='at least one workdir'):
    plots.plot_training_curves([], str(tmp_path / 'x.png'))
  with pytest.raises(ValueError, match='1 labels for 2 workdirs'):
    plots.plot_training_curves(['a', 'b'], str(tmp_path / 'x.png'), labels=['a'])


# -- Per-joint bars. -------------------------------------------------------------------------


def test_per_joint_bars_draw_the_result_columns(tmp_path, result_files):
  results = {label: report.load_json_object(path) for label, path in result_files.items()}
  out = str(tmp_path / 'mota.png')
  values = plots.plot_per_joint_bars(results, 'mota', out)
  assert_png(out, 600, 300)
  # Oracle: the JSON's columns read plainly, null -> NaN.
  with open(result_files['swap']) as f:
    swap = json.load(f)['mota']
  with open(result_files['no_head_top']) as f:
    no_head_top = json.load(f)['mota']
  expected = np.asarray([[np.nan if d[c] is None else d[c] for c in posetrack.COLUMN_NAMES]
                         for d in (swap, no_head_top)])
  np.testing.assert_array_equal(values, expected)
  # The undefined head_top makes the Head column undefined for 'no_head_top' only.
  assert np.isnan(values[1, 0]) and not np.isnan(values[0, 0])
  # The identity switch and the shifted person keep MOTA below 100 and Head's negative.
  assert values[0, 0] < 0 and np.all(values[:, 1:] < 100)


def test_per_joint_bars_by_joint_and_errors(tmp_path, result_files):
  result = report.load_json_object(result_files['swap'])
  out = str(tmp_path / 'joints.png')
  columns = posetrack.JOINT_NAMES + ('Total',)
  values = plots.plot_per_joint_bars({'swap': result}, 'ap', out, columns=columns)
  assert_png(out, 600, 300)
  np.testing.assert_array_equal(values[0], [result['ap'][c] for c in columns])
  no_mota = {k: v for k, v in result.items() if k != 'mota'}
  with pytest.raises(ValueError, match=r"result 'IoU': no 'mota' in the result"):
    plots.plot_per_joint_bars({'IoU': no_mota}, 'mota', out)
  with pytest.raises(ValueError, match='metric must be one of'):
    plots.plot_per_joint_bars({'swap': result}, 'mAP', out)
  broken = dict(result, ap=dict(result['ap'], Knee='high'))
  with pytest.raises(ValueError, match=r"result 'x': field ap.Knee must be a number"):
    plots.plot_per_joint_bars({'x': broken}, 'ap', out)


# -- Command line. ---------------------------------------------------------------------------


def test_cli_writes_curves_and_bars(tmp_path, result_files, capsys):
  workdir = str(tmp_path / 'run')
  write_metrics(workdir, [{'step': 1, 'train/loss': 2.0}, {'step': 2, 'train/loss': 1.0}])
  out = str(tmp_path / 'plots')
  assert plots.main(['--workdir', workdir, '--result', f'OKS={result_files["swap"]}',
                     '--result', result_files['no_head_top'], '--out', out]) == 0
  written = capsys.readouterr().out.split()
  assert written == [os.path.join(out, name) for name in
                     ('training_curves.png', 'posetrack_ap.png', 'posetrack_mota.png')]
  for path in written:
    assert_png(path, 600, 300)


def test_cli_errors(tmp_path, result_files, capsys):
  out = str(tmp_path / 'plots')
  assert plots.main(['--result', f'a={result_files["swap"]}', '--result',
                     f'a={result_files["swap"]}', '--out', out]) == 1
  assert "label 'a' given twice" in capsys.readouterr().err
  bad = tmp_path / 'bad.json'
  bad.write_text('[1, 2]')
  assert plots.main(['--result', str(bad), '--out', out]) == 1
  assert 'bad.json: expected a JSON object' in capsys.readouterr().err
  assert plots.main(['--result', result_files['swap'], '--metrics', 'ap,idf1',
                     '--out', out]) == 1
  assert "unknown metric 'idf1'" in capsys.readouterr().err
  with pytest.raises(SystemExit):
    plots.main(['--out', out])
