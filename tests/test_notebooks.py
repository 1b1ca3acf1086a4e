"""The Colab notebooks: the quick start runs end to end at tiny size; the real-data notebook
(no data here) is validated and every package name it uses must exist."""
import ast
import importlib
import importlib.util
import os
import pathlib
import re

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
COLAB = ROOT / 'colab'
NOTEBOOKS = ('quickstart.ipynb', 'real_data.ipynb')


def _read(name):
  return nbformat.read(COLAB / name, as_version=4)


def _code_cells(notebook):
  return [cell for cell in notebook.cells if cell.cell_type == 'code']


def _python_source(cell) -> str:
  """A code cell without IPython magics (`%...`), which are not Python."""
  return '\n'.join('' if line.lstrip().startswith('%') else line
                   for line in cell.source.splitlines())


def _package_references(notebook):
  """(dotted reference, object it should resolve in) for every `artrack_jax` name used.

  Names come from `from artrack_jax... import x` (x bound to a module or an attribute) and are
  followed through attribute chains (`tfds_builders.Posetrack.MANUAL_DOWNLOAD_INSTRUCTIONS`).
  """
  bound, references = {}, []
  trees = [ast.parse(_python_source(cell)) for cell in _code_cells(notebook)]
  for tree in trees:
    for node in ast.walk(tree):
      if isinstance(node, ast.ImportFrom) and (node.module or '').startswith('artrack_jax'):
        module = importlib.import_module(node.module)
        for alias in node.names:
          name = alias.asname or alias.name
          full = f'{node.module}.{alias.name}'
          if hasattr(module, alias.name):
            bound[name] = getattr(module, alias.name)
          else:
            bound[name] = importlib.import_module(full)   # a submodule
          references.append((full, bound[name]))
  for tree in trees:
    for node in ast.walk(tree):
      if not isinstance(node, ast.Attribute):
        continue
      chain, base = [], node
      while isinstance(base, ast.Attribute):
        chain.append(base.attr)
        base = base.value
      chain.reverse()
      if not (isinstance(base, ast.Name) and base.id in bound):
        continue
      target, path = bound[base.id], base.id
      for attr in chain:
        path = f'{path}.{attr}'
        assert hasattr(target, attr), f'{path} does not exist'
        target = getattr(target, attr)
      references.append((path, target))
  return references


def _builder():
  """colab/build_notebooks.py as a module."""
  spec = importlib.util.spec_from_file_location('build_notebooks', COLAB / 'build_notebooks.py')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


@pytest.mark.parametrize('name', NOTEBOOKS)
def test_notebook_is_valid_and_built_from_the_generator(name):
  """The sources are the generator's (saved outputs aside): what --check compares."""
  notebook = _read(name)
  nbformat.validate(notebook)
  builder = _builder()
  assert builder.is_current(COLAB / name, builder.NOTEBOOKS[name]), (
      f'colab/{name} differs from colab/build_notebooks.py: run python colab/build_notebooks.py '
      '--execute')
  assert builder.main(['--check']) == 0
  if name not in builder.EXECUTED:
    # The real-data notebook needs the data sets: no outputs, and it says so.
    for cell in _code_cells(notebook):
      assert cell.outputs == [] and cell.execution_count is None, f'{name}: outputs saved'
    assert builder.RUN_KEY not in notebook.metadata
    assert 'saved without outputs' in notebook.cells[1].source


