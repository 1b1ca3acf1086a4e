"""The benchmark scripts that need nothing outside the project run (at their smallest size)."""
import os
import sys

import pytest

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          'benchmarks')


@pytest.fixture
def bench_decode(monkeypatch):
  monkeypatch.syspath_prepend(BENCHMARKS)
  import bench_decode  # pylint: disable=import-outside-toplevel
  return bench_decode


def test_bench_decode_runs_on_the_papers_decoding_config(bench_decode, monkeypatch, capsys):
  monkeypatch.setattr(sys, 'argv', ['bench_decode.py', '--people', '3', '--repeats', '1'])
  bench_decode.main()
  lines = capsys.readouterr().out.splitlines()
  header = lines.index(next(l for l in lines if l.split()[:1] == ['people']))
  row = lines[header + 1].split()
  assert row[0] == '3' and all(float(v) > 0 for v in row[1:])


def test_ke_collapse_windows_and_report(tmp_path, monkeypatch, capsys):
  monkeypatch.syspath_prepend(BENCHMARKS)
  import ke_collapse  # pylint: disable=import-outside-toplevel
  from artrack_jax import metrics_writer  # pylint: disable=import-outside-toplevel
  records = [{'step': s, 'train/ke_pull': 0.01 * s, 'train/ke_push': 1.0 - 0.01 * s,
              'train/det': 0.5} for s in range(0, 40, 10)] + [{'step': 30, 'val/AP': 0.25}]
  # Windows of 20 steps centred on 0 and 20: steps (-10, 10] and (10, 30].
  assert ke_collapse.windows(records, 20) == [pytest.approx((0, 0.05, 0.95, 0.5)),
                                              pytest.approx((20, 0.25, 0.75, 0.5))]
  with metrics_writer.MetricsWriter(str(tmp_path)) as writer:
    for r in records:
      writer.write_scalars(r['step'], {k: v for k, v in r.items() if k != 'step'})
  assert ke_collapse.main(['--workdir', str(tmp_path), '--window', '20',
                           '--png', str(tmp_path / 'k.png')]) == 0
  out = capsys.readouterr().out
  assert '    20   0.250   0.750' in out and 'AP 0.250' in out
  assert (tmp_path / 'k.png').stat().st_size > 0
  with pytest.raises(SystemExit, match='not a KE training workdir'):
    ke_collapse.windows([{'step': 1, 'train/det': 0.1}], 10)


def test_mota_breakdown_sorts_false_positives_and_misses(monkeypatch):
  monkeypatch.syspath_prepend(BENCHMARKS)
  import mota_breakdown  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  from artrack_jax import skeletons  # pylint: disable=import-outside-toplevel
  from artrack_jax.evaluation import posetrack  # pylint: disable=import-outside-toplevel
  names = skeletons.POSETRACK.names
  rng = np.random.default_rng(0)
  gt_points = rng.uniform(0, 100, (1, 15, 2))
  gt_points[0, names.index('right_knee')] = (20.0, 80.0)   # knees 40 px apart
  gt_points[0, names.index('left_knee')] = (60.0, 80.0)
  # Head box 10 x 10 / 0.6: head size 0.6 * diagonal = 10 * sqrt(2) ~ 14.1 px; radius 7.1 px.
  box = np.array([[0.0, 0.0, 10.0 / 0.6, 10.0 / 0.6]])
  gt = posetrack.FramePoses(points=gt_points, present=np.ones((1, 15), bool),
                            track_ids=np.array([1]), head_boxes=box,
                            scores=np.full((1, 15), -9999.0), labeled=True)
  pred_points = gt_points.copy()
  near, swapped, far = names.index('nose'), names.index('left_knee'), names.index('neck')
  pred_points[0, near] += (10.0, 0.0)                   # 0.71 head sizes: near
  pred_points[0, swapped] = gt_points[0, names.index('right_knee')]
  pred_points[0, far] += (200.0, 0.0)
  # A second hypothesis on the head top, exactly on it: a duplicate ("taken").
  dup = np.zeros((1, 15, 2))
  dup[0, names.index('head_top')] = gt_points[0, names.index('head_top')]
  dup_present = np.zeros((1, 15), bool)
  dup_present[0, names.index('head_top')] = True
  pred = posetrack.FramePoses(
      points=np.concatenate([pred_points, dup]),
      present=np.concatenate([np.ones((1, 15), bool), dup_present]),
      track_ids=np.array([1, 2]), head_boxes=np.full((2, 4), np.nan),
      scores=np.full((2, 15), 0.9))
  counts = mota_breakdown.frame_counts(gt, pred)
  total = counts.sum(0)
  assert total[0] == 15 and total[1] == 12                       # GT, hits
  np.testing.assert_array_equal(counts[near, 2:10], [1, 0, 0, 0, 0, 1, 0, 1])
  np.testing.assert_array_equal(counts[swapped, 2:10], [0, 0, 1, 0, 0, 0, 1, 0])
  np.testing.assert_array_equal(counts[far, 2:10], [0, 0, 0, 0, 1, 0, 1, 0])
  np.testing.assert_array_equal(counts[names.index('head_top'), 1:10],
                                [1, 0, 1, 0, 0, 0, 0, 0, 0])
  text = mota_breakdown.format_breakdown(counts)
  assert 'swap' in text and text.splitlines()[-2].startswith('Total')


