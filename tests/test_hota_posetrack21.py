"""PoseTrack21 files: written, read back, evaluated with AP, MOTA and keypoint HOTA."""
import dataclasses
import json

import numpy as np

from artrack_jax import skeletons
from artrack_jax.data import formats
from artrack_jax.data import types
from artrack_jax.evaluation import cli
from artrack_jax.evaluation import hota
from artrack_jax.evaluation import posetrack


def _sequence(shift=0.0):
  frames = []
  for t in range(3):
    people = []
    for k in range(2):
      kp = np.zeros((15, 3), np.float32)
      kp[:, 0] = 50 + 100 * k + 3 * t + shift + 2 * np.arange(15) % 10
      kp[:, 1] = 40 + 2 * np.arange(15)
      kp[:, 2] = 2
      kp[4] = 0   # one unlabelled joint (left knee)
      people.append(types.Person(
          track_id=k, keypoints=kp, bbox=np.array([40, 30, 40, 40], np.float32),
          bbox_head=np.array([kp[12, 0] - 5, 20, 10, 10], np.float32),
          scores=np.full(15, 0.8, np.float32)))
    frames.append(types.Frame(image_path=f'images/val/000001_mpii_test/{t:06d}.jpg',
                              frame_id=t, is_labeled=True, people=people,
                              ignore_regions=[np.array([[500, 500], [520, 500], [520, 520]],
                                                       np.float32)],
                              image_id=10000010000 + t))
  return types.Sequence(name='000001_mpii_test', frames=frames, vid_id=1)


def test_round_trip_and_person_ids(tmp_path):
  seq = _sequence()
  path = tmp_path / '000001_mpii_test.json'
  formats.write_posetrack21(seq, path, person_ids={(1, 0): 77})
  data = json.loads(path.read_text())
  assert all(im['has_labeled_person'] for im in data['images'])
  assert [a['person_id'] for a in data['annotations']][:4] == [0, 1, 77, 1]
  back, person_ids = formats.read_posetrack21(path)
  assert person_ids[(1, 0)] == 77 and person_ids[(2, 1)] == 1
  assert not formats.sequences_equal(seq, back, check_bbox=False)
  slot = 3 * int(skeletons.PT_TO_PT18[4])
  assert data['annotations'][0]['keypoints'][slot:slot + 3] == [0, 0, 0]


def test_cli_evaluates_2021_files(tmp_path, capsys):
  gt, pred = _sequence(), _sequence(shift=0.5)
  for p in (person for fr in gt.frames for person in fr.people):
    p.scores = None
  formats.write_posetrack21(gt, tmp_path / 'gt' / 's.json')
  formats.write_posetrack21(pred, tmp_path / 'pred' / 's.json')
  out = tmp_path / 'r.json'
  assert cli.main(['--gt', str(tmp_path / 'gt'), '--pred', str(tmp_path / 'pred'),
                   '--metrics', 'ap,mota,hota', '--out', str(out)]) == 0, capsys.readouterr().err
  r = json.loads(out.read_text())
  # The left knee is nobody's: the toolkit's AP 0 for a joint without predictions.
  assert r['ap']['left_knee'] == 0.0 and r['ap']['nose'] == 100.0
  assert r['mota']['nose'] == 100.0
  # 0.5 px off with head size 0.6 * sqrt(200): TP at the alphas up to the similarity.
  sim = 1 - (0.5 / (0.6 * np.sqrt(200.0))) / 0.5001
  passed = int(np.sum(sim >= np.arange(0.05, 0.99, 0.05) - np.finfo(float).eps))
  assert passed == 17
  for field in ('hota', 'deta', 'assa'):
    assert abs(r['hota'][field]['nose'] - 100 * passed / 19) < 1e-9
  assert r['hota']['deta']['left_knee'] == 0.0


def test_hota_skips_unlabelled_frames_with_box_only_people(tmp_path, capsys):
  """PoseTrack21 keeps box-only annotations in unlabelled frames; the kit leaves those frames
  out (``is_labeled``), so predictions there are not false positives."""
  gt, pred = _sequence(), _sequence()
  gt.frames[1].is_labeled = False
  for p in gt.frames[1].people:
    p.keypoints = np.zeros_like(p.keypoints)
  for p in (person for fr in gt.frames for person in fr.people):
    p.scores = None
  formats.write_posetrack21(gt, tmp_path / 'gt' / 's.json')
  formats.write_posetrack21(pred, tmp_path / 'pred' / 's.json')
  out = tmp_path / 'r.json'
  assert cli.main(['--gt', str(tmp_path / 'gt'), '--pred', str(tmp_path / 'pred'),
                   '--metrics', 'hota', '--out', str(out)]) == 0, capsys.readouterr().err
  r = json.loads(out.read_text())['hota']
  assert r['hota']['nose'] == 100.0 and r['num_fp']['Total'] == 0
  assert r['num_tp']['nose'] == 4   # 2 labelled frames x 2 people
  # The flags come with decoded files too; without them every annotated frame counts.
  data = [json.loads((tmp_path / d / 's.json').read_text()) for d in ('gt', 'pred')]
  assert hota.evaluate_sequences([data[0]], [data[1]])['num_fp']['Total'] == 0
  g = posetrack.load_sequence(str(tmp_path / 'gt' / 's.json'), 'gt')
  p = posetrack.load_sequence(str(tmp_path / 'pred' / 's.json'), 'pred')
  # A sequence read from its file carries the file's flags.
  assert g.file_labelled == [True, False, True]
  assert hota.evaluate_sequences([g], [p]) == r
  # Without them (built in memory) frame 1 counts; its ignore region removes the point-less
  # people, and a frame without ground truth adds the sequence's 6 predicted noses to FP (kit
  # quirk 1).
  unflagged = dataclasses.replace(g, file_labelled=None)
  assert hota.evaluate_sequences([unflagged], [p])['num_fp']['nose'] == 6
  assert hota.evaluate_sequences([unflagged], [p], gt_labelled=[[True, False, True]]) == r