def test_quickstart_is_saved_with_the_outputs_of_a_tiny_run():
  """colab/quickstart.ipynb holds the outputs of `build_notebooks.py --execute`: every code
  cell ran, the figures are PNG, the markdown and the metadata say TINY size, and no output
  shows a path of this machine or a secret."""
  builder = _builder()
  path = COLAB / 'quickstart.ipynb'
  notebook = _read('quickstart.ipynb')
  assert path.stat().st_size < builder.MAX_BYTES
  run = notebook.metadata[builder.RUN_KEY]['executed']
  assert run['size'].startswith('TINY') and run['command'] == builder.COMMAND
  assert 'outputs saved in this file come from a TINY run' in notebook.cells[1].source
  assert repr(builder.DEFAULT_WORKDIR) in ''.join(cell.source for cell in notebook.cells)
  cells = _code_cells(notebook)
  assert [cell.execution_count for cell in cells] == list(range(1, len(cells) + 1))
  assert not [out for cell in cells for out in cell.outputs if out.output_type == 'error']
  mimes = [mime for cell in cells for out in cell.outputs for mime in out.get('data', {})
           if mime.startswith('image/')]
  assert len(mimes) >= 9 and set(mimes) == {'image/png'}, mimes
  # The reference model's maps and tracked frames (section 1b) are among them.
  reference = next(cell for cell in cells if 'REFERENCE_DIR' in cell.source)
  assert sum('image/png' in out.get('data', {}) for out in reference.outputs) == 2
  assert builder.leaks(notebook) == []


def test_check_compares_sources_only(tmp_path):
  builder = _builder()
  notebook = _read('quickstart.ipynb')
  # Outputs, execution counts and the run's record do not count; a changed source does.
  executed = nbformat.v4.new_output('stream', name='stdout', text='run\n')
  _code_cells(notebook)[0].outputs = [executed]
  _code_cells(notebook)[0].execution_count = 1
  notebook.metadata[builder.RUN_KEY] = {'executed': {'size': 'TINY'}}
  nbformat.write(notebook, tmp_path / 'quickstart.ipynb')
  assert builder.is_current(tmp_path / 'quickstart.ipynb', builder.quickstart)
  _code_cells(notebook)[0].source += '\nprint(1)'
  nbformat.write(notebook, tmp_path / 'quickstart.ipynb')
  assert not builder.is_current(tmp_path / 'quickstart.ipynb', builder.quickstart)
  assert not builder.is_current(tmp_path / 'missing.ipynb', builder.quickstart)


def test_sanitize_replaces_machine_paths_and_leaks_finds_secrets(tmp_path, monkeypatch):
  import sys   # pylint: disable=g-import-not-at-top
  import tempfile   # pylint: disable=g-import-not-at-top
  builder = _builder()
  workdir = str(tmp_path / 'work')
  text = (f'{workdir}/spatial/checkpoints\n{ROOT}/artrack_jax/train_lib.py:12\n'
          f'{sys.prefix}/lib/x.py\n{tempfile.gettempdir()}/ipykernel_123/4567.py:8: '
          'UserWarning: No GPU\n/tmp/artrack_quickstart_notebook/eval\n')
  notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell('x', outputs=[
      nbformat.v4.new_output('stream', name='stderr', text=text)])])
  assert builder.leaks(notebook, workdir)
  builder.sanitize(notebook, workdir)
  assert builder.leaks(notebook, workdir) == []
  assert notebook.cells[0].outputs[0].text.splitlines() == [
      '<workdir>/spatial/checkpoints', '<repo>/artrack_jax/train_lib.py:12',
      '<python>/lib/x.py', '<ipykernel>:8: UserWarning: No GPU',
      '/tmp/artrack_quickstart_notebook/eval']   # the notebook's default workdir stays
  token = 'ghp_' + 'a1B2' * 9
  notebook.cells[0].outputs[0].text += token
  assert builder.leaks(notebook, workdir) == ['cell 0: a secret']
  monkeypatch.setenv('MY_SERVICE_PASSWORD', 'correct-horse-battery')
  notebook.cells[0].outputs[0].text = 'password: correct-horse-battery'
  assert builder.leaks(notebook, workdir) == ['cell 0: a secret']



