"""Tests for evaluation/bootstrap.py: intervals over sequences agree with the evaluator."""
import copy
import json

import numpy as np
import pytest

from artrack_jax.data import formats
from artrack_jax.data import synthetic
from artrack_jax.evaluation import bootstrap
from artrack_jax.evaluation import posetrack


@pytest.fixture(scope='module')
def clips():
  """Ground truth of 6 tiny clips and noisy tracked predictions (jitter, drops, id swaps)."""
  rng = np.random.default_rng(0)
  gts, preds = [], []
  for seq, _ in synthetic.generate_split('val', 6, num_frames=6, image_size=64):
    gts.append(seq)
    pred = copy.deepcopy(seq)
    for t, fr in enumerate(pred.frames):
      kept = []
      for p in fr.people:
        if rng.random() < 0.15:
          continue                       # a missed person
        kp = p.keypoints.copy()
        kp[:, :2] += rng.normal(0, 1.5, kp[:, :2].shape)
        p.keypoints = kp
        p.scores = np.round(rng.uniform(0.2, 1.0, len(kp)), 2).astype(np.float32)
        if t >= 3 and rng.random() < 0.3:
          p.track_id += 1000             # an identity switch
        kept.append(p)
      fr.people = kept
    preds.append(pred)
  return gts, preds


def test_all_sequences_once_equals_the_evaluator(clips):
  gts, preds = clips
  result = posetrack.evaluate_sequences(gts, preds)
  stats = bootstrap.sequence_statistics(gts, preds)
  every = np.arange(len(gts))
  assert bootstrap.ap_total(stats, every) == pytest.approx(result['ap']['Total'], abs=1e-9)
  assert bootstrap.mota_total(stats, every) == pytest.approx(result['mota']['Total'], abs=1e-9)


def test_a_draw_equals_the_evaluator_on_the_drawn_sequences(clips):
  gts, preds = clips
  stats = bootstrap.sequence_statistics(gts, preds)
  draw = np.array([4, 0, 0, 2, 5, 2])
  result = posetrack.evaluate_sequences([gts[i] for i in draw], [preds[i] for i in draw])
  # Ranking ties can fall differently when entries are pooled in another order; the scores
  # here have two decimals, so compare with a tolerance that a tie can move.
  assert bootstrap.ap_total(stats, draw) == pytest.approx(result['ap']['Total'], abs=0.5)
  assert bootstrap.mota_total(stats, draw) == pytest.approx(result['mota']['Total'], abs=1e-9)


def test_interval_brackets_the_value_and_paired_difference_of_a_row_with_itself(clips):
  gts, preds = clips
  stats = bootstrap.sequence_statistics(gts, preds)
  samples = bootstrap.draws(len(gts), 200, seed=1)
  for metric in ('ap', 'mota'):
    ci = bootstrap.interval(stats, metric, samples)
    assert ci['low'] <= ci['value'] <= ci['high']
    assert ci['high'] > ci['low']      # six different clips: the metric moves between draws
    same = bootstrap.paired_difference(stats, stats, metric, samples)
    assert same['value'] == same['low'] == same['high'] == 0.0


def test_perfect_predictions_have_a_degenerate_interval(clips):
  gts, _ = clips
  perfect = copy.deepcopy(gts)
  for seq in perfect:
    for fr in seq.frames:
      for p in fr.people:
        p.scores = (p.keypoints[:, 2] > 0).astype(np.float32)
  rows = bootstrap.intervals_for_rows({'gt': bootstrap.sequence_statistics(gts, perfect)},
                                      'mota', num_samples=50)
  assert rows['gt']['low'] == rows['gt']['high'] == pytest.approx(100.0)


def test_rows_on_different_sequences_are_refused(clips):
  gts, preds = clips
  a = bootstrap.sequence_statistics(gts, preds)
  b = bootstrap.sequence_statistics(gts[:3], preds[:3])
  with pytest.raises(ValueError, match='different numbers of sequences'):
    bootstrap.intervals_for_rows({'a': a, 'b': b}, 'ap')
  with pytest.raises(ValueError, match='same sequences'):
    bootstrap.paired_difference(a, b, 'ap', bootstrap.draws(3, 5))


def test_command_line_rows_and_paired_difference(clips, tmp_path, capsys):
  gts, preds = clips
  formats.write_posetrack_dir(gts, str(tmp_path / 'gt'))
  formats.write_posetrack_dir(preds, str(tmp_path / 'noisy'))
  formats.write_posetrack_dir(gts, str(tmp_path / 'same'))
  out = tmp_path / 'intervals.json'
  code = bootstrap.main(['--gt', str(tmp_path / 'gt'), '--pred', f'noisy={tmp_path / "noisy"}',
                         '--pred', f'gt={tmp_path / "same"}', '--metric', 'mota',
                         '--pair', 'gt:noisy', '--samples', '100', '--out', str(out)])
  assert code == 0
  result = json.loads(out.read_text())
  want = posetrack.evaluate(str(tmp_path / 'gt'), str(tmp_path / 'noisy'), ap=False)
  assert result['rows']['noisy']['value'] == pytest.approx(want['mota']['Total'], abs=1e-9)
  diff = result['differences']['gt - noisy']
  assert diff['low'] > 0      # the ground truth tracks better on every draw of sequences
  assert 'gt - noisy' in capsys.readouterr().out
  with pytest.raises(SystemExit):
    bootstrap.main(['--gt', 'g', '--pred', 'nodir', '--metric', 'ap'])
