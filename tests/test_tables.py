"""Tests for evaluation/tables.py: one network pass, every Table 3/4 row from it."""
import json

import numpy as np
import pytest

from artrack_jax import configs_util, skeletons
from artrack_jax.data import formats, synthetic
from artrack_jax.evaluation import hota
from artrack_jax.evaluation import tables as evaluate_lib
from artrack_jax.tracking.tracker import FrameObservations, PoseObservation

import tiny_networks

SK = skeletons.POSETRACK
J = SK.num_joints

# The tiny networks' config, reading the tiny synthetic data.
_EXTRA_CONFIG = """\
  c.data.builder_config = 'tiny_64'
  c.data.data_dir = {data_dir!r}
  # Let PGG see every pixel of the 8 x 8 maps (weak, possibly negative heat).
  c.pgg.update(dict(num_slots=64, tau=-1e9, implementation='direct'))"""


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
  """(config path, config, val source, temporal workdir, spatial workdir)."""
  from artrack_jax.data import tfds_builders
  tmp = tmp_path_factory.mktemp('evaluate')
  path = tiny_networks.write_config(tmp / 'tiny.py',
                                    _EXTRA_CONFIG.format(data_dir=str(tmp / 'tfds')))
  config = configs_util.load_config(path)
  source = tfds_builders.load_split('synthetic_posetrack', 'val', str(tmp / 'tfds'),
                                    config='tiny_64')
  spatial, temporal = tiny_networks.random_variables(config)
  tiny_networks.save_checkpoint(tmp / 'temporal', config, temporal, spatial)
  tiny_networks.save_checkpoint(tmp / 'spatial', config, spatial, {})
  return path, config, source, str(tmp / 'temporal'), str(tmp / 'spatial')


def _read(path):
  return formats.read_posetrack18(path)


def _frames_keypoints(seq):
  return [np.stack([p.keypoints for p in fr.people]) if fr.people else np.zeros((0, J, 3))
          for fr in seq.frames]


