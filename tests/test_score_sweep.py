"""Output score thresholds: filtering of prediction files and the AP/MOTA sweep."""
import numpy as np

from artrack_jax.evaluation import posetrack
from artrack_jax.evaluation import score_sweep


def _frame(scores, present):
  n = len(scores)
  return posetrack.FramePoses(
      points=np.ones((n, 15, 2)), present=np.asarray(present, bool),
      track_ids=np.arange(n), head_boxes=np.full((n, 4), np.nan),
      scores=np.asarray(scores, np.float64))


def test_filter_drops_unconfident_joints_and_people():
  scores = np.array([[0.9] * 10 + [0.1] * 5,      # confident person, 5 weak joints
                     [0.15] * 15])                # weak person
  present = np.ones((2, 15), bool)
  present[0, 0] = False
  seq = posetrack.PosesSequence('s', [_frame(scores, present)])
  out = score_sweep.filter_sequence(seq, min_pose_score=0.2, min_joint_score=0.5)
  (frame,) = out.frames
  np.testing.assert_array_equal(frame.track_ids, [0])
  expected = np.zeros(15, bool)
  expected[1:10] = True
  np.testing.assert_array_equal(frame.present[0], expected)
  np.testing.assert_array_equal(frame.points[0, ~expected], 0.0)
  # Zero thresholds keep everything as it was.
  same = score_sweep.filter_sequence(seq, 0.0, 0.0).frames[0]
  np.testing.assert_array_equal(same.present, present)
  np.testing.assert_array_equal(same.track_ids, [0, 1])


def test_a_false_positive_person_removed_by_the_pose_threshold_raises_mota():
  rng = np.random.default_rng(0)
  gt_frames, pred_frames = [], []
  for _ in range(3):
    pts = rng.uniform(50, 150, (1, 15, 2))
    gt_frames.append(posetrack.FramePoses(
        points=pts, present=np.ones((1, 15), bool), track_ids=np.array([1]),
        head_boxes=np.array([[0.0, 0.0, 20.0, 20.0]]), scores=np.full((1, 15), -9999.0),
        labeled=True))
    pred_frames.append(posetrack.FramePoses(
        points=np.concatenate([pts, pts + 300]), present=np.ones((2, 15), bool),
        track_ids=np.array([1, 2]), head_boxes=np.full((2, 4), np.nan),
        scores=np.concatenate([np.full((1, 15), 0.9), np.full((1, 15), 0.05)])))
  gt = [posetrack.PosesSequence('s', gt_frames)]
  pred = [posetrack.PosesSequence('s', pred_frames)]
  before = posetrack.evaluate_sequences(gt, pred)['mota']['Total']
  filtered = [score_sweep.filter_sequence(p, 0.1, 0.0) for p in pred]
  after = posetrack.evaluate_sequences(gt, filtered)['mota']['Total']
  assert after == 100.0 and before < 100.0


def test_per_joint_thresholds_beat_the_best_single_threshold():
  # Joints 0-7 of the true person score 0.9 and a false person has them at 0.5; joints 8-14 of
  # the true person score 0.3. No single threshold is right for both groups of joint types.
  rng = np.random.default_rng(1)
  gt_frames, pred_frames = [], []
  for _ in range(4):
    pts = rng.uniform(50, 150, (1, 15, 2))
    gt_frames.append(posetrack.FramePoses(
        points=pts, present=np.ones((1, 15), bool), track_ids=np.array([1]),
        head_boxes=np.array([[0.0, 0.0, 20.0, 20.0]]), scores=np.full((1, 15), -9999.0),
        labeled=True))
    true_scores = np.where(np.arange(15) < 8, 0.9, 0.3)[None]
    false_present = (np.arange(15) < 8)[None]
    pred_frames.append(posetrack.FramePoses(
        points=np.concatenate([pts, pts + 300]),
        present=np.concatenate([np.ones((1, 15), bool), false_present]),
        track_ids=np.array([1, 2]), head_boxes=np.full((2, 4), np.nan),
        scores=np.concatenate([true_scores, np.where(false_present, 0.5, 0.0)])))
  gt = posetrack.PosesSequence('s', gt_frames)
  pred = posetrack.PosesSequence('s', pred_frames)
  thresholds = [0.0, 0.4, 0.6]
  rows = score_sweep.evaluate_thresholds([gt], [pred], [0.0], thresholds)
  best_single = max(r['mota'] for r in rows)
  per = score_sweep.choose_per_joint([gt], [pred], rows)
  assert best_single < 100.0
  assert per['best']['mota'] == 100.0
  np.testing.assert_array_equal(per['best']['min_joint_scores'], [0.6] * 8 + [0.0] * 7)
  # The chosen thresholds applied by filter_sequence give the reported total.
  chosen = np.asarray(per['best']['min_joint_scores'])
  again = posetrack.evaluate_sequences([gt], [score_sweep.filter_sequence(pred, 0.0, chosen)])
  assert again['mota']['Total'] == per['best']['mota']
