"""When does KE start to separate people? Pull, push and val AP of a training workdir over time.

The ablation rows trained with KE (Table 3: KE, KE+SIE, ...) group worse than SIE alone at the
ablations' 2000 steps. This script reads a stage-1 workdir's ``metrics.jsonl`` and prints, per
window of ``--window`` steps, the mean of Eq. 2's pull term (``train/ke_pull``), Eq. 3's push
term (``train/ke_push``) and the detection loss, then the periodic validation AP. Tags of
different people that stay close together show as pull near 0 with push flat near its maximum
(all tags equal: (K - 1) / K for an image of K people, averaged over the batch); separation
shows as push falling while pull rises. ``--png`` also plots the two terms.

Run:  python benchmarks/ke_collapse.py --workdir W/seed0/ke/model [--window 500] [--png out.png]
      (W: a ``python -m artrack_jax.ablations --workdir W --rows ke --steps 6000`` run)
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from artrack_jax import metrics_writer


def windows(records: list[dict], window: int) -> list[tuple[int, float, float, float]]:
  """(centre step, mean pull, mean push, mean det) per window of train records."""
  train = [r for r in records if 'train/ke_pull' in r and 'train/ke_push' in r]
  if not train:
    raise SystemExit('no train/ke_pull and train/ke_push records: not a KE training workdir')
  last = max(r['step'] for r in train)
  out = []
  for centre in range(0, last + 1, window):
    part = [r for r in train if centre - window / 2 < r['step'] <= centre + window / 2]
    if part:
      out.append((centre, float(np.mean([r['train/ke_pull'] for r in part])),
                  float(np.mean([r['train/ke_push'] for r in part])),
                  float(np.mean([r.get('train/det', np.nan) for r in part]))))
  return out


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--workdir', required=True, help='a stage-1 training workdir')
  parser.add_argument('--window', type=int, default=500)
  parser.add_argument('--png', help='also plot pull and push here')
  args = parser.parse_args(argv)
  records = metrics_writer.read_metrics(args.workdir)
  rows = windows(records, args.window)
  print(f'{args.workdir}: mean over windows of {args.window} steps')
  print(f'{"step":>6} {"pull":>7} {"push":>7} {"det":>8}')
  for step, pull, push, det in rows:
    print(f'{step:>6} {pull:>7.3f} {push:>7.3f} {det:>8.4f}')
  print('validation (COCO-style keypoint AP of the row\'s own decoding):')
  for r in records:
    if 'val/AP' in r:
      print(f'{r["step"]:>6} AP {r["val/AP"]:.3f}  AP50 {r.get("val/AP50", float("nan")):.3f}')
  if args.png:
    import matplotlib  # pylint: disable=import-outside-toplevel
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt  # pylint: disable=import-outside-toplevel
    steps = [r[0] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot(steps, [r[1] for r in rows], label='pull (Eq. 2)')
    ax.plot(steps, [r[2] for r in rows], label='push (Eq. 3)')
    ax.set_xlabel('step')
    ax.set_ylabel(f'KE loss term (mean of {args.window} steps)')
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.png, dpi=110)
    plt.close(fig)
    print(f'wrote {args.png}')
  return 0


if __name__ == '__main__':
  sys.exit(main())