def test_compact_keeps_what_outputs_show():
  """Streams joined (a carriage return overwrites its line, as in a terminal), PNGs re-encoded
  with the same pixels."""
  import base64   # pylint: disable=g-import-not-at-top
  import io   # pylint: disable=g-import-not-at-top
  import numpy as np   # pylint: disable=g-import-not-at-top
  from PIL import Image   # pylint: disable=g-import-not-at-top
  builder = _builder()
  pixels = np.random.default_rng(0).integers(0, 4, (40, 60, 3), dtype=np.uint8) * 60
  rgba = np.concatenate([pixels, np.full((40, 60, 1), 255, np.uint8)], axis=-1)
  buffer = io.BytesIO()
  Image.fromarray(rgba).save(buffer, format='PNG', compress_level=0)
  png = base64.b64encode(buffer.getvalue()).decode('ascii')
  # Many colours: a 256-colour version would change it, so it stays RGB.
  noise = np.random.default_rng(1).integers(0, 256, (40, 60, 3), dtype=np.uint8)
  noisy = io.BytesIO()
  Image.fromarray(np.concatenate([noise, rgba[..., 3:]], axis=-1)).save(noisy, format='PNG')
  noisy_png = base64.b64encode(noisy.getvalue()).decode('ascii')
  new_output = nbformat.v4.new_output
  cell = nbformat.v4.new_code_cell('x', outputs=[
      new_output('stream', name='stderr', text='10%\r'),
      new_output('stream', name='stderr', text='100%\r\nINFO done\n'),
      new_output('stream', name='stdout', text='a\n'),
      new_output('display_data', data={'image/png': png, 'text/plain': '<Figure>'}),
      new_output('display_data', data={'image/png': noisy_png}),
      new_output('stream', name='stdout', text='b\n'),
      new_output('stream', name='stdout', text='c\n')])
  notebook = nbformat.v4.new_notebook(cells=[cell])
  builder.compact(notebook)
  outputs = notebook.cells[0].outputs
  assert [(out.output_type, out.get('text')) for out in outputs] == [
      ('stream', '100%\nINFO done\n'), ('stream', 'a\n'), ('display_data', None),
      ('display_data', None), ('stream', 'b\nc\n')]
  # 48 colours: as a palette PNG, exactly.
  recoded = base64.b64decode(outputs[2].data['image/png'])
  assert len(recoded) < len(buffer.getvalue())
  assert (np.asarray(Image.open(io.BytesIO(recoded)).convert('RGB')) == pixels).all()
  assert outputs[2].data['text/plain'] == '<Figure>'
  image = Image.open(io.BytesIO(base64.b64decode(outputs[3].data['image/png'])))
  assert image.mode == 'RGB' and (np.asarray(image) == noise).all()