def test_network_rows_share_poses(setup, tmp_path, capsys):
  _, config, source, temporal, _ = setup
  out = tmp_path / 'runs'
  results = evaluate_lib.evaluate_tracking(config, temporal_workdir=temporal, out_dir=str(out),
                                           max_sequences=1, source=source)
  name = synthetic.sequence_name('val', 0)
  table4 = ['oks', 'iou', 'ke', 'ke_sie', 'he', 'tie', 'he_tie', 'he_tie_pgg']
  # The default config trains with the auxiliary loss: its KE+SIE decoding is that row.
  table3 = ['ke', 'sie', 'ke_sie_aux', 'ke_pgg', 'sie_pgg', 'ke_sie_aux_pgg']
  assert sorted(results['mota']) == sorted(table4)
  assert sorted(results['ap']) == sorted(table3) == sorted(results['coco'])
  assert (out / 'gt' / f'{name}.json').is_file()
  for row in table4:
    assert (out / 'pred' / row / f'{name}.json').is_file()
    saved = json.loads((out / 'eval' / f'posetrack_mota_{row}.json').read_text())
    assert saved['row'] == row and saved['num_sequences'] == 1
    assert saved['num_labeled_frames'] == 8 and saved['sequences'] == [name]
    assert set(saved['mota']) >= {'Head', 'Total'} and 'ap' in saved
    # Keypoint HOTA of the same files beside MOTA, as evaluation.hota computes it.
    assert saved['hota'] == hota.evaluate(str(out / 'gt'), str(out / 'pred' / row))
    assert saved['hota']['num_sequences'] == 1
    for field in ('hota', 'deta', 'assa', 'loca'):
      assert 0 <= saved['hota'][field]['Total'] <= 100
    timing = saved['timing']
    assert timing['frames'] == 8
    assert {'networks', 'pgg', 'decoding', 'tracking', 'total'} <= set(timing)
    assert timing['networks'] > 0 and timing['decoding'] > 0 and timing['tracking'] > 0
    assert timing['total'] == pytest.approx(timing['networks'] + timing['pgg']
                                            + timing['decoding'] + timing['tracking'])
    assert (timing['pgg'] > 0) == row.endswith('_pgg')
  for row in table3:
    for prefix in ('posetrack_ap_', 'coco_ap_'):
      saved = json.loads((out / 'eval' / f'{prefix}{row}.json').read_text())
      assert saved['note'] == evaluate_lib.DECODE_ABLATION_NOTE
      assert saved['trained_with']['use_aux'] is True
    assert 0 <= results['coco'][row]['AP'] <= 1

  # Rows without PGG: the same poses in the same order, only track ids may differ; they are the
  # Table 3 KE+SIE poses. The PGG row tracks the KE+SIE+PGG poses.
  reference = _read(out / 'pred_ap' / 'ke_sie_aux' / f'{name}.json')
  reference_pgg = _read(out / 'pred_ap' / 'ke_sie_aux_pgg' / f'{name}.json')
  ids = {}
  for row in table4:
    seq = _read(out / 'pred' / row / f'{name}.json')
    expected = reference_pgg if row.endswith('_pgg') else reference
    assert len(seq.frames) == 8
    for a, b in zip(_frames_keypoints(seq), _frames_keypoints(expected)):
      np.testing.assert_array_equal(a, b)
    for fa, fb in zip(seq.frames, expected.frames):
      np.testing.assert_array_equal([p.scores for p in fa.people], [p.scores for p in fb.people])
    ids[row] = [[p.track_id for p in fr.people] for fr in seq.frames]
    # AP does not read track ids: every row's AP is its poses' Table 3 AP.
    ap_row = 'ke_sie_aux_pgg' if row.endswith('_pgg') else 'ke_sie_aux'
    assert results['mota'][row]['ap'] == results['ap'][ap_row]['ap']
  # Track ids: frame 0 numbers the people 0..n-1 in every row; unique within each frame.
  for row, per_frame in ids.items():
    assert per_frame[0] == list(range(len(per_frame[0])))
    assert all(len(set(f)) == len(f) for f in per_frame)
  # Keypoints are in the original 64 x 64 frame (the network saw it letterboxed to 32).
  found = np.concatenate([k[k[..., 2] > 0] for k in _frames_keypoints(reference)])
  assert found[:, :2].min() > -3 and found[:, :2].max() < 67 and found[:, :2].max() > 32
  printed = capsys.readouterr().out
  assert '== Table 4 (tracking): he_tie_pgg' in printed and 'Multiple Object Tracking' in printed
  assert printed.count('Keypoint HOTA (PoseTrack21 kit):') == len(table4)
  summary = printed[printed.index('row            MOTA'):].splitlines()
  assert summary[0].split() == ['row', 'MOTA', 'MOTP', 'Prec', 'Rec', 'AP', 'HOTA', 'DetA',
                                'AssA', 'LocA', 's/frame']
  for line in summary[1:1 + len(table4)]:
    cells = line.split()
    h = results['mota'][cells[0]]['hota']
    assert cells[6:10] == [f'{h[f]["Total"]:.1f}' for f in ('hota', 'deta', 'assa', 'loca')]


class GroundTruthNetworks:
  """Frame function from the ground truth: exact poses, tags and one-hot HE of the track id."""

  def __init__(self, skip_variants=(), has_temporal=False):
    self.has_temporal = has_temporal
    self.by_image = {}
    for index in range(2):
      seq, _ = synthetic.generate_clip('val', index, 8, 64, 0)
      for fr in seq.frames:
        self.by_image[fr.image_id] = fr
    self.skip_variants = skip_variants

  def reset(self):
    pass

  def __call__(self, record):
    frame = self.by_image[int(record['image_id'])]
    poses, observations = [], []
    for p in frame.people:
      labelled = p.keypoints[:, 2] > 0
      if not labelled.any():
        continue
      keypoints = np.where(labelled[:, None],
                           np.concatenate([p.keypoints[:, :2], np.ones((J, 1))], 1), 0.0)
      centre = p.keypoints[labelled, :2].mean(0)
      poses.append(dict(keypoints=keypoints.astype(np.float32), score=1.0))
      observations.append(PoseObservation(
          keypoints=keypoints, score=1.0, tag=np.array([float(p.track_id)]), center=centre,
          he=np.eye(100)[p.track_id], sie=np.tile(centre, (J, 1))))
    names = ('ke', 'sie', 'ke_sie', 'ke_pgg', 'sie_pgg', 'ke_sie_pgg')
    return evaluate_lib.FrameOutputs(
        poses={n: poses for n in names if n not in self.skip_variants},
        observations={'ke_sie': FrameObservations(observations)},
        seconds={'spatialnet': 0.001, 'decode_ke_sie': 0.001})


