"""IoU / OKS frame-to-frame trackers (mmpose 0.x style)."""
import numpy as np
import pytest

from artrack_jax import skeletons
from artrack_jax.data import formats
from artrack_jax.data.types import Frame, Person, Sequence
from artrack_jax.tracking import baselines


def _iou_loop(a, b):
  out = np.zeros((len(a), len(b)))
  for i, (x1, y1, w1, h1) in enumerate(a):
    for j, (x2, y2, w2, h2) in enumerate(b):
      iw = max(0.0, min(x1 + w1, x2 + w2) - max(x1, x2))
      ih = max(0.0, min(y1 + h1, y2 + h2) - max(y1, y2))
      u = w1 * h1 + w2 * h2 - iw * ih
      out[i, j] = iw * ih / u if u > 0 else 0
  return out


def _oks_loop(a, b, area_a, area_b, sigmas):
  out = np.zeros((len(a), len(b)))
  for i in range(len(a)):
    for j in range(len(b)):
      s2 = (area_a[i] + area_b[j]) / 2
      vals = []
      for k in range(a.shape[1]):
        if a[i, k, 2] > 0 and b[j, k, 2] > 0:
          d2 = (a[i, k, 0] - b[j, k, 0]) ** 2 + (a[i, k, 1] - b[j, k, 1]) ** 2
          vals.append(np.exp(-d2 / (2 * s2 * (2 * sigmas[k]) ** 2)))
      out[i, j] = np.mean(vals) if vals else 0.0
  return out


def test_box_iou_and_oks_match_loops():
  rng = np.random.default_rng(0)
  a = np.concatenate([rng.uniform(0, 50, (4, 2)), rng.uniform(1, 30, (4, 2))], 1)
  b = np.concatenate([rng.uniform(0, 50, (3, 2)), rng.uniform(1, 30, (3, 2))], 1)
  b[0] = a[1]
  iou = baselines.box_iou(a, b)
  np.testing.assert_allclose(iou, _iou_loop(a, b), atol=1e-12)
  assert iou[1, 0] == pytest.approx(1.0)
  ka = np.concatenate([rng.uniform(0, 50, (4, 15, 2)), rng.integers(0, 3, (4, 15, 1))], -1)
  kb = np.concatenate([rng.uniform(0, 50, (3, 15, 2)), rng.integers(0, 3, (3, 15, 1))], -1)
  kb[2, :, 2] = 0  # no joint in common -> 0
  area_a, area_b = rng.uniform(100, 900, 4), rng.uniform(100, 900, 3)
  sig = np.asarray(skeletons.POSETRACK.oks_sigmas)
  got = baselines.oks(ka, kb, area_a, area_b, sig)
  np.testing.assert_allclose(got, _oks_loop(ka, kb, area_a, area_b, sig), atol=1e-12)
  assert np.all(got[:, 2] == 0)


def test_greedy_and_hungarian_matching():
  sim = np.array([[0.6, 0.5], [0.55, 0.0]])
  # Greedy (mmpose): row 0 takes its best column first, row 1 is left without a match.
  np.testing.assert_array_equal(baselines.match(sim, 0.3, 'greedy'), [0, -1])
  # Hungarian maximises the total similarity.
  np.testing.assert_array_equal(baselines.match(sim, 0.3, 'hungarian'), [1, 0])
  # The threshold is exclusive, as in mmpose.
  np.testing.assert_array_equal(baselines.match(np.array([[0.3]]), 0.3), [-1])
  assert baselines.match(np.zeros((2, 0)), 0.3).tolist() == [-1, -1]


def _box_person(track_id, x, y, w=20.0, h=40.0):
  kp = np.zeros((15, 3), np.float32)
  kp[:, 0] = x + w * np.linspace(0.1, 0.9, 15)
  kp[:, 1] = y + h * np.linspace(0.05, 0.95, 15)
  kp[:, 2] = 2
  return Person(track_id=track_id, keypoints=kp, bbox=np.array([x, y, w, h], np.float32),
                bbox_head=np.array([x + 5, y, 10, 8], np.float32))


def _sequence(positions, name='000001_mpiinew_val'):
  """positions: per frame, a dict track_id -> (x, y)."""
  frames = []
  for t, people in enumerate(positions):
    frames.append(Frame(image_path=f'images/val/{name}/{t:06d}.jpg', frame_id=t, is_labeled=True,
                        people=[_box_person(k, *xy) for k, xy in people.items()],
                        width=200, height=100, image_id=formats.posetrack_image_id(name, t)))
  return Sequence(name=name, frames=frames, skeleton='posetrack', vid_id=1)


def _id_map(gt, tracked):
  """GT track id -> set of predicted ids it received over the sequence."""
  out = {}
  for fg, ft in zip(gt.frames, tracked.frames):
    for pg, pt in zip(fg.people, ft.people):
      out.setdefault(pg.track_id, set()).add(pt.track_id)
  return out


