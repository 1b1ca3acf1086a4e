"""Data parallelism: one step over 4 (forced CPU) devices equals the single-device step.

The main test process has initialised JAX with one CPU device, so the comparison runs in a
subprocess started with `--xla_force_host_platform_device_count=4`. Equality of the BatchNorm
statistics shows they are taken over the global batch, not per device.
"""
import json
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent('''
    import importlib.util, json, sys
    import jax, numpy as np
    from artrack_jax import train_lib
    from artrack_jax.data import pipeline, synthetic

    assert jax.device_count() == 4, jax.devices()
    spec = importlib.util.spec_from_file_location('tiny', sys.argv[1] + '/configs/tiny.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config()
    config.train.batch_size = 4
    # update = g / (|g| + 1): linear in small gradients, so float rounding in the gradient
    # (different reduction orders over 1 and 4 devices) stays rounding in the parameters;
    # with Adam's usual eps a gradient that is pure noise (conv bias before BatchNorm) would
    # move by +-lr in a random direction.
    config.optim.learning_rate = 1.0
    config.optim.eps = 1.0
    seq, images = synthetic.generate_clip('train', 0, num_frames=4, image_size=64)
    records = pipeline.records_from_sequences([seq], [images])
    batch = next(iter(pipeline.frame_dataset(records, config, 'train', shard_index=0,
                                             shard_count=1)))

    task = train_lib.create_task(config)
    one = train_lib.create_trainer(config, task, train_lib.create_mesh(jax.devices()[:1]))
    four = train_lib.create_trainer(config, task, train_lib.create_mesh(jax.devices()))
    initial = jax.device_get(one.new_state())
    results = {}
    for name, trainer in (('one', one), ('four', four)):
      state = jax.device_put(initial, train_lib.replicated_sharding(trainer.mesh))
      global_batch = train_lib.shard_batch(batch, trainer.mesh)
      image = global_batch['image']
      results[name + '_shards'] = [list(s.data.shape) for s in image.addressable_shards]
      state, metrics = trainer.step(state, global_batch)
      results[name + '_state_replicated'] = bool(state.params['backbone']['head_0']['kernel']
                                                 .sharding.is_fully_replicated)
      results[name] = jax.device_get({'params': state.params,
                                      'batch_stats': state.batch_stats,
                                      'loss': metrics['loss']})

    def max_diff(key):
      a, b = jax.tree.leaves(results['one'][key]), jax.tree.leaves(results['four'][key])
      assert len(a) == len(b) and len(a) > 0
      return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in zip(a, b))

    def max_change(key):
      a, b = jax.tree.leaves(initial.__getattribute__(key)), jax.tree.leaves(results['one'][key])
      return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in zip(a, b))

    print(json.dumps({
        'worst': sorted(
            (float(np.max(np.abs(np.asarray(x) - np.asarray(y)))), jax.tree_util.keystr(p))
            for (p, x), y in zip(jax.tree_util.tree_leaves_with_path(results['one']['params']),
                                 jax.tree.leaves(results['four']['params'])))[-3:],
        'shards_one': results['one_shards'], 'shards_four': results['four_shards'],
        'replicated': [results['one_state_replicated'], results['four_state_replicated']],
        'params_diff': max_diff('params'), 'batch_stats_diff': max_diff('batch_stats'),
        'params_change': max_change('params'),
        'batch_stats_change': max_change('batch_stats'),
        'loss': [float(results['one']['loss']), float(results['four']['loss'])]}))
''')


@pytest.mark.slow
def test_four_device_step_equals_single_device_step():
  env = dict(os.environ, JAX_PLATFORMS='cpu',
             # Cheaper compilation (the step's numbers are compared, not its speed).
             XLA_FLAGS='--xla_force_host_platform_device_count=4 '
                       '--xla_cpu_use_fusion_emitters=false '
                       '--xla_backend_optimization_level=0 '
                       '--xla_llvm_disable_expensive_passes=true')
  proc = subprocess.run([sys.executable, '-c', SCRIPT, str(ROOT)], env=env, cwd=ROOT,
                        capture_output=True, text=True, timeout=900)
  assert proc.returncode == 0, proc.stderr[-4000:]
  result = json.loads(proc.stdout.strip().splitlines()[-1])
  # The global batch of 4 is split one example per device, and stays whole on one device.
  assert result['shards_four'] == [[1, 64, 64, 3]] * 4
  assert result['shards_one'] == [[4, 64, 64, 3]]
  assert result['replicated'] == [True, True]
  assert result['loss'][0] == pytest.approx(result['loss'][1], rel=1e-5)
  # The step moved the parameters and the statistics far more than the two runs differ.
  assert result['params_change'] > 1e-2 and result['batch_stats_change'] > 1e-3
  assert result['params_diff'] < 1e-5
  assert result['batch_stats_diff'] < 1e-5
