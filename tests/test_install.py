"""The package installs like a library: a built wheel, in a fresh virtual environment, runs the
tiny main job (its data, stage-1 and report steps) from a directory outside the checkout.

The wheel is built from a copy of the package sources (so the build writes nothing into the
checkout) without build isolation when the setuptools here can build it (the `test` extra
pins one), so no network is needed. The virtual environment reuses the installed
dependencies (`--system-site-packages`) and gets only the wheel (`--no-deps`). The checkout's
own install stays importable there, so the test checks that `artrack_jax` and its configs come
from the wheel.
"""
import importlib.metadata
import os
import pathlib
import shutil
import subprocess
import sys
import zipfile

import pytest

from artrack_jax import metrics_writer
from artrack_jax import quickstart

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPTS = ('artrack-train', 'artrack-eval', 'artrack-track', 'artrack-quickstart',
           'artrack-export')


def _can_build_offline() -> bool:
  """setuptools >= 70.1 builds wheels itself (older ones need the `wheel` package)."""
  try:
    version = importlib.metadata.version('setuptools')
  except importlib.metadata.PackageNotFoundError:
    return False
  return tuple(int(p) for p in version.split('.')[:2] if p.isdigit()) >= (70, 1)


def _run(command, cwd, timeout):
  env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PYTHONHOME')}
  return subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True,
                        text=True, timeout=timeout, check=False)


def build_wheel(out_dir: pathlib.Path) -> pathlib.Path:
  src = out_dir / 'src'
  shutil.copytree(ROOT / 'artrack_jax', src / 'artrack_jax',
                  ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
  for name in ('pyproject.toml', 'README.md'):
    shutil.copy(ROOT / name, src / name)
  isolation = ['--no-build-isolation'] if _can_build_offline() else []
  proc = _run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', *isolation, '-w',
               out_dir / 'dist', src], cwd=out_dir, timeout=300)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
  (wheel,) = (out_dir / 'dist').glob('artrack_jax-*.whl')
  return wheel


def test_wheel_holds_configs_scripts_and_package_data(tmp_path):
  wheel = build_wheel(tmp_path)
  with zipfile.ZipFile(wheel) as z:
    names = set(z.namelist())
    entry_points = next(z.read(n).decode() for n in names if n.endswith('entry_points.txt'))
    metadata = next(z.read(n).decode() for n in names if n.endswith('.dist-info/METADATA'))
  for path in (ROOT / 'artrack_jax' / 'configs').glob('*.py'):
    assert f'artrack_jax/configs/{path.name}' in names
  reference = ROOT / 'artrack_jax' / 'reference_model'
  for path in sorted(reference.glob('*')) if reference.is_dir() else []:
    if path.suffix in ('.msgpack', '.json'):
      assert f'artrack_jax/reference_model/{path.name}' in names
  for script in SCRIPTS:
    assert f'\n{script} = artrack_jax.' in '\n' + entry_points
  requires = [line for line in metadata.splitlines() if line.startswith('Requires-Dist: jax')]
  # Plain jax (CPU) in the base dependencies; the accelerators' plugins only in the extras.
  base = [r for r in requires if 'extra ==' not in r]
  assert [r.split('<')[0].split('>')[0] for r in base] == ['Requires-Dist: jax'], requires
  assert any('extra == "cuda12"' in r and 'jax[cuda12]' in r for r in requires), requires
  assert any('extra == "tpu"' in r and 'jax[tpu]' in r for r in requires), requires


@pytest.mark.slow
def test_wheel_in_a_fresh_venv_runs_the_tiny_main_job(tmp_path):
  wheel = build_wheel(tmp_path)
  venv = tmp_path / 'venv'
  # Without pip of its own: the system site's pip installs into the venv (its sys.prefix).
  proc = _run([sys.executable, '-m', 'venv', '--system-site-packages', '--without-pip', venv],
              cwd=tmp_path, timeout=120)
  assert proc.returncode == 0, proc.stderr[-3000:]
  python, bin_dir = venv / 'bin' / 'python', venv / 'bin'
  proc = _run([python, '-m', 'pip', 'install', '--no-deps', '--no-index', wheel], cwd=tmp_path,
              timeout=300)
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
  outside = tmp_path / 'elsewhere'
  outside.mkdir()
  proc = _run([python, '-c', 'import artrack_jax, artrack_jax.configs_util as c; '
               'print(artrack_jax.__file__); print(c.config_path("quickstart"))'],
              cwd=outside, timeout=120)
  assert proc.returncode == 0, proc.stderr[-3000:]
  package_file, quickstart_config = proc.stdout.split()
  assert pathlib.Path(package_file).is_relative_to(venv), package_file
  assert pathlib.Path(quickstart_config).is_relative_to(venv), quickstart_config
  for script in SCRIPTS:
    assert (bin_dir / script).is_file(), script

  # The main job's steps that use what the installation must hold (the TFDS builders, a
  # config found by name, the trainer, the report). All seven steps at tiny size took 4.5 min
  # here on 2 busy cores; stages 2 and 3, evaluation and rendering run the same installed
  # modules and are run from the checkout by test_notebooks.py (the quick-start notebook).
  workdir = outside / 'job'
  proc = _run([bin_dir / 'artrack-quickstart', '--tiny', '--workdir', 'job',
               '--steps', 'data,spatial,report'], cwd=outside, timeout=900)
  assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
  assert '[report] done' in proc.stdout
  results = (workdir / 'results.md').read_text()
  assert results.startswith('# artrack-jax results')
  assert 'training_curves.png' in results and 'spatial' in results
  assert (workdir / 'plots' / 'training_curves.png').is_file()
  records = [r for r in metrics_writer.read_metrics(workdir / 'spatial') if 'train/loss' in r]
  tiny_steps = quickstart.Job(str(tmp_path / 'configs_only'), tiny=True).config('spatial')
  assert records and records[-1]['step'] == tiny_steps.train.num_steps
