"""The main job's data step at test size: files written once, skipped when started again."""
import os

import pytest

from artrack_jax import quickstart


def test_data_step_writes_once_and_resumes(tmp_path, capsys):
  job = quickstart.Job(str(tmp_path), tiny=True)
  job.run(['data'])
  marker = tmp_path / 'synthetic' / 'val_written'
  assert marker.read_text() == '2 clips\n'
  gt_dir = tmp_path / 'synthetic' / 'annotations' / 'posetrack18' / 'val'
  files = sorted(os.listdir(gt_dir))
  assert len(files) == 2
  stamp = os.path.getmtime(gt_dir / files[0])
  out = capsys.readouterr().out
  assert 'val (2 clips)' in out and '[data] done' in out
  job.run(['data'])          # started again: the files are read, not written again
  assert os.path.getmtime(gt_dir / files[0]) == stamp
  timings = (tmp_path / 'timings.json').read_text()
  assert '"data"' in timings


def test_unknown_step_is_an_error(tmp_path):
  with pytest.raises(ValueError, match='unknown steps'):
    quickstart.Job(str(tmp_path), tiny=True).run(['dta'])


def test_set_changes_one_field_of_one_stage_with_its_type(tmp_path):
  settings = quickstart.parse_settings(
      ['spatial:train.num_steps=24000', 'spatial:optim.decay_step=18000',
       'spatial:optim.learning_rate=1e-3', 'pgg:decode.flip_test=false',
       'spatial:model.stem_widths=(16, 32)'])
  job = quickstart.Job(str(tmp_path), settings=settings)
  spatial, pgg = job.config('spatial'), job.config('pgg')
  assert spatial.train.num_steps == 24000 and isinstance(spatial.train.num_steps, int)
  assert spatial.optim.decay_step == 18000 and spatial.optim.learning_rate == 1e-3
  assert tuple(spatial.model.stem_widths) == (16, 32)
  assert pgg.decode.flip_test is False and spatial.decode.flip_test is True
  default = quickstart.Job(str(tmp_path / 'default')).config('pgg')
  assert pgg.train.num_steps == default.train.num_steps       # other stages keep theirs
  assert pgg.train.init_from == str(tmp_path / 'spatial')


@pytest.mark.parametrize('item, message', [
    ('train.num_steps=5', 'expected STAGE:KEY=VALUE'),
    ('spatial:train.num_steps', 'expected STAGE:KEY=VALUE'),
    ('eval:train.num_steps=5', "unknown stage 'eval'"),
])
def test_set_rejects_malformed_items(item, message):
  with pytest.raises(ValueError, match=message):
    quickstart.parse_settings([item])


@pytest.mark.parametrize('item, error, message', [
    ('spatial:train.num_stepz=5', KeyError, 'no field'),
    ('spatial:train.num_steps=many', ValueError, "expected an integer"),
    ('spatial:decode.flip_test=maybe', ValueError, 'expected true or false'),
])
def test_set_rejects_unknown_fields_and_bad_values(tmp_path, item, error, message):
  job = quickstart.Job(str(tmp_path), settings=quickstart.parse_settings([item]))
  with pytest.raises(error, match=message):
    job.config('spatial')


def test_a_workdir_resumed_with_other_settings_is_an_error(tmp_path):
  settings = quickstart.parse_settings(['spatial:train.num_steps=24000'])
  quickstart.Job(str(tmp_path), settings=settings)
  assert '24000' in (tmp_path / 'settings.json').read_text()
  quickstart.Job(str(tmp_path), settings=settings)           # the same: resumes
  with pytest.raises(ValueError, match='settings.json: this workdir was run with --set'):
    quickstart.Job(str(tmp_path))
