"""eval.py --track forwards to the tracking evaluation (artrack_jax.evaluation.tables)."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_track_mode_reaches_the_tracking_evaluation(tmp_path):
  missing = tmp_path / 'not_a_workdir'
  proc = subprocess.run(
      [sys.executable, str(ROOT / 'eval.py'), '--track', '--workdir', str(missing),
       '--out', str(tmp_path / 'runs')], capture_output=True, text=True, cwd=ROOT, timeout=300)
  assert proc.returncode == 2
  assert f'{missing}: no checkpoints/ directory and no variables.msgpack' in proc.stderr