@pytest.mark.parametrize('name', NOTEBOOKS)
def test_notebook_references_exist(name):
  notebook = _read(name)
  references = dict(_package_references(notebook))
  # The notebooks train, track and evaluate through the package.
  for required in ('train_lib.train_and_evaluate', 'keypoint_ap.evaluate',
                   'online.track_video', 'tables.evaluate_tracking'):
    assert required in references, f'{name} does not call {required}'
  for config in re.findall(r"load_config\(\s*'(\w+)'", '\n'.join(
      cell.source for cell in _code_cells(notebook))):
    assert (ROOT / 'configs' / f'{config}.py').is_file(), f'{name}: configs/{config}.py missing'
  # The install cell comes first and the logic stays in the package: no cell defines a
  # function or a class.
  assert 'pip' in _code_cells(notebook)[0].source
  for cell in _code_cells(notebook):
    defined = [n.name for n in ast.walk(ast.parse(_python_source(cell)))
               if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    assert not defined, f'{name} defines {defined}'


@pytest.mark.parametrize('name', NOTEBOOKS)
def test_notebook_opens_in_colab_installs_and_checks_the_accelerator(name):
  notebook = _read(name)
  badge = notebook.cells[0]
  assert badge.cell_type == 'markdown'
  assert re.fullmatch(r'\[!\[Open In Colab\]\(https://colab\.research\.google\.com/assets/'
                      r'colab-badge\.svg\)\]\(https://colab\.research\.google\.com/github/'
                      rf'[\w.-]+/[\w.-]+/blob/main/colab/{re.escape(name)}\)', badge.source)
  install, accelerator = _code_cells(notebook)[:2]
  assert 'git' in install.source and 'clone' in install.source
  assert "jax.default_backend()" in accelerator.source and 'warnings.warn' in accelerator.source


def _run_install_cell(source, cwd, monkeypatch, importable):
  """Runs the install cell in `cwd` with artrack_jax importable or not; the commands it runs
  are recorded (not run: they would clone from GitHub and install into this environment)."""
  import importlib.util as importlib_util   # pylint: disable=g-import-not-at-top
  import subprocess   # pylint: disable=g-import-not-at-top
  import sys   # pylint: disable=g-import-not-at-top
  find_spec = importlib_util.find_spec
  monkeypatch.setattr(importlib_util, 'find_spec', lambda module, *args: (
      find_spec(module, *args) if importable or module != 'artrack_jax' else None))
  commands = []
  monkeypatch.setattr(subprocess, 'run', lambda command, check: commands.append(command))
  monkeypatch.chdir(cwd)
  monkeypatch.setattr(sys, 'path', list(sys.path))
  exec(compile(source, 'install cell', 'exec'), {})   # pylint: disable=exec-used
  return commands


def test_install_cell_clones_outside_a_clone_and_installs_inside_one(tmp_path, monkeypatch):
  import sys   # pylint: disable=g-import-not-at-top
  source = _code_cells(_read('quickstart.ipynb'))[0].source
  assert _run_install_cell(source, tmp_path, monkeypatch, importable=True) == []
  clone = tmp_path / 'artrack-jax'
  commands = _run_install_cell(source, tmp_path, monkeypatch, importable=False)
  assert commands[0][:4] == ['git', 'clone', '--depth', '1']
  assert commands[0][4].startswith('https://github.com/') and commands[0][5] == str(clone)
  assert commands[1] == [sys.executable, '-m', 'pip', 'install', '-q', '-e', str(clone)]
  assert sys.path[0] == str(clone)
  # Run from inside a clone (its colab/ folder): installed from it, nothing cloned.
  (clone / 'artrack_jax').mkdir(parents=True)
  (clone / 'pyproject.toml').write_text('')
  (clone / 'colab').mkdir()
  commands = _run_install_cell(source, clone / 'colab', monkeypatch, importable=False)
  assert commands == [[sys.executable, '-m', 'pip', 'install', '-q', '-e', str(clone)]]


def test_accelerator_cell_warns_on_cpu(monkeypatch):
  source = _code_cells(_read('quickstart.ipynb'))[1].source
  import jax   # pylint: disable=g-import-not-at-top
  assert jax.default_backend() == 'cpu'   # the suite runs on the CPU (conftest.py)
  with pytest.warns(UserWarning, match='No GPU or TPU: JAX runs on the CPU'):
    exec(compile(source, 'accelerator cell', 'exec'), {})   # pylint: disable=exec-used
  monkeypatch.setattr(jax, 'default_backend', lambda: 'gpu')
  import warnings   # pylint: disable=g-import-not-at-top
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    exec(compile(source, 'accelerator cell', 'exec'), {})   # pylint: disable=exec-used


def test_reference_check_catches_a_missing_name():
  notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
      'from artrack_jax import track\ntrack.track_video_that_does_not_exist(1)')])
  with pytest.raises(AssertionError, match='track.track_video_that_does_not_exist does not'):
    _package_references(notebook)


def test_real_data_setup_cells_run(tmp_path):
  """The real-data notebook up to its configs (no data needed): the paper's configs accept the
  Drive overrides, for PoseTrack and for COCO."""
  from nbclient import NotebookClient   # pylint: disable=g-import-not-at-top
  notebook = _read('real_data.ipynb')
  cells = _code_cells(notebook)
  last = next(k for k, cell in enumerate(cells) if 'configs_util.load_config' in cell.source)
  report = ("print('|'.join(f'{stage}:{c.stage}:{c.data.name}:{c.data.skeleton}:'\n"
            "               f'{c.data.manual_dir}:{c.data.builder_config}:{c.train.init_from}'\n"
            "               for stage, c in configs.items()))")
  notebook.cells = cells[:last + 1] + [
      nbformat.v4.new_code_cell(report),
      nbformat.v4.new_code_cell("SPATIAL_DATA = 'coco_keypoints'"),
      nbformat.v4.new_code_cell(cells[last].source),
      nbformat.v4.new_code_cell(report)]
  NotebookClient(notebook, timeout=300, kernel_name='python3',
                 resources={'metadata': {'path': str(tmp_path)}}).execute()
  lines = [out['text'].strip() for cell in notebook.cells[-4::3] for out in cell.outputs
           if out.output_type == 'stream' and out.name == 'stdout']
  drive = '/content/drive/MyDrive/artrack'
  posetrack = f'posetrack:posetrack:{drive}/posetrack2018:2018'
  coco = f'coco_keypoints:coco:{drive}/coco2017:'
  assert lines == [
      f'spatial:spatial:{posetrack}:|pgg:pgg:{posetrack}:{drive}/runs/spatial|'
      f'temporal:temporal:{posetrack}:{drive}/runs/pgg',
      f'spatial:spatial:{coco}:|pgg:pgg:{coco}:{drive}/runs/spatial|'
      f'temporal:temporal:{posetrack}:{drive}/runs/pgg'], lines


