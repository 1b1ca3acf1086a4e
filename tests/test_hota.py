"""Keypoint HOTA as the PoseTrack21 kit: hand-computed cases."""
import json
import math

import numpy as np
import pytest

from artrack_jax.evaluation import cli
from artrack_jax.evaluation import hota

from test_evaluation_posetrack import HEAD_SIZE, frame, person, to_pt17, to_pt18

ALPHAS = np.arange(0.05, 0.99, 0.05)


def p(track_id, cx, cy, **kwargs):
  """A person away from the image border (the kit counts a joint only where x > 0 and y > 0)."""
  return person(track_id, cx + 10, cy + 10, **kwargs)


def run(gt, pred, **kwargs):
  return hota.evaluate_sequences([to_pt18(gt, 'gt')], [to_pt18(pred, 'pred')], **kwargs)


def assert_all(result, field, value):
  for name, v in result[field].items():
    assert v == pytest.approx(value, abs=1e-9), (field, name)


def test_perfect_tracking_is_100():
  gt = [frame(p(1, 0, 0), p(2, 100, 0)) for _ in range(3)]
  pred = [frame(p(7, 0, 0, scores=.5), p(8, 100, 0, scores=.5)) for _ in range(3)]
  r = run(gt, pred)
  for field in ('hota', 'deta', 'assa', 'loca'):
    assert_all(r, field, 100.0)
  assert r['num_tp']['nose'] == 6 and r['num_fn']['Total'] == 0 and r['num_fp']['Total'] == 0


def test_misses_and_false_positives():
  gt = [frame(p(1, 0, 0), p(2, 100, 0)) for _ in range(3)]
  missed = [frame(p(7, 0, 0, scores=.5)) for _ in range(3)]
  r = run(gt, missed)   # per joint TP 3, FN 3: DetA 1/2, AssA 1
  assert_all(r, 'deta', 50.0)
  assert_all(r, 'assa', 100.0)
  assert_all(r, 'hota', 100 * math.sqrt(0.5))
  extra = [frame(p(7, 0, 0, scores=.5), p(8, 100, 0, scores=.5),
                 p(9, 500, 300, scores=.5)) for _ in range(3)]
  r = run(gt, extra)    # TP 6, FP 3: DetA 6/9
  assert_all(r, 'deta', 100 * 6 / 9)
  assert_all(r, 'hota', 100 * math.sqrt(6 / 9))
  assert r['num_fp']['Total'] == 3 * 15


def test_people_on_both_sides_that_never_overlap_are_misses_and_false_positives():
  """Every frame has ground truth and predictions but no similarity above 0: nothing is
  matched, every valid joint is a FN or a FP (no frame is skipped from the counts)."""
  gt = [frame(p(1, 0, 0), p(2, 100, 0)) for _ in range(3)]
  pred = [frame(p(7, 600, 400, scores=.5)) for _ in range(3)]
  r = run(gt, pred)
  assert r['num_tp']['Total'] == 0
  assert r['num_fn']['Total'] == 3 * 2 * 15 and r['num_fp']['Total'] == 3 * 15
  assert_all(r, 'deta', 0.0)


def test_one_id_switch_halves_assa():
  gt = [frame(p(1, 0, 0)) for _ in range(4)]
  pred = [frame(p(7 if t < 2 else 8, 0, 0, scores=.5)) for t in range(4)]
  r = run(gt, pred)
  # Pairs (1, 7) and (1, 8) matched twice each: |TPA| / (4 + 2 - 2) = 1/2 for every TP.
  assert_all(r, 'deta', 100.0)
  assert_all(r, 'assa', 50.0)
  assert_all(r, 'hota', 100 * math.sqrt(0.5))


def test_localisation_error_passes_some_alphas():
  gt = [frame(p(1, 0, 0)) for _ in range(2)]
  pred = [frame(p(7, 0, 0, scores=.5, offset=(2.0, 0.0))) for _ in range(2)]
  sim = 1 - (2.0 / HEAD_SIZE) / 0.5001
  passed = int(np.sum(sim >= ALPHAS - np.finfo(float).eps))
  assert passed == 10
  r = run(gt, pred)
  assert_all(r, 'hota', 100 * passed / 19)
  assert_all(r, 'deta', 100 * passed / 19)
  # The kit's LocA is 1 at alphas without any TP (max(1e-10, 0) / max(1e-10, 0)).
  assert_all(r, 'loca', 100 * (passed * sim + (19 - passed)) / 19)