def test_perfect_observations_score_100(setup, tmp_path):
  _, config, source, _, _ = setup
  out = tmp_path / 'runs'
  results = evaluate_lib.evaluate_tracking(
      config, out_dir=str(out), similarities=('oks', 'ke_sie', 'he'), use_pgg=(False,),
      max_sequences=2, networks=GroundTruthNetworks(has_temporal=True), source=source,
      print_tables=False)
  assert sorted(results['ap']) == ['ke', 'ke_sie_aux', 'sie']
  for row in ('oks', 'ke_sie', 'he'):
    result = results['mota'][row]
    assert result['num_sequences'] == 2 and result['num_labeled_frames'] == 16
    assert result['ap']['Total'] == pytest.approx(100.0)
    assert result['num_misses']['total'] == 0
    assert result['num_false_positives']['total'] == 0
    objects = np.array([result['num_objects'][n] for n in SK.names], float)
    switches = np.array([result['num_switches'][n] for n in SK.names], float)
    np.testing.assert_allclose([result['mota'][n] for n in SK.names],
                               100 * (1 - switches / objects))
  # Exact identities (the track id as tag, one-hot HE): no switch at all. OKS is not an
  # identity: on these 64 px clips a small, fast person and one leaving the view start new
  # tracks, which MOTA counts as switches.
  for row in ('ke_sie', 'he'):
    assert results['mota'][row]['num_switches']['total'] == 0
    assert results['mota'][row]['mota']['Total'] == pytest.approx(100.0)
  # Keypoint HOTA: the ground-truth poses are every joint a TP at every threshold (DetA and
  # LocA 100 in every row); with exact identities association is perfect too (HOTA 100).
  for row in ('oks', 'ke_sie', 'he'):
    h = results['mota'][row]['hota']
    assert h['deta']['Total'] == pytest.approx(100.0)
    assert h['loca']['Total'] == pytest.approx(100.0)
    assert h['num_fn']['Total'] == 0 and h['num_fp']['Total'] == 0
    assert h['num_tp']['Total'] > 0
  for row in ('ke_sie', 'he'):
    for field in ('hota', 'deta', 'assa', 'loca'):
      assert results['mota'][row]['hota'][field]['Total'] == pytest.approx(100.0)
  # OKS's new tracks split identities: association below 100.
  assert results['mota']['oks']['hota']['assa']['Total'] < 100
  assert results['mota']['oks']['hota']['hota']['Total'] < 100
  assert results['ap']['ke_sie_aux']['ap']['Total'] == pytest.approx(100.0)
  assert results['coco']['ke_sie_aux']['AP'] == pytest.approx(1.0)
  # The predictions carry the ground truth's frames and image ids.
  for index in range(2):
    name = synthetic.sequence_name('val', index)
    gt = _read(out / 'gt' / f'{name}.json')
    pred = _read(out / 'pred' / 'oks' / f'{name}.json')
    assert [f.image_id for f in gt.frames] == [f.image_id for f in pred.frames]


def test_errors(setup, tmp_path):
  _, config, source, _, spatial = setup
  with pytest.raises(ValueError, match=r"\['he'\] need TemporalNet"):
    evaluate_lib.evaluate_tracking(config, out_dir=str(tmp_path), similarities=('oks', 'he'),
                                   networks=GroundTruthNetworks(), source=source)
  with pytest.raises(ValueError, match='unknown similarity'):
    evaluate_lib.evaluate_tracking(config, out_dir=str(tmp_path), similarities=('okss',),
                                   networks=GroundTruthNetworks(), source=source)
  with pytest.raises(ValueError, match='temporal-stage checkpoint'):
    evaluate_lib.load_networks(config, spatial_workdir=setup[3])
  # A record that disagrees with the regenerated ground truth.
  records = [source[i] for i in range(8)]
  records[5] = dict(records[5], keypoints=records[5]['keypoints'] + 1.0)
  with pytest.raises(ValueError, match=r'record 5 .*frame 5.*keypoints differs'):
    evaluate_lib.evaluate_tracking(config, out_dir=str(tmp_path), similarities=('oks',),
                                   use_pgg=(False,), max_sequences=1,
                                   networks=GroundTruthNetworks(), source=records)
  code = evaluate_lib.main(['--workdir', str(tmp_path / 'nowhere'), '--out', str(tmp_path),
                            '--config', setup[0]])
  assert code == 2