def test_left_right_probe_counts_a_mirrored_reading_as_a_swap(monkeypatch):
  monkeypatch.syspath_prepend(BENCHMARKS)
  import left_right_probe  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  from artrack_jax import skeletons  # pylint: disable=import-outside-toplevel
  names = skeletons.POSETRACK.names
  l, r = names.index('left_wrist'), names.index('right_wrist')
  kp = np.zeros((len(names), 3), np.float32)
  kp[l], kp[r] = (10, 5, 2), (4, 5, 2)
  heat = np.zeros((16, 16, len(names)), np.float32)
  heat[5, 10, l], heat[5, 4, r] = 0.9, 0.8          # each channel peaks at its own joint
  counts = left_right_probe.swap_counts(heat, kp, names, min_separation=2.0)
  assert counts['wrist'] == (0, 1) and counts['elbow'] == (0, 0)   # unlabelled pair skipped
  heat[5, 4, l], heat[5, 10, r] = 1.0, 1.0          # now the mirrored reading is higher
  assert left_right_probe.swap_counts(heat, kp, names, 2.0)['wrist'] == (1, 1)
  kp[r] = (9, 5, 2)                                 # one output pixel apart: not compared
  assert left_right_probe.swap_counts(heat, kp, names, 2.0)['wrist'] == (0, 0)
  image, keypoints = left_right_probe.render_person(np.random.default_rng(0), 1.0, 64)
  assert image.shape == (64, 64, 3) and (keypoints[:, 2] > 0).sum() >= 2


def test_ap_error_oracles_correct_each_kind_of_error_once(monkeypatch):
  monkeypatch.syspath_prepend(BENCHMARKS)
  import ap_error_oracles  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  from artrack_jax import skeletons  # pylint: disable=import-outside-toplevel
  from artrack_jax.evaluation import posetrack  # pylint: disable=import-outside-toplevel
  names = skeletons.POSETRACK.names
  rng = np.random.default_rng(1)
  one = rng.uniform(0, 100, (15, 2))
  rk, lk, nose = names.index('right_knee'), names.index('left_knee'), names.index('nose')
  rw, lw, le = names.index('right_wrist'), names.index('left_wrist'), names.index('left_elbow')
  one[rk], one[lk], one[rw], one[lw] = (20.0, 80.0), (60.0, 80.0), (30.0, 40.0), (70.0, 40.0)
  gt_points = np.stack([one, one + (0.0, 300.0)])            # a second person far below
  box = np.array([[0.0, 0.0, 10.0 / 0.6, 10.0 / 0.6]])      # head size 14.1 px, radius 7.1
  gt = posetrack.FramePoses(points=gt_points, present=np.ones((2, 15), bool),
                            track_ids=np.array([1, 2]), head_boxes=np.concatenate(
                                [box, box + (0.0, 300.0, 0.0, 300.0)]),
                            scores=np.full((2, 15), -9999.0), labeled=True)
  person = one.copy()
  person[[rk, lk]] = person[[lk, rk]]                        # knees exchanged: swap
  person[lw] = one[rw] + (1.0, 0.0)                          # both wrists on one: inversion
  person[le] = gt_points[1, le]                              # the other person's elbow
  person[nose] += (10.0, 0.0)                                # 0.71 head sizes: jitter
  duplicate = one + 40.0                                     # a second pose, 5 joints on the
  duplicate[:5] = one[:5]                                    # person
  false_pose = one + 500.0
  pred = posetrack.FramePoses(
      points=np.stack([person, duplicate, false_pose, gt_points[1]]),
      present=np.ones((4, 15), bool), track_ids=np.arange(4),
      head_boxes=np.full((4, 4), np.nan),
      scores=np.stack([np.full(15, s) for s in (0.5, 0.9, 0.95, 0.6)]))
  gts = [posetrack.PosesSequence('s', [gt])]
  preds = [posetrack.PosesSequence('s', [pred])]
  chosen, kept, hits_any = ap_error_oracles.pairing(gt, pred)
  assert chosen.tolist() == [0, 0, 0, 1] and kept.tolist() == [True, False, False, True]
  assert hits_any.tolist() == [True, True, False, True]
  totals, counts = [], []
  for step in ap_error_oracles.STEPS:
    preds, n = ap_error_oracles.correct(gts, preds, step)
    counts.append(n)
    totals.append(posetrack.evaluate_sequences(gts, preds, mota=False)['ap']['Total'])
  # as predicted, swap, inversion, other person, jitter, false poses, duplicates
  assert counts[:7] == [0, 1, 1, 1, 1, 1, 1]
  assert all(b > a for a, b in zip(totals[:7], totals[1:7])), totals
  assert totals[-1] == 100.0
  text = ap_error_oracles.format_rows([{'step': s, 'corrected': n, 'ap': {'Total': t, **{
      c: t for c in posetrack.COLUMN_NAMES}}} for s, n, t in zip(ap_error_oracles.STEPS,
                                                               counts, totals)])
  assert text.count('\n') == len(ap_error_oracles.STEPS) + 1