def test_frame_without_predictions_kit_quirk():
  gt = [frame(p(1, 0, 0)) for _ in range(3)]
  pred = [frame(p(7, 0, 0, scores=.5)), frame(p(7, 0, 0, scores=.5)), frame()]
  # Matches (1, 7) twice; gt id has 3 joints-frames, pred id 2: AssA = 2 / (3 + 2 - 2).
  plain = run(gt, pred, kit_quirks=False)
  assert_all(plain, 'deta', 100 * 2 / 3)
  assert_all(plain, 'assa', 100 * 2 / 3)
  # The kit adds the sequence's 3 ground-truth joints (not the frame's 1) to FN.
  kit = run(gt, pred)
  assert_all(kit, 'deta', 100 * 2 / 5)
  assert_all(kit, 'hota', 100 * math.sqrt(2 / 5 * 2 / 3))


def test_ignore_regions_remove_people_and_points():
  box = [(100, 5), (140, 5), (140, 30), (100, 30)]   # covers person 2 entirely
  gt = [frame(p(1, 0, 0), p(2, 100, 0), ignore=[box]) for _ in range(2)]
  pred = [frame(p(7, 0, 0, scores=.5), p(8, 101, 1, scores=.5)) for _ in range(2)]
  r = run(gt, pred)
  assert_all(r, 'hota', 100.0)
  assert r['num_tp']['Total'] == 2 * 15 and r['num_fp']['Total'] == 0
  without = run([frame(p(1, 0, 0), p(2, 100, 0)) for _ in range(2)], pred)
  assert without['hota']['Total'] < 100.0


def test_sequences_combine_by_counts_and_tp_weights():
  seq_a = ([frame(p(1, 0, 0)) for _ in range(4)],
           [frame(p(7 if t < 2 else 8, 0, 0, scores=.5)) for t in range(4)])
  seq_b = ([frame(p(1, 0, 0)) for _ in range(2)],
           [frame(p(7, 0, 0, scores=.5)) for _ in range(2)])
  r = hota.evaluate_sequences([to_pt18(seq_a[0], 'gt'), to_pt17(seq_b[0], 'gt')],
                              [to_pt18(seq_a[1], 'pred'), to_pt18(seq_b[1], 'pred')])
  # AssA = (4 * 0.5 + 2 * 1) / 6 weighted by TP; DetA 1.
  assert_all(r, 'assa', 100 * 4 / 6)
  assert_all(r, 'hota', 100 * math.sqrt(4 / 6))


def test_similarity_only_matching_vs_trackeval_matching():
  """Two predictions equally close to a person in one frame: the kit's matching takes the
  first maximum; TrackEval's weights by the ids' global alignment (the usual partner)."""
  gt = [frame(p(1, 0, 0)) for _ in range(3)]
  pred = [frame(p(7, 0, 0, scores=.5)), frame(p(7, 0, 0, scores=.5)),
          frame(p(8, 0, 0, scores=.5, offset=(1, 0)),
                p(7, 0, 0, scores=.5, offset=(-1, 0)))]
  kit = run(gt, pred)
  trackeval = run(gt, pred, kit_matching=False)
  assert trackeval['assa']['Total'] > kit['assa']['Total']


def test_cli_metrics_hota(tmp_path, capsys):
  gt = [frame(p(1, 0, 0)) for _ in range(4)]
  pred = [frame(p(7 if t < 2 else 8, 0, 0, scores=.5)) for t in range(4)]
  for d, frames, role in (('gt', gt, 'gt'), ('pred', pred, 'pred')):
    (tmp_path / d).mkdir()
    (tmp_path / d / 's.json').write_text(json.dumps(to_pt18(frames, role)))
  out = tmp_path / 'r.json'
  code = cli.main(['--gt', str(tmp_path / 'gt'), '--pred', str(tmp_path / 'pred'),
                   '--metrics', 'ap,mota,hota', '--out', str(out)])
  assert code == 0
  printed = capsys.readouterr().out
  assert 'Keypoint HOTA (PoseTrack21 kit):' in printed and 'Average Precision' in printed
  saved = json.loads(out.read_text())
  assert saved['hota']['hota']['Total'] == pytest.approx(100 * math.sqrt(0.5))
  assert saved['ap']['Total'] == 100.0
  assert cli.main(['--gt', str(tmp_path / 'gt'), '--pred', str(tmp_path / 'pred'),
                   '--metrics', 'hota']) == 0
  assert 'Average Precision' not in capsys.readouterr().out
  with pytest.raises(SystemExit):
    cli.main(['--gt', str(tmp_path / 'gt'), '--pred', str(tmp_path / 'pred'),
              '--metrics', 'idf1'])
