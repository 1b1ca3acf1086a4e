"""Tests for tracking/similarity.py and tracking/tracker.py on constructed sequences."""
import numpy as np
import pytest

from artrack_jax import configs_util
from artrack_jax import geometry
from artrack_jax import skeletons
from artrack_jax.tracking import similarity
from artrack_jax.tracking.tracker import FrameObservations, PoseObservation, Tracker

SK = skeletons.POSETRACK
J = SK.num_joints
# Offsets of a standing person from its centre, in units of its size (x, y).
_TEMPLATE = np.stack([np.linspace(-0.3, 0.3, J), np.linspace(-0.9, 0.9, J)], axis=-1)


def _config(similarity_option='he_tie', **kw):
  c = configs_util.load_config('default').track
  c.update(dict(similarity=similarity_option, lambda_he=3.0, lambda_tie=1.0, new_track_cost=1.0,
                max_missed=0, reid_window=30))
  c.update(kw)
  return c


def _appearance(identity, dim=16):
  return np.random.default_rng(100 + identity).normal(size=dim)


def make_frames(tracks, num_frames, size=20.0, he_noise=0.05, seed=0):
  """Observations from ground truth.

  Args:
    tracks: {identity: {frame: (cx, cy)}} person centres per frame.

  Returns:
    list over frames of (FrameObservations, [identities in observation order]); the backward
    TIE of frame t is the GT centre at t of each person of frame t-1 (NaN-free only for people
    present in both frames; others get their own centre).
  """
  rng = np.random.default_rng(seed)
  frames = []
  for f in range(num_frames):
    people = [(i, c) for i, c in sorted(tracks.items()) if f in c]
    obs, ids = [], []
    for i, c in people:
      centre = np.asarray(c[f], np.float64)
      kp = np.concatenate([centre + _TEMPLATE * size, np.ones((J, 1))], axis=1)
      prev = np.asarray(c.get(f - 1, centre), np.float64)
      obs.append(PoseObservation(
          keypoints=kp, score=1.0, tag=np.array([float(i)]), center=centre,
          he=_appearance(i) + he_noise * rng.normal(size=16),
          sie=np.tile(centre, (J, 1)), tie=np.tile(prev, (J, 1))))
      ids.append(i)
    bwd = None
    if f > 0:
      prev_ids = frames[-1][1]
      bwd = np.stack([np.tile(np.asarray(tracks[i].get(f, tracks[i][f - 1]), np.float64),
                              (J, 1)) for i in prev_ids]) if prev_ids else None
    frames.append((FrameObservations(obs, bwd), ids))
  return frames


def run(tracker, frames):
  """Returns {identity: [track id per frame present]} and checks per-frame uniqueness."""
  out = {}
  for f, (fo, ids) in enumerate(frames):
    tids = tracker.update(fo, f)
    assert len(set(tids.tolist())) == len(tids)
    for i, t in zip(ids, tids):
      out.setdefault(i, []).append(int(t))
  return out


def _crossing():
  # A walks right, B walks left along the same line; after the crossing each is nearer the
  # other's previous position, so box overlap alone swaps them.
  a = {f: (10.0 + 12 * f, 40.0) for f in range(5)}
  b = {f: (46.0 - 12 * f, 40.0) for f in range(5)}
  return {0: a, 1: b}


def test_oks_cost_matches_loop():
  rng = np.random.default_rng(0)
  cur = np.concatenate([rng.uniform(0, 50, (3, J, 2)), rng.integers(0, 2, (3, J, 1))], -1)
  trk = np.concatenate([rng.uniform(0, 50, (2, J, 2)), rng.integers(0, 2, (2, J, 1))], -1)
  sig = np.asarray(SK.oks_sigmas)
  got = similarity.oks_cost(cur, trk, sig)
  for n in range(3):
    for m in range(2):
      pres = trk[m, :, 2] > 0
      w = trk[m, pres, 0].max() - trk[m, pres, 0].min()
      h = trk[m, pres, 1].max() - trk[m, pres, 1].min()
      area = max(np.sqrt(w * h), 1.0) ** 2
      num, cnt = 0.0, 0
      for j in range(J):
        if cur[n, j, 2] > 0 and trk[m, j, 2] > 0:
          d2 = ((cur[n, j, :2] - trk[m, j, :2]) ** 2).sum()
          num += np.exp(-d2 / (2 * area * (2 * sig[j]) ** 2))
          cnt += 1
      oks = num / max(cnt, 1)
      assert got[n, m] == pytest.approx((1 - oks) / 0.7)


def test_tie_cost_matches_eq9_loop():
  rng = np.random.default_rng(1)
  cur = np.concatenate([rng.uniform(0, 50, (2, J, 2)), rng.integers(0, 2, (2, J, 1))], -1)
  trk = np.concatenate([rng.uniform(0, 50, (3, J, 2)), np.ones((3, J, 1))], -1)
  cur_sie, cur_tie = rng.uniform(0, 50, (2, J, 2)), rng.uniform(0, 50, (2, J, 2))
  trk_sie, trk_bwd = rng.uniform(0, 50, (3, J, 2)), rng.uniform(0, 50, (3, J, 2))
  trk_bwd[2] = np.nan                      # track without a pose at t-1: forward term only
  got = similarity.tie_cost(cur, cur_sie, cur_tie, trk, trk_sie, trk_bwd)
  for n in range(2):
    for m in range(3):
      terms = []
      for j in range(J):
        if cur[n, j, 2] > 0:
          fwd = ((cur_tie[n, j] - trk_sie[m, j]) ** 2).sum()
          if m < 2:
            bwd = ((trk_bwd[m, j] - cur_sie[n, j]) ** 2).sum()
            terms.append(0.5 * (fwd + bwd))    # Eq. 9: 1/(2J) sum_j (bwd + fwd)
          else:
            terms.append(fwd)
      w = np.ptp(trk[m, :, 0])
      h = np.ptp(trk[m, :, 1])
      scale = (0.5 * np.sqrt(w * h)) ** 2
      assert got[n, m] == pytest.approx(min(np.mean(terms) / scale, 4.0))


