"""Every config file: loads, documents its command, and trains a step at a tiny size.

Sizes are overridden (64 px, 1 stack, 32 features); each config keeps its own stage, losses,
PGG and optimiser settings. Every config's train step is traced (`jax.eval_shape`: the whole
step with its own optimiser, without compiling); one config per stage also runs a compiled
step on synthetic data, so three compilations cover the seven files.
"""
import importlib.util
import json
import pathlib
import subprocess
import sys

import jax
import numpy as np
import pytest

from artrack_jax import configs_util
from artrack_jax import train_lib
from artrack_jax.data import pipeline
from artrack_jax.data import synthetic

# The config files live in the package; the repository's configs/ re-exports them.
CONFIGS = configs_util.CONFIGS_DIR
TOP_LEVEL = pathlib.Path(__file__).resolve().parents[1] / 'configs'
NAMES = ('tiny', 'quickstart', 'quickstart_pgg', 'quickstart_temporal', 'default', 'pgg',
         'temporal')
STAGE = {'tiny': 'spatial', 'quickstart': 'spatial', 'default': 'spatial', 'pgg': 'pgg',
         'quickstart_pgg': 'pgg', 'temporal': 'temporal', 'quickstart_temporal': 'temporal'}
# Configs whose step is compiled and run here; the others are traced without compiling.
# Compiling dominates the suite's time on CPU, and stage 1 and stage 3 steps are already
# compiled and run by tests/test_train.py (resume, frozen SpatialNet) and by the quick-start
# notebook test (every stage of the quick-start chain).
RUN = ('quickstart_pgg',)


def load(name, directory=CONFIGS):
  spec = importlib.util.spec_from_file_location(f'test_configs_{name}', directory / f'{name}.py')
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def shrink(config):
  """The config at test size; everything else as the file says."""
  c = config.copy_and_resolve_references()
  c.data.image_size = 64
  c.data.max_people = 4
  c.model.update(stacks=1, features=32, increase=16, depth=2, he_dim=16, roi_size=3,
                 dtype='float32')
  c.model.he_channels = 16
  c.pgg.num_slots = 64
  c.pgg.block_size = 32
  c.train.batch_size = 2
  return c


def random_state(trainer, seed=0):
  """A train state with host-drawn random weights (no compiled initialisation needed)."""
  rng = np.random.default_rng(seed)
  shapes = jax.eval_shape(trainer.task.init_variables, train_lib.prng_key(0))

  def draw(path, leaf):
    name = jax.tree_util.keystr(path)
    if 'var' in name or 'scale' in name:
      return np.ones(leaf.shape, leaf.dtype)
    if 'mean' in name or 'bias' in name:
      return np.zeros(leaf.shape, leaf.dtype)
    return (0.1 * rng.standard_normal(leaf.shape)).astype(leaf.dtype)

  params, batch_stats, frozen = jax.tree_util.tree_map_with_path(draw, shapes)
  return train_lib.TrainState(
      step=np.zeros((), np.int32), params=params, batch_stats=batch_stats,
      opt_state=trainer.optimizer.init(params), frozen=frozen,
      skipped_steps=np.zeros((), np.int32), consecutive_skips=np.zeros((), np.int32))


@pytest.fixture(scope='module')
def batches():
  config = shrink(load('tiny').get_config())
  seq, images = synthetic.generate_clip('train', 0, num_frames=4, image_size=64)
  records = pipeline.records_from_sequences([seq], [images])
  return {'frames': next(iter(pipeline.frame_dataset(records, config, 'train'))),
          'pairs': next(iter(pipeline.pair_dataset(records, config, 'train')))}


def test_every_config_file_is_covered():
  assert sorted(p.stem for p in CONFIGS.glob('*.py') if p.stem != '__init__') == sorted(NAMES)
  assert sorted(p.stem for p in TOP_LEVEL.glob('*.py')) == sorted(NAMES)


@pytest.mark.parametrize('name', NAMES)
def test_top_level_config_is_the_packaged_one(name):
  """configs/NAME.py re-exports artrack_jax/configs/NAME.py: the same functions, no copy."""
  packaged = importlib.import_module(f'artrack_jax.configs.{name}')
  top = load(name, TOP_LEVEL)
  functions = {k: v for k, v in vars(packaged).items()
               if callable(v) and not k.startswith('_') and getattr(v, '__module__', '') ==
               packaged.__name__}
  assert 'get_config' in functions
  for function_name, function in functions.items():
    assert getattr(top, function_name, None) is function, f'configs/{name}.py: {function_name}'
  # Only imports and a docstring: a value set there would be a second copy to keep in sync.
  assert len(top.__doc__.splitlines()) <= 4
  assert 'get_config()' not in (TOP_LEVEL / f'{name}.py').read_text()
  assert top.get_config().to_dict() == configs_util.load_config(name).to_dict()


