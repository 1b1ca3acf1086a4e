"""Multi-host training on one machine: 2 processes x 2 CPU devices against 1 process x 4.

Each process is a subprocess with `--xla_force_host_platform_device_count`; the two processes
of the multi-host run meet through `jax.distributed.initialize` with the coordinator on
127.0.0.1 (CPU collectives between processes: gloo, jaxlib's default). Both runs train the tiny
SpatialNet with `train_lib.train` on the same in-memory clip (global batch 4, 3 steps),
recording the image ids of every batch each process read, and then restore the other run's
checkpoint into their own mesh:

  single  1 process x 4 devices;
  multi   2 processes x 2 devices.

The three processes run at once (one module-scoped fixture for all tests).
"""
import json
import os
import pathlib
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NUM_STEPS = 3
GLOBAL_BATCH = 4
NUM_FRAMES = 8  # one clip of 8 labelled frames: an epoch is 2 global batches
# XLA:CPU compiles the train step in ~7 s instead of ~45 s with the older loop emitters and no
# LLVM optimisation; both runs use them, and the steps are few.
FAST_COMPILE = ('--xla_cpu_use_fusion_emitters=false --xla_backend_optimization_level=0 '
                '--xla_llvm_disable_expensive_passes=true')

WORKER = textwrap.dedent('''
    import json, os, sys, time
    mode, out, port, process_id = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    import jax
    if mode == 'multi':
      jax.distributed.initialize(coordinator_address=f'127.0.0.1:{port}', num_processes=2,
                                 process_id=process_id, initialization_timeout=120)
    import grain
    import numpy as np
    from artrack_jax import checkpoints, train_lib
    from artrack_jax.configs import tiny
    from artrack_jax.data import pipeline, synthetic

    config = tiny.get_config()
    config.train.batch_size = %(GLOBAL_BATCH)d
    config.train.num_steps = %(NUM_STEPS)d
    config.train.checkpoint_every = %(NUM_STEPS)d
    # As in test_train_multidevice: an update linear in small gradients, so the float
    # rounding of other reduction orders stays rounding in the parameters.
    config.optim.learning_rate = 1.0
    config.optim.eps = 1.0
    seq, images = synthetic.generate_clip('train', 0, num_frames=%(NUM_FRAMES)d, image_size=64)
    records = pipeline.records_from_sequences([seq], [images])
    dataset = pipeline.frame_dataset(records, config, 'train', seed=1)

    class Recording(grain.DatasetIterator):
      """The grain iterator, recording the image ids of each batch it yields."""
      def __init__(self, it):
        super().__init__(it)
        self.ids = []
      def __next__(self):
        batch = next(self._parent)
        self.ids.append(batch['image_id'].tolist())
        return batch
      def get_state(self):
        return self._parent.get_state()
      def set_state(self, state):
        self._parent.set_state(state)

    def host_tree(tree):
      # Replicated arrays: this process's first copy is the whole value.
      return {jax.tree_util.keystr(p): np.asarray(x.addressable_data(0))
              for p, x in jax.tree_util.tree_leaves_with_path(tree)}

    def save(name, state, **info):
      tree = {'params' + k: v for k, v in host_tree(state.params).items()}
      tree.update({'batch_stats' + k: v for k, v in host_tree(state.batch_stats).items()})
      np.savez(os.path.join(out, f'{name}_{jax.process_index()}.npz'), **tree)
      replicated = all(x.sharding.is_fully_replicated for x in jax.tree.leaves(state.params))
      info.update(step=int(jax.device_get(state.step)), replicated=replicated,
                  process_count=jax.process_count(), device_count=jax.device_count(),
                  local_devices=jax.local_device_count())
      with open(os.path.join(out, f'{name}_{jax.process_index()}.json'), 'w') as f:
        json.dump(info, f)

    trainer = train_lib.create_trainer(config)
    if mode == 'single':
      save('initial', trainer.new_state())
    start = time.perf_counter()
    train_iter = Recording(iter(dataset))
    state = train_lib.train(config, os.path.join(out, mode), trainer, train_iter)
    seconds = time.perf_counter() - start
    next(train_iter)   # the batch after the checkpoint
    save(mode, state, ids=train_iter.ids, train_seconds=seconds)
    # Training done: the other run may read this run's checkpoint.
    if jax.process_index() == 0:
      open(os.path.join(out, mode + '.done'), 'w').close()
    # The other topology's checkpoint, with the input position, into this run's mesh.
    source = 'single' if mode == 'multi' else 'multi'
    deadline = time.monotonic() + 300
    while not os.path.exists(os.path.join(out, source + '.done')):
      if time.monotonic() > deadline:
        sys.exit(f'{source} did not finish training')
      time.sleep(0.2)
    manager = checkpoints.create_checkpoint_manager(os.path.join(out, source), config.train,
                                                    read_only=True)
    train_iter = Recording(iter(dataset))
    state = checkpoints.restore_checkpoint(manager, trainer.new_state(), train_iter)
    manager.close()
    next(train_iter)
    save(f'{mode}_restored', state, ids=train_iter.ids)
''') % {'GLOBAL_BATCH': GLOBAL_BATCH, 'NUM_STEPS': NUM_STEPS, 'NUM_FRAMES': NUM_FRAMES}


def _free_port():
  with socket.socket() as s:
    s.bind(('127.0.0.1', 0))
    return s.getsockname()[1]


