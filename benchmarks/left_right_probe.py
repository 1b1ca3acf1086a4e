"""How often a SpatialNet swaps left and right, by the way the person faces.

Left/right swaps are the largest class of the tracker's false positives
(`benchmarks/mota_breakdown.py`). This probe asks whether they come from the network or from the
synthetic benchmark: it renders one person per frame, alone, on a random background of the
benchmark (``synthetic.make_scene`` seen through ``make_camera``), at a chosen yaw, and reads the
network's heatmaps (with or without the flip test) at the person's ground-truth joints. A
left/right pair (shoulders, elbows, wrists, hips, knees, ankles) counts as **swapped** when the
mirrored reading is higher than the direct one::

    H_left(right joint) + H_right(left joint)  >  H_left(left joint) + H_right(right joint)

Pairs whose two joints lie within ``--min-separation`` output pixels of each other (a profile
view puts one on top of the other) are left out: no heatmap can tell them apart. The yaw is
measured from facing the camera (0) through facing right (+90 deg) to facing away (180 deg); in
the benchmark's clips people face where they walk, with a uniform heading, so every yaw is
equally common.

Run:  python benchmarks/left_right_probe.py                       (the installed reference model)
      python benchmarks/left_right_probe.py --workdir runs/quickstart/spatial --per-bin 60
      python benchmarks/left_right_probe.py --no-flip             (the raw network, no flip test)
"""
from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np

from artrack_jax import configs_util
from artrack_jax import geometry
from artrack_jax import inference
from artrack_jax import machine
from artrack_jax import reference
from artrack_jax import skeletons
from artrack_jax.data import synthetic

# (label, left joint, right joint) of each of the skeleton's mirrored pairs.
PAIRS = tuple(
    (left.removeprefix('left_'), left, right)
    for left, right in (sorted((skeletons.POSETRACK.names[a], skeletons.POSETRACK.names[b]))
                        for a, b in skeletons.POSETRACK.flip_pairs))
GAITS = ('stand', 'walk', 'run')


def render_person(rng: np.random.Generator, yaw: float, image_size: int,
                  height: tuple[float, float] = (0.45, 0.75)):
  """One person at ``yaw`` on a random background: (uint8 image, [J, 3] keypoints (x, y, v)).

  ``height``: the range of the standing height, as a fraction of ``image_size``.
  """
  scene = synthetic.make_scene(rng, image_size, crowd=False, poles=0)
  camera = synthetic.make_camera(rng, 1, image_size)
  background = camera.view(scene, 0, image_size)
  stride, knee, arm, elbow, lean, _, _ = synthetic._GAITS[GAITS[int(rng.integers(len(GAITS)))]]
  pose = synthetic.Pose(yaw=yaw, phase=float(rng.uniform(0, 2 * np.pi)), stride=stride,
                        knee=knee, arm_swing=arm, elbow=elbow, lean=lean)
  height = float(rng.uniform(*height)) * image_size
  pelvis = (image_size * rng.uniform(0.4, 0.6), image_size * rng.uniform(0.5, 0.6))
  view = synthetic.person_view(0, synthetic.random_body(rng), pose, pelvis, height, depth=0.5)
  image, people = synthetic.render_frame(background, [view], rng=rng)
  if len(people) != 1:
    raise RuntimeError(f'yaw {yaw:.2f}: the rendered person was not annotated')
  return image, people[0].keypoints


