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
