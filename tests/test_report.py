"""Results report: Markdown tables hold exactly the numbers of the result files, rows absent are
left out, machine and wall time lines."""
import json
import math
import os

import jax
import numpy as np
import pytest
from PIL import Image

from artrack_jax.evaluation import cli
from artrack_jax.evaluation import hota
from artrack_jax.evaluation import posetrack
from artrack_jax.viz import report

J = posetrack.NUM_JOINTS
HEAD_TOP = posetrack.JOINT_NAMES.index('head_top')


# -- Inputs: real evaluation results of tiny sequences. --------------------------------------


def frame(people, role):
  """FramePoses of people [(track_id, x, y, x shift)]; joints on a 5 x 3 grid, 2 px apart."""
  j = np.arange(J)
  points = np.stack([np.stack([x + shift + 2.0 * (j % 5), y + 2.0 * (j // 5)], axis=1)
                     for _, x, y, shift in people])
  n = len(people)
  return posetrack.FramePoses(
      points=points, present=np.ones((n, J), bool),
      track_ids=np.asarray([p[0] for p in people], np.int64),
      head_boxes=(np.asarray([[x, y, x + 10.0, y + 10.0] for _, x, y, _ in people])
                  if role == 'gt' else np.full((n, 4), np.nan)),
      scores=np.tile(0.9 - 0.01 * j, (n, 1)), labeled=role == 'gt')


def sequence(frames, role, drop_head_top=False):
  seq = posetrack.PosesSequence('seq', [frame(people, role) for people in frames])
  if drop_head_top:
    for f in seq.frames:
      f.present[:, HEAD_TOP] = False
      f.points[:, HEAD_TOP] = 0.0
  return seq


GT = [[(0, 10, 10, 0.0), (1, 60, 10, 0.0)]] * 4
EXACT = GT
# Identities swapped in frame 2 and a person 6 px off in frame 1.
SWAP = [[(0, 10, 10, 0.0), (1, 60, 10, 6.0 if t == 1 else 0.0)] for t in range(4)]
SWAP[2] = [(1, 10, 10, 0.0), (0, 60, 10, 0.0)]


def evaluate(pred_frames, drop_head_top=False):
  return posetrack.evaluate_sequences([sequence(GT, 'gt', drop_head_top)],
                                      [sequence(pred_frames, 'pred')])


def write_json(path, data):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w') as f:
    json.dump(data, f, allow_nan=True)   # NaN stays NaN: the reader must handle it too


def coco_stats(root, shift):
  """COCO stats of a one-person image through the evaluation CLI (APL is -1: no large people)."""
  k = 17
  rng = np.random.default_rng(0)
  xy = rng.uniform(20, 100, (k, 2))
  kpts = np.concatenate([xy, np.full((k, 1), 2.0)], 1)
  gt = {'images': [{'id': 1, 'width': 200, 'height': 200, 'file_name': '0.jpg'}],
        'annotations': [{'id': 1, 'image_id': 1, 'category_id': 1, 'iscrowd': 0,
                         'keypoints': kpts.reshape(-1).tolist(), 'num_keypoints': k,
                         'area': 6400.0, 'bbox': [20.0, 20.0, 80.0, 80.0]}],
        'categories': [{'id': 1, 'name': 'person',
                        'keypoints': [f'joint{i}' for i in range(k)]}]}
  kpts[:, :2] += shift
  pred = [{'image_id': 1, 'category_id': 1, 'keypoints': kpts.reshape(-1).tolist(),
           'score': 0.9}]
  os.makedirs(root, exist_ok=True)
  gt_path, pred_path, out = (os.path.join(root, n) for n in ('gt.json', 'pred.json', 'o.json'))
  write_json(gt_path, gt)
  write_json(pred_path, pred)
  assert cli.main(['--coco-gt', gt_path, '--coco-pred', pred_path,
                   '--sigmas', ','.join(['0.05'] * k), '--out', out]) == 0
  with open(out) as f:
    return json.load(f)


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  """A runs directory with some rows of each table (others absent) and an unknown row."""
  root = str(tmp_path_factory.mktemp('runs'))
  evaluated = {'swap': evaluate(SWAP), 'exact': evaluate(EXACT),
               'no_head_top': evaluate(SWAP, drop_head_top=True)}
  files = {
      'posetrack_ap_ke': evaluated['swap'],
      'posetrack_ap_ke_sie_aux_pgg': evaluated['exact'],
      'posetrack_mota_he_tie': evaluated['no_head_top'],
      'posetrack_mota_oks': evaluated['swap'],
      'posetrack_mota_dm': evaluated['exact'],
      'coco_ap_ke_sie': coco_stats(os.path.join(root, 'coco_exact'), 0.0),
      'coco_ap_ke': coco_stats(os.path.join(root, 'coco_shift'), 2.5),
  }
  for name, data in files.items():
    write_json(os.path.join(root, 'eval', f'{name}.json'), data)
  return root, files


# -- Helpers reading the Markdown back. ------------------------------------------------------


def table_after(markdown, heading):
  """The rows (lists of cells) of the first table after the line `heading`."""
  lines = markdown.splitlines()
  start = lines.index(heading)
  rows = []
  for line in lines[start + 1:]:
    if line.startswith('|'):
      rows.append([cell.strip() for cell in line.strip('|').split('|')])
    elif rows:
      break
  header, separator, body = rows[0], rows[1], rows[2:]
  assert all(set(cell) <= set('-:') for cell in separator)
  return header, body


def one_decimal(value):
  """The oracle: one decimal, 'n/a' for an undefined value (NaN, COCO's -1)."""
  if value is None or math.isnan(value) or value == -100.0:
    return 'n/a'
  return '%.1f' % value


# -- Tables. ---------------------------------------------------------------------------------


def test_table3_posetrack_ap_holds_the_results(runs):
  root, files = runs
  markdown = report.build_report(root)
  header, body = table_after(markdown, '## Table 3: pose estimation ablation (PoseTrack AP, %)')
  assert header == ['Method', 'Head', 'Shou', 'Elb', 'Wri', 'Hip', 'Knee', 'Ankl', 'Total']
  # Paper order, absent rows (SIE, KE+SIE, ...) left out.
  assert [row[0] for row in body] == ['KE', 'Ours (KE+SIE+aux+PGG)']
  for row, key in zip(body, ('posetrack_ap_ke', 'posetrack_ap_ke_sie_aux_pgg')):
    assert row[1:] == [one_decimal(files[key]['ap'][c]) for c in posetrack.COLUMN_NAMES]
  # The exact prediction scores 100, the swapped one less (its shifted joints are misses).
  assert body[1][1:] == ['100.0'] * 8
  assert body[0][-1] != '100.0'


def test_table3_coco_in_percent_with_undefined_stats(runs):
  root, files = runs
  markdown = report.build_report(root)
  header, body = table_after(
      markdown, '## Table 3: pose estimation ablation (COCO-style keypoint AP, OKS, %)')
  assert header == ['Method', 'AP', 'AP50', 'AP75', 'APM', 'APL', 'AR']
  assert [row[0] for row in body] == ['KE', 'KE+SIE']
  for row, key in zip(body, ('coco_ap_ke', 'coco_ap_ke_sie')):
    assert row[1:] == [one_decimal(100 * files[key][c]) for c in report.COCO_COLUMNS]
  assert files['coco_ap_ke']['APL'] == -1 and body[0][5] == 'n/a'
  assert body[1][1] == '100.0' and float(body[0][1]) < 100


def test_table4_mota_rows_in_paper_order_then_unknown_rows(runs):
  root, files = runs
  markdown = report.build_report(root)
  header, body = table_after(markdown, '## Table 4: tracking ablation (PoseTrack MOTA, %)')
  assert header == (['Tracker'] + [f'MOTA {c}' for c in posetrack.COLUMN_NAMES]
                    + ['MOTP Total', 'Prec Total', 'Rec Total'])
  assert [row[0] for row in body] == ['OKS', 'HE+TIE', 'dm']
  for row, key in zip(body, ('posetrack_mota_oks', 'posetrack_mota_he_tie',
                             'posetrack_mota_dm')):
    result = files[key]
    expected = [result['mota'][c] for c in posetrack.COLUMN_NAMES] + [
        result['motp']['Total'], result['precision']['Total'], result['recall']['Total']]
    assert row[1:] == [one_decimal(v) for v in expected]
  # head_top never annotated: Head MOTA is undefined (NaN in the file), printed n/a.
  assert math.isnan(files['posetrack_mota_he_tie']['mota']['Head']) and body[1][1] == 'n/a'
  # The identity switch costs MOTA: below the exact row's.
  assert float(body[0][8]) < float(body[2][8])
  assert ('Sources: `eval/posetrack_mota_oks.json`, `eval/posetrack_mota_he_tie.json`, '
          '`eval/posetrack_mota_dm.json`.') in markdown
  assert 'Evaluated on 1 sequences, 4 labelled frames, toolkit quirks on.' in markdown


def test_table4_hota_totals_beside_mota(tmp_path, runs):
  _, files = runs
  # Tracker results with keypoint HOTA (as evaluation.tables writes them); HE+TIE without.
  with_hota = {}
  for name, frames in (('posetrack_mota_oks', SWAP), ('posetrack_mota_dm', EXACT)):
    result = dict(files[name])
    result['hota'] = hota.evaluate_sequences([sequence(GT, 'gt')], [sequence(frames, 'pred')])
    with_hota[name] = result
    write_json(str(tmp_path / 'eval' / f'{name}.json'), result)
  write_json(str(tmp_path / 'eval' / 'posetrack_mota_he_tie.json'),
             files['posetrack_mota_he_tie'])
  markdown = report.build_report(str(tmp_path))
  header, body = table_after(
      markdown, '## Table 4: tracking ablation (PoseTrack MOTA and keypoint HOTA, %)')
  assert header == (['Tracker'] + [f'MOTA {c}' for c in posetrack.COLUMN_NAMES]
                    + ['MOTP Total', 'Prec Total', 'Rec Total', 'HOTA Total', 'DetA Total',
                       'AssA Total', 'LocA Total'])
  assert [row[0] for row in body] == ['OKS', 'HE+TIE', 'dm']
  for row, key in ((body[0], 'posetrack_mota_oks'), (body[2], 'posetrack_mota_dm')):
    h = with_hota[key]['hota']
    assert row[-4:] == [one_decimal(h[f]['Total']) for f in ('hota', 'deta', 'assa', 'loca')]
  assert body[1][-4:] == ['n/a'] * 4
  assert 'Not in the results of HE+TIE (n/a).' in markdown
  # The exact predictions: every joint a TP at every threshold, one identity each: 100.
  assert body[2][-4:] == ['100.0'] * 4
  # The swap (frame 2) costs association, the 6 px shift (frame 1; beyond half a head size:
  # no TP at any threshold) detection; the TPs left are exact (LocA 100).
  assert [float(v) < 100 for v in body[0][-4:]] == [True, True, True, False]
  # A malformed hota field names the file and the field.
  bad = dict(with_hota['posetrack_mota_oks'])
  bad['hota'] = dict(bad['hota'], assa={'Head': 1.0})
  write_json(str(tmp_path / 'eval' / 'posetrack_mota_oks.json'), bad)
  with pytest.raises(report.ReportInputError,
                     match=r'posetrack_mota_oks.json: field hota.assa.Total missing'):
    report.build_report(str(tmp_path))


def test_tables_without_files_are_left_out(tmp_path, runs):
  _, files = runs
  write_json(str(tmp_path / 'eval' / 'posetrack_mota_iou.json'), files['posetrack_mota_oks'])
  markdown = report.build_report(str(tmp_path))
  assert 'Table 3' not in markdown
  _, body = table_after(markdown, '## Table 4: tracking ablation (PoseTrack MOTA, %)')
  assert [row[0] for row in body] == ['IoU']
  empty = tmp_path / 'empty'
  empty.mkdir()
  markdown = report.build_report(str(empty))
  assert 'Table' not in markdown and 'No evaluation results under' in markdown


# -- Machine and wall time. ------------------------------------------------------------------


def test_timings_and_recorded_machine(tmp_path):
  machine = {'platform': 'Linux-x', 'cpu': 'Test CPU 9000', 'cpu_count': 96, 'jax': '0.0.1',
             'devices': ['8 x tpu (TPU v9)']}
  write_json(str(tmp_path / 'timings.json'),
             {'total_seconds': 3723.4, 'stages': {'spatial': 3000, 'track': 723.4},
              'machine': machine})
  markdown = report.build_report(str(tmp_path))
  assert ('Runs made on: Linux-x; CPU Test CPU 9000, 96 cores; jax 0.0.1; devices: '
          '8 x tpu (TPU v9).') in markdown
  assert 'Wall time: 1:02:03 (3723 s).' in markdown
  header, body = table_after(markdown, '## Machine and wall time')
  assert header == ['Stage', 'Wall time', 'Seconds']
  assert body == [['spatial', '0:50:00', '3000'], ['track', '0:12:03', '723']]


def test_machine_line_of_this_machine_without_timings(tmp_path):
  markdown = report.build_report(str(tmp_path))
  info = report.machine_info()
  assert info['jax'] == jax.__version__ and info['cpu_count'] == os.cpu_count()
  assert info['devices'] == [f'{len(jax.devices())} x {jax.devices()[0].platform} '
                             f'({jax.devices()[0].device_kind})']
  assert 'Report written on: ' + report.format_machine(info) in markdown
  assert 'no wall time' in markdown


# -- Errors and the command line. ------------------------------------------------------------


def test_malformed_inputs_name_file_and_field(tmp_path, runs):
  _, files = runs
  bad = dict(files['posetrack_mota_oks'])
  bad['mota'] = dict(bad['mota'], Knee='good')
  write_json(str(tmp_path / 'eval' / 'posetrack_mota_oks.json'), bad)
  with pytest.raises(report.ReportInputError,
                     match=r'posetrack_mota_oks.json: field mota.Knee must be a number'):
    report.build_report(str(tmp_path))
  no_ap = {k: v for k, v in files['posetrack_ap_ke'].items() if k != 'ap'}
  write_json(str(tmp_path / 'eval' / 'posetrack_ap_ke.json'), no_ap)
  with pytest.raises(report.ReportInputError, match=r"posetrack_ap_ke.json: field 'ap' missing"):
    report.table3_posetrack(str(tmp_path))
  write_json(str(tmp_path / 'eval' / 'coco_ap_sie.json'), {'AP': 0.5})
  with pytest.raises(report.ReportInputError, match=r"coco_ap_sie.json: field 'AP50' missing"):
    report.table3_coco(str(tmp_path))
  write_json(str(tmp_path / 'timings.json'), {'total_seconds': 'long'})
  with pytest.raises(report.ReportInputError, match=r'timings.json: field total_seconds'):
    report.timings_section(str(tmp_path))


def test_cli_writes_the_report_with_plot_links(tmp_path, runs, capsys):
  root, _ = runs
  plots_dir = tmp_path / 'plots'
  plots_dir.mkdir()
  Image.new('RGB', (8, 8)).save(plots_dir / 'posetrack_mota.png')
  out = str(tmp_path / 'docs' / 'results.md')
  assert report.main(['--runs', root, '--out', out, '--plots', str(plots_dir)]) == 0
  assert capsys.readouterr().out.strip() == out
  with open(out) as f:
    text = f.read()
  assert '![posetrack_mota](../plots/posetrack_mota.png)' in text
  assert '## Table 4: tracking ablation (PoseTrack MOTA, %)' in text
  assert report.main(['--runs', str(tmp_path / 'missing'), '--out', out]) == 1
  assert 'runs directory does not exist' in capsys.readouterr().err


def test_intervals_add_a_column_and_the_differences(tmp_path, runs):
  _, files = runs
  for name in ('posetrack_mota_he_tie', 'posetrack_mota_oks'):
    write_json(str(tmp_path / 'eval' / f'{name}.json'), files[name])
  cell = lambda v, lo, hi: {'value': v, 'low': lo, 'high': hi, 'level': 0.95, 'samples': 9}
  write_json(str(tmp_path / 'eval' / 'intervals.json'), {'ap': None, 'mota': {
      'level': 0.95, 'rows': {'he_tie': cell(50.0, 45.04, 55.0), 'oks': cell(30.0, 25.0, 35.0)},
      'differences': {'he_tie - oks': cell(20.0, 14.0, 26.0)}}})
  markdown = report.build_report(str(tmp_path))
  header, body = table_after(markdown, '## Table 4: tracking ablation (PoseTrack MOTA, %)')
  assert header[-1] == 'MOTA Total 95% interval'
  assert [row[-1] for row in body] == ['25.0 .. 35.0', '45.0 .. 55.0']
  header, body = table_after(markdown,
                             '## Differences with 95% bootstrap intervals over sequences')
  assert body == [['HE+TIE - OKS', 'MOTA', '+20.0', '+14.0 .. +26.0',
                   'above, beyond the interval']]
