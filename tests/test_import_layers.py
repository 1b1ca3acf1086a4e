"""The package's imports run one way (docs/design.md, "Layers"): no cycle, nothing upward.

Parsed from the source (ast), so it also sees imports inside functions: a lazy import may
load a heavy dependency late, but it must not climb the layers.
"""
import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / 'artrack_jax'

# Lowest first; a module may import its own layer and those below. The first matching prefix
# names a module's layer.
LAYERS = (
    ('foundations', ('artrack_jax.skeletons', 'artrack_jax.geometry', 'artrack_jax.machine',
                     'artrack_jax.metrics_writer', 'artrack_jax.video_io',
                     'artrack_jax.configs_util', 'artrack_jax.configs_json',
                     'artrack_jax.configs')),
    ('data', ('artrack_jax.data',)),
    ('targets', ('artrack_jax.targets',)),
    ('networks', ('artrack_jax.models', 'artrack_jax.losses', 'artrack_jax.grouping')),
    ('checkpoints', ('artrack_jax.checkpoints', 'artrack_jax.reference',
                     'artrack_jax.exported')),
    ('inference', ('artrack_jax.inference',)),
    ('tracking', ('artrack_jax.tracking',)),
    ('evaluation', ('artrack_jax.evaluation',)),
    ('viz', ('artrack_jax.viz',)),
    ('entry points', ('artrack_jax.train_lib', 'artrack_jax.track', 'artrack_jax.quickstart',
                      'artrack_jax.ablations', 'artrack_jax.cli', 'artrack_jax.export')),
)
RANK = {'foundations': 0, 'data': 1, 'targets': 2, 'networks': 3, 'checkpoints': 4,
        'inference': 5, 'tracking': 6, 'evaluation': 7, 'viz': 8, 'entry points': 9}
# data.pipeline turns records into training targets: it sits with the networks' layer.
PIPELINE_RANK = RANK['networks']
# Known exceptions, each with its reason.
ALLOWED = {
    # The generator's command line (`python -m artrack_jax.data.synthetic`) prints the split
    # statistics of evaluation/stats.py after writing the files.
    ('artrack_jax.data.synthetic', 'artrack_jax.evaluation.stats'),
}


def module_name(path: pathlib.Path) -> str:
  parts = path.relative_to(PACKAGE.parent).with_suffix('').parts
  return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def is_module(name: str) -> bool:
  path = PACKAGE.parent.joinpath(*name.split('.'))
  return path.with_suffix('.py').is_file() or (path / '__init__.py').is_file()


def imports_of(path: pathlib.Path) -> set[str]:
  """The package modules a file imports (top level and inside functions)."""
  out = set()
  for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
    if isinstance(node, ast.Import):
      out.update(a.name for a in node.names if a.name.startswith('artrack_jax'))
    elif isinstance(node, ast.ImportFrom) and (node.module or '').startswith('artrack_jax'):
      for alias in node.names:
        full = f'{node.module}.{alias.name}'
        out.add(full if is_module(full) else node.module)
  return {m for m in out if m != 'artrack_jax'}


def rank(name: str) -> int:
  if name == 'artrack_jax':   # the package's __init__.py
    return RANK['foundations']
  if name == 'artrack_jax.data.pipeline':
    return PIPELINE_RANK
  for layer, prefixes in LAYERS:
    if any(name == p or name.startswith(p + '.') for p in prefixes):
      return RANK[layer]
  raise AssertionError(f'{name}: in no layer of {__file__}; add it to LAYERS')


def graph() -> dict[str, set[str]]:
  return {module_name(p): imports_of(p) for p in PACKAGE.rglob('*.py')}


def test_every_module_has_a_layer():
  for name in graph():
    rank(name)


def test_no_upward_import():
  upward = [f'{a} imports {b}' for a, deps in graph().items() for b in sorted(deps)
            if rank(b) > rank(a) and (a, b) not in ALLOWED]
  assert not upward, '\n'.join(upward)


def test_no_cycle():
  edges = graph()
  state = {}

  def visit(node, path):
    state[node] = 'open'
    for dep in sorted(edges.get(node, ())):
      if (node, dep) in ALLOWED:
        continue
      if state.get(dep) == 'open':
        cycle = path[path.index(dep):] + [dep]
        pytest.fail('import cycle: ' + ' -> '.join(cycle))
      if dep not in state:
        visit(dep, path + [dep])
    state[node] = 'done'

  for name in sorted(edges):
    if name not in state:
      visit(name, [name])


def test_the_checker_sees_a_cycle_and_an_upward_import(tmp_path, monkeypatch):
  # The checks above would pass on a parser that finds nothing: show that they can fail.
  fake = tmp_path / 'artrack_jax'
  (fake / 'tracking').mkdir(parents=True)
  (fake / '__init__.py').write_text('')
  (fake / 'tracking' / '__init__.py').write_text('')
  (fake / 'geometry.py').write_text('def f():\n  from artrack_jax.tracking import online\n')
  (fake / 'tracking' / 'online.py').write_text('from artrack_jax import geometry\n')
  monkeypatch.setattr(__import__(__name__), 'PACKAGE', fake)
  edges = graph()
  assert edges['artrack_jax.geometry'] == {'artrack_jax.tracking.online'}
  with pytest.raises(AssertionError, match='geometry imports artrack_jax.tracking.online'):
    test_no_upward_import()
  with pytest.raises(pytest.fail.Exception, match='import cycle'):
    test_no_cycle()
