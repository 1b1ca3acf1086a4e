"""Keypoint HOTA of ``artrack_jax.evaluation.hota`` against the official PoseTrack21 kit.

Generates PoseTrack21 ground truth from the synthetic benchmark (``data/synthetic.py``: several
clips, crowd ignore regions, some unlabelled frames) and predictions derived from it with the
errors a tracker makes: jittered joints (small and gross), dropped joints, people with no joint
left, joints pushed outside the image, identity switches and fragmented tracks, missed people,
frames without any prediction, false-positive tracks (some inside ignore regions), exact
duplicates under another id (Hungarian ties) and a sequence without any prediction. Scores are
tied in steps of 0.25 (the kit's HOTA reads no score). Both sides are written with
``formats.write_posetrack21``. Then it runs

* the kit's evaluator (``posetrack21.trackeval``: ``Evaluator``, ``datasets.PoseTrack``,
  ``metrics.HOTAeypoints``, configured as ``scripts/run_posetrack_challenge.py`` configures
  them) in a subprocess with the kit's interpreter, which writes every per-alpha array at full
  precision as JSON;
* the kit's own script ``scripts/run_posetrack_challenge.py --PRINT_RESULTS True`` and parses
  the printed summary table (5 significant digits), to check that the first run is the kit as
  shipped;
* ours (``hota.evaluate`` on the same directories, as ``evaluation/cli.py --metrics hota``),

and prints HOTA, DetA, AssA, LocA (and DetRe, DetPr, AssRe, AssPr) per joint and in total, ours
next to the kit's with the absolute difference, plus the counts at alpha 0.05 and the worst
per-sequence difference. Exit code 1 when any value differs by more than ``--tolerance``
(default 1e-6, in percent points), or the printed table disagrees beyond its last digit.

Why 1e-6: every decision (joint validity, ignore-region containment, the Hungarian matching on
the same similarity matrix, TP at similarity >= alpha - eps) is made on the same float64
numbers, so the counts are equal and the ratios differ only by summation order (~1e-13). One
flipped decision moves a value by at least 100 / (19 * (TP + FN + FP)), about 1e-3 here.

The kit's environment: it needs NumPy < 1.24 (``np.float``, ``np.int``), SciPy and shapely
(its requirements.txt pins numpy 1.22.0 / scipy 1.7.3 / Shapely 1.8.0, which have no wheels
for Python 3.11; numpy 1.23.5, scipy 1.15 and shapely 2.1 work)::

  python -m venv /tmp/pt21env
  /tmp/pt21env/bin/pip install "numpy<1.24" scipy shapely tqdm
  python benchmarks/compare_hota_posetrack21.py --python /tmp/pt21env/bin/python \
      [--kit PATH_OF_A_POSETRACK21_CHECKOUT | --kit-url URL] [--sequences 8] [--keep DIR]

Without ``--kit`` the kit is cloned (``git clone --depth 1``) into a temporary folder.

What the kit cannot evaluate, so the generator avoids it: a labelled ground-truth frame
without people (no annotation at all, or all of them removed by ignore regions) makes the kit
fail (``datasets/posetrack.py`` then has no head sizes or a 1-D array of poses); such frames
are written as unlabelled. Tracker files must have the ground truth's images in the same order.

Found with it (kit commit 3e61960): the kit evaluates the frames flagged ``is_labeled``, and
PoseTrack21 files keep box-only annotations in the other frames; ours took every frame with an
annotation and counted the predictions there as false positives (total HOTA 16.2 instead of
the kit's 31.8 on the default data). ``hota`` now reads the flags
(``hota.read_labelled_frames``). Everything else agreed as first written: at most 4.3e-14
percent points apart, equal counts (default settings; seeds 1-3 with 12 sequences too).
The totals are low because frames without predictions cost the whole sequence's joints
(kit quirk 1) and one sequence has no prediction at all.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import shapely

from artrack_jax import machine
from artrack_jax.data import formats
from artrack_jax.data import synthetic
from artrack_jax.data.types import Frame, Person, Sequence
from artrack_jax.evaluation import hota
from artrack_jax.evaluation import posetrack

KIT_URL = 'https://github.com/anDoer/PoseTrack21.git'
J = posetrack.NUM_JOINTS
# The kit's joint columns (its 17 slots without the ears) and our names for them.
KIT_JOINTS = ('Nose', 'Neck', 'Head', 'LS', 'RS', 'LE', 'RE', 'LW', 'RW', 'LH', 'RH', 'LK', 'RK',
              'LA', 'RA')
OUR_JOINTS = ('nose', 'neck', 'head_top', 'left_shoulder', 'right_shoulder', 'left_elbow',
              'right_elbow', 'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee',
              'right_knee', 'left_ankle', 'right_ankle')
COLUMNS = OUR_JOINTS + ('Total',)
RATIOS = ('HOTA', 'DetA', 'AssA', 'LocA', 'DetRe', 'DetPr', 'AssRe', 'AssPr')
COUNTS = ('TP', 'FN', 'FP')

# Runs inside the kit's interpreter: its evaluator as scripts/run_posetrack_challenge.py sets it
# up (serial, so the sequences are taken in sorted order), every array dumped at full precision.
_DRIVER = r'''
import json, os, sys
kit_root, gt_dir, trackers_dir, out_path = sys.argv[1:5]
sys.path.insert(0, kit_root)
import posetrack21.trackeval as trackeval
eval_config = trackeval.Evaluator.get_default_eval_config()
eval_config.update(USE_PARALLEL=False, PRINT_RESULTS=False, TIME_PROGRESS=False,
                   OUTPUT_PAPER_SUMMARY=False, LOG_ON_ERROR=None)
dataset_config = trackeval.datasets.PoseTrack.get_default_dataset_config()
dataset_config.update(GT_FOLDER=gt_dir, TRACKERS_FOLDER=trackers_dir, PRINT_CONFIG=False)
evaluator = trackeval.Evaluator(eval_config)
dataset = trackeval.datasets.PoseTrack(dataset_config)
metric = trackeval.metrics.HOTAeypoints()
output, messages = evaluator.evaluate([dataset], [metric])
(tracker, result), = output['PoseTrack'].items()
if result is None:
    sys.exit('kit failed: %s' % messages['PoseTrack'][tracker])
fields = ['HOTA', 'DetA', 'AssA', 'LocA', 'DetRe', 'DetPr', 'AssRe', 'AssPr',
          'HOTA_TP', 'HOTA_FN', 'HOTA_FP']
dump = {}
for seq, per_class in result.items():
    res = per_class['person']['HOTAeypoints']
    if seq != 'COMBINED_SEQ':
        res = metric.combine_sequences({seq: res})   # the same combination as ours for one
    dump[seq] = {f: res[f].tolist() for f in fields}
with open(out_path, 'w') as f:
    json.dump(dump, f)
'''


# ------------------------------------------------------------------------------------- data


def _head_size(person: Person) -> float:
  return float(posetrack.HEAD_SIZE_FACTOR * np.hypot(person.bbox_head[2], person.bbox_head[3]))


def _inside_any(points: np.ndarray, regions: list[np.ndarray]) -> np.ndarray:
  """[n] points strictly inside any polygon (the kit's shapely ``contains``)."""
  inside = np.zeros(len(points), bool)
  pts = shapely.points(points)
  for poly in regions:
    if len(poly) >= 3:
      inside |= shapely.contains(shapely.Polygon(poly), pts)
  return inside


def make_ground_truth(index: int, num_frames: int, image_size: int, seed: int,
                      rng: np.random.Generator) -> tuple[Sequence, Sequence]:
  """(the clip with everyone, the ground truth as written).

  Some sequences are labelled every 2nd or 4th frame only; their unlabelled frames keep their
  people as box-only annotations (no joint: PoseTrack21's ``has_labeled_person`` frames) or
  have none (PoseTrack 2018 style). Some labelled frames have a box-only person too. Predictions are made from the first, on every frame.
  """
  clip, _ = synthetic.generate_clip('val', index, num_frames=num_frames, image_size=image_size,
                                    seed=seed)
  gt = copy.deepcopy(clip)
  step = int(rng.choice([1, 1, 2, 4]))
  box_only = bool(rng.random() < 0.5)
  for t, fr in enumerate(gt.frames):
    fr.is_labeled = t % step == 0
    alive = []
    for p in fr.people:
      labelled = p.keypoints[:, 2] > 0
      if fr.ignore_regions:
        labelled &= ~_inside_any(p.keypoints[:, :2].astype(np.float64), fr.ignore_regions)
      if labelled.any():
        alive.append(p)
    if fr.is_labeled and not alive:
      # The kit cannot evaluate a labelled frame that ends up without people (see above).
      fr.is_labeled = False
    if fr.is_labeled and rng.random() < 0.1:
      # A box-only person in a labelled frame (PoseTrack21 has them): no joint to match.
      src = fr.people[int(rng.integers(len(fr.people)))]
      fr.people.append(Person(track_id=999, keypoints=np.zeros_like(src.keypoints),
                              bbox=src.bbox.copy(), bbox_head=src.bbox_head.copy()))
    if not fr.is_labeled:
      if box_only:
        for p in fr.people:
          p.keypoints = np.zeros_like(p.keypoints)
      else:
        fr.people = []
  if not any(fr.is_labeled for fr in gt.frames):
    raise RuntimeError(f'{gt.name}: no labelled frame with people; try another --seed')
  return clip, gt


def make_predictions(gt: Sequence, rng: np.random.Generator, image_size: int,
                     empty: bool = False) -> Sequence:
  """Predictions with tracker errors; every frame of ``gt`` (the kit needs them all)."""
  sigma = float(rng.choice([0.03, 0.1, 0.2]))     # jitter in head sizes, per sequence
  next_id = [500]

  def new_id():
    next_id[0] += 1
    return next_id[0]

  ids = {}            # ground-truth track id -> predicted id (switched and fragmented below)
  fp_tracks = []      # [(id, first frame, last frame, offset, source gt track id)]
  frames = []
  for t, fr in enumerate(gt.frames):
    people = []
    gt_ids = [p.track_id for p in fr.people]
    for g in gt_ids:
      ids.setdefault(g, new_id())
    if len(gt_ids) >= 2 and rng.random() < 0.1:       # identity switch (persists)
      a, b = rng.choice(gt_ids, 2, replace=False)
      ids[a], ids[b] = ids[b], ids[a]
    if gt_ids and rng.random() < 0.05:                 # fragmented track: a new id
      ids[int(rng.choice(gt_ids))] = new_id()
    if gt_ids and rng.random() < 0.15:                 # a false-positive track starts
      fp_tracks.append((new_id(), t, t + int(rng.integers(1, 6)),
                        rng.uniform(-0.4, 0.4, 2) * image_size, int(rng.choice(gt_ids))))
    for p in fr.people:
      if rng.random() < 0.08:                          # missed person
        continue
      kp = np.asarray(p.keypoints, np.float64).copy()
      scale = _head_size(p)
      kp[:, :2] += rng.normal(0, sigma * scale, (J, 2))
      gross = rng.random(J) < 0.05
      kp[gross, :2] += rng.normal(0, 1.5 * scale, (int(gross.sum()), 2))
      kp[:, 2] = np.where(kp[:, 2] > 0, 2.0, 0.0)
      kp[rng.random(J) < 0.1, 2] = 0                   # dropped joints
      if rng.random() < 0.03:
        kp[:, 2] = 0                                   # a person with no joint left
      if rng.random() < 0.05:
        kp[int(rng.integers(J)), 0] = -rng.uniform(0.5, 5)   # pushed out of the image
      kp[kp[:, 2] <= 0, :2] = 0
      scores = np.round(rng.random(J) * 4) / 4         # tied scores (HOTA ignores them)
      people.append(Person(track_id=ids[p.track_id], keypoints=kp, bbox=p.bbox.copy(),
                           bbox_head=None, scores=scores, score=float(scores.mean())))
      if rng.random() < 0.04:                          # an exact duplicate: a Hungarian tie
        people.append(Person(track_id=new_id(), keypoints=kp.copy(), bbox=p.bbox.copy(),
                             bbox_head=None, scores=scores.copy(), score=float(scores.mean())))
    by_id = {p.track_id: p for p in fr.people}
    for fp_id, first, last, offset, src in fp_tracks:
      if first <= t <= last and src in by_id:
        kp = np.asarray(by_id[src].keypoints, np.float64).copy()
        kp[:, :2] += offset
        kp[:, 2] = np.where(kp[:, 2] > 0, 2.0, 0.0)
        kp[kp[:, 2] <= 0, :2] = 0
        people.append(Person(track_id=fp_id, keypoints=kp, bbox=by_id[src].bbox.copy(),
                             bbox_head=None, scores=np.full(J, 0.5), score=0.5))
    if fr.ignore_regions and rng.random() < 0.5:       # a false positive inside the crowd
      centre = np.mean(fr.ignore_regions[0], axis=0)
      kp = np.zeros((J, 3))
      kp[:, :2] = centre + rng.normal(0, 1.0, (J, 2))
      kp[:, 2] = 2
      people.append(Person(track_id=new_id(), keypoints=kp,
                           bbox=np.array([*centre - 5, 10, 10]), bbox_head=None,
                           scores=np.full(J, 0.25), score=0.25))
    if rng.random() < 0.04 or empty:                   # a frame without predictions
      people = []
    frames.append(Frame(image_path=fr.image_path, frame_id=fr.frame_id, is_labeled=True,
                        people=people, width=fr.width, height=fr.height, image_id=fr.image_id))
  return Sequence(name=gt.name, frames=frames, skeleton='posetrack', vid_id=gt.vid_id)


def write_data(root: str, num_sequences: int, num_frames: int, image_size: int, seed: int
               ) -> tuple[str, str, dict]:
  """Writes ``root/gt/*.json`` and ``root/pred/sequences/*.json``; returns the two folders."""
  rng = np.random.default_rng(seed)
  gt_dir = os.path.join(root, 'gt')
  pred_dir = os.path.join(root, 'pred', 'sequences')   # the kit's single-tracker layout
  stats = {'frames': 0, 'labelled': 0, 'gt_people': 0, 'pred_people': 0, 'ignore_frames': 0}
  for i in range(num_sequences):
    clip, gt = make_ground_truth(i, num_frames, image_size, seed, rng)
    pred = make_predictions(clip, rng, image_size, empty=(i == num_sequences - 1 and i > 0))
    formats.write_posetrack21(gt, os.path.join(gt_dir, gt.name + '.json'))
    formats.write_posetrack21(pred, os.path.join(pred_dir, gt.name + '.json'))
    stats['frames'] += len(gt.frames)
    stats['labelled'] += sum(fr.is_labeled for fr in gt.frames)
    stats['gt_people'] += sum(len(fr.people) for fr in gt.frames)
    stats['pred_people'] += sum(len(fr.people) for fr in pred.frames)
    stats['ignore_frames'] += sum(bool(fr.ignore_regions) for fr in gt.frames if fr.is_labeled)
  return gt_dir, pred_dir, stats


# -------------------------------------------------------------------------------------- kit


def prepare_kit(args, workdir: str) -> tuple[str, str]:
  """Returns (the kit's eval/posetrack21 folder, its git commit or '?')."""
  if args.kit:
    checkout = os.path.abspath(args.kit)
  else:
    checkout = os.path.join(workdir, 'PoseTrack21')
    subprocess.run(['git', 'clone', '--quiet', '--depth', '1', args.kit_url, checkout],
                   check=True)
  root = os.path.join(checkout, 'eval', 'posetrack21')
  if not os.path.isdir(os.path.join(root, 'posetrack21', 'trackeval')):
    root = checkout   # a checkout of the eval/posetrack21 folder itself
  if not os.path.isdir(os.path.join(root, 'posetrack21', 'trackeval')):
    raise SystemExit(f'{checkout}: no eval/posetrack21/posetrack21/trackeval (not the kit?)')
  commit = subprocess.run(['git', '-C', checkout, 'rev-parse', 'HEAD'], capture_output=True,
                          text=True).stdout.strip() or '?'
  return root, commit


def run_kit(python: str, kit_root: str, gt_dir: str, pred_dir: str, workdir: str) -> dict:
  driver = os.path.join(workdir, 'kit_driver.py')
  with open(driver, 'w') as f:
    f.write(_DRIVER)
  out = os.path.join(workdir, 'kit_result.json')
  proc = subprocess.run([python, driver, kit_root, gt_dir, pred_dir, out], cwd=workdir,
                        capture_output=True, text=True)
  if proc.returncode:
    sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
    raise SystemExit(f'the kit failed (exit {proc.returncode}); is --python an environment '
                     'with numpy<1.24, scipy, shapely and tqdm?')
  with open(out) as f:
    raw = json.load(f)
  return {seq: _from_kit(res) for seq, res in raw.items()}


def _from_kit(res: dict) -> dict:
  """The kit's [19 alphas, 16 columns] arrays -> {metric: {column: value}}: percent means over
  the alphas as it prints them, counts at alpha 0.05 (its columns are COLUMNS' joints)."""
  out = {}
  for field in RATIOS:
    out[field] = dict(zip(COLUMNS, (100 * np.asarray(res[field]).mean(axis=0)).tolist()))
  for field in COUNTS:
    out[field] = dict(zip(COLUMNS, np.asarray(res[f'HOTA_{field}'], float)[0].tolist()))
  return out


def run_kit_script(python: str, kit_root: str, gt_dir: str, pred_dir: str) -> dict:
  """The shipped script with ``--PRINT_RESULTS True``: its summary table as printed."""
  proc = subprocess.run(
      [python, os.path.join(kit_root, 'scripts', 'run_posetrack_challenge.py'),
       '--GT_FOLDER', gt_dir + os.sep, '--TRACKERS_FOLDER', pred_dir, '--USE_PARALLEL', 'False',
       '--PRINT_RESULTS', 'True', '--PRINT_CONFIG', 'False'],
      cwd=kit_root, capture_output=True, text=True)
  if proc.returncode:
    sys.stderr.write(proc.stdout[-4000:] + proc.stderr[-4000:])
    raise SystemExit(f'run_posetrack_challenge.py failed (exit {proc.returncode})')
  lines = proc.stdout.splitlines()
  start = next(i for i, line in enumerate(lines) if 'HOTAeypoints->Summary' in line)
  table = {}
  for line in lines[start + 1:]:
    cells = line.split()
    if not cells:
      continue
    if cells[0] in KIT_JOINTS or cells[0] == 'Metric':
      continue
    if cells[0] not in RATIOS + tuple(f'HOTA_{c}' for c in COUNTS) + (
        'FragA', 'RHOTA', 'FA-HOTA', 'FA-RHOTA', 'HOTA(0)', 'LocA(0)', 'HOTALocA(0)',
        'HOTA_TP(0)', 'HOTA_FN(0)', 'HOTA_FP(0)'):
      break
    if cells[0] in RATIOS and len(cells) == 1 + len(COLUMNS):
      table[cells[0]] = dict(zip(COLUMNS, cells[1:]))
  return table


def _printed_agrees(ours: float, printed: str) -> bool:
  """``ours`` rounds to the kit's '{:1.5g}' value within one unit of its last digit."""
  value = float(printed)
  if value == 0:
    return abs(ours) < 1e-12
  mantissa = re.sub(r'e.*', '', printed.lower())
  decimals = len(mantissa.split('.')[1]) if '.' in mantissa else 0
  exponent = int(printed.lower().split('e')[1]) if 'e' in printed.lower() else 0
  unit = 10.0 ** (exponent - decimals)
  return abs(ours - value) <= unit * 1.000001


# ------------------------------------------------------------------------------------- ours


def run_ours(gt_dir: str, pred_dir: str) -> tuple[dict, dict]:
  """Combined (as ``cli --metrics hota``) and per sequence, in the layout of ``_from_kit``."""
  def layout(r):
    out = {f: r[f.lower()] for f in RATIOS}
    for f in COUNTS:
      out[f] = {c: float(v) for c, v in r[f'num_{f.lower()}'].items()}
    return out

  combined = layout(hota.evaluate(gt_dir, pred_dir))
  per_sequence = {}
  for name in sorted(os.listdir(gt_dir)):
    gt_path = os.path.join(gt_dir, name)
    g = posetrack.load_sequence(gt_path, 'gt')
    p = posetrack.load_sequence(os.path.join(pred_dir, name), 'pred')
    per_sequence[name] = layout(hota.evaluate_sequences(
        [g], [p], gt_labelled=[hota.read_labelled_frames(gt_path)]))
  return combined, per_sequence


def _max_diff(a: dict, b: dict) -> tuple[float, str]:
  worst, where = 0.0, ''
  for field in RATIOS + COUNTS:
    for c in COLUMNS:
      d = abs(a[field][c] - b[field][c])
      if d > worst or (math.isnan(d) and not math.isnan(worst)):
        worst, where = d, f'{field} {c}'
  return worst, where


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--python', default=sys.executable,
                      help='interpreter of an environment with the kit\'s requirements '
                           '(numpy<1.24, scipy, shapely, tqdm); default: this one')
  parser.add_argument('--kit', help='an existing PoseTrack21 checkout (else it is cloned)')
  parser.add_argument('--kit-url', default=KIT_URL, help='where to clone the kit from')
  parser.add_argument('--sequences', type=int, default=8)
  parser.add_argument('--frames', type=int, default=30)
  parser.add_argument('--image-size', type=int, default=192)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--tolerance', type=float, default=1e-6,
                      help='largest accepted |ours - kit| in percent points (counts: exact)')
  parser.add_argument('--keep', help='write the data here and keep it')
  parser.add_argument('--whole-commands', type=int, default=0, metavar='N',
                      help='also time, N runs each (alternating), our command `eval.py --gt G '
                           '--pred P --metrics hota` against the kit\'s '
                           'run_posetrack_challenge.py, each a new process')
  parser.add_argument('--no-script', action='store_true',
                      help='skip the check of the printed table of run_posetrack_challenge.py')
  args = parser.parse_args(argv)

  with tempfile.TemporaryDirectory(prefix='compare_hota_pt21_') as workdir:
    root = os.path.abspath(args.keep) if args.keep else os.path.join(workdir, 'data')
    for sub in ('gt', 'pred'):
      shutil.rmtree(os.path.join(root, sub), ignore_errors=True)
    gt_dir, pred_dir, stats = write_data(root, args.sequences, args.frames, args.image_size,
                                         args.seed)
    print(f'data: {args.sequences} sequences, {stats["frames"]} frames ({stats["labelled"]} '
          f'labelled, {stats["ignore_frames"]} of them with ignore regions), '
          f'{stats["gt_people"]} ground-truth and {stats["pred_people"]} predicted poses')
    kit_root, commit = prepare_kit(args, workdir)
    print(f'kit: {kit_root} (commit {commit}), python {args.python}')
    kit = run_kit(args.python, kit_root, gt_dir, pred_dir, workdir)
    printed = {} if args.no_script else run_kit_script(args.python, kit_root, gt_dir, pred_dir)
    ours, ours_per_sequence = run_ours(gt_dir, pred_dir)
    timings = (whole_commands(args.python, kit_root, gt_dir, pred_dir, args.whole_commands)
               if args.whole_commands else None)
  status = report(ours, ours_per_sequence, kit, printed, args.tolerance)
  if timings:
    print(f'\nwhole commands (a new process each, {args.whole_commands} runs each, alternating; '
          f'{machine.TIMED_COMMANDS_NOTE}):')
    for who, (command, seconds) in timings.items():
      print(f'  {who:5s} {" ".join(command)}\n        best {min(seconds):.2f} s '
            f'(runs: {", ".join(f"{t:.2f}" for t in seconds)})')
    print(f'  whole-command speed-up {min(timings["kit"][1]) / min(timings["ours"][1]):.1f}x')
  return status


