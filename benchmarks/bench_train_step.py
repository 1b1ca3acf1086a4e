"""SpatialNet train step: JAX/Flax against the same network in PyTorch, and achieved FLOP/s.

For each configuration (stacks, input size, batch; trunk width 256, increase 128, depth 4 as in
the paper unless overridden) this measures, in one run and on one device:

* the JAX train step: forward + backward + Adam update of ``hourglass.StackedHourglass`` with
  the SpatialNet heads (2J + 8 channels, J = 15), BatchNorm in training mode, jitted with the
  state donated;
* the same step in PyTorch on a network with identical layer shapes written below (checked:
  both sides must report the same parameter count), Adam from ``torch.optim``;
* XLA's FLOP count of the compiled JAX step (``compiled.cost_analysis()['flops']``), the FLOP/s
  both sides achieve with it, and the FLOP/s of a large float32 matmul measured in the same run
  (the practical peak of the device), so "% of matmul" says how well the step uses the device.

The JAX step is timed once per ``--weight-grad`` choice of ``hourglass.Conv`` (XLA's
backward-filter convolution, or an im2col matmul for the kernel gradient; see there).

Both sides use the same loss, a mean squared error over every stack's predictions against a
fixed random target: the loss costs well under 1% of the step, and identical losses keep the
comparison about the network. PyTorch is optional: without it the PyTorch columns say so.

Run (CPU):   python benchmarks/bench_train_step.py
             python benchmarks/bench_train_step.py --configs 1x128x4 --steps 3
      (GPU): python benchmarks/bench_train_step.py --device gpu --configs 1x128x4,4x512x8
PyTorch CPU wheel, if not installed:  pip install --target /tmp/torch_cpu torch (CPU build)
             then PYTHONPATH=/tmp/torch_cpu python benchmarks/bench_train_step.py
XLA flags can be tried with XLA_FLAGS=... in the environment; the run prints them.

Measured on the idle 2-core AMD EPYC (load average 0.06 before the run; jax 0.10.2, torch
2.13.0+cpu, float32, 5-7 timed steps):
  --configs 1x128x4 (256 features):  JAX 1326 ms (xla) / 2625 ms (matmul), PyTorch 880 ms;
      PyTorch / JAX 0.66 / 0.34; 84 GFLOP/step; JAX 49% of the matmul's FLOP/s, PyTorch 74%.
  --configs 1x128x4 --features 64 --increase 32 --depth 3 (the quick start's hourglass with
      AE's stem):  JAX 211 ms (xla) / 240 ms (matmul), PyTorch 174 ms; PyTorch / JAX 0.83;
      JAX 44%, PyTorch 53%.
So on this CPU PyTorch's step is faster. Where JAX's time goes (jax.profiler trace of the
quick-start step, 2 threads): 73% of the thread time in YNNPACK convolutions and dots, which
run near one core's peak each but one thread per operation; the forward pass is a chain of
dependent layers, so it runs on one of the two cores (wall 195 ms against 149 ms of thread time
per core). XLA flags tried without a gain: xla_cpu_use_xnnpack, the XNN graph fusion mode,
xla_cpu_use_onednn, dropping YNN convolutions (Eigen's, multithreaded but slower: 251 ms), the
concurrency-optimised scheduler; splitting each convolution's batch in two (to give the
executor independent work) was within noise. Changes that did help: 1x1 convolutions as 2-D
matmuls (their gradients 1.4-3x faster, step 237 -> 195 ms) and XLA's backward-filter
convolution instead of the im2col matmul ('auto' now picks it). The quick start itself now
uses a narrower stem (--stem-widths 32,64: 132 ms against 208 ms for JAX).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

J = 15                                   # PoseTrack joints
HEAD_CHANNELS = 2 * J + 2 + 6            # heatmaps, KE, SVF, aux


def parse_args():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--device', choices=('cpu', 'gpu'), default='cpu',
                      help='JAX platform and PyTorch device (gpu = CUDA)')
  parser.add_argument('--configs', default='1x128x4,4x256x1',
                      help='comma-separated STACKSxSIZExBATCH (paper: 4 stacks, 512 px)')
  parser.add_argument('--features', type=int, default=256)
  parser.add_argument('--increase', type=int, default=128)
  parser.add_argument('--depth', type=int, default=4)
  parser.add_argument('--stem-widths', default='64,128',
                      help="the stem's 7x7 conv and first residual widths (AE: 64,128; the "
                           "quick start: 32,64)")
  parser.add_argument('--dtype', default='float32', choices=('float32', 'bfloat16'),
                      help='JAX compute dtype (PyTorch runs float32, or autocast bf16 on GPU)')
  parser.add_argument('--weight-grad', default='xla,matmul',
                      help="comma-separated JAX convolution kernel-gradient implementations to "
                           "time side by side (hourglass.Conv: xla, matmul, auto)")
  parser.add_argument('--steps', type=int, default=5, help='timed steps (after 2 warm-up)')
  parser.add_argument('--matmul-size', type=int, default=0,
                      help='n of the n x n matmul for the peak (default 2048 CPU, 8192 GPU)')
  parser.add_argument('--no-torch', action='store_true', help='skip the PyTorch side')
  parser.add_argument('--torch-channels-last', action='store_true',
                      help='run PyTorch in channels_last memory format')
  return parser.parse_args()


ARGS = parse_args()
STEM_WIDTHS = tuple(int(v) for v in ARGS.stem_widths.split(','))
if ARGS.device == 'cpu':
  os.environ.setdefault('JAX_PLATFORMS', 'cpu')

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from artrack_jax import machine  # noqa: E402
from artrack_jax.models import hourglass  # noqa: E402


def interleaved_median_times(fns, steps, warmup=2):
  """Median wall seconds of each ``fn()`` (each must block until its work is done).

  The functions run in turns (a, b, c, a, b, c, ...) so that a machine shared with other work
  slows each of them alike, which keeps their ratio meaningful.
  """
  for _ in range(warmup):
    for fn in fns:
      fn()
  times = [[] for _ in fns]
  for _ in range(steps):
    for fn, t in zip(fns, times):
      start = time.perf_counter()
      fn()
      t.append(time.perf_counter() - start)
  return [statistics.median(t) for t in times]


def matmul_fn(n: int):
  """A jitted n x n matmul to time; returns (fn, flops)."""
  dtype = jnp.bfloat16 if ARGS.dtype == 'bfloat16' else jnp.float32
  a = jax.random.normal(jax.random.key(0), (n, n), dtype)
  b = jax.random.normal(jax.random.key(1), (n, n), dtype)
  f = jax.jit(jnp.dot)
  return (lambda: f(a, b).block_until_ready()), 2.0 * n ** 3


# --------------------------------------------------------------------------------------- JAX


def jax_step(stacks, size, batch, weight_grad):
  """Returns (step function to time, XLA flops per step, parameter count)."""
  dtype = jnp.bfloat16 if ARGS.dtype == 'bfloat16' else jnp.float32
  model = hourglass.StackedHourglass(head_channels=HEAD_CHANNELS, stacks=stacks,
                                     features=ARGS.features, increase=ARGS.increase,
                                     depth=ARGS.depth, stem_widths=STEM_WIDTHS, dtype=dtype,
                                     weight_grad=weight_grad)
  images = jax.random.normal(jax.random.key(0), (batch, size, size, 3))
  target = jax.random.normal(jax.random.key(1), (stacks, batch, size // 4, size // 4,
                                                 HEAD_CHANNELS))
  variables = jax.jit(lambda k: model.init(k, images, train=False))(
      jax.random.key(2, impl='rbg'))
  optimizer = optax.adam(2e-4)
  state = (variables['params'], variables['batch_stats'],
           optimizer.init(variables['params']))

  def step(state, images, target):
    params, batch_stats, opt_state = state

    def loss_fn(params):
      (predictions, _), updates = model.apply(
          {'params': params, 'batch_stats': batch_stats}, images, train=True,
          mutable=['batch_stats'])
      return jnp.mean((predictions - target) ** 2), updates['batch_stats']

    (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    return (optax.apply_updates(params, updates), batch_stats, opt_state), loss

  compiled = jax.jit(step, donate_argnums=0).lower(state, images, target).compile()
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0]
  flops = float(cost.get('flops', float('nan')))
  holder = [state]

  def run():
    holder[0], loss = compiled(holder[0], images, target)
    loss.block_until_ready()

  count = sum(int(np.prod(p.shape)) for p in jax.tree.leaves(variables['params']))
  return run, flops, count


# ----------------------------------------------------------------------------------- PyTorch


def torch_step(stacks, size, batch):
  """Returns (step function to time, parameter count); ImportError without PyTorch."""
  import torch
  from torch import nn

  device = 'cuda' if ARGS.device == 'gpu' else 'cpu'
  if ARGS.device == 'cpu':
    torch.set_num_threads(os.cpu_count())

  class ConvBNReLU(nn.Sequential):
    def __init__(self, cin, cout, k=3, stride=1):
      super().__init__(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False),
                       nn.BatchNorm2d(cout, momentum=0.1, eps=1e-5), nn.ReLU(inplace=True))

  class Residual(nn.Module):
    def __init__(self, cin, cout):
      super().__init__()
      mid = cout // 2
      self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, mid, 1)
      self.bn2, self.conv2 = nn.BatchNorm2d(mid), nn.Conv2d(mid, mid, 3, padding=1)
      self.bn3, self.conv3 = nn.BatchNorm2d(mid), nn.Conv2d(mid, cout, 1)
      self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
      y = self.conv1(torch.relu(self.bn1(x)))
      y = self.conv2(torch.relu(self.bn2(y)))
      y = self.conv3(torch.relu(self.bn3(y)))
      return (self.skip(x) if self.skip is not None else x) + y

  class Hourglass(nn.Module):
    def __init__(self, depth, f, inc):
      super().__init__()
      nf = f + inc
      self.up1 = ConvBNReLU(f, f)
      self.low1 = ConvBNReLU(f, nf)
      self.low2 = Hourglass(depth - 1, nf, inc) if depth > 1 else ConvBNReLU(nf, nf)
      self.low3 = ConvBNReLU(nf, f)

    def forward(self, x):
      low = self.low3(self.low2(self.low1(nn.functional.max_pool2d(x, 2))))
      return self.up1(x) + nn.functional.interpolate(low, scale_factor=2, mode='nearest')

  class Net(nn.Module):
    def __init__(self):
      super().__init__()
      f = ARGS.features
      w7, wr = STEM_WIDTHS
      self.stem = nn.Sequential(ConvBNReLU(3, w7, 7, 2), Residual(w7, wr), nn.MaxPool2d(2),
                                Residual(wr, wr), Residual(wr, f))
      self.hourglasses = nn.ModuleList(
          [Hourglass(ARGS.depth, f, ARGS.increase) for _ in range(stacks)])
      self.features = nn.ModuleList(
          [nn.Sequential(ConvBNReLU(f, f), ConvBNReLU(f, f)) for _ in range(stacks)])
      self.heads = nn.ModuleList([nn.Conv2d(f, HEAD_CHANNELS, 1) for _ in range(stacks)])
      self.merge_predictions = nn.ModuleList(
          [nn.Conv2d(HEAD_CHANNELS, f, 1) for _ in range(stacks - 1)])
      self.merge_features = nn.ModuleList([nn.Conv2d(f, f, 1) for _ in range(stacks - 1)])

    def forward(self, images):
      x = self.stem(images)
      predictions = []
      for s in range(stacks):
        y = self.features[s](self.hourglasses[s](x))
        predictions.append(self.heads[s](y))
        if s < stacks - 1:
          x = x + self.merge_predictions[s](predictions[-1]) + self.merge_features[s](y)
      return torch.stack(predictions)

  torch.manual_seed(0)
  net = Net().to(device)
  memory_format = torch.channels_last if ARGS.torch_channels_last else torch.contiguous_format
  net = net.to(memory_format=memory_format)
  images = torch.randn(batch, 3, size, size, device=device).to(memory_format=memory_format)
  target = torch.randn(stacks, batch, HEAD_CHANNELS, size // 4, size // 4, device=device)
  optimizer = torch.optim.Adam(net.parameters(), lr=2e-4)
  net.train()
  use_bf16 = ARGS.dtype == 'bfloat16' and device == 'cuda'

  def run():
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(device_type='cuda', dtype=torch.bfloat16, enabled=use_bf16):
      loss = ((net(images).float() - target) ** 2).mean()
    loss.backward()
    optimizer.step()
    if device == 'cuda':
      torch.cuda.synchronize()
    else:
      loss.item()

  return run, sum(p.numel() for p in net.parameters())


def main():
  print(machine.host_description())
  print(machine.jax_description())
  print(f'XLA_FLAGS={os.environ.get("XLA_FLAGS", "")!r}')
  n = ARGS.matmul_size or (8192 if ARGS.device == 'gpu' else 2048)
  matmul, matmul_flops = matmul_fn(n)
  print(f'peak reference: {n}x{n} {ARGS.dtype} matmul, timed in turns with each step\n')
  header = (f'{"config":>14} {"wgrad":>6} {"JAX ms":>9} {"torch ms":>9} {"torch/JAX":>9} '
            f'{"GFLOP":>8} {"JAX GF/s":>9} {"torch GF/s":>10} {"mm GF/s":>8} {"JAX %mm":>8} '
            f'{"torch %mm":>9}')
  print(header)
  variants = ARGS.weight_grad.split(',')
  for spec in ARGS.configs.split(','):
    stacks, size, batch = (int(v) for v in spec.lower().split('x'))
    name = f'{stacks}s {size}px b{batch}'
    steps = [jax_step(stacks, size, batch, v) for v in variants]
    count = steps[0][2]
    run_torch, note = None, ''
    if ARGS.no_torch:
      note = '  (PyTorch side not requested)'
    else:
      try:
        run_torch, torch_count = torch_step(stacks, size, batch)
      except ImportError:
        note = '  (PyTorch not installed: PyTorch side skipped)'
      else:
        if torch_count != count:
          raise RuntimeError(f'{name}: parameter counts differ (JAX {count}, PyTorch '
                             f'{torch_count}): the two networks are not the same')
    fns = [run for run, _, _ in steps] + [matmul] + ([run_torch] if run_torch else [])
    times = interleaved_median_times(fns, ARGS.steps)
    peak = matmul_flops / times[len(steps)]
    for variant, (_, flops, _), seconds in zip(variants, steps, times):
      torch_cols = f'{"-":>9} {"-":>9}'
      torch_rate, torch_pct = f'{"-":>10}', f'{"-":>9}'
      if run_torch:
        torch_seconds = times[-1]
        torch_cols = f'{torch_seconds * 1e3:9.1f} {torch_seconds / seconds:9.2f}'
        torch_rate = f'{flops / torch_seconds / 1e9:10.1f}'
        torch_pct = f'{100 * flops / torch_seconds / peak:8.1f}%'
      print(f'{name:>14} {variant:>6} {seconds * 1e3:9.1f} {torch_cols} {flops / 1e9:8.1f} '
            f'{flops / seconds / 1e9:9.1f} {torch_rate} {peak / 1e9:8.1f} '
            f'{100 * flops / seconds / peak:7.1f}% {torch_pct}{note}  '
            f'[{count / 1e6:.2f}M params]', flush=True)
  print('\ntorch/JAX > 1 means the JAX step is faster. GFLOP = XLA cost analysis of the JAX '
        'step (forward + backward + Adam).')


if __name__ == '__main__':
  with machine.LoadMonitor():
    main()
