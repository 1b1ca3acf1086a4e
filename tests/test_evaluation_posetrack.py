"""PoseTrack AP / MOTA: hand-computed cases for each rule of the toolkit, properties, I/O."""
import glob
import json
import os

import hypothesis
import hypothesis.strategies as st
import numpy as np
import pytest

from artrack_jax import skeletons
from artrack_jax.data import types
from artrack_jax.evaluation import cli
from artrack_jax.evaluation import posetrack as pt

J = 15
NAMES = skeletons.POSETRACK.names
# Head box 10 x 10: head size 0.6 * sqrt(200) = 8.485 px, match radius 4.243 px.
HEAD_SIZE = 0.6 * np.sqrt(200.0)


def pose(cx, cy):
  """[15, 2] joints on a 5 x 3 grid with 2 px spacing starting at (cx, cy)."""
  j = np.arange(J)
  return np.stack([cx + 2.0 * (j % 5), cy + 2.0 * (j // 5)], axis=1)


def person(track_id, cx, cy, scores=None, present=None, offset=(0.0, 0.0)):
  xy = pose(cx, cy) + np.asarray(offset)
  return dict(track_id=track_id, xy=xy, head=(cx, cy, 10.0, 10.0),
              present=np.ones(J, bool) if present is None else np.asarray(present, bool),
              scores=scores)


def frame(*people, ignore=()):
  return dict(people=list(people), ignore=[np.asarray(p, float) for p in ignore])


# -- Writers of the two file formats (written here, independently of the evaluator). ----------


def to_pt17(frames, role):
  annolist = []
  for t, f in enumerate(frames):
    rects = []
    for p in f['people']:
      points = []
      for j in np.flatnonzero(p['present']):
        point = {'id': [int(j)], 'x': [float(p['xy'][j, 0])], 'y': [float(p['xy'][j, 1])]}
        if role == 'pred' and p['scores'] is not None:
          point['score'] = [float(np.broadcast_to(p['scores'], (J,))[j])]
        points.append(point)
      rect = {'track_id': [p['track_id']], 'annopoints': [{'point': points}]}
      if role == 'gt':
        x, y, w, h = p['head']
        rect.update(x1=[x], y1=[y], x2=[x + w], y2=[y + h])
      rects.append(rect)
    image = {'image': [{'name': f'images/val/000001_mpii_test/{t:06d}.jpg'}], 'annorect': rects}
    if role == 'gt' and f['ignore']:
      image['ignore_regions'] = [{'point': [{'x': [float(x)], 'y': [float(y)]} for x, y in poly]}
                                 for poly in f['ignore']]
    annolist.append(image)
  return {'annolist': annolist}


def to_pt18(frames, role):
  images, annotations = [], []
  for t, f in enumerate(frames):
    image = {'id': 100 + t, 'file_name': f'images/val/000001_mpii_test/{t:06d}.jpg',
             'vid_id': '000001', 'is_labeled': bool(f['people'])}
    if role == 'gt' and f['ignore']:
      image['ignore_regions_x'] = [[float(v) for v in poly[:, 0]] for poly in f['ignore']]
      image['ignore_regions_y'] = [[float(v) for v in poly[:, 1]] for poly in f['ignore']]
    images.append(image)
    for p in f['people']:
      kpts = np.zeros((J, 3))
      kpts[p['present'], :2] = p['xy'][p['present']]
      kpts[p['present'], 2] = 2
      ann = {'image_id': 100 + t, 'track_id': p['track_id'], 'category_id': 1,
             'keypoints': skeletons.posetrack_to_posetrack18(kpts).reshape(-1).tolist()}
      if role == 'gt':
        ann['bbox_head'] = list(p['head'])
      elif p['scores'] is not None:
        s = np.broadcast_to(np.asarray(p['scores'], float), (J,))[:, None]
        ann['scores'] = skeletons.posetrack_to_posetrack18(s)[:, 0].tolist()
      annotations.append(ann)
  return {'images': images, 'annotations': annotations,
          'categories': [{'id': 1, 'name': 'person',
                          'keypoints': list(skeletons.POSETRACK18.names)}]}


WRITERS = {'2017': to_pt17, '2018': to_pt18}


def run(gt_frames, pred_frames, fmt='2017', **kwargs):
  gt = WRITERS[fmt](gt_frames, 'gt')
  pred = WRITERS[fmt](pred_frames, 'pred')
  return pt.evaluate_sequences([gt], [pred], **kwargs)


# -- Plain NumPy oracles. --------------------------------------------------------------------


def voc_ap_oracle(scores, labels, num_gt):
  """VOC AP in percent: rank by np.argsort(scores)[::-1], monotone precision envelope."""
  order = np.argsort(np.asarray(scores, float))[::-1]
  tp = 0
  prec, rec = [], []
  for k, i in enumerate(order):
    tp += labels[i]
    prec.append(tp / (k + 1))
    rec.append(tp / num_gt)
  ap, prev_rec = 0.0, 0.0
  for k in range(len(order)):
    envelope = max(prec[k:])
    ap += (rec[k] - prev_rec) * envelope
    prev_rec = rec[k]
  return 100 * ap


def mota_oracle(misses, switches, fps, objects):
  return 100 * (1 - (misses + switches + fps) / objects)


# -- Rules. ----------------------------------------------------------------------------------


@pytest.mark.parametrize('fmt', ['2017', '2018'])
def test_perfect_prediction(fmt):
  gt = [frame(person(1, 0, 0), person(2, 100, 0)) for _ in range(3)]
  pred = [frame(person(7, 0, 0, scores=0.9), person(8, 100, 0, scores=0.8)) for _ in range(3)]
  r = run(gt, pred, fmt)
  for name in NAMES + ('Head', 'Shou', 'Total'):
    assert r['ap'][name] == 100.0
    assert r['mota'][name] == 100.0
    assert r['precision'][name] == 100.0
    assert r['recall'][name] == 100.0
    assert r['motp'][name] == 100.0   # zero distances
  # The last labelled frame is left out of MOTA: 2 frames x 2 people per joint.
  assert r['num_objects']['head_top'] == 4
  assert r['num_objects']['total'] == 4 * J
  assert r['num_switches']['total'] == 0


def test_switch_counts_both_tracks_twice():
  # Tracks far apart; predicted ids exchange at frame 2 and stay exchanged.
  ids = [(10, 20), (10, 20), (20, 10), (20, 10)]
  gt = [frame(person(1, 0, 0), person(2, 100, 0)) for _ in ids]
  pred = [frame(person(a, 0, 0, scores=0.5), person(b, 100, 0, scores=0.5)) for a, b in ids]
  quirks = run(gt, pred)
  # Frames 0-2 count (last left out): 6 objects, both tracks switch at frame 2.
  assert quirks['num_switches']['left_knee'] == 2
  assert quirks['num_objects']['left_knee'] == 6
  assert quirks['mota']['left_knee'] == pytest.approx(mota_oracle(0, 2, 0, 6), abs=1e-12)
  assert quirks['mota']['Total'] == pytest.approx(mota_oracle(0, 2, 0, 6), abs=1e-12)
  plain = run(gt, pred, toolkit_quirks=False)
  assert plain['num_switches']['total'] == 2 * J
  assert plain['mota']['Total'] == pytest.approx(mota_oracle(0, 2, 0, 8), abs=1e-12)
  # Switches do not affect AP.
  assert quirks['ap']['Total'] == 100.0


def test_carry_over_keeps_previous_partner_over_a_closer_one():
  # Frame 1: prediction 10 drifts 3 px (still within 4.24 px) and an exact prediction 11
  # appears; the previous pair (1, 10) is kept, so 11 is a false positive and no switch occurs.
  gt = [frame(person(1, 0, 0)), frame(person(1, 0, 0)), frame(person(1, 0, 0))]
  pred = [frame(person(10, 0, 0, scores=1.0)),
          frame(person(10, 0, 0, scores=1.0, offset=(3.0, 0.0)),
                person(11, 0, 0, scores=1.0)),
          frame(person(10, 0, 0, scores=1.0))]
  r = run(gt, pred)
  assert r['num_switches']['total'] == 0
  assert r['num_false_positives']['nose'] == 1
  assert r['num_objects']['nose'] == 2
  assert r['mota']['nose'] == pytest.approx(mota_oracle(0, 0, 1, 2), abs=1e-12)
  # MOTP without quirks: distances of the matches only, 0 and 3 / head size.
  plain = run(gt, pred, toolkit_quirks=False)
  assert plain['motp']['nose'] == pytest.approx(100 * (1 - (3 / HEAD_SIZE) / 3), abs=1e-9)
  # With quirks MOTP also sums every candidate pair within threshold (py-motmetrics' RAW
  # events): frame 0 pair 0, frame 1 pairs 3/h and 0 plus the match 3/h.
  assert r['motp']['nose'] == pytest.approx(100 * (1 - (2 * 3 / HEAD_SIZE) / 2), abs=1e-9)


def test_motp_quirk_counts_transfer_migrate_and_ascend_events():
  d = 1.0 / HEAD_SIZE   # every joint predicted 1 px off
  # Transfer + migrate: hypothesis 10 moves from track 1 (gone) to the never-matched track 2.
  gt = [frame(person(1, 0, 0)), frame(person(2, 0, 0)), frame(person(2, 0, 0))]
  pred = [frame(person(10, 0, 0, scores=1.0, offset=(1, 0))) for _ in range(3)]
  r = run(gt, pred)
  assert r['num_switches']['total'] == 0
  # Frame 0: RAW d + MATCH d; frame 1: RAW d + MATCH d + TRANSFER d + MIGRATE d.
  assert r['motp']['nose'] == pytest.approx(100 * (1 - 6 * d / 2), abs=1e-9)
  assert run(gt, pred, toolkit_quirks=False)['motp']['nose'] == pytest.approx(
      100 * (1 - d), abs=1e-9)
  # Ascend: track 1 switches to the never-matched hypothesis 11.
  gt = [frame(person(1, 0, 0)) for _ in range(3)]
  pred = [frame(person(10, 0, 0, scores=1.0, offset=(1, 0))),
          frame(person(11, 0, 0, scores=1.0, offset=(1, 0))),
          frame(person(11, 0, 0, scores=1.0, offset=(1, 0)))]
  r = run(gt, pred)
  assert r['num_switches']['nose'] == 1
  # Frame 0: RAW d + MATCH d; frame 1: RAW d + SWITCH d + ASCEND d.
  assert r['motp']['nose'] == pytest.approx(100 * (1 - 5 * d / 2), abs=1e-9)


def test_single_labelled_frame_adds_nothing_to_mota_with_quirks():
  gt = [frame(person(1, 0, 0)), frame()]
  pred = [frame(person(1, 0, 0, scores=1.0)), frame()]
  r = run(gt, pred)
  assert r['num_objects']['total'] == 0
  assert np.isnan(r['mota']['Total'])
  assert r['ap']['Total'] == 100.0
  plain = run(gt, pred, toolkit_quirks=False)
  assert plain['num_objects']['total'] == J
  assert plain['mota']['Total'] == 100.0


def test_miss_and_false_positive():
  gt = [frame(person(1, 0, 0), person(2, 100, 0)) for _ in range(3)]
  pred = [frame(person(1, 0, 0, scores=0.9), person(2, 100, 0, scores=0.8)),
          frame(person(1, 0, 0, scores=0.9), person(5, 300, 300, scores=0.95)),
          frame(person(1, 0, 0, scores=0.9), person(2, 100, 0, scores=0.8))]
  r = run(gt, pred, toolkit_quirks=False)
  # Frame 1: track 2 missed, prediction 5 is far from everyone.
  assert r['num_misses']['right_wrist'] == 1
  assert r['num_false_positives']['right_wrist'] == 1
  assert r['num_objects']['right_wrist'] == 6
  assert r['mota']['right_wrist'] == pytest.approx(mota_oracle(1, 0, 1, 6), abs=1e-12)
  assert r['precision']['right_wrist'] == pytest.approx(100 * 5 / 6)
  assert r['recall']['right_wrist'] == pytest.approx(100 * 5 / 6)
  # AP entries: the FP has the highest score.
  scores = [0.9, 0.8, 0.9, 0.95, 0.9, 0.8]
  labels = [1, 1, 1, 0, 1, 1]
  assert r['ap']['right_wrist'] == pytest.approx(voc_ap_oracle(scores, labels, 6), abs=1e-9)


def test_unmatched_prediction_in_ap_takes_first_of_equal_pckh():
  # Both predictions match every joint of the single person (PCKh 1): the first one is kept,
  # the second (higher score) becomes a false positive on every joint.
  gt = [frame(person(1, 0, 0))]
  pred = [frame(person(1, 0, 0, scores=0.5), person(2, 0, 0, scores=0.9, offset=(1.0, 1.0)))]
  r = run(gt, pred)
  expected = voc_ap_oracle([0.5, 0.9], [1, 0], 1)
  assert expected == pytest.approx(50.0)
  assert r['ap']['Total'] == pytest.approx(expected)
  assert r['ap_precision']['Total'] == pytest.approx(50.0)


def test_prediction_chooses_best_pckh_person():
  # Prediction 1 covers 10 joints of person A (the rest far) and all 15 of B, half overlapping:
  # A and B overlap so that the prediction's PCKh is 10/15 for A and 15/15 for B; it goes to B.
  gt = [frame(person(1, 0, 0), person(2, 0.5, 0))]
  present = np.ones(J, bool)
  pred_person = person(9, 0.5, 0, scores=0.7, present=present)
  r = run(gt, [frame(pred_person)])
  # Every joint: one TP (B), A unmatched: AP = 50, recall 50.
  assert r['ap']['Total'] == pytest.approx(voc_ap_oracle([0.7], [1], 2))
  assert r['ap_recall']['Total'] == pytest.approx(50.0)


def test_score_ties_follow_reversed_argsort():
  # One frame, two people; entries per joint in file order [FP, TP] with equal scores.
  gt = [frame(person(1, 0, 0), person(2, 100, 0))]
  pred = [frame(person(5, 300, 300, scores=0.5), person(1, 0, 0, scores=0.5))]
  r = run(gt, pred)
  expected = voc_ap_oracle([0.5, 0.5], [0, 1], 2)
  assert r['ap']['nose'] == pytest.approx(expected)
  assert expected in (pytest.approx(50.0), pytest.approx(25.0))
  swapped = run(gt, [frame(pred[0]['people'][1], pred[0]['people'][0])])
  assert swapped['ap']['nose'] == pytest.approx(voc_ap_oracle([0.5, 0.5], [1, 0], 2))


def test_missing_scores_rank_last_with_a_warning():
  gt = [frame(person(1, 0, 0), person(2, 100, 0))]
  pred = [frame(person(1, 0, 0, scores=None), person(5, 300, 300, scores=0.1))]
  with pytest.warns(UserWarning, match='-9999'):
    r = run(gt, pred)
  assert r['ap']['nose'] == pytest.approx(voc_ap_oracle([pt.MIN_SCORE, 0.1], [1, 0], 2))
  assert r['ap']['nose'] == pytest.approx(25.0)


@pytest.mark.parametrize('fmt', ['2017', '2018'])
def test_ignore_region_removes_points_and_people(fmt):
  # Person 2 lies inside the polygon and goes; person 1's top row of joints (y = 4: left_elbow,
  # left_wrist, neck, nose, head_top) lies exactly on its edge and stays (boundary points are
  # not inside). The prediction's head_top of frame 0, moved inside, is removed.
  poly = [(-1, 4), (60, 4), (60, 40), (-1, 40)]
  gt = [frame(person(1, 0, 0), person(2, 20, 20), ignore=[poly]) for _ in range(2)]
  pred = [frame(person(1, 0, 0, scores=0.9), person(4, 200, 200, scores=0.2)) for _ in range(2)]
  pred[0]['people'][0]['xy'][14] = (30.0, 30.0)
  r = run(gt, pred, fmt)
  assert r['ap']['nose'] == pytest.approx(voc_ap_oracle([.9, .2, .9, .2], [1, 0, 1, 0], 2))
  assert r['ap']['nose'] == 100.0
  assert r['ap_recall']['nose'] == 100.0   # person 2 no longer counts
  head_top = voc_ap_oracle([.2, .9, .2], [0, 1, 0], 2)
  assert head_top == pytest.approx(50.0)
  assert r['ap']['head_top'] == pytest.approx(head_top)
  assert r['ap']['Total'] == pytest.approx((14 * 100.0 + head_top) / 15)
  # One MOT frame (the last is left out); head_top of frame 0: a miss and the far FP.
  assert r['num_objects']['nose'] == 1
  assert r['num_misses']['head_top'] == 1
  assert r['num_false_positives']['head_top'] == 1
  # Without the polygon person 2 is missed everywhere and the head_top is a false positive.
  for f in gt:
    f['ignore'] = []
  plain = run(gt, pred, fmt)
  assert plain['ap_recall']['nose'] == 50.0


def test_joint_without_ground_truth_is_nan_and_left_out_of_total():
  present = np.ones(J, bool)
  present[13] = False   # nose never annotated
  gt = [frame(person(1, 0, 0, present=present))]
  pred = [frame(person(1, 0, 0, scores=0.5))]
  r = run(gt, pred)
  assert np.isnan(r['ap']['nose'])
  assert np.isnan(r['ap']['Head'])
  assert r['ap']['Total'] == 100.0


def test_frame_without_predictions_dummy_quirk():
  gt = [frame(person(1, 0, 0)) for _ in range(3)]
  pred = [frame(person(1, 0, 0, scores=1.0)), frame(), frame(person(1, 0, 0, scores=1.0))]
  quirks = run(gt, pred)
  # Frames 0, 1 count; frame 1 is one dummy miss and one dummy false positive per joint.
  assert quirks['num_misses']['nose'] == 1
  assert quirks['num_false_positives']['nose'] == 1
  assert quirks['mota']['nose'] == pytest.approx(mota_oracle(1, 0, 1, 2))
  plain = run(gt, pred, toolkit_quirks=False)
  assert plain['num_false_positives']['nose'] == 0
  assert plain['mota']['nose'] == pytest.approx(mota_oracle(1, 0, 0, 3))
  # AP is the same either way: the missed frame adds to the ground truth count only.
  assert quirks['ap']['nose'] == plain['ap']['nose'] == pytest.approx(
      voc_ap_oracle([1.0, 1.0], [1, 1], 3))


def test_dummy_counts_even_joints_nobody_has():
  # Person annotated on joint 0 only; frame 1 has no prediction: the dummy adds one object to
  # every joint, so joint 1 (never annotated) gets MOTA 100 * (1 - 2/1) = -100.
  present = np.zeros(J, bool)
  present[0] = True
  gt = [frame(person(1, 0, 0, present=present)) for _ in range(3)]
  pred = [frame(person(1, 0, 0, scores=1.0, present=present)), frame(), frame()]
  r = run(gt, pred)
  assert r['num_objects']['right_knee'] == 1
  assert r['mota']['right_knee'] == pytest.approx(-100.0)
  plain = run(gt, pred, toolkit_quirks=False)
  assert np.isnan(plain['mota']['right_knee'])
  assert plain['mota']['Total'] == pytest.approx(mota_oracle(2, 0, 0, 3))


def test_unlabelled_frames_are_skipped():
  gt = [frame(person(1, 0, 0)), frame(), frame(person(1, 0, 0)), frame(person(1, 0, 0))]
  # The prediction in the unlabelled frame would be an FP if that frame counted.
  pred = [frame(person(1, 0, 0, scores=1.0)), frame(person(3, 500, 500, scores=1.0)),
          frame(person(1, 0, 0, scores=1.0)), frame(person(1, 0, 0, scores=1.0))]
  r = run(gt, pred)
  assert r['num_labeled_frames'] == 3
  assert r['ap']['Total'] == 100.0
  assert r['num_objects']['nose'] == 2


def test_column_groups_and_tables():
  # Miss the right side only: right joints get half recall, left ones full.
  right = np.array([n.startswith('right') for n in NAMES])
  gt = [frame(person(1, 0, 0), person(2, 100, 0)) for _ in range(2)]
  pred = [frame(person(1, 0, 0, scores=1.0),
                person(2, 100, 0, scores=1.0, present=~right)) for _ in range(2)]
  r = run(gt, pred)
  assert r['ap']['right_knee'] == pytest.approx(50.0)
  assert r['ap']['Knee'] == pytest.approx(75.0)
  assert r['ap']['Head'] == 100.0
  assert r['ap']['Total'] == pytest.approx(np.mean([50.0 if rt else 100.0 for rt in right]))
  text = pt.format_tables(r)
  lines = text.splitlines()
  assert lines[1] == '& Head & Shou & Elb  & Wri  & Hip  & Knee & Ankl & Total\\\\'
  assert lines[2] == '&100.0 & 75.0 & 75.0 & 75.0 & 75.0 & 75.0 & 75.0 & 80.0 \\\\'
  assert lines[4].startswith('& MOTA & MOTA')
  mota_row = lines[6].split('&')[1:]
  assert len(mota_row) == 11
  assert float(mota_row[1]) == pytest.approx(r['mota']['Shou'], abs=0.05)


def test_formats_mixed_agree(tmp_path):
  gt = [frame(person(1, 0, 0), person(2, 100, 0), ignore=[[(90, -5), (130, -5), (130, 3)]]),
        frame(person(1, 1, 0), person(2, 101, 2)), frame(person(2, 102, 4))]
  pred = [frame(person(10, 0, 0, scores=0.3, offset=(2, 1)), person(20, 101, 0, scores=0.6)),
          frame(person(20, 1, 0, scores=0.8), person(10, 101, 2, scores=0.1, offset=(5, 0))),
          frame(person(20, 102, 4, scores=0.4), person(30, 0, 50, scores=0.9))]
  results = []
  for gt_fmt, pred_fmt in [('2017', '2017'), ('2018', '2018'), ('2017', '2018'),
                           ('2018', '2017')]:
    d = tmp_path / f'{gt_fmt}_{pred_fmt}'
    (d / 'gt').mkdir(parents=True)
    (d / 'pred').mkdir()
    (d / 'gt' / 'seq_a.json').write_text(json.dumps(WRITERS[gt_fmt](gt, 'gt')))
    (d / 'pred' / 'seq_a.json').write_text(json.dumps(WRITERS[pred_fmt](pred, 'pred')))
    results.append(pt.evaluate(str(d / 'gt'), str(d / 'pred')))
  for other in results[1:]:
    for key in ('ap', 'mota', 'motp', 'precision', 'recall'):
      np.testing.assert_array_equal([other[key][n] for n in NAMES],
                                    [results[0][key][n] for n in NAMES])


def test_in_memory_sequences_match_files():
  gt = [frame(person(1, 0, 0), person(2, 100, 0)) for _ in range(3)]
  pred = [frame(person(1, 0, 0, scores=0.9, offset=(1, 0)), person(2, 100, 0, scores=0.8))
          for _ in range(3)]

  def to_sequence(frames, role):
    out = []
    for t, f in enumerate(frames):
      people = []
      for p in f['people']:
        k = np.concatenate([p['xy'], 2.0 * p['present'][:, None]], 1).astype(np.float32)
        people.append(types.Person(
            track_id=p['track_id'], keypoints=k, bbox=np.zeros(4, np.float32),
            bbox_head=np.asarray(p['head'], np.float32) if role == 'gt' else None,
            scores=None if role == 'gt' else np.full(J, p['scores'], np.float32)))
      out.append(types.Frame(image_path=f'{t}.jpg', frame_id=t, is_labeled=True, people=people))
    return types.Sequence(name='s', frames=out)

  a = pt.evaluate_sequences([to_sequence(gt, 'gt')], [to_sequence(pred, 'pred')])
  b = run(gt, pred)
  for key in ('ap', 'mota', 'motp'):
    assert a[key] == pytest.approx(b[key])

  def to_arrays(frames, role):
    out = []
    for f in frames:
      n = len(f['people'])
      head = np.array([[x, y, x + w, y + h] for x, y, w, h in (p['head'] for p in f['people'])])
      out.append(pt.FramePoses(
          points=np.array([p['xy'] for p in f['people']]),
          present=np.array([p['present'] for p in f['people']]),
          track_ids=np.array([p['track_id'] for p in f['people']]),
          head_boxes=head if role == 'gt' else np.full((n, 4), np.nan),
          scores=np.full((n, J), 0.5), labeled=True))
    return pt.PosesSequence(name='s', frames=out)

  c = pt.evaluate_sequences([to_arrays(gt, 'gt')], [to_arrays(pred, 'pred')])
  for key in ('ap', 'mota', 'motp'):
    assert c[key] == pytest.approx(b[key])
  broken = to_arrays(pred, 'pred')
  broken.frames[1].track_ids = np.array([3, 3])
  with pytest.raises(pt.EvaluationInputError, match=r'frame 1: field .track_id. is not unique'):
    pt.evaluate_sequences([to_arrays(gt, 'gt')], [broken])


# -- Validation. -----------------------------------------------------------------------------


def _write(d, name, data):
  d.mkdir(parents=True, exist_ok=True)
  (d / name).write_text(json.dumps(data))


@pytest.mark.parametrize('mutate,message', [
    (lambda g, p: p['annolist'][1]['annorect'][1]['track_id'].__setitem__(0, 10),
     r'pred/seq\.json: annolist\[1\]\.annorect\[1\]\.track_id\[0\]: track id 10 repeats'),
    (lambda g, p: p['annolist'][0]['annorect'][0].__setitem__('track_id', [10000]),
     r'annolist\[0\]\.annorect\[0\]\.track_id\[0\]: expected a track id in \[0, 10000\), got 10000'),
    (lambda g, p: p['annolist'][0]['annorect'][0]['annopoints'][0]['point'][3]['id'].__setitem__(
        0, 15), r'annorect\[0\]\.annopoints\[0\]\.point\[3\]\.id\[0\]: expected a joint id in \[0, 15\), got 15'),
    (lambda g, p: p['annolist'][0]['annorect'][0]['annopoints'][0]['point'][2].__setitem__(
        'x', [None]), r'annopoints\[0\]\.point\[2\]\.x\[0\]: expected a finite number, got null'),
    (lambda g, p: p['annolist'][0]['annorect'][0]['annopoints'][0]['point'][2].__setitem__(
        'score', 0.5), r'point\[2\]\.score: expected a one-element list'),
    (lambda g, p: g['annolist'][1]['annorect'][0].pop('x2'),
     r'gt.*seq\.json: annolist\[1\]\.annorect\[0\]\.x2: missing'),
    (lambda g, p: p['annolist'].pop(), r'1 prediction frames but 2 ground-truth frames'),
    (lambda g, p: g['annolist'][0].__setitem__(
        'ignore_regions', [{'point': [{'x': [0], 'y': [0]}, {'x': [1], 'y': [1]}]}]),
     r'annolist\[0\]\.ignore_regions\[0\]\.point: expected an ignore polygon of at least 3'),
    (lambda g, p: g.pop('annolist'), r'top level: expected a PoseTrack 2017'),
])
def test_invalid_input_names_file_frame_and_field(tmp_path, mutate, message):
  gt = to_pt17([frame(person(1, 0, 0), person(2, 100, 0))] * 2, 'gt')
  pred = to_pt17([frame(person(10, 0, 0, scores=.5), person(20, 100, 0, scores=.5))] * 2,
                 'pred')
  gt, pred = json.loads(json.dumps(gt)), json.loads(json.dumps(pred))
  mutate(gt, pred)
  _write(tmp_path / 'gt', 'seq.json', gt)
  _write(tmp_path / 'pred', 'seq.json', pred)
  with pytest.raises(pt.EvaluationInputError, match=message):
    pt.evaluate(str(tmp_path / 'gt'), str(tmp_path / 'pred'))


def test_invalid_2018_input(tmp_path):
  gt = to_pt18([frame(person(1, 0, 0))] * 2, 'gt')
  pred = to_pt18([frame(person(10, 0, 0, scores=.5))] * 2, 'pred')
  pred['annotations'][1]['keypoints'] = pred['annotations'][1]['keypoints'][:-3]
  _write(tmp_path / 'gt', 'a.json', gt)
  _write(tmp_path / 'pred', 'a.json', pred)
  with pytest.raises(pt.EvaluationInputError,
                     match=r'pred/a\.json: annotations\[1\]\.keypoints: expected 51 numbers, got 48'):
    pt.evaluate(str(tmp_path / 'gt'), str(tmp_path / 'pred'))
  pred = to_pt18([frame(person(10, 0, 0, scores=.5))] * 2, 'pred')
  pred['annotations'][0]['image_id'] = 7
  _write(tmp_path / 'pred', 'a.json', pred)
  with pytest.raises(pt.EvaluationInputError, match=r'annotations\[0\]\.image_id: expected the id of an image of the file, got 7'):
    pt.evaluate(str(tmp_path / 'gt'), str(tmp_path / 'pred'))


def test_person_without_points_needs_no_head_box():
  present = np.zeros(J, bool)
  for fmt in ('2017', '2018'):
    gt = WRITERS[fmt]([frame(person(1, 0, 0), person(2, 50, 50, present=present))] * 2, 'gt')
    pred = WRITERS[fmt]([frame(person(1, 0, 0, scores=1.0))] * 2, 'pred')
    if fmt == '2017':
      for image in gt['annolist']:
        for key in ('x1', 'y1', 'x2', 'y2'):
          image['annorect'][1].pop(key)
    else:
      for ann in gt['annotations'][1::2]:
        ann.pop('bbox_head')
    r = pt.evaluate_sequences([gt], [pred])
    assert r['ap']['Total'] == 100.0
    assert r['mota']['Total'] == 100.0
    # With points the head box is required.
    if fmt == '2017':
      gt['annolist'][0]['annorect'][0].pop('x1')
      message = r'annolist\[0\]\.annorect\[0\]\.x1: missing'
    else:
      gt['annotations'][0].pop('bbox_head')
      message = r'annotations\[0\]\.bbox_head: missing; expected a head box'
    with pytest.raises(pt.EvaluationInputError, match=message):
      pt.evaluate_sequences([gt], [pred])


def test_missing_prediction_file(tmp_path):
  _write(tmp_path / 'gt', 'a.json', to_pt17([frame(person(1, 0, 0))], 'gt'))
  (tmp_path / 'pred').mkdir()
  with pytest.raises(pt.EvaluationInputError, match=r'pred/a\.json: prediction file'):
    pt.evaluate(str(tmp_path / 'gt'), str(tmp_path / 'pred'))


# -- Properties. -----------------------------------------------------------------------------


def random_sequence(seed, num_frames, num_tracks):
  """GT frames plus predictions = GT + small noise (< match radius), continuous scores,
  a few missed people and far-away false positives."""
  rng = np.random.default_rng(seed)
  gt, pred = [], []
  for t in range(num_frames):
    g, p = [], []
    for k in range(num_tracks):
      present = rng.random(J) > 0.2
      present[0] = True
      cx, cy = 120.0 * k + t, 7.0 * t
      g.append(person(k, cx, cy, present=present))
      if rng.random() < 0.15:
        continue
      pp = rng.random(J) > 0.1
      p.append(person(50 + k, cx, cy, scores=rng.random(J), present=pp,
                      offset=rng.uniform(-1.5, 1.5, 2)))
    if rng.random() < 0.3:
      p.append(person(99, 5000.0, 5000.0, scores=rng.random(J)))
    gt.append(frame(*g))
    pred.append(frame(*p))
  return gt, pred


_settings = hypothesis.settings(max_examples=8, deadline=None, derandomize=True)


@_settings
@hypothesis.given(seed=st.integers(0, 2**16), num_frames=st.integers(2, 6),
                  num_tracks=st.integers(1, 4), fmt=st.sampled_from(['2017', '2018']))
def test_ground_truth_against_itself_is_perfect(seed, num_frames, num_tracks, fmt):
  gt, _ = random_sequence(seed, num_frames, num_tracks)
  pred = [frame(*[dict(p, scores=1.0) for p in f['people']]) for f in gt]
  r = run(gt, pred, fmt)
  annotated = np.any([p['present'] for f in gt for p in f['people']], axis=0)
  for j, name in enumerate(NAMES):
    # A joint nobody annotated (and so nobody predicted) keeps the toolkit's AP of 0.
    assert r['ap'][name] == pytest.approx(100.0 if annotated[j] else 0.0, abs=1e-9)
    # MOTA leaves out the last frame: NaN where the joint has no object in the others.
    in_mot = any(p['present'][j] for f in gt[:-1] for p in f['people'])
    assert r['mota'][name] == 100.0 if in_mot else np.isnan(r['mota'][name])
  assert r['ap']['Total'] == pytest.approx(100.0 * annotated.mean())
  assert r['mota']['Total'] == 100.0
  assert r['num_switches']['total'] == 0


@_settings
@hypothesis.given(seed=st.integers(0, 2**16), num_frames=st.integers(2, 6),
                  num_tracks=st.integers(1, 4), quirks=st.booleans())
def test_permuting_people_and_renaming_ids_changes_nothing(seed, num_frames, num_tracks, quirks):
  gt, pred = random_sequence(seed, num_frames, num_tracks)
  base = run(gt, pred, toolkit_quirks=quirks)
  rng = np.random.default_rng(seed + 1)
  gt_names = rng.permutation(9000)
  pred_names = rng.permutation(9000)

  def shuffle(frames, names):
    out = []
    for f in frames:
      people = [dict(p, track_id=int(names[p['track_id']])) for p in f['people']]
      out.append(frame(*[people[i] for i in rng.permutation(len(people))]))
    return out

  moved = run(shuffle(gt, gt_names), shuffle(pred, pred_names), toolkit_quirks=quirks)
  for key in ('ap', 'mota', 'motp', 'precision', 'recall'):
    np.testing.assert_allclose([moved[key][n] for n in NAMES], [base[key][n] for n in NAMES],
                               rtol=0, atol=1e-9)
  for key in ('num_switches', 'num_misses', 'num_false_positives', 'num_objects'):
    assert moved[key] == base[key]


@_settings
@hypothesis.given(num_frames=st.integers(4, 7), num_tracks=st.integers(2, 4),
                  data=st.data())
def test_one_swapped_id_gives_four_switches_per_joint(num_frames, num_tracks, data):
  t0 = data.draw(st.integers(1, num_frames - 3))
  a, b = data.draw(st.lists(st.integers(0, num_tracks - 1), min_size=2, max_size=2,
                            unique=True))
  gt, pred = [], []
  for t in range(num_frames):
    gt.append(frame(*[person(k, 100.0 * k, 0) for k in range(num_tracks)]))
    ids = {k: 50 + k for k in range(num_tracks)}
    if t == t0:
      ids[a], ids[b] = ids[b], ids[a]
    pred.append(frame(*[person(ids[k], 100.0 * k, 0, scores=0.5) for k in range(num_tracks)]))
  r = run(gt, pred)
  # At t0 both tracks switch to the other's id, at t0 + 1 both switch back.
  objects = (num_frames - 1) * num_tracks
  assert r['num_switches'] == {**{n: 4 for n in NAMES}, 'total': 4 * J}
  assert r['mota']['Total'] == pytest.approx(mota_oracle(0, 4, 0, objects), abs=1e-12)


# -- Command line. ---------------------------------------------------------------------------


def test_cli_writes_json_and_fails_cleanly(tmp_path, capsys):
  gt = [frame(person(1, 0, 0), person(2, 100, 0)) for _ in range(3)]
  pred = [frame(person(1, 0, 0, scores=.9), person(3, 300, 0, scores=.2)) for _ in range(3)]
  _write(tmp_path / 'gt', 's.json', to_pt17(gt, 'gt'))
  _write(tmp_path / 'pred', 's.json', to_pt18(pred, 'pred'))
  out = tmp_path / 'r.json'
  code = cli.main(['--gt', str(tmp_path / 'gt'), '--pred', str(tmp_path / 'pred'),
                   '--out', str(out)])
  assert code == 0
  printed = capsys.readouterr().out
  assert 'Average Precision (AP) metric:' in printed
  assert 'Multiple Object Tracking (MOT) metrics:' in printed
  saved = json.loads(out.read_text())
  direct = pt.evaluate(str(tmp_path / 'gt'), str(tmp_path / 'pred'))
  assert saved['ap']['Total'] == pytest.approx(direct['ap']['Total'])
  assert saved['mota']['Total'] == pytest.approx(direct['mota']['Total'])
  code = cli.main(['--gt', str(tmp_path / 'gt'), '--pred', str(tmp_path / 'pred'),
                   '--out', str(out), '--no-toolkit-quirks'])
  assert code == 0
  assert json.loads(out.read_text())['toolkit_quirks'] is False

  os.remove(tmp_path / 'pred' / 's.json')
  code = cli.main(['--gt', str(tmp_path / 'gt'), '--pred', str(tmp_path / 'pred')])
  assert code == 2
  assert 's.json: prediction file' in capsys.readouterr().err


# -- Tied scores across sequences: the toolkit's file order and sort. --------------------------


def _tied_dataset(root, order):
  """One sequence per name in ``order`` (created in that order), two frames each, one
  prediction per frame with every joint scored 0.5: a true positive in even sequences, a far
  false positive in odd ones. AP then depends only on how the ties are ranked."""
  (root / 'gt').mkdir(parents=True)
  (root / 'pred').mkdir()
  truth = {}
  for k, name in enumerate(order):
    gt = [frame(person(1, 0, 0)), frame(person(1, 1, 0))]
    hit = k % 2 == 0
    pred = [frame(person(7, 0 if hit else 500, 0, scores=0.5)),
            frame(person(7, 1 if hit else 500, 0, scores=0.5))]
    (root / 'gt' / f'{name}.json').write_text(json.dumps(to_pt17(gt, 'gt')))
    (root / 'pred' / f'{name}.json').write_text(json.dumps(to_pt18(pred, 'pred')))
    truth[name] = hit
  return truth


def _tie_oracle(names, truth, stable):
  """Per-joint AP of the pooled entries in ``names`` order (two per sequence)."""
  labels = np.repeat([truth[n] for n in names], 2)
  scores = np.full(len(labels), 0.5)
  if stable:
    order = np.argsort(-scores, kind='stable')
    return voc_ap_oracle(-np.arange(len(order), dtype=float), labels[order], len(labels))
  return voc_ap_oracle(scores, labels, len(labels))


def test_tied_scores_follow_the_toolkits_file_order_and_argsort(tmp_path):
  names = [f'{k:06d}_mpii_test' for k in range(24)]
  rng = np.random.default_rng(0)
  for attempt in range(6):
    root = tmp_path / str(attempt)
    truth = _tied_dataset(root, [names[i] for i in rng.permutation(len(names))])
    listed = [os.path.splitext(os.path.basename(p))[0]
              for p in glob.glob(os.path.join(str(root / 'gt'), '*.json'))]
    if listed != sorted(listed):
      break
  else:
    pytest.skip('this file system lists files in sorted order: file order cannot matter')
  expected_toolkit = _tie_oracle(listed, truth, stable=False)
  expected_sorted = _tie_oracle(sorted(listed), truth, stable=True)
  r = pt.evaluate(str(root / 'gt'), str(root / 'pred'))
  assert r['ap']['nose'] == pytest.approx(expected_toolkit)
  assert r['ap']['Total'] == pytest.approx(expected_toolkit)
  plain = pt.evaluate(str(root / 'gt'), str(root / 'pred'), toolkit_quirks=False)
  assert plain['ap']['nose'] == pytest.approx(expected_sorted)
  # The case is one where the order decides (else the test would prove nothing).
  assert _tie_oracle(sorted(listed), truth, stable=False) != pytest.approx(expected_toolkit)


def test_written_2018_files_leave_unlabelled_joints_empty(tmp_path):
  """write_posetrack18 writes unlabelled joints as (0, 0, 0): 2017 and 2018 files of the same
  sequence (with coordinates on unlabelled joints) evaluate alike."""
  from artrack_jax.data import formats   # pylint: disable=import-outside-toplevel
  frames = []
  for t in range(3):
    kpts = np.concatenate([pose(10.0 * t, 0), np.full((J, 1), 2.0)], 1).astype(np.float32)
    kpts[[2, 7], 2] = 0   # unlabelled, but with coordinates
    people = [types.Person(track_id=1, keypoints=kpts, bbox=np.zeros(4, np.float32),
                           bbox_head=np.array([10.0 * t, 0, 10, 10], np.float32))]
    frames.append(types.Frame(image_path=f'images/val/000001_mpii_test/{t:06d}.jpg',
                              frame_id=t, is_labeled=True, people=people,
                              image_id=10000010000 + t))
  seq = types.Sequence(name='000001_mpii_test', frames=frames, vid_id=1)
  formats.write_posetrack18(seq, tmp_path / 'gt18' / 's.json')
  formats.write_posetrack17(seq, tmp_path / 'gt17' / 's.json')
  written = json.loads((tmp_path / 'gt18' / 's.json').read_text())
  slots = np.asarray(written['annotations'][0]['keypoints']).reshape(17, 3)
  assert (slots[skeletons.PT_TO_PT18[[2, 7]]] == 0).all()
  pred = [frame(person(4, 10.0 * t, 0, scores=0.5)) for t in range(3)]
  _write(tmp_path / 'pred', 's.json', to_pt17(pred, 'pred'))
  r18 = pt.evaluate(str(tmp_path / 'gt18'), str(tmp_path / 'pred'))
  r17 = pt.evaluate(str(tmp_path / 'gt17'), str(tmp_path / 'pred'))
  np.testing.assert_equal([r18['ap'][n] for n in NAMES], [r17['ap'][n] for n in NAMES])
  assert r18['ap']['right_knee'] == 100.0
  # Joints 2 and 7 have no ground truth: NaN (a 2018 file written as (x, y, 0) gave them 100).
  assert np.isnan(r18['ap']['right_hip']) and np.isnan(r18['ap']['right_elbow'])