@pytest.mark.slow
def test_quickstart_runs_at_tiny_size(tmp_path, monkeypatch, request):
  """Every cell of the quick start at tiny size: data, 3 training stages, maps, tracking, tables.

  Compiling the three train steps dominates the run (minutes on 2 busy cores); JAX's persistent
  compilation cache, kept in pytest's cache directory, lets later runs skip recompiling
  programs that have not changed. The cells still all run.
  """
  builder = _builder()
  cache = getattr(request.config, 'cache', None)   # None under -p no:cacheprovider
  if cache is not None and 'JAX_COMPILATION_CACHE_DIR' not in os.environ:
    monkeypatch.setenv('JAX_COMPILATION_CACHE_DIR', str(cache.mkdir('jax_compilation_cache')))
  # As `build_notebooks.py --execute` runs it (TINY, CPU), from the sources only.
  notebook = builder.strip(_read('quickstart.ipynb'))
  workdir = str(tmp_path / 'work')
  try:
    builder.execute(notebook, workdir, cwd=str(tmp_path), timeout=600)
  finally:
    # The executed notebook, to look at after a failure.
    nbformat.write(notebook, tmp_path / 'quickstart_executed.ipynb')
  # What --execute saves shows no path of this machine.
  builder.sanitize(notebook, workdir)
  assert builder.leaks(notebook, workdir) == []

  def text(cell):
    return ''.join(out.get('text', '') for out in cell.outputs if out.output_type == 'stream')

  def images(cell):
    return sum('image/png' in out.get('data', {}) for out in cell.outputs
               if out.output_type in ('display_data', 'execute_result'))

  cells = _code_cells(notebook)
  everything = '\n'.join(text(cell) for cell in cells)
  assert 'TINY = True' in everything, 'the notebook did not read ARTRACK_NOTEBOOK_TINY'
  # Three stages trained, each with its checkpoint.
  for stage in ('spatial', 'pgg', 'temporal'):
    assert any((tmp_path / 'work' / stage / 'checkpoints').iterdir()), f'{stage}: no checkpoint'
  # Figures: ground truth, curves, maps, ordinal maps, PGG effect, poses, tracked frames.
  num_images = sum(images(cell) for cell in cells)
  assert num_images >= 7, f'{num_images} figures shown'
  # The evaluation tables were printed with numbers: COCO AP after stages 1 and 2, the
  # toolkit's tables and one Table 4 row per similarity (and HE+TIE with PGG).
  assert len(re.findall(r'^AP\s+-?\d+\.\d\d$', everything, re.MULTILINE)) == 2, 'COCO AP'
  assert 'Average Precision (AP) metric:' in everything, 'no AP table'
  assert 'Multiple Object Tracking (MOT) metrics:' in everything, 'no MOT table'
  for row in ('oks', 'iou', 'ke', 'ke_sie', 'he', 'tie', 'he_tie', 'he_tie_pgg'):
    assert re.search(rf'^{row}\s+-?\d+\.\d\s', everything, re.MULTILINE), f'no row {row}'
  assert (tmp_path / 'work' / 'eval' / 'posetrack_mota_he_tie.json').is_file(), 'no MOTA file'
  assert 'SIE spread per person: before PGG' in everything, 'no PGG spread'