def test_row_names():
  variant = evaluate_lib.DecodeVariant
  assert variant(True, True, True).name == 'ke_sie_pgg'
  assert variant(False, True, False).name == 'sie'
  assert evaluate_lib.table3_row(variant(True, True, True), trained_with_aux=True) == \
      'ke_sie_aux_pgg'
  assert evaluate_lib.table3_row(variant(True, True, False), trained_with_aux=False) == 'ke_sie'
  assert evaluate_lib.table3_row(variant(True, False, True), trained_with_aux=True) == 'ke_pgg'
  with pytest.raises(ValueError, match='KE or SIE'):
    variant(False, False, False)


def test_cli_forwards_flags(setup, tmp_path, monkeypatch):
  config_path, _, _, temporal, _ = setup
  calls = []
  monkeypatch.setattr(evaluate_lib, 'evaluate_tracking',
                      lambda config, spatial, temporal_dir, **kw: calls.append(
                          (config.data.image_size, spatial, temporal_dir, kw)))
  assert evaluate_lib.main(['--temporal-workdir', temporal, '--config', config_path, '--out',
                            str(tmp_path), '--similarity', 'oks, he_tie', '--pgg', 'only',
                            '--pgg-similarity', 'tie,he_tie', '--max-sequences', '3',
                            '--no-ablations']) == 0
  size, spatial, temporal_dir, kw = calls[-1]
  assert (size, spatial, temporal_dir) == (32, None, temporal)
  assert kw == dict(out_dir=str(tmp_path), split='val', similarities=['oks', 'he_tie'],
                    use_pgg=(True,), pgg_similarities=['tie', 'he_tie'],
                    decode_ablations=False, max_sequences=3)
  assert evaluate_lib.main(['--workdir', 'w', '--config', config_path, '--out',
                            str(tmp_path)]) == 0
  kw = calls[-1][3]
  assert kw['similarities'] is None and kw['pgg_similarities'] is None
  assert kw['use_pgg'] == (False, True) and kw['decode_ablations'] is True
  evaluate_lib.main(['--workdir', 'w', '--config', config_path, '--out', str(tmp_path),
                     '--pgg-similarity', 'none', '--pgg', 'off'])
  assert calls[-1][3]['pgg_similarities'] == () and calls[-1][3]['use_pgg'] == (False,)
  # --no-score-filter zeroes the output thresholds a config sets.
  monkeypatch.setattr(evaluate_lib, 'evaluate_tracking',
                      lambda config, *a, **kw: calls.append(dict(config.track)))
  for flags, expected in (([], (0.3, 0.5, 15)), (['--no-score-filter'], (0.0, 0.0, 0))):
    config = configs_util.load_config(config_path)
    config.track.min_pose_score, config.track.min_joint_score = 0.3, 0.5
    config.track.min_joint_scores = (0.6,) * 15
    path = tmp_path / 'thresholds.json'
    path.write_text(config.to_json())
    evaluate_lib.main(['--workdir', 'w', '--config', str(path), '--out', str(tmp_path)] + flags)
    assert (calls[-1]['min_pose_score'], calls[-1]['min_joint_score'],
            len(calls[-1]['min_joint_scores'])) == expected


def test_eval_track_mode_writes_and_prints_hota(setup, tmp_path, capsys):
  """`eval.py --track`: each Table 4 row's JSON and summary line carry keypoint HOTA."""
  from artrack_jax.cli import eval as eval_cli
  config_path, _, _, temporal, _ = setup
  out = tmp_path / 'runs'
  assert eval_cli.main(['eval.py', '--track', '--temporal-workdir', temporal, '--config',
                        config_path, '--out', str(out), '--similarity', 'ke_sie,he_tie',
                        '--pgg', 'off', '--no-ablations', '--max-sequences', '1']) == 0
  printed = capsys.readouterr().out
  summary = printed[printed.index('row            MOTA'):].splitlines()
  assert 'HOTA   DetA   AssA   LocA' in summary[0]
  for row, line in zip(('ke_sie', 'he_tie'), summary[1:3]):
    saved = json.loads((out / 'eval' / f'posetrack_mota_{row}.json').read_text())
    expected = hota.evaluate(str(out / 'gt'), str(out / 'pred' / row))
    assert saved['hota'] == expected and 'mota' in saved
    cells = line.split()
    assert cells[0] == row
    assert cells[6:10] == [f'{expected[f]["Total"]:.1f}' for f in ('hota', 'deta', 'assa',
                                                                   'loca')]
