"""Memory and time of Pose-Guided Grouping against GBMS over every pixel (paper Fig. 6(a)).

Measures, for N masked slots in {1k, 4k, 16k, 64k} and embeddings of D = 17 (15 KE + 2 SIE):

* XLA's buffer assignment of the compiled function (``compiled.memory_analysis()``: argument,
  output and temporary bytes; their sum is what the function needs on the device) for the
  direct GBMS (forms the [N, N] affinity) and the blockwise one (linear in N), forward and
  forward + backward, and the wall time of each;
* the paper's comparison: GBMS over all pixels of a 128 x 128 output map (512 input, stride 4)
  against PGG with N slots on the same map (mask selection + mean shift);
* the paper's Fig. 6(a) quantity on the synthetic benchmark: the fraction of output pixels that
  the pose mask (max_j C_j > 0.2, ground-truth heatmaps) keeps, and the memory ratio it implies.

XLA may fuse the direct forward pass (exp of the distance block feeding the W X product) so
that it never stores W; the backward pass of the direct version needs W (or its pieces) and
holds them. The paper's measure is the affinity size, (N / n)^2, printed as "W ratio".

Configurations whose compiled buffers exceed ``--max-run-gib`` are compiled (to read their
memory) but not run; a timing whose extrapolated cost exceeds ``--max-seconds`` is skipped.
Both are reported as such.

Run:  python benchmarks/bench_pgg.py            (about 4 minutes on 2 CPU cores)
      python benchmarks/bench_pgg.py --quick    (N up to 4k, fewer clips)
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from artrack_jax import machine
from artrack_jax import targets
from artrack_jax.grouping import pgg as pgg_lib

GIB = 2.0 ** 30
MIB = 2.0 ** 20


def buffer_bytes(compiled) -> dict:
  """Argument, output and temporary bytes of a compiled function (XLA buffer assignment)."""
  m = compiled.memory_analysis()
  total = (m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes
           - m.alias_size_in_bytes)
  return dict(argument=m.argument_size_in_bytes, output=m.output_size_in_bytes,
              temp=m.temp_size_in_bytes, total=total)


def time_call(compiled, args, repeats: int) -> float:
  """Median wall seconds of ``repeats`` calls (after one warm-up call when repeats > 1)."""
  if repeats > 1:
    jax.block_until_ready(compiled(*args))
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def mean_shift_fn(implementation: str, block_size: int, backward: bool, n: int):
  """GBMS over n valid slots, R = 1; backward: value and gradient of a scalar of the output."""
  valid = jnp.ones((n,), bool)

  def forward(x):
    return pgg_lib.mean_shift(x, valid, 5.0, 1, implementation, block_size)[-1]

  if not backward:
    return forward
  return jax.value_and_grad(lambda x: jnp.sum(forward(x) ** 2))


def pgg_fn(num_slots: int, implementation: str, block_size: int, backward: bool):
  """Full PGG on one map: mask, top-N slots, gather, mean shift (R = 1)."""
  def forward(embeddings, heat):
    xs, _, _ = pgg_lib.pgg(embeddings, heat, num_slots, 0.2, 5.0, 1, implementation, block_size)
    return xs[-1]

  if not backward:
    return forward
  return jax.value_and_grad(lambda e, h: jnp.sum(forward(e, h) ** 2))


class Runner:
  """Compiles, measures memory, and times when the limits allow."""

  def __init__(self, max_run_bytes: float, max_seconds: float, repeats: int):
    self.max_run_bytes = max_run_bytes
    self.max_seconds = max_seconds
    self.repeats = repeats
    self.rate = {}      # (kind, backward) -> seconds per N^2 from the last timing

  def measure(self, key, fn, args, work: float):
    compiled = jax.jit(fn).lower(*args).compile()
    memory = buffer_bytes(compiled)
    seconds, note = None, ''
    estimate = self.rate.get(key, 0.0) * work
    if memory['total'] > self.max_run_bytes:
      note = f'not run: buffers {memory["total"] / GIB:.1f} GiB > --max-run-gib'
    elif estimate > self.max_seconds:
      note = f'not timed: ~{estimate:.0f} s extrapolated > --max-seconds'
    else:
      concrete = [jnp.asarray(np.random.default_rng(0).normal(size=a.shape), a.dtype)
                  if hasattr(a, 'shape') else a for a in args]
      repeats = self.repeats if estimate < 2.0 else 1
      seconds = time_call(compiled, concrete, repeats)
      self.rate[key] = seconds / work
    return memory, seconds, note


def fmt_bytes(b: float) -> str:
  return f'{b / GIB:8.2f} GiB' if b >= GIB else f'{b / MIB:8.2f} MiB'


def fmt_time(s) -> str:
  return '       -' if s is None else (f'{s * 1e3:7.1f}ms' if s < 1 else f'{s:7.2f} s')


def bench_mean_shift(args, runner: Runner) -> dict:
  d = args.dim
  print(f'\n== GBMS on N slots, D = {d}, R = 1, blockwise block = {args.block} ==')
  print(f'{"N":>6} {"impl":>9} {"pass":>8} | {"argument":>12} {"output":>12} {"temp":>12} '
        f'{"total":>12} | {"time":>9}  note')
  results = {}
  for n in args.sizes:
    x = jax.ShapeDtypeStruct((n, d), jnp.float32)
    for implementation in ('direct', 'blockwise'):
      for backward in (False, True):
        fn = mean_shift_fn(implementation, args.block, backward, n)
        memory, seconds, note = runner.measure((implementation, backward), fn, (x,),
                                               float(n) ** 2)
        results[(n, implementation, backward)] = (memory, seconds)
        print(f'{n:>6} {implementation:>9} {"fwd+bwd" if backward else "fwd":>8} | '
              f'{fmt_bytes(memory["argument"])} {fmt_bytes(memory["output"])} '
              f'{fmt_bytes(memory["temp"])} {fmt_bytes(memory["total"])} | '
              f'{fmt_time(seconds)}  {note}')
  print('\nblockwise / direct total buffers (and time):')
  for n in args.sizes:
    for backward in (False, True):
      (md, td), (mb, tb) = results[(n, 'direct', backward)], results[(n, 'blockwise', backward)]
      ratio_t = f', time x{tb / td:.2f}' if td and tb else ''
      print(f'  N = {n:>6} {"fwd+bwd" if backward else "fwd":>8}: memory x{mb["total"] / md["total"]:.4f}'
            f'{ratio_t}')
  print('blockwise growth when N doubles twice (x4 N; linear -> ~x4, quadratic -> ~x16):')
  for backward in (False, True):
    for a, b in zip(args.sizes, args.sizes[1:]):
      ma = results[(a, 'blockwise', backward)][0]['total']
      mb = results[(b, 'blockwise', backward)][0]['total']
      print(f'  {"fwd+bwd" if backward else "fwd":>8} N {a} -> {b}: x{mb / ma:.2f}')
  return results


def bench_against_dense(args, runner: Runner, ms_results: dict):
  size = args.map_size
  pixels = size * size
  d = args.dim
  print(f'\n== PGG vs GBMS over every pixel of a {size} x {size} output map '
        f'({pixels} pixels, D = {d}, R = 1) ==')
  emb = jax.ShapeDtypeStruct((size, size, d), jnp.float32)
  heat = jax.ShapeDtypeStruct((size, size), jnp.float32)
  x = jax.ShapeDtypeStruct((pixels, d), jnp.float32)
  dense = {}
  for backward in (False, True):
    key = (pixels, 'direct', backward)
    if key in ms_results:
      dense[backward] = ms_results[key]
    else:
      dense[backward] = runner.measure(('direct', backward),
                                       mean_shift_fn('direct', args.block, backward, pixels),
                                       (x,), float(pixels) ** 2)[:2]
    memory, seconds = dense[backward]
    print(f'dense GBMS (direct, all pixels) {"fwd+bwd" if backward else "fwd":>8}: '
          f'{fmt_bytes(memory["total"])}  {fmt_time(seconds)}')
  print(f'dense [n, n] float32 affinity W alone: {fmt_bytes(4.0 * pixels ** 2)}')
  print('("/ dense": total buffers relative to the dense GBMS of the same pass; "W ratio":\n'
        ' (N / n)^2, an [N, N] affinity against the dense [n, n] one, the paper\'s measure)')
  print(f'{"N":>6} {"impl":>9} {"pass":>8} | {"total":>12} {"/ dense":>9} {"W ratio":>8} | '
        f'{"time":>9} {"/ dense":>8}')
  for n in [n for n in args.sizes if n < pixels]:
    for implementation in ('direct', 'blockwise'):
      for backward in (False, True):
        fn = pgg_fn(n, implementation, args.block, backward)
        memory, seconds, note = runner.measure(('pgg_' + implementation, backward), fn,
                                               (emb, heat), float(n) ** 2)
        dm, dt = dense[backward]
        t_ratio = f'{seconds / dt:8.4f}' if seconds and dt else '       -'
        print(f'{n:>6} {implementation:>9} {"fwd+bwd" if backward else "fwd":>8} | '
              f'{fmt_bytes(memory["total"])} {memory["total"] / dm["total"] * 100:8.3f}% '
              f'{(n / pixels) ** 2 * 100:7.3f}% | '
              f'{fmt_time(seconds)} {t_ratio}  {note}')


def bench_mask_fraction(args):
  """Fraction of output pixels in the pose mask, ground-truth heatmaps of synthetic frames."""
  from artrack_jax.data import synthetic  # pylint: disable=import-outside-toplevel
  image_size = args.map_size * 4
  print(f'\n== Pose-mask fraction (max_j C_j > 0.2, sigma 2) on synthetic val frames, '
        f'{image_size} px input -> {args.map_size} px output ==')
  fractions, counts, people = [], [], []
  for index in range(args.clips):
    seq, _ = synthetic.generate_clip('val', index, num_frames=args.frames,
                                     image_size=image_size)
    for frame in seq.frames:
      if frame.people:
        keypoints = np.stack([p.keypoints for p in frame.people]).astype(np.float32)
      else:
        keypoints = np.zeros((0, synthetic.J, 3), np.float32)
      example = dict(keypoints=keypoints,
                     ignore_mask=np.zeros((image_size, image_size), np.float32))
      encoded = targets.encode_frame(example, args.map_size, seq.skeleton, sigma=2.0)
      mask = encoded['heatmaps'].max(axis=-1) > 0.2
      counts.append(int(mask.sum()))
      people.append(int(encoded['person_valid'].sum()))
      fractions.append(mask.mean())
  fractions = np.asarray(fractions)
  counts = np.asarray(counts)
  print(f'{len(fractions)} frames of {args.clips} clips; annotated people per frame: mean '
        f'{np.mean(people):.2f}, max {max(people)}')
  print(f'mask fraction: mean {fractions.mean() * 100:.2f}%, median '
        f'{np.median(fractions) * 100:.2f}%, p90 {np.percentile(fractions, 90) * 100:.2f}%, '
        f'max {fractions.max() * 100:.2f}%')
  print(f'masked pixels per frame: mean {counts.mean():.0f}, max {counts.max()}')
  ratio = fractions ** 2
  print(f'implied memory ratio PGG / GBMS with an [N, N] affinity (fraction^2, Fig. 6(a)): '
        f'mean {ratio.mean() * 100:.3f}%, median {np.median(ratio) * 100:.3f}%, '
        f'max {ratio.max() * 100:.3f}%')
  hist, edges = np.histogram(ratio * 100, bins=[0, 0.25, 0.5, 1, 2, 4, 100])
  print('histogram of that ratio (%): ' + ', '.join(
      f'[{a:g}, {b:g}): {c}' for a, b, c in zip(edges, edges[1:], hist)))
  for n in args.sizes:
    print(f'frames whose mask overflows N = {n}: {(counts > n).mean() * 100:.1f}%')


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--sizes', type=int, nargs='+', default=[1024, 4096, 16384, 65536])
  parser.add_argument('--dim', type=int, default=17, help='D: 15 KE + 2 SIE channels')
  parser.add_argument('--block', type=int, default=1024, help='blockwise block size')
  parser.add_argument('--map-size', type=int, default=128, help='output map side (input / 4)')
  parser.add_argument('--max-run-gib', type=float, default=2.0)
  parser.add_argument('--max-seconds', type=float, default=90.0)
  parser.add_argument('--repeats', type=int, default=3)
  parser.add_argument('--clips', type=int, default=20)
  parser.add_argument('--frames', type=int, default=4)
  parser.add_argument('--quick', action='store_true', help='N up to 4096, 5 clips')
  args = parser.parse_args(argv)
  if args.quick:
    args.sizes = [n for n in args.sizes if n <= 4096]
    args.clips = 5
  start = time.perf_counter()
  print(machine.host_description())
  print(machine.jax_description())
  runner = Runner(args.max_run_gib * GIB, args.max_seconds, args.repeats)
  results = bench_mean_shift(args, runner)
  bench_against_dense(args, runner, results)
  bench_mask_fraction(args)
  print(f'\nbenchmark wall time {time.perf_counter() - start:.0f} s')


if __name__ == '__main__':
  with machine.LoadMonitor():
    main()
