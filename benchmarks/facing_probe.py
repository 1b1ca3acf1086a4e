"""Where a SpatialNet knows which way a person faces, and where it knows left from right.

`benchmarks/left_right_probe.py` shows that the heatmaps confuse left and right; this probe asks
which of the network's layers hold what is needed to tell them apart. It renders people alone
on the benchmark's backgrounds (``left_right_probe.render_person``), half facing the camera and
half facing away (within ``--spread`` radians of either), runs SpatialNet once per image with
every module's output captured (Flax ``capture_intermediates``), reads each layer's feature
vector at chosen points, and fits a ridge classifier per layer (features standardised; 70% of
the people fit it, the ridge weight chosen on the last fifth of those, accuracy on the other
30%):

* **facing at the torso**: front or back, from the features at the neck and the pelvis;
* **anatomical side at a joint**: is this the person's left or right shoulder (wrist, knee),
  from the features at that joint, people of both facings mixed: what a heatmap channel has
  to know;
* **image side at a joint**: is this joint on the image's left or right of its partner, the
  same features: what a network can know without the facing;
* **facing at a joint**: front or back, from the features at the joint.

The heads are 1x1 convolutions of the last features, so a target that those features do not
hold linearly is one the heatmaps cannot follow. The table gives every target at the stem's
output, the last stack's hourglass output, the features the heads read, and the best layer.
Accuracies are over ``0.3 * --people`` held-out people (0.5 is chance).

Run:  python benchmarks/facing_probe.py                  (the installed reference model)
      python benchmarks/facing_probe.py --workdir runs/quickstart/spatial --people 600
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import left_right_probe  # pylint: disable=wrong-import-position

from artrack_jax import configs_util  # pylint: disable=wrong-import-position
from artrack_jax import inference  # pylint: disable=wrong-import-position
from artrack_jax import machine  # pylint: disable=wrong-import-position
from artrack_jax import reference  # pylint: disable=wrong-import-position
from artrack_jax.data import synthetic  # pylint: disable=wrong-import-position

JOINTS = {'shoulder': (synthetic.L_SHOULDER, synthetic.R_SHOULDER),
          'wrist': (synthetic.L_WRIST, synthetic.R_WRIST),
          'knee': (synthetic.L_KNEE, synthetic.R_KNEE)}
LAMBDAS = (0.1, 1.0, 10.0, 100.0, 1000.0)


def module_outputs(intermediates) -> dict[str, np.ndarray]:
  """{module path: output [1, h, w, C]} of every module whose output is one feature map."""
  out = {}
  for path, value in jax.tree_util.tree_flatten_with_path(intermediates)[0]:
    keys = [str(getattr(p, 'key', getattr(p, 'idx', p))) for p in path]
    if len(keys) < 2 or keys[-2:] != ['__call__', '0'] or np.ndim(value) != 4:
      continue
    out['/'.join(keys[:-2]) or '(network)'] = np.asarray(value)
  return out


def at(feature_map: np.ndarray, xy: np.ndarray, image_size: int) -> np.ndarray:
  """The feature vector [C] of ``feature_map`` [1, h, w, C] under input pixel ``xy``."""
  h, w = feature_map.shape[1:3]
  x = int(np.clip(np.floor(xy[0] * w / image_size), 0, w - 1))
  y = int(np.clip(np.floor(xy[1] * h / image_size), 0, h - 1))
  return feature_map[0, y, x]


def ridge_accuracy(features: np.ndarray, labels: np.ndarray) -> float:
  """Held-out accuracy of a ridge classifier of ``labels`` (+-1) on ``features`` [N, D]."""
  f = np.asarray(features, np.float64)
  f = (f - f.mean(0)) / (f.std(0) + 1e-6)
  y = np.asarray(labels, np.float64)
  n_train = int(0.7 * len(y))
  n_fit = int(0.8 * n_train)
  def fit(rows, lam):
    a = f[rows]
    return np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ y[rows])
  def accuracy(w, rows):
    return float(((f[rows] @ w > 0) == (y[rows] > 0)).mean())
  fit_rows, val_rows = slice(0, n_fit), slice(n_fit, n_train)
  lam = max(LAMBDAS, key=lambda l: accuracy(fit(fit_rows, l), val_rows))
  return accuracy(fit(slice(0, n_train), lam), slice(n_train, None))


def collect(workdir: str, people: int, spread: float, seed: int):
  """Per target, per layer: (features [N, D], labels [N])."""
  config = configs_util.workdir_config([workdir])
  networks = inference.Networks.restore(workdir, config)
  predictor = inference.FramePredictor(networks, config)
  model, variables = networks.spatial_model, networks.spatial_variables
  image_size = int(config.data.image_size)

  @jax.jit
  def intermediates(images):
    _, state = model.apply(variables, images, train=False, capture_intermediates=True,
                           mutable=['intermediates'])
    return state['intermediates']

  rng = np.random.default_rng(seed)
  data: dict[str, dict[str, list]] = {}
  def add(target, layer, vector, label):
    features, labels = data.setdefault(target, {}).setdefault(layer, ([], []))
    features.append(vector)
    labels.append(label)

  for n in range(people):
    front = n % 2 == 0
    yaw = rng.uniform(-spread, spread) + (0.0 if front else math.pi)
    image, keypoints = left_right_probe.render_person(rng, yaw, image_size)
    facing = 1.0 if front else -1.0
    outputs = module_outputs(jax.device_get(
        intermediates(predictor._frame_input(image, 1.0))))  # pylint: disable=protected-access
    neck = keypoints[synthetic.NECK, :2]
    pelvis = (keypoints[synthetic.L_HIP, :2] + keypoints[synthetic.R_HIP, :2]) / 2
    for layer, fmap in outputs.items():
      add('facing at the torso', layer,
          np.concatenate([at(fmap, neck, image_size), at(fmap, pelvis, image_size)]), facing)
      for part, (left, right) in JOINTS.items():
        if keypoints[left, 2] <= 0 or keypoints[right, 2] <= 0:
          continue
        for joint, other, anatomical in ((left, right, 1.0), (right, left, -1.0)):
          vector = at(fmap, keypoints[joint, :2], image_size)
          image_side = 1.0 if keypoints[joint, 0] > keypoints[other, 0] else -1.0
          add(f'anatomical side at the {part}', layer, vector, anatomical)
          add(f'image side at the {part}', layer, vector, image_side)
          add(f'facing at the {part}', layer, vector, facing)
  stacks = int(config.model.stacks)
  named = {'stem': 'backbone/stem',
           'hourglass': f'backbone/hourglass_{stacks - 1}',
           'head input': f'backbone/feature_{stacks - 1}_1'}
  return data, named


def table(data, named) -> list[dict]:
  rows = []
  for target, layers in data.items():
    acc = {layer: ridge_accuracy(np.stack(f), np.array(l)) for layer, (f, l) in layers.items()}
    best = max(acc, key=acc.get)
    some = next(iter(layers.values()))
    rows.append({'target': target, 'samples': len(some[1]),
                 **{k: acc.get(v, float('nan')) for k, v in named.items()},
                 'best': acc[best], 'best layer': best})
  return rows


def format_table(rows, named) -> str:
  cols = list(named)
  lines = ['| target | samples | ' + ' | '.join(cols) + ' | best | best layer |',
           '|---|---:|' + '---:|' * len(cols) + '---:|---|']
  for r in rows:
    lines.append(f'| {r["target"]} | {r["samples"]} | '
                 + ' | '.join(f'{r[c]:.2f}' for c in cols)
                 + f' | {r["best"]:.2f} | `{r["best layer"]}` |')
  return '\n'.join(lines)


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--workdir', default='', help='a SpatialNet workdir (default: the '
                      'installed reference model)')
  parser.add_argument('--people', type=int, default=400, help='people rendered (one each)')
  parser.add_argument('--spread', type=float, default=0.6,
                      help='yaw within this many radians of facing the camera or away')
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--json', default='', help='also write the table here')
  args = parser.parse_args(argv)
  if args.people < 20:
    parser.error('--people: at least 20 (30% are held out)')
  workdir = args.workdir or reference.REFERENCE_DIR
  start = time.perf_counter()
  data, named = collect(workdir, args.people, args.spread, args.seed)
  rows = table(data, named)
  info = machine.machine_info()
  print(f'{workdir}: {args.people} people, yaw within {args.spread} rad of front or back, '
        f'seed {args.seed}; {time.perf_counter() - start:.0f} s')
  print(machine.host_description())
  print(format_table(rows, named))
  if args.json:
    with open(args.json, 'w', encoding='utf-8') as f:
      json.dump({'workdir': workdir, 'people': args.people, 'spread': args.spread,
                 'seed': args.seed, 'layers': named, 'machine': info, 'rows': rows}, f,
                indent=1)


if __name__ == '__main__':
  main()
