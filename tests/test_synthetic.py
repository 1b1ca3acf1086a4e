"""The synthetic benchmark: determinism, splits, visibility rules, ignore regions, files."""
import hashlib
import os

import numpy as np
import pytest
from PIL import Image

from artrack_jax.data import formats, synthetic
from artrack_jax.data.types import Sequence

SIZE = 64


@pytest.fixture(scope='module')
def val_clips():
  return list(synthetic.generate_split('val', 4, num_frames=6, image_size=SIZE, seed=0))


@pytest.fixture(scope='module')
def written(tmp_path_factory):
  root = tmp_path_factory.mktemp('synth')
  seqs = synthetic.write_dataset(root, {'train': 1, 'val': 2}, num_frames=3, image_size=SIZE,
                                 seed=0)
  return root, seqs


def _digest(images):
  return [hashlib.sha1(im.tobytes()).hexdigest() for im in images]


def test_same_seed_gives_identical_clips(val_clips):
  seq, images = synthetic.generate_clip('val', 1, num_frames=6, image_size=SIZE, seed=0)
  ref_seq, ref_images = val_clips[1]
  assert _digest(images) == _digest(ref_images)
  assert formats.sequences_equal(seq, ref_seq) == []
  other, other_images = synthetic.generate_clip('val', 1, num_frames=6, image_size=SIZE, seed=1)
  assert _digest(other_images) != _digest(images)


def test_written_files_are_byte_identical(written, tmp_path):
  root, _ = written
  synthetic.write_dataset(tmp_path, {'train': 1, 'val': 2}, num_frames=3, image_size=SIZE,
                          seed=0)
  files = sorted(os.path.relpath(os.path.join(d, f), root)
                 for d, _, fs in os.walk(root) for f in fs)
  assert len(files) == 3 * 3 + 3 * 2 + 2 + 2  # images, 2017 + 2018 per clip, COCO, metadata
  for rel in files:
    assert (root / rel).read_bytes() == (tmp_path / rel).read_bytes(), rel


def test_splits_are_disjoint(val_clips):
  train = list(synthetic.generate_split('train', 4, num_frames=6, image_size=SIZE, seed=0))
  test = list(synthetic.generate_split('test', 2, num_frames=6, image_size=SIZE, seed=0))
  groups = [train, val_clips, test]
  names = [{s.name for s, _ in g} for g in groups]
  ids = [{f.image_id for s, _ in g for f in s.frames} for g in groups]
  pixels = [{d for _, ims in g for d in _digest(ims)} for g in groups]
  for a in range(3):
    for b in range(a + 1, 3):
      assert not names[a] & names[b] and not ids[a] & ids[b] and not pixels[a] & pixels[b]
  assert train[0][0].name == '100000_mpiinew_train' and val_clips[3][0].name == '200003_mpiinew_val'
  assert formats.posetrack_image_id(val_clips[0][0].name, 2) == val_clips[0][0].frames[2].image_id


def test_annotations_follow_the_labelling_rules(val_clips):
  num_tracks, occluded = [], 0
  for seq, images in val_clips:
    assert len(images) == len(seq.frames) == 6
    tracks = set()
    for fr, im in zip(seq.frames, images):
      assert im.shape == (SIZE, SIZE, 3) and im.dtype == np.uint8 and fr.is_labeled
      ids = [p.track_id for p in fr.people]
      assert len(ids) == len(set(ids))
      for p in fr.people:
        kp = p.keypoints
        assert kp.shape == (15, 3) and set(np.unique(kp[:, 2])) <= {0, 1, 2}
        lab = kp[:, 2] > 0
        assert lab.any()
        # Unlabelled joints are (0, 0, 0); labelled ones lie inside the image.
        assert np.all(kp[~lab] == 0)
        assert np.all((kp[lab, :2] >= 0) & (kp[lab, :2] <= SIZE - 1))
        x, y, w, h = p.bbox
        assert w >= 0 and h >= 0 and x >= 0 and y >= 0 and x + w <= SIZE and y + h <= SIZE
        assert p.bbox_head[2] > 0 and p.bbox_head[3] > 0
        occluded += int((kp[:, 2] == 1).sum())
      tracks |= set(ids)
    num_tracks.append(len(tracks))
  assert all(1 <= n <= 10 for n in num_tracks)
  assert occluded > 0


def _two_people(offset_x, near_depth=0.9):
  rng = np.random.default_rng(0)
  body = synthetic.random_body(rng, size=1.0)
  pose = synthetic.Pose(yaw=0.0)
  far = synthetic.person_view(1, body, pose, (32, 30), 40, depth=0.1)
  near = synthetic.person_view(2, body, pose, (32 + offset_x, 30), 40, depth=near_depth)
  return far, near