def whole_commands(python: str, kit_root: str, gt_dir: str, pred_dir: str, runs: int) -> dict:
  """Wall times of ours and the kit's script as whole commands, `runs` each, alternating."""
  repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  ours = [sys.executable, os.path.join(repo, 'eval.py'), '--gt', gt_dir, '--pred', pred_dir,
          '--metrics', 'hota']
  kit = [python, os.path.join(kit_root, 'scripts', 'run_posetrack_challenge.py'),
         '--GT_FOLDER', gt_dir + os.sep, '--TRACKERS_FOLDER', pred_dir, '--USE_PARALLEL',
         'False', '--PRINT_RESULTS', 'True', '--PRINT_CONFIG', 'False']
  seconds = machine.time_commands({'ours': (ours, repo), 'kit': (kit, kit_root)}, runs)
  return {'ours': (ours, seconds['ours']), 'kit': (kit, seconds['kit'])}


def report(ours: dict, ours_per_sequence: dict, kit: dict, printed: dict, tolerance: float
           ) -> int:
  """Prints ours | kit | |diff| per metric and column; returns the exit code."""
  theirs = kit['COMBINED_SEQ']
  worst = 0.0
  counts_equal = True
  failures = []
  for field in RATIOS + COUNTS:
    unit = '%' if field in RATIOS else '(count at alpha 0.05)'
    print(f'\n{field} {unit}')
    print(f'  {"joint":16s} {"ours":>14s} {"kit":>14s} {"|diff|":>10s}' +
          ('  printed by the kit' if field in printed else ''))
    for c in COLUMNS:
      a, b = ours[field][c], theirs[field][c]
      d = abs(a - b)
      bad = not d <= (tolerance if field in RATIOS else 0.0)
      worst = max(worst, d) if field in RATIOS else worst
      extra = ''
      if field in printed:
        ok = _printed_agrees(a, printed[field][c])
        extra = f'  {printed[field][c]:>9s}' + ('' if ok else '  MISMATCH')
        if not ok:
          failures.append(f'{field} {c}: printed {printed[field][c]}, ours {a!r}')
      if bad:
        failures.append(f'{field} {c}: ours {a!r}, kit {b!r}')
        counts_equal &= field in RATIOS
      print(f'  {c:16s} {a:14.9f} {b:14.9f} {d:10.2e}{extra}' + ('  <--' if bad else ''))
  print('\nper sequence (each evaluated alone), largest |ours - kit|:')
  for seq in sorted(ours_per_sequence):
    d, where = _max_diff(ours_per_sequence[seq], kit[seq])
    print(f'  {seq:32s} {d:10.2e}  {where}')
    if not d <= tolerance:
      failures.append(f'{seq}: {where} differs by {d:.3g}')
  print(f'\nlargest |ours - kit| over the combined ratios: {worst:.3g} percent points '
        f'(tolerance {tolerance:g}); counts ' + ('equal' if counts_equal else 'DIFFER'))
  if failures:
    print(f'{len(failures)} DIFFERENCES, e.g.:\n  ' + '\n  '.join(failures[:10]))
    return 1
  print('agree: ours = the PoseTrack21 kit')
  return 0


if __name__ == '__main__':
  with machine.LoadMonitor():
    status = main()
  sys.exit(status)
