"""The evaluation command line as users run it: a separate process, no JAX / Flax / TFDS."""
import json
import os
import subprocess
import sys

from test_evaluation_posetrack import frame, person, to_pt17, to_pt18

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# scipy.optimize: 0.33 s of start-up; the assignment loads SciPy's solver alone
# (evaluation/assignment.py).
_HEAVY = ('jax', 'flax', 'optax', 'tensorflow', 'tensorflow_datasets', 'orbax', 'scipy.optimize')


def _dataset(root):
  gt = [frame(person(1, 0, 0), person(2, 100, 0)) for _ in range(3)]
  pred = [frame(person(4, 0, 0, scores=.9), person(5, 300, 0, scores=.2)) for _ in range(3)]
  for d in ('gt', 'pred'):
    (root / d).mkdir()
  (root / 'gt' / 's.json').write_text(json.dumps(to_pt17(gt, 'gt')))
  (root / 'pred' / 's.json').write_text(json.dumps(to_pt18(pred, 'pred')))


def _python(code_or_args, cwd):
  env = dict(os.environ, PYTHONPATH=_REPO + os.pathsep + os.environ.get('PYTHONPATH', ''))
  return subprocess.run([sys.executable] + code_or_args, cwd=cwd, env=env, capture_output=True,
                        text=True, timeout=120, check=False)


def test_file_mode_imports_no_jax(tmp_path):
  _dataset(tmp_path)
  script = (
      'import sys\n'
      'from artrack_jax.evaluation import cli\n'
      f'code = cli.main(["--gt", "gt", "--pred", "pred", "--out", "r.json",'
      f' "--metrics", "ap,mota,hota"])\n'
      f'heavy = sorted(m for m in {_HEAVY!r} if m in sys.modules)\n'
      'print("HEAVY", heavy)\n'
      'sys.exit(code)\n')
  done = _python(['-c', script], tmp_path)
  assert done.returncode == 0, done.stderr
  assert 'HEAVY []' in done.stdout
  assert json.loads((tmp_path / 'r.json').read_text())['ap']['Total'] == 50.0


def test_module_runs_and_exits_2_on_bad_input(tmp_path):
  _dataset(tmp_path)
  done = _python(['-m', 'artrack_jax.evaluation.cli', '--gt', 'gt', '--pred', 'pred'], tmp_path)
  assert done.returncode == 0, done.stderr
  assert 'Average Precision (AP) metric:' in done.stdout
  (tmp_path / 'pred' / 's.json').write_bytes(b'{"images": \xff}')
  done = _python(['-m', 'artrack_jax.evaluation.cli', '--gt', 'gt', '--pred', 'pred'], tmp_path)
  assert done.returncode == 2
  assert done.stderr.startswith('error: pred/s.json: not UTF-8 text')
  assert 'Traceback' not in done.stderr


def test_assignment_is_scipys_function_without_scipy_optimize(tmp_path):
  script = (
      'import sys\n'
      'import numpy as np\n'
      'from artrack_jax.evaluation import assignment\n'
      'cost = np.random.default_rng(0).random((6, 9))\n'
      'rows, cols = assignment.linear_sum_assignment(cost)\n'
      'rows_max, cols_max = assignment.linear_sum_assignment(cost, maximize=True)\n'
      'print("LOADED", "scipy.optimize" in sys.modules)\n'
      'import scipy.optimize\n'
      'print("SAME", assignment._function is scipy.optimize.linear_sum_assignment)\n'
      'r, c = scipy.optimize.linear_sum_assignment(cost)\n'
      'rm, cm = scipy.optimize.linear_sum_assignment(cost, maximize=True)\n'
      'print("EQUAL", bool(np.array_equal(r, rows) and np.array_equal(c, cols)\n'
      '                     and np.array_equal(rm, rows_max) and np.array_equal(cm, cols_max)))\n')
  done = _python(['-c', script], tmp_path)
  assert done.returncode == 0, done.stderr
  assert 'LOADED False' in done.stdout
  assert 'SAME True' in done.stdout and 'EQUAL True' in done.stdout
