"""Agreement and speed of ``artrack_jax.evaluation.posetrack`` against the official toolkit.

Generates a PoseTrack-like set of sequences (ground truth plus noisy predictions with ID swaps,
fragmented tracks, misses, false positives, tied scores, missing scores, ignore regions, frames
without predictions, people without points; files in PoseTrack 2017 and 2018 format, mixed),
evaluates it with our evaluator and with ``poseval`` (leonid-pishchulin/poseval), checks that
every AP / MOTA / MOTP / precision / recall value agrees to 1e-6 and reports the speed ratio.

Data quirks the generator covers on purpose: unlabelled frames, people without points or
without a point list, empty ignore polygons, 2018 slots with coordinates but visibility 0,
predictions with no scores at all, exact score ties, frames without predictions, frames whose
only person is inside an ignore region.

Run (the toolkit needs motmetrics, shapely, click and tqdm, e.g. in a venv that also sees this
package)::

  git --git-dir=<poseval git dir> archive HEAD | tar -x -C /tmp/poseval
  python -m venv --system-site-packages /tmp/poseval_venv
  /tmp/poseval_venv/bin/pip install motmetrics==1.4.0 click tqdm
  /tmp/poseval_venv/bin/python benchmarks/bench_posetrack_eval.py --poseval /tmp/poseval \
      --sequences 50 [--whole-commands]

``--whole-commands`` also times both as a user runs them, each a new process (imports, reading
the files, AP and MOTA): ``python eval.py --gt G --pred P --metrics ap,mota`` against
``python -m poseval.evaluate -g G/ -p P/ -e -t``, alternating, best of ``--repeats``, after an
untimed round, with Python's bytecode cache on for both (``machine.time_commands``).

The toolkit is copied to a temporary folder and run from there unchanged: it lists the
ground-truth files with ``glob.glob`` (the directory's own order, not sorted) and ranks AP
entries with NumPy's default ``argsort``; with ``toolkit_quirks=True`` our evaluator takes the
files in the same order and sorts the same way, so tied scores break identically (in the same
Python process, hence the same NumPy build).

``--score-decimals D`` writes every predicted score with D decimals (D = 1: many exact ties,
within and across sequences), the case where the order of entries matters.

No numpy 2 / Python 3.11 change was needed (numpy 2.4, pandas 3.1, motmetrics 1.4.0).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import shutil
import sys
import tempfile
import time

import numpy as np

from artrack_jax import machine
from artrack_jax import skeletons
from artrack_jax.evaluation import posetrack

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

J = posetrack.NUM_JOINTS
# A rough standing pose (x, y) around the person centre, in units of the person scale.
_TEMPLATE = np.array([
    [-0.25, 1.9], [-0.22, 1.1], [-0.2, 0.3], [0.2, 0.3], [0.22, 1.1], [0.25, 1.9],   # legs
    [-0.55, 0.2], [-0.5, -0.3], [-0.35, -0.8], [0.35, -0.8], [0.5, -0.3], [0.55, 0.2],  # arms
    [0.0, -0.9], [0.0, -1.15], [0.0, -1.45]])                                       # head


def _person_pose(rng, centre, scale):
  pts = centre + scale * (_TEMPLATE + rng.normal(0, 0.06, _TEMPLATE.shape))
  head = pts[[12, 13, 14]]
  lo, hi = head.min(0) - 0.12 * scale, head.max(0) + 0.12 * scale
  return pts, np.concatenate([lo, hi - lo])   # head box x, y, w, h


def generate(rng: np.random.Generator, num_sequences: int, score_decimals: int | None = None):
  """Returns [(name, gt_frames, pred_frames)] with frames as lists of dicts (format-neutral).

  ``score_decimals``: round every predicted score to that many decimals (ties everywhere).
  """
  out = []
  for s in range(num_sequences):
    name = f'{s + 1:06d}_mpii_test'
    num_frames = int(rng.integers(16, 41))
    step = 1 if rng.random() < 0.5 else 4
    labeled = np.zeros(num_frames, bool)
    labeled[int(rng.integers(0, 3))::step] = True
    num_tracks = int(rng.integers(1, 7))
    centres = rng.uniform(150, 1100, (num_tracks, 2))
    if num_tracks > 1 and rng.random() < 0.4:
      # A crowded pair: predictions compete for both people (Hungarian with real choices).
      centres[1] = centres[0] + rng.normal(0, 8, 2)
    velocity = rng.normal(0, 4, (num_tracks, 2))
    scales = rng.uniform(30, 90, num_tracks)
    starts = rng.integers(0, num_frames // 2, num_tracks)
    ends = rng.integers(num_frames // 2, num_frames + 1, num_tracks)
    starts[0], ends[0] = 0, num_frames   # someone is always there
    gt_ids = rng.permutation(200)[:num_tracks]
    pred_ids = rng.permutation(np.arange(300, 600))[:num_tracks + 40]
    track_pred = {k: int(pred_ids[k]) for k in range(num_tracks)}
    next_id = num_tracks
    no_scores = rng.random() < 0.06
    tie_scores = rng.random() < 0.5
    gt_frames, pred_frames = [], []
    for t in range(num_frames):
      # Identity swaps and fragmented tracks in the predictions.
      if num_tracks > 1 and rng.random() < 0.08:
        a, b = rng.choice(num_tracks, 2, replace=False)
        track_pred[a], track_pred[b] = track_pred[b], track_pred[a]
      if rng.random() < 0.04:
        k = int(rng.integers(num_tracks))
        track_pred[k] = int(pred_ids[next_id])
        next_id += 1
      gt_people, pred_people = [], []
      for k in range(num_tracks):
        if not starts[k] <= t < ends[k]:
          continue
        pts, head = _person_pose(rng, centres[k] + velocity[k] * t, scales[k])
        present = rng.random(J) > 0.1
        if rng.random() < 0.03:
          present[:] = False   # a person without annotated points
        if labeled[t]:
          gt_people.append(dict(track_id=int(gt_ids[k]), points=pts, present=present,
                                head=head, no_point_list=rng.random() < 0.02,
                                placed_hidden=rng.random(J) < 0.05))
        if rng.random() < 0.1:
          continue   # missed by the predictor
        noise = rng.normal(0, 0.12, (J, 2)) * scales[k]
        noise[rng.random(J) < 0.1] *= 6   # grossly wrong joints
        pp = pts + noise
        ppresent = rng.random(J) > 0.08
        scores = rng.random(J)
        if tie_scores:
          scores = np.round(scores * 4) / 4
        if score_decimals is not None:
          scores = np.round(scores, score_decimals)
        pred_people.append(dict(track_id=track_pred[k], points=pp, present=ppresent,
                                scores=None if no_scores else scores))
      for _ in range(int(rng.poisson(0.3))):   # false positives
        pts, _ = _person_pose(rng, rng.uniform(100, 1200, 2), rng.uniform(30, 90))
        pred_people.append(dict(track_id=int(pred_ids[next_id % len(pred_ids)]) + 1000,
                                points=pts, present=rng.random(J) > 0.3,
                                scores=None if no_scores else np.round(
                                    rng.random(J), 2 if score_decimals is None
                                    else score_decimals)))
        next_id += 1
      if rng.random() < 0.05:
        pred_people = []   # a frame without predictions
      # Track ids must stay unique within a frame.
      seen, unique_pred = set(), []
      for p in pred_people:
        if p['track_id'] not in seen:
          seen.add(p['track_id'])
          unique_pred.append(p)
      regions = []
      if labeled[t] and rng.random() < 0.2:
        for _ in range(int(rng.integers(1, 3))):
          c = rng.uniform(100, 1200, 2)
          r = rng.uniform(40, 250)
          ang = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 7))))
          regions.append(np.stack([c[0] + r * np.cos(ang), c[1] + r * np.sin(ang)], 1))
        if rng.random() < 0.2:
          regions.append(np.zeros((0, 2)))   # an empty polygon: covers nothing
        if gt_people and rng.random() < 0.3:
          # Cover one person entirely (the frame may be left without ground truth).
          p = gt_people[int(rng.integers(len(gt_people)))]
          lo, hi = p['points'].min(0) - 5, p['points'].max(0) + 5
          regions.append(np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]],
                                   [lo[0], hi[1]]]))
      gt_frames.append(dict(people=gt_people, regions=regions, labeled=bool(labeled[t])))
      pred_frames.append(dict(people=unique_pred))
    out.append((name, gt_frames, pred_frames))
  return out


def _round(x):
  return [round(float(v), 3) for v in x]


def to_posetrack17(name, frames, role):
  annolist = []
  for t, f in enumerate(frames):
    rects = []
    for p in f['people']:
      rect = {'track_id': [p['track_id']]}
      points = []
      for j in np.flatnonzero(p['present']):
        pt = {'id': [int(j)], 'x': [round(float(p['points'][j, 0]), 3)],
              'y': [round(float(p['points'][j, 1]), 3)]}
        if role == 'pred' and p['scores'] is not None:
          pt['score'] = [float(p['scores'][j])]
        points.append(pt)
      if (points or role == 'gt') and not p.get('no_point_list', False):
        rect['annopoints'] = [{'point': points}]
      if role == 'gt':
        x, y, w, h = _round(p['head'])
        rect.update(x1=[x], y1=[y], x2=[round(x + w, 3)], y2=[round(y + h, 3)])
      rects.append(rect)
    frame = {'image': [{'name': f'images/val/{name}/{t:06d}.jpg'}], 'annorect': rects,
             'imgnum': [t + 1]}
    if role == 'gt':
      frame['is_labeled'] = [int(f['labeled'])]
      if f['regions']:
        frame['ignore_regions'] = [
            {'point': [{'x': [round(float(x), 3)], 'y': [round(float(y), 3)]} for x, y in poly]}
            for poly in f['regions']]
    annolist.append(frame)
  return {'annolist': annolist}


def to_posetrack18(name, frames, role):
  seq = int(name.split('_')[0])
  images, annotations = [], []
  for t, f in enumerate(frames):
    image_id = 10000000000 + seq * 10000 + t
    image = {'id': image_id, 'file_name': f'images/val/{name}/{t:06d}.jpg', 'frame_id': image_id,
             'vid_id': f'{seq:06d}', 'nframes': len(frames),
             'is_labeled': bool(f.get('labeled', False))}
    if role == 'gt' and f['regions']:
      image['ignore_regions_x'] = [_round(poly[:, 0]) for poly in f['regions']]
      image['ignore_regions_y'] = [_round(poly[:, 1]) for poly in f['regions']]
    images.append(image)
    for i, p in enumerate(f['people']):
      kpts = np.zeros((J, 3))
      kpts[p['present'], :2] = np.round(p['points'][p['present']], 3)
      kpts[p['present'], 2] = 1
      if 'placed_hidden' in p:
        # Unannotated joints written with coordinates and visibility 0: the toolkit counts
        # every slot that is not exactly (0, 0, 0).
        hidden = p['placed_hidden'] & ~p['present']
        kpts[hidden, :2] = np.round(p['points'][hidden], 3)
      ann = {'id': image_id * 100 + i, 'image_id': image_id, 'category_id': 1,
             'track_id': p['track_id'],
             'keypoints': skeletons.posetrack_to_posetrack18(kpts).reshape(-1).tolist()}
      if role == 'gt':
        ann['bbox_head'] = _round(p['head'])
      elif p['scores'] is not None:
        ann['scores'] = skeletons.posetrack_to_posetrack18(
            p['scores'][:, None])[:, 0].tolist()
      else:
        ann['scores'] = []
      annotations.append(ann)
  return {'images': images, 'annotations': annotations,
          'categories': [{'id': 1, 'name': 'person', 'supercategory': 'person',
                          'keypoints': list(skeletons.POSETRACK18.names)}]}


def write_dataset(root, sequences, rng):
  gt_dir, pred_dir = os.path.join(root, 'gt'), os.path.join(root, 'pred')
  os.makedirs(gt_dir)
  os.makedirs(pred_dir)
  formats = {'17': to_posetrack17, '18': to_posetrack18}
  for name, gt_frames, pred_frames in sequences:
    for d, frames, role in ((gt_dir, gt_frames, 'gt'), (pred_dir, pred_frames, 'pred')):
      writer = formats['17' if rng.random() < 0.5 else '18']
      with open(os.path.join(d, name + '.json'), 'w') as f:
        json.dump(writer(name, frames, role), f)
  return gt_dir, pred_dir


def prepare_toolkit(poseval_path, workdir):
  """Copies the toolkit, unchanged, next to the data."""
  src = os.path.join(poseval_path, 'poseval')
  if not os.path.isfile(os.path.join(src, 'eval_helpers.py')):
    raise SystemExit(f'{poseval_path}: not a poseval checkout (poseval/eval_helpers.py missing)')
  dst = os.path.join(workdir, 'toolkit')
  shutil.copytree(src, os.path.join(dst, 'poseval'))
  return dst


def run_toolkit(toolkit_dir, gt_dir, pred_dir, out_dir):
  sys.path.insert(0, toolkit_dir)
  from poseval import eval_helpers  # pylint: disable=import-outside-toplevel
  from poseval.evaluateAP import evaluateAP  # pylint: disable=import-outside-toplevel
  from poseval.evaluateTracking import evaluateTracking  # pylint: disable=import-outside-toplevel
  import warnings  # pylint: disable=import-outside-toplevel
  with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
    warnings.simplefilter('ignore')
    start, start_cpu = time.perf_counter(), time.process_time()
    gt_all, pr_all = eval_helpers.load_data_dir(['', gt_dir + '/', pred_dir + '/'])
    ap, pre, rec = evaluateAP(gt_all, pr_all, out_dir, True, False)
    mot = evaluateTracking(gt_all, pr_all, out_dir, True, False)
    seconds = (time.perf_counter() - start, time.process_time() - start_cpu)
  return dict(ap=ap[:, 0], ap_precision=pre[:, 0], ap_recall=rec[:, 0], mota=mot['mota'][0],
              motp=mot['motp'][0], precision=mot['pre'][0], recall=mot['rec'][0]), seconds


def whole_commands(toolkit_dir, gt_dir, pred_dir, out_dir, repeats):
  """Wall time of each evaluator as a whole command, AP and MOTA, `repeats` runs each,
  alternating (ours, toolkit, ours, ...) so that both see the same machine state."""
  ours = [sys.executable, os.path.join(ROOT, 'eval.py'), '--gt', gt_dir, '--pred', pred_dir,
          '--metrics', 'ap,mota']
  kit = [sys.executable, '-m', 'poseval.evaluate', '-g', gt_dir + '/', '-p', pred_dir + '/',
         '-e', '-t', '-o', out_dir]
  times = machine.time_commands({'ours': (ours, ROOT), 'toolkit': (kit, toolkit_dir)},
                                repeats)
  return {'ours': (ours, times['ours']), 'toolkit': (kit, times['toolkit'])}


def compare(ours, theirs):
  worst = 0.0
  rows = []
  for key, values in theirs.items():
    mine = np.array([ours[key][n] for n in posetrack.JOINT_NAMES] + [ours[key]['Total']])
    both_nan = np.isnan(mine) & np.isnan(values)
    diff = np.where(both_nan, 0.0, np.abs(mine - values))
    diff = np.where(np.isnan(diff), np.inf, diff)
    worst = max(worst, float(diff.max()))
    rows.append(f'  {key:13s} max |ours - toolkit| = {diff.max():.3g}   Total ours '
                f'{mine[-1]:.6f} toolkit {values[-1]:.6f}')
  return worst, rows


def _tied_entries(sequences) -> int:
  """Predicted joints (of labelled frames) whose score equals another's, per joint type."""
  tied = 0
  for j in range(J):
    values = [float(p['scores'][j]) for _, g, pr in sequences for gf, pf in zip(g, pr)
              if gf['labeled'] for p in pf['people']
              if p['scores'] is not None and p['present'][j]]
    _, counts = np.unique(values, return_counts=True)
    tied += int(counts[counts > 1].sum())
  return tied


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--poseval', required=True, help='path of a poseval checkout')
  parser.add_argument('--sequences', type=int, default=50)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--repeats', type=int, default=3, help='timing runs of our evaluator')
  parser.add_argument('--keep', default='', help='write the data set here and keep it')
  parser.add_argument('--score-decimals', type=int, default=None,
                      help='round every predicted score to this many decimals (tied scores)')
  parser.add_argument('--whole-commands', action='store_true',
                      help='also time both evaluators as whole commands (new processes: '
                           'imports, reading, AP and MOTA), as a user runs them')
  parser.add_argument('--no-timing', action='store_true',
                      help='agreement only: one run of each, no speed figures')
  args = parser.parse_args(argv)
  if args.sequences < 1:
    parser.error('--sequences must be positive')

  rng = np.random.default_rng(args.seed)
  sequences = generate(rng, args.sequences, args.score_decimals)
  with tempfile.TemporaryDirectory() as tmp:
    root = args.keep or os.path.join(tmp, 'data')
    gt_dir, pred_dir = write_dataset(root, sequences, rng)
    labeled = sum(f['labeled'] for _, g, _ in sequences for f in g)
    print(f'data: {args.sequences} sequences, {sum(len(g) for _, g, _ in sequences)} frames, '
          f'{labeled} labelled, in {root}')

    # Count the frames where the tracking assignment had competing candidates.
    solver = posetrack._assign_like_motmetrics   # pylint: disable=protected-access
    calls = [0]

    def counting_solver(costs):
      calls[0] += 1
      return solver(costs)

    posetrack._assign_like_motmetrics = counting_solver   # pylint: disable=protected-access
    posetrack.evaluate(gt_dir, pred_dir)
    posetrack._assign_like_motmetrics = solver   # pylint: disable=protected-access
    print(f'joint-frames solved by the Hungarian algorithm with competing candidates: '
          f'{calls[0]}')

    times = []
    for _ in range(1 if args.no_timing else args.repeats):
      start, start_cpu = time.perf_counter(), time.process_time()
      ours = posetrack.evaluate(gt_dir, pred_dir)
      times.append((time.perf_counter() - start, time.process_time() - start_cpu))
    ours_seconds = min(times)   # the run with the least wall time
    print(posetrack.format_tables(ours))

    listed = posetrack.list_ground_truth(gt_dir)
    print(f'ground-truth files listed in sorted order by the file system: '
          f'{listed == sorted(listed)}')
    # Our evaluator with sequences in sorted order instead of the toolkit's (the old behaviour).
    gts, preds = posetrack.load_directories(gt_dir, pred_dir, toolkit_order=False)
    sorted_order = posetrack.evaluate_sequences(gts, preds, mota=False)

    toolkit_dir = prepare_toolkit(args.poseval, tmp)
    out_dir = os.path.join(tmp, 'toolkit_out')
    os.makedirs(out_dir)
    theirs, toolkit_seconds = run_toolkit(toolkit_dir, gt_dir, pred_dir, out_dir)
    if args.whole_commands and not args.no_timing:
      commands = whole_commands(toolkit_dir, gt_dir, pred_dir, os.path.join(tmp, 'cmd_out'),
                                args.repeats)

  worst, rows = compare(ours, theirs)
  sorted_worst, _ = compare(sorted_order, {k: theirs[k] for k in ('ap',)})
  print('agreement (per joint and Total, percent):')
  print('\n'.join(rows))
  print(f'max abs difference: {worst:.3g} -> {"AGREE" if worst <= 1e-6 else "DISAGREE"} (1e-6)')
  print(f'AP in sorted file order instead: max |ours - toolkit| = {sorted_worst:.3g}')
  tied = _tied_entries(sequences)
  print(f'predicted joints sharing their score with another one: {tied}')
  if args.no_timing:
    return 0 if worst <= 1e-6 else 1
  print(f'wall time: ours {ours_seconds[0]:.3f} s (best of {args.repeats}), toolkit '
        f'{toolkit_seconds[0]:.3f} s, speed-up {toolkit_seconds[0] / ours_seconds[0]:.1f}x')
  print(f'CPU time:  ours {ours_seconds[1]:.3f} s, toolkit {toolkit_seconds[1]:.3f} s, '
        f'speed-up {toolkit_seconds[1] / ours_seconds[1]:.1f}x')
  print('both include reading the JSON files')
  if args.whole_commands:
    (ours_cmd, ours_all), (kit_cmd, kit_all) = commands['ours'], commands['toolkit']
    print(f'whole commands (new process each, best of {args.repeats}; '
          f'{machine.TIMED_COMMANDS_NOTE}):')
    print(f'  ours:    {" ".join(ours_cmd)}\n           '
          f'{min(ours_all):.2f} s (runs: {", ".join(f"{t:.2f}" for t in ours_all)})')
    print(f'  toolkit: {" ".join(kit_cmd)}\n           '
          f'{min(kit_all):.2f} s (runs: {", ".join(f"{t:.2f}" for t in kit_all)})')
    print(f'  whole-command speed-up {min(kit_all) / min(ours_all):.1f}x')
  print(f'machine: {machine.cpu_model()}, {os.cpu_count()} CPUs visible, load average '
        f'{os.getloadavg()[0]:.1f}, Python {platform.python_version()}, numpy {np.__version__}')
  return 0 if worst <= 1e-6 else 1


if __name__ == '__main__':
  with machine.LoadMonitor():
    status = main()
  sys.exit(status)