def test_nearer_person_occludes_the_farther_one():
  far, near = _two_people(0.0)
  bg = Image.new('RGB', (SIZE, SIZE), (0, 128, 0))
  _, people = synthetic.render_frame(bg, [near, far])  # drawing order comes from depth
  by_id = {p.track_id: p.keypoints for p in people}
  # Same pose at the same place: the far person is entirely hidden, so not annotated.
  assert set(by_id) == {2}
  assert np.all(by_id[2][:, 2] == 2)
  # Swap depths: now person 2 is behind and not annotated.
  far2, near2 = _two_people(0.0, near_depth=0.05)
  _, people = synthetic.render_frame(bg, [far2, near2])
  by_id = {p.track_id: p.keypoints for p in people}
  assert set(by_id) == {1} and np.all(by_id[1][:, 2] == 2)
  # Half overlapping: the far person's covered joints are labelled occluded (v = 1).
  far4, near4 = _two_people(6.0)
  _, people = synthetic.render_frame(bg, [far4, near4])
  by_id = {p.track_id: p.keypoints for p in people}
  assert set(by_id) == {1, 2}
  assert np.any(by_id[1][:, 2] == 1) and np.sum(by_id[1][:, 2] == 2) >= 2
  assert np.all(by_id[2][:, 2] == 2)
  # Far apart: nobody is occluded.
  far3, near3 = _two_people(30.0)
  _, people = synthetic.render_frame(bg, [far3, near3])
  assert len(people) == 2 and not any(np.any(p.keypoints[:, 2] == 1) for p in people)


def test_out_of_frame_and_pole_hidden_joints_unlabelled():
  rng = np.random.default_rng(1)
  body = synthetic.random_body(rng, size=1.0)
  view = synthetic.person_view(5, body, synthetic.Pose(yaw=0.0), (1.0, 30), 40, depth=0.5)
  bg = Image.new('RGB', (SIZE, SIZE), (0, 0, 90))
  _, (person,) = synthetic.render_frame(bg, [view])
  outside = view.joints[:, 0] < 0
  assert outside.any() and not outside.all()
  np.testing.assert_array_equal(person.keypoints[outside], 0)
  assert np.all(person.keypoints[~outside, 2] == 2)
  np.testing.assert_allclose(person.keypoints[~outside, :2], view.joints[~outside], atol=1e-4)
  # A pole in front of the right-hand joints (x > 3): nobody can see them, so exactly those
  # are unlabelled.
  pole = np.array([[3.5, -1], [40, -1], [40, 70], [3.5, 70]])
  _, (person,) = synthetic.render_frame(bg, [view], occluders=[pole])
  covered = (~outside) & (np.round(view.joints[:, 0]) >= 4)
  assert covered.any()
  np.testing.assert_array_equal(person.keypoints[covered], 0)
  np.testing.assert_array_equal(person.keypoints[(~outside) & ~covered, 2], 2)


def test_people_inside_ignore_regions_are_not_annotated():
  far, near = _two_people(30.0)
  bg = Image.new('RGB', (SIZE, SIZE), (90, 90, 90))
  pelvis = (far.joints[2] + far.joints[3]) / 2
  region = np.array([pelvis + (-5, -5), pelvis + (5, -5), pelvis + (5, 5), pelvis + (-5, 5)])
  image_a, people = synthetic.render_frame(bg, [far, near], ignore_regions=[region])
  assert [p.track_id for p in people] == [2]
  image_b, _ = synthetic.render_frame(bg, [far, near])
  np.testing.assert_array_equal(image_a, image_b)  # drawn all the same, only not annotated


def test_written_formats_read_back(written):
  root, seqs = written
  for split, split_seqs in seqs.items():
    coco = formats.read_coco(root / 'annotations' / 'coco' / f'person_keypoints_{split}.json',
                             image_prefix='')
    coco_frames = [f for s in split_seqs for f in formats.convert_skeleton(s, 'coco').frames]
    assert len(coco.frames) == len(coco_frames)
    for fa, fb in zip(sorted(coco_frames, key=lambda f: f.image_id), coco.frames):
      assert fa.image_path == fb.image_path and len(fa.people) == len(fb.people)
      for pa, pb in zip(fa.people, fb.people):
        np.testing.assert_array_equal(pa.keypoints, pb.keypoints)
      assert os.path.exists(root / fb.image_path)
    for seq in split_seqs:
      for version in ('posetrack18', 'posetrack17'):
        back = formats.read_posetrack(root / 'annotations' / version / split / f'{seq.name}.json')
        assert isinstance(back, Sequence)
        assert formats.sequences_equal(seq, back) == [], version
      decoded = np.asarray(Image.open(root / seq.frames[0].image_path))
      assert decoded.shape == (SIZE, SIZE, 3)