@pytest.mark.parametrize('similarity', ['iou', 'oks'])
@pytest.mark.parametrize('matching', ['greedy', 'hungarian'])
def test_separated_people_keep_their_ids(similarity, matching):
  gt = _sequence([{7: (10 + t, 10), 3: (80 - t, 20), 9: (150, 30 + t)} for t in range(6)])
  tracked = baselines.track_sequence(gt, similarity, 0.3, matching)
  ids = _id_map(gt, tracked)
  assert all(len(v) == 1 for v in ids.values())
  assert sorted(set.union(*ids.values())) == [0, 1, 2]
  # Poses are untouched.
  for fg, ft in zip(gt.frames, tracked.frames):
    for pg, pt in zip(fg.people, ft.people):
      np.testing.assert_array_equal(pg.keypoints, pt.keypoints)


@pytest.mark.parametrize('similarity', ['iou', 'oks'])
def test_crossing_swaps_ids(similarity):
  # Two people swap places between frames 1 and 2 (a fast crossing): the frame-to-frame
  # trackers hand each one the other's id.
  gt = _sequence([{1: (10 + 3 * t, 10), 2: (19 - 3 * t, 10)} for t in range(4)])
  tracked = baselines.track_sequence(gt, similarity)
  ids = _id_map(gt, tracked)
  assert ids == {1: {0, 1}, 2: {0, 1}}


def test_lost_tracks_are_not_remembered():
  gt = _sequence([{1: (10, 10)}, {}, {1: (10, 10)}])
  tracked = baselines.track_sequence(gt, 'iou')
  assert [p.track_id for f in tracked.frames for p in f.people] == [0, 1]


@pytest.mark.filterwarnings('ignore:.*without a score')
def test_mota_and_switches_from_the_evaluator(tmp_path):
  from artrack_jax.evaluation import posetrack
  gt = _sequence([{1: (10 + 3 * t, 10), 2: (19 - 3 * t, 10)} for t in range(5)])
  formats.write_posetrack18(gt, tmp_path / 'gt' / f'{gt.name}.json')
  formats.write_posetrack18(baselines.track_sequence(gt, 'iou'),
                            tmp_path / 'pred' / f'{gt.name}.json')
  formats.write_posetrack18(gt, tmp_path / 'same' / f'{gt.name}.json')
  crossed = posetrack.evaluate(str(tmp_path / 'gt'), str(tmp_path / 'pred'), ap=False)
  perfect = posetrack.evaluate(str(tmp_path / 'gt'), str(tmp_path / 'same'), ap=False)
  assert perfect['mota']['Total'] == pytest.approx(100.0)
  assert perfect['num_switches']['total'] == 0
  # The swap between frames 1 and 2 is an id switch for both people and all 15 joints.
  # (frames 0..3 count for MOTA: the toolkit leaves the last labelled frame out)
  assert crossed['num_switches']['total'] == 2 * 15
  assert crossed['mota']['Total'] < 100.0


def test_split_statistics_counts():
  from artrack_jax.evaluation import stats
  # A and B overlap in frame 1 and are apart again in frame 2: one crossing.
  seq = _sequence([{1: (0, 0), 2: (60, 0)}, {1: (20, 0), 2: (30, 0)}, {1: (60, 0), 2: (0, 0)},
                   {1: (60, 0)}])
  seq.frames[1].people[0].keypoints[:3, 2] = 1      # 3 occluded joints
  seq.frames[3].people[0].keypoints[:2] = 0         # 2 unlabelled joints
  seq.frames[0].ignore_regions = [np.zeros((3, 2), np.float32)]
  s = stats.split_statistics([seq], trackers=False)
  assert s['people_per_frame'] == (pytest.approx(7 / 4), 1, 2)
  assert s['tracks_per_clip'] == (2.0, 2, 2)
  assert s['crossing_pairs'] == 1 and s['frames_with_overlap'] == 1
  assert s['occluded_joints_pct'] == pytest.approx(100 * 3 / (7 * 15 - 2))
  assert s['unlabelled_joints_pct'] == pytest.approx(100 * 2 / (7 * 15))
  assert s['ignore_region_clips'] == 1 and 'trackers' not in s
  meta = [{'camera_center': [[0, 0], [3, 4], [3, 4]], 'camera_zoom': [1.0, 2.0, 1.0],
           'look_alike': True}]
  s = stats.split_statistics([seq], metadata=meta, trackers=False)
  # |pan| per frame: 5 px * zoom 2, then 0.
  assert s['camera_pan_px_per_frame'] == pytest.approx(5.0)
  assert s['zoom_range'] == (1.0, 2.0) and s['look_alike_clips'] == 1
  text = stats.format_statistics(s, 'val')
  assert 'people per frame: mean 1.75, min 1, max 2' in text and 'look-alike clips: 1' in text


def test_split_statistics_runs_the_trackers_through_the_evaluator():
  from artrack_jax.evaluation import stats
  swap = _sequence([{1: (10 + 3 * t, 10), 2: (19 - 3 * t, 10)} for t in range(5)])
  steady = _sequence([{1: (10 + t, 10), 2: (80, 10)} for t in range(5)], name='000002_mpiinew_val')
  s = stats.split_statistics([swap, steady])
  for sim in ('iou', 'oks'):
    assert s['trackers'][sim]['switches'] == 2 * 15
    assert s['trackers'][sim]['mota'] < 100.0
  assert 'IOU tracker on GT poses: MOTA' in stats.format_statistics(s)
