"""The ablation driver at test size: rows trained as their own models, tables with intervals."""
import json
import os

import pytest

from artrack_jax import ablations


def test_row_overrides_switch_losses_decoding_and_pgg():
  o = ablations.train_overrides(ablations.TABLE3['sie'], seed=3)
  assert o['seed'] == 3
  assert (o['loss.use_ke'], o['loss.use_sie'], o['loss.use_aux']) == (False, True, False)
  assert (o['decode.use_ke'], o['decode.use_sie']) == (False, True)
  assert (o['pgg.use_ke'], o['pgg.use_sie']) == (False, True)
  assert ablations.TABLE3['ke_sie_aux_pgg'].pgg_from == 'ke_sie_aux'


def test_pgg_row_without_its_stage1_row_is_refused(tmp_path):
  with pytest.raises(ValueError, match=r"stage-1 rows \['ke'\]"):
    ablations.Ablations(str(tmp_path), [0], tiny=True, rows=['ke_pgg'])


def test_paired_verdict_reads_the_difference_interval():
  assert ablations.paired_verdict(0.1, 2.0) == 'reproduced'
  assert ablations.paired_verdict(-2.0, -0.1) == 'contradicted'
  assert ablations.paired_verdict(-0.1, 2.0) == 'not separated'
  assert ablations.paired_verdict(0.0, 2.0) == 'not separated'


def _summary(low, high):
  row = lambda name, value: {'table': 'table3', 'row': name, 'metric': 'ap', 'label':
                             ablations.LABELS[name], 'value': value, 'low': value - 3,
                             'high': value + 3, 'per_seed': [value], 'paper': 70.0}
  return {'seeds': [0], 'stage1_steps': 10, 'num_sequences': 3, 'samples': 100,
          'level': 0.95, 'rows': {'table3/sie': row('sie', 30.0),
                                  'table3/sie_pgg': row('sie_pgg', 32.0)},
          'orderings': [{'table': 'table3', 'better': 'sie_pgg', 'worse': 'sie',
                         'verdict': 'not separated', 'difference': 2.0,
                         'difference_low': low, 'difference_high': high}]}


def test_markdown_gives_both_verdicts():
  text = ablations.format_markdown(_summary(1.5, 2.9))
  assert '| 3 | SIE+PGG > SIE | +2.0 | +1.5 .. +2.9 | not separated | reproduced |' in text
  text = ablations.format_markdown(_summary(-2.9, -1.5))
  assert text.count('| contradicted |') == 1


def test_rewrite_table_from_json(tmp_path):
  (tmp_path / 'table.json').write_text(json.dumps(_summary(-0.5, 0.5)))
  assert ablations.main(['--workdir', str(tmp_path), '--rewrite-table']) == 0
  assert '| not separated | not separated |' in (tmp_path / 'table.md').read_text()
  broken = _summary(0, 1)
  del broken['orderings']
  (tmp_path / 'table.json').write_text(json.dumps(broken))
  with pytest.raises(SystemExit, match="table.json has no field 'orderings'"):
    ablations.main(['--workdir', str(tmp_path), '--rewrite-table'])
  with pytest.raises(SystemExit, match='does not exist'):
    ablations.main(['--workdir', str(tmp_path / 'none'), '--rewrite-table'])


def test_tiny_run_trains_evaluates_and_resumes(tmp_path):
  rows = ['ke_sie_aux', 'ke_sie_aux_pgg']
  run = ablations.Ablations(str(tmp_path), [0], tiny=True, rows=rows)
  summary = run.run()
  assert set(summary['rows']) == {f'table3/{r}' for r in rows} | {
      f'table4/{r}' for r in ablations.TABLE4}
  for r in summary['rows'].values():
    assert r['low'] <= r['value'] <= r['high'] or r['value'] != r['value']   # NaN: no GT joint
    assert len(r['per_seed']) == 1
    assert ('hota' in r) == (r['table'] == 'table4')
  # Table 4 rows: keypoint HOTA totals of the row's files, as the tracking evaluation wrote
  # them beside MOTA (eval/posetrack_mota_<row>.json).
  for row in ablations.TABLE4:
    h = summary['rows'][f'table4/{row}']['hota']
    saved = json.loads((tmp_path / 'seed0' / 'table4' / 'eval' /
                        f'posetrack_mota_{row}.json').read_text())['hota']
    expected = {label: saved[field]['Total'] for field, label in ablations.HOTA_FIELDS}
    assert h['per_seed'] == [expected]
    assert {k: h[k] for k in expected} == expected
    assert all(0 <= v <= 100 for v in expected.values())
  # Each Table 3 row is its own trained model.
  for row in rows:
    assert os.path.isfile(tmp_path / 'seed0' / row / 'model' / 'config.json')
  config = json.loads((tmp_path / 'seed0' / 'ke_sie_aux_pgg' / 'model' /
                       'config.json').read_text())
  assert config['stage'] == 'pgg' and config['train']['init_from'].endswith(
      os.path.join('seed0', 'ke_sie_aux', 'model'))
  verdicts = {(o['better'], o['worse']): o['verdict'] for o in summary['orderings']}
  assert ('ke_sie_aux_pgg', 'ke_sie_aux') in verdicts and ('he_tie', 'oks') in verdicts
  assert set(verdicts.values()) <= {'reproduced', 'contradicted', 'not separated'}
  for o in summary['orderings']:
    assert o['paired_verdict'] == ablations.paired_verdict(o['difference_low'],
                                                           o['difference_high'])
  for name in ('table.md', 'table.json', 'ablations.png'):
    assert (tmp_path / name).stat().st_size > 0
  table_md = (tmp_path / 'table.md').read_text()
  assert 'Table 4' in table_md
  assert '| row | value | 95% interval | per seed | paper | HOTA | DetA | AssA | LocA |' in table_md
  he_tie = summary['rows']['table4/he_tie']
  assert any(line.startswith('| HE+TIE |') and line.endswith(
      f'| {he_tie["hota"]["HOTA"]:.1f} | {he_tie["hota"]["DetA"]:.1f} | '
      f'{he_tie["hota"]["AssA"]:.1f} | {he_tie["hota"]["LocA"]:.1f} |')
      for line in table_md.splitlines())
  # Started again: nothing is retrained or re-evaluated, the same table comes out.
  stamp = os.path.getmtime(tmp_path / 'seed0' / 'ke_sie_aux' / 'eval_run' / 'eval' /
                           'posetrack_ap_ke_sie_aux.json')
  again = ablations.Ablations(str(tmp_path), [0], tiny=True, rows=rows).run()
  assert os.path.getmtime(tmp_path / 'seed0' / 'ke_sie_aux' / 'eval_run' / 'eval' /
                          'posetrack_ap_ke_sie_aux.json') == stamp
  assert again['rows'] == summary['rows']