def _start(mode, out, port, num_processes, devices_per_process):
  env = dict(os.environ, JAX_PLATFORMS='cpu',
             XLA_FLAGS=f'--xla_force_host_platform_device_count={devices_per_process} '
             + FAST_COMPILE)
  return [(f'{mode} process {i}',
           subprocess.Popen([sys.executable, '-c', WORKER, mode, str(out), str(port), str(i)],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True))
          for i in range(num_processes)]


def _load(out, name, process):
  with np.load(out / f'{name}_{process}.npz') as data:
    tree = dict(data)
  info = json.loads((out / f'{name}_{process}.json').read_text())
  return tree, info


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
  out = tmp_path_factory.mktemp('multihost')
  start = time.perf_counter()
  # Both runs at once: each trains, then restores the other's checkpoint.
  procs = _start('single', out, 0, 1, 4) + _start('multi', out, _free_port(), 2, 2)
  logs = {}
  try:
    for name, proc in procs:
      logs[name] = proc.communicate(timeout=max(start + 420 - time.perf_counter(), 1))[0]
  finally:
    for _, proc in procs:
      if proc.poll() is None:
        proc.kill()
        proc.wait()
  for name, proc in procs:
    assert proc.returncode == 0, f'{name}:\n{logs.get(name, "")[-4000:]}'
  seconds = {name: json.loads((out / f'{name}_0.json').read_text())['train_seconds']
             for name in ('single', 'multi')}
  print(f'multihost: {time.perf_counter() - start:.1f} s in all; train() took {seconds}')
  return {'initial': [_load(out, 'initial', 0)], 'single': [_load(out, 'single', 0)],
          'multi': [_load(out, 'multi', p) for p in range(2)],
          'multi_restored': [_load(out, 'multi_restored', p) for p in range(2)],
          'single_restored': [_load(out, 'single_restored', 0)]}


def _max_diff(a, b):
  assert sorted(a) == sorted(b) and len(a) > 10
  return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


@pytest.mark.slow
def test_two_processes_train_like_one(runs):
  (single, single_info), = runs['single']
  (multi_0, info_0), (multi_1, info_1) = runs['multi']
  assert single_info['process_count'] == 1 and single_info['device_count'] == 4
  for info in (info_0, info_1):
    assert info['process_count'] == 2 and info['device_count'] == 4
    assert info['local_devices'] == 2 and info['replicated'] and info['step'] == NUM_STEPS
  # Both processes hold the same replicated state.
  assert _max_diff(multi_0, multi_1) == 0.0
  # Float rounding only (other reduction orders): per leaf, relative to its scale (BatchNorm
  # variances are large).
  worst = max((float(np.max(np.abs(single[k] - multi_0[k]))
                     / max(float(np.max(np.abs(single[k]))), 1.0)), k) for k in single)
  print(f'after {NUM_STEPS} steps: max |2 x 2 - 1 x 4| = {_max_diff(single, multi_0):.3g}; '
        f'relative {worst[0]:.3g} at {worst[1]}')
  assert worst[0] < 1e-5
  # The steps moved the parameters far more than the two runs differ.
  assert _max_diff(single, runs['initial'][0][0]) > 1e-2


@pytest.mark.slow
def test_each_global_batch_is_the_same_and_an_epoch_reads_every_example_once(runs):
  (_, single_info), = runs['single']
  (_, info_0), (_, info_1) = runs['multi']
  local = GLOBAL_BATCH // 2
  # NUM_STEPS batches and the one after the checkpoint.
  assert [len(b) for b in single_info['ids']] == [GLOBAL_BATCH] * (NUM_STEPS + 1)
  for info in (info_0, info_1):
    assert [len(b) for b in info['ids']] == [local] * (NUM_STEPS + 1)
  for step, (whole, part_0, part_1) in enumerate(zip(single_info['ids'], info_0['ids'],
                                                     info_1['ids'])):
    assert sorted(whole) == sorted(part_0 + part_1), step
  # The first epoch (NUM_FRAMES examples = 2 global batches) across both processes.
  steps_per_epoch = NUM_FRAMES // GLOBAL_BATCH
  read = [i for info in (info_0, info_1) for b in info['ids'][:steps_per_epoch] for i in b]
  assert len(read) == NUM_FRAMES and len(set(read)) == NUM_FRAMES


@pytest.mark.slow
def test_checkpoints_restore_across_process_counts(runs):
  (single, single_info), = runs['single']
  (multi, multi_info), _ = runs['multi']
  # 1-process checkpoint restored by 2 processes: the state, and the input continues with
  # the batch the single run would read next.
  after_single = single_info['ids'][NUM_STEPS]
  parts = []
  for restored, info in runs['multi_restored']:
    assert info['step'] == NUM_STEPS and info['replicated'] and info['process_count'] == 2
    assert _max_diff(restored, single) == 0.0
    parts += info['ids'][0]
  assert sorted(parts) == sorted(after_single)
  # 2-process checkpoint restored by 1 process.
  (restored, info), = runs['single_restored']
  assert info['step'] == NUM_STEPS and info['replicated'] and info['device_count'] == 4
  assert _max_diff(restored, multi) == 0.0
  after_multi = runs['multi'][0][1]['ids'][NUM_STEPS] + runs['multi'][1][1]['ids'][NUM_STEPS]
  assert sorted(info['ids'][0]) == sorted(after_multi)