def test_facing_probe_reads_layers_and_scores_held_out_people(monkeypatch, tmp_path, capsys):
  monkeypatch.syspath_prepend(BENCHMARKS)
  import facing_probe  # pylint: disable=import-outside-toplevel
  import json  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  rng = np.random.default_rng(0)
  labels = np.where(rng.uniform(size=300) < 0.5, 1.0, -1.0)
  separable = np.c_[labels + 0.1 * rng.normal(size=300), rng.normal(size=(300, 5))]
  assert facing_probe.ridge_accuracy(separable, labels) == 1.0
  assert 0.3 < facing_probe.ridge_accuracy(rng.normal(size=(300, 6)), labels) < 0.7
  fmap = np.arange(2 * 3 * 5, dtype=np.float32).reshape(1, 2, 3, 5)    # 12 x 8 input px
  np.testing.assert_array_equal(facing_probe.at(fmap, np.array([7.9, 3.0]), 12),
                                fmap[0, 0, 1])
  outputs = facing_probe.module_outputs(
      {'stem': {'__call__': (fmap,)}, 'head': {'__call__': (fmap[0],)}})
  assert list(outputs) == ['stem']                    # 3-D outputs are not feature maps
  out = tmp_path / 'facing.json'
  facing_probe.main(['--people', '20', '--json', str(out)])
  rows = json.loads(out.read_text())['rows']
  assert [r['target'] for r in rows][:2] == ['facing at the torso',
                                              'anatomical side at the shoulder']
  assert all(0.0 <= r['best'] <= 1.0 and r['best'] >= r['head input'] for r in rows)
  assert '| facing at the torso | 20 |' in capsys.readouterr().out


def test_facing_head_probe_summary_and_refusal(monkeypatch):
  monkeypatch.syspath_prepend(BENCHMARKS)
  import facing_head_probe  # pylint: disable=import-outside-toplevel
  import numpy as np  # pylint: disable=import-outside-toplevel
  from artrack_jax import reference  # pylint: disable=import-outside-toplevel
  cosines = np.array([1.0, -1.0, 0.9, -0.8, 0.5, 0.1, -0.1])
  values = np.array([0.4, -0.2, -0.12, -0.06, 0.3, 0.02, 0.2])
  result = facing_head_probe.summary(values, cosines)
  front, between, profile = result['bands']
  assert (front['people'], front['sign right']) == (4, 0.75)
  assert (between['people'], between['sign right']) == (1, 1.0)
  assert profile['people'] == 2 and np.isclose(profile['mean |facing|'], 0.11)
  by_t = {t['facing_min']: t for t in result['thresholds']}
  # 5 front/back people (|cos| >= 0.4); at 0.1: 0.4, -0.2, -0.12, 0.3 kept, -0.12 wrong.
  assert by_t[0.1]['front or back covered'] == 0.8
  assert by_t[0.1]['wrong among covered'] == 0.25
  assert by_t[0.1]['profile covered'] == 0.5
  assert by_t[0.3]['wrong among covered'] == 0.0
  with pytest.raises(ValueError, match='facing_head is off'):
    facing_head_probe.collect(reference.REFERENCE_DIR, 1, 0)