def test_config_names_resolve_to_the_package_and_paths_stay_paths(tmp_path):
  assert configs_util.config_path('quickstart') == CONFIGS / 'quickstart.py'
  with pytest.raises(FileNotFoundError, match='no config named .quickstrat.*tiny'):
    configs_util.config_path('quickstrat')
  mine = tmp_path / 'my.py'
  mine.write_text('from artrack_jax.configs import tiny\n\n\ndef get_config():\n'
                  '  c = tiny.get_config()\n  c.train.num_steps = 7\n  return c\n')
  assert configs_util.load_config(mine).train.num_steps == 7
  argv = ['prog', '--config', 'tiny', '--config.train.num_steps=2', f'--config={mine}',
          '--config=quickstart:arg', '--workdir', 'tiny']
  with pytest.raises(FileNotFoundError, match='no config named .quickstrat.'):
    configs_util.resolve_config_flag(['prog', '--config=quickstrat'])
  assert configs_util.resolve_config_flag(argv) == [
      'prog', '--config', str(CONFIGS / 'tiny.py'), '--config.train.num_steps=2',
      f'--config={mine}', f'--config={CONFIGS / "quickstart.py"}:arg', '--workdir', 'tiny']
  # A workdir's config.json through configs_json.py, loadable by ml_collections' config_flags.
  saved = tmp_path / 'config.json'
  saved.write_text(configs_util.load_config('tiny').to_json())
  resolved = configs_util.resolve_config_flag(['prog', f'--config={saved}'])[1]
  loader, _, arg = resolved[len('--config='):].partition(':')
  assert arg == str(saved) and loader.endswith('configs_json.py')
  module = configs_util.load_config_module(loader)
  assert module.get_config(arg).to_dict() == configs_util.load_config('tiny').to_dict()
  with pytest.raises(FileNotFoundError, match='missing.json'):
    configs_util.resolve_config_flag(['prog', '--config', str(tmp_path / 'missing.json')])


@pytest.mark.parametrize('name', NAMES)
def test_config_documents_its_command(name):
  module = load(name)
  assert f'python train.py --config configs/{name}.py --workdir' in module.__doc__
  config = module.get_config()
  assert config.stage == STAGE[name]
  assert config.train.num_steps > 0 and config.train.batch_size > 0
  if config.stage != 'spatial':
    # Stages 2 and 3 start from the previous stage's workdir, given on the command line.
    assert '--config.train.init_from=' in module.__doc__
  size = config.data.image_size
  assert size % (4 * 2**config.model.depth) == 0, 'input not divisible by the hourglass'


@pytest.mark.slow
@pytest.mark.parametrize('name', NAMES)
def test_config_step(name, batches):
  config = shrink(load(name).get_config())
  trainer = train_lib.create_trainer(config)
  state = random_state(trainer)
  batch = batches['pairs' if config.stage == 'temporal' else 'frames']
  global_batch = train_lib.shard_batch(batch, trainer.mesh)
  if name not in RUN:
    # The whole step, with this config's own task and optimiser, traced without compiling.
    new_state, metrics = jax.eval_shape(trainer.step, state, global_batch)
    assert jax.tree.structure(new_state) == jax.tree.structure(state)
    assert metrics['loss'].shape == ()
    return
  state = jax.device_put(state, train_lib.replicated_sharding(trainer.mesh))
  before = jax.device_get(state.params)
  frozen_before = jax.device_get(state.frozen)
  state, metrics = trainer.step(state, global_batch)
  assert int(metrics['skipped']) == 0, 'non-finite loss or gradient'
  assert np.isfinite(float(metrics['loss'])) and float(metrics['loss']) > 0
  assert float(metrics['learning_rate']) == pytest.approx(config.optim.learning_rate, rel=1e-6)
  moved = [not np.array_equal(a, b)
           for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(jax.device_get(state.params)))]
  assert np.mean(moved) > 0.9
  if config.stage == 'pgg':
    assert any(k.startswith('pgg') for k in metrics)
  if config.stage == 'temporal':
    assert any(k.startswith('pgg_tie') for k in metrics)   # TIE grouping loss is on
    for a, b in zip(jax.tree.leaves(frozen_before), jax.tree.leaves(jax.device_get(state.frozen))):
      np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize('script', ['train.py', 'eval.py'])
def test_command_lines_name_an_unknown_config(script, tmp_path):
  proc = subprocess.run([sys.executable, str(TOP_LEVEL.parent / script), '--config', 'quickstrat',
                         '--workdir', str(tmp_path)], capture_output=True, text=True,
                        timeout=300, check=False, cwd=tmp_path)
  assert proc.returncode != 0
  assert "--config: no config named 'quickstrat': the installed configs are" in proc.stderr
  assert 'Traceback' not in proc.stderr, proc.stderr[-2000:]


def test_older_config_json_loads_with_the_fields_added_since(tmp_path):
  saved = configs_util.load_config('quickstart').to_dict()
  del saved['decode']['pose_nms']                 # a workdir written before the field existed
  saved['decode']['det_threshold'] = 0.33
  path = tmp_path / 'config.json'
  path.write_text(json.dumps(saved, default=list))
  config = configs_util.load_config(str(path))
  assert config.decode.pose_nms == configs_util.load_config('default').decode.pose_nms
  assert config.decode.det_threshold == 0.33 and config.data.image_size == 256
  path.write_text('[1, 2]')
  with pytest.raises(ValueError, match='expected a JSON object'):
    configs_util.load_config(str(path))