def swap_counts(heatmaps: np.ndarray, keypoints_out: np.ndarray, names: tuple[str, ...],
                min_separation: float) -> dict[str, tuple[int, int]]:
  """Per pair: (swapped, compared) for one person.

  Args:
    heatmaps: [h, w, J] merged heatmaps of the frame.
    keypoints_out: [J, 3] ground truth in output pixels (x, y, v), v > 0 labelled.
    names: the skeleton's joint names (the heatmap channel order).
    min_separation: pairs closer than this (output pixels) are not compared.
  """
  h, w, _ = heatmaps.shape
  index = {n: k for k, n in enumerate(names)}
  out = {}
  for pair, left, right in PAIRS:
    l, r = index[left], index[right]
    if keypoints_out[l, 2] <= 0 or keypoints_out[r, 2] <= 0:
      out[pair] = (0, 0)
      continue
    pl, pr = keypoints_out[l, :2], keypoints_out[r, :2]
    if np.linalg.norm(pl - pr) < min_separation:
      out[pair] = (0, 0)
      continue
    xl, yl = np.clip(np.floor(pl + 0.5).astype(int), 0, [w - 1, h - 1])
    xr, yr = np.clip(np.floor(pr + 0.5).astype(int), 0, [w - 1, h - 1])
    direct = heatmaps[yl, xl, l] + heatmaps[yr, xr, r]
    mirrored = heatmaps[yr, xr, l] + heatmaps[yl, xl, r]
    out[pair] = (int(mirrored > direct), 1)
  return out


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--workdir', default='', help='a SpatialNet workdir (default: the '
                      'installed reference model)')
  parser.add_argument('--bins', type=int, default=12, help='yaw bins over the full turn')
  parser.add_argument('--per-bin', type=int, default=40, help='people per yaw bin')
  parser.add_argument('--min-separation', type=float, default=2.0,
                      help='output pixels between the two joints of a compared pair')
  parser.add_argument('--height', default='0.45,0.75',
                      help='range of the standing height, fraction of the frame size')
  parser.add_argument('--no-flip', action='store_true', help='without the flip test')
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--json', default='', help='also write the table here')
  args = parser.parse_args(argv)

  workdir = args.workdir or reference.REFERENCE_DIR
  config = configs_util.workdir_config([workdir])
  if args.no_flip:
    config.decode.flip_test = False
  networks = inference.Networks.restore(workdir, config)
  predictor = inference.FramePredictor(networks, config)
  names = skeletons.POSETRACK.names
  image_size = int(config.data.image_size)
  rng = np.random.default_rng(args.seed)
  height = tuple(float(v) for v in args.height.split(','))
  if len(height) != 2 or not 0 < height[0] <= height[1] <= 1:
    parser.error(f'--height {args.height!r}: two fractions 0 < low <= high <= 1')
  width = 2 * math.pi / args.bins
  rows, start = [], time.perf_counter()
  for b in range(args.bins):
    centre = -math.pi + (b + 0.5) * width
    totals = {pair: [0, 0] for pair, _, _ in PAIRS}
    for _ in range(args.per_bin):
      yaw = centre + rng.uniform(-width / 2, width / 2)
      image, keypoints = render_person(rng, yaw, image_size, height)
      maps = predictor.batch_maps(predictor._frame_input(image, 1.0))['raw']['heatmaps'][0]
      stride = image_size / maps.shape[0]
      kp = keypoints.copy()
      kp[:, :2] = geometry.input_to_output(keypoints[:, :2], stride)
      for pair, (s, n) in swap_counts(maps, kp, names, args.min_separation).items():
        totals[pair][0] += s
        totals[pair][1] += n
    swapped = sum(s for s, _ in totals.values())
    compared = sum(n for _, n in totals.values())
    rows.append({'yaw_deg': round(math.degrees(centre), 1),
                 'abs_cos_yaw': round(abs(math.cos(centre)), 3),
                 'swap_rate': swapped / max(compared, 1), 'compared': compared,
                 'per_pair': {p: (s / n if n else None) for p, (s, n) in totals.items()}})
  seconds = time.perf_counter() - start

  print(f'{workdir}: {"no flip test" if args.no_flip else "flip test"}, {args.per_bin} people '
        f'per bin, heights {height[0]}-{height[1]} of the frame, seed {args.seed}, pairs closer '
        f'than {args.min_separation} output px skipped')
  print(machine.host_description())
  print(f'{seconds:.0f} s for {args.bins * args.per_bin} frames')
  header = ['yaw (deg)', '|cos yaw|', 'swapped', 'pairs'] + [p for p, _, _ in PAIRS]
  print('| ' + ' | '.join(header) + ' |')
  print('|' + '---|' * len(header))
  for r in rows:
    cells = [f'{r["yaw_deg"]:+.0f}', f'{r["abs_cos_yaw"]:.2f}', f'{100 * r["swap_rate"]:.1f}%',
             str(r['compared'])]
    cells += ['-' if v is None else f'{100 * v:.0f}%' for v in r['per_pair'].values()]
    print('| ' + ' | '.join(cells) + ' |')
  groups = {'frontal or back (|cos yaw| > 0.7)': [r for r in rows if r['abs_cos_yaw'] > 0.7],
            'profile (|cos yaw| < 0.4)': [r for r in rows if r['abs_cos_yaw'] < 0.4]}
  for name, group in groups.items():
    n = sum(r['compared'] for r in group)
    s = sum(r['swap_rate'] * r['compared'] for r in group)
    print(f'{name}: {100 * s / max(n, 1):.1f}% of {n} pairs swapped')
  if args.json:
    with open(args.json, 'w', encoding='utf-8') as f:
      json.dump({'workdir': workdir, 'flip_test': not args.no_flip, 'seed': args.seed,
                 'per_bin': args.per_bin, 'height': height, 'min_separation': args.min_separation,
                 'machine': machine.machine_info(), 'rows': rows}, f, indent=1)


if __name__ == '__main__':
  main()