def test_he_cost_range():
  a = np.array([[1.0, 0.0], [0.0, 2.0]])
  b = np.array([[3.0, 0.0], [-1.0, 0.0]])
  np.testing.assert_allclose(similarity.he_cost(a, b), [[0.0, 4.0], [2.0, 2.0]], atol=1e-12)


def test_crossing_people_he_keeps_ids_iou_switches():
  frames = make_frames(_crossing(), 5)
  iou = run(Tracker(_config('iou'), SK), frames)
  assert iou[0][0] != iou[0][-1] or iou[1][0] != iou[1][-1]   # IoU swaps them
  for option in ('he', 'he_tie', 'tie'):
    ids = run(Tracker(_config(option), SK), frames)
    assert ids[0] == [ids[0][0]] * 5 and ids[1] == [ids[1][0]] * 5, option
    assert ids[0][0] != ids[1][0]


def test_occluded_person_is_reidentified():
  a = {f: (20.0 + 2 * f, 40.0) for f in list(range(4)) + list(range(7, 10))}
  b = {f: (80.0, 40.0) for f in range(10)}
  frames = make_frames({0: a, 1: b}, 10)
  ids = run(Tracker(_config('he_tie', reid_window=5), SK), frames)
  assert ids[0] == [ids[0][0]] * 7 and ids[1] == [ids[1][0]] * 10
  # Without memory of lost tracks the person comes back under a new id.
  ids = run(Tracker(_config('he_tie', reid_window=0), SK), frames)
  assert ids[0][:4] == [ids[0][0]] * 4 and ids[0][4] not in (ids[0][0], ids[1][0])
  # Memory expires: occluded for 3 frames, window of 2.
  ids = run(Tracker(_config('he_tie', reid_window=2), SK), frames)
  assert ids[0][4] != ids[0][0]


def test_max_missed_keeps_track_active():
  a = {f: (20.0 + f, 40.0) for f in (0, 1, 3, 4)}
  frames = make_frames({0: a}, 5)
  ids = run(Tracker(_config('iou', max_missed=1, reid_window=0), SK), frames)
  assert ids[0] == [0, 0, 0, 0]
  ids = run(Tracker(_config('iou', max_missed=0, reid_window=0), SK), frames)
  assert ids[0] == [0, 0, 1, 1]


def test_new_people_get_new_ids():
  tracks = {0: {f: (20.0, 40.0) for f in range(4)},
            1: {f: (60.0, 40.0) for f in range(2, 4)},
            2: {f: (100.0, 40.0) for f in range(3, 4)}}
  ids = run(Tracker(_config('he_tie'), SK), make_frames(tracks, 4))
  assert ids == {0: [0, 0, 0, 0], 1: [1, 1], 2: [2]}


@pytest.mark.parametrize('option', similarity.SIMILARITIES)
def test_every_option_tracks_separated_people(option):
  rng = np.random.default_rng(5)
  starts = [(30.0 + 60 * i, 40.0 + 50 * (i % 2)) for i in range(4)]
  tracks = {i: {f: (s[0] + 1.5 * f + rng.uniform(-0.5, 0.5), s[1] + rng.uniform(-0.5, 0.5))
                for f in range(6)} for i, s in enumerate(starts)}
  ids = run(Tracker(_config(option), SK), make_frames(tracks, 6))
  assert sorted(v[0] for v in ids.values()) == [0, 1, 2, 3]
  for v in ids.values():
    assert v == [v[0]] * 6


def test_random_crowds_never_duplicate_ids():
  rng = np.random.default_rng(7)
  tracks = {}
  for i in range(12):
    start = int(rng.integers(0, 8))
    stop = int(rng.integers(start + 1, 12))
    x0, y0 = rng.uniform(0, 200, 2)
    tracks[i] = {f: (x0 + rng.normal(), y0 + rng.normal()) for f in range(start, stop)}
  frames = make_frames(tracks, 12, he_noise=0.5)
  for option in similarity.SIMILARITIES:
    run(Tracker(_config(option), SK), frames)   # asserts per-frame uniqueness


def test_errors():
  with pytest.raises(ValueError, match='similarity'):
    Tracker(_config('nope'), SK)
  frames = make_frames({0: {0: (10.0, 10.0), 1: (11.0, 10.0)}}, 2)
  t = Tracker(_config('he_tie'), SK)
  t.update(frames[0][0], 0)
  with pytest.raises(ValueError, match='tie_backward'):
    t.update(frames[1][0].observations, 1)
  with pytest.raises(ValueError, match='frame_index'):
    t.update(frames[0][0], 0)
  t = Tracker(_config('he'), SK)
  t.update([PoseObservation(keypoints=np.ones((J, 3)))], 0)
  with pytest.raises(ValueError, match='PoseObservation.he'):
    t.update([PoseObservation(keypoints=np.ones((J, 3)))], 1)


def test_sample_at_joints():
  maps = np.arange(4 * 5 * 2, dtype=np.float64).reshape(4, 5, 2)
  kp = np.array([[1.2, 2.6, 1.0], [10.0, -3.0, 1.0]])
  np.testing.assert_allclose(geometry.sample_at_joints(maps, kp), [maps[3, 1], maps[0, 4]])
