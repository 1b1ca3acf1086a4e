"""Readers/writers of COCO, PoseTrack 2017 and 2018 JSON: round trips, conversion, errors."""
import collections
import dataclasses
import json
import os

import numpy as np
import pytest

from artrack_jax import skeletons
from artrack_jax.data import formats
from artrack_jax.data.types import Frame, Person, Sequence


def _person(rng, track_id, j=15, scores=False):
  kp = np.zeros((j, 3), np.float32)
  lab = rng.random(j) < 0.8
  kp[lab, :2] = rng.uniform(0, 100, (lab.sum(), 2)).astype(np.float32)
  kp[lab, 2] = rng.choice([1, 2], lab.sum())
  return Person(track_id=track_id, keypoints=kp,
                bbox=rng.uniform(0, 50, 4).astype(np.float32),
                bbox_head=rng.uniform(0, 20, 4).astype(np.float32),
                scores=rng.random(j).astype(np.float32) if scores else None,
                score=float(np.float32(rng.random())) if scores else None)


def _sequence(seed=0, scores=False, num_frames=3):
  rng = np.random.default_rng(seed)
  name = '000007_mpiinew_val'
  frames = []
  for t in range(num_frames):
    people = [_person(rng, k * 3 + 1, scores=scores) for k in range(t + 1)]
    regions = [rng.uniform(0, 99, (4, 2)).astype(np.float32)] if t == 1 else []
    frames.append(Frame(image_path=f'images/val/{name}/{t:06d}.jpg', frame_id=t,
                        is_labeled=t != 2, people=people if t != 2 else [],
                        ignore_regions=regions, width=128, height=96,
                        image_id=formats.posetrack_image_id(name, t)))
  return Sequence(name=name, frames=frames, skeleton='posetrack', vid_id=7)


def test_posetrack_image_id_matches_poseval_scheme():
  assert formats.posetrack_image_id('000342_mpii_test', 5) == 10003420005
  assert formats.posetrack_image_id('024158_mpiinew_val', 0) == 30241580000
  with pytest.raises(ValueError, match='not a PoseTrack sequence name'):
    formats.posetrack_image_id('synth_0001', 0)


@pytest.mark.parametrize('scores', [False, True])
def test_posetrack18_round_trip(tmp_path, scores):
  seq = _sequence(scores=scores)
  path = tmp_path / f'{seq.name}.json'
  formats.write_posetrack18(seq, path)
  back = formats.read_posetrack18(path)
  assert formats.sequences_equal(seq, back) == []
  raw = json.loads(path.read_text())
  im = raw['images'][0]
  assert im['vid_id'] == '000007' and im['nframes'] == 3 and im['frame_id'] == im['id']
  ann = raw['annotations'][0]
  assert len(ann['keypoints']) == 51
  # Ear slots are written empty; head_bottom (neck) sits in slot 1.
  k18 = np.asarray(ann['keypoints']).reshape(17, 3)
  assert np.all(k18[[3, 4]] == 0)
  np.testing.assert_array_equal(k18[1], seq.frames[0].people[0].keypoints[12])
  assert ('scores' in ann) == scores


@pytest.mark.parametrize('scores', [False, True])
def test_posetrack17_round_trip(tmp_path, scores):
  seq = _sequence(seed=1, scores=scores)
  path = tmp_path / f'{seq.name}.json'
  formats.write_posetrack17(seq, path)
  back = formats.read_posetrack17(path)
  if scores:
    # 2017 writes scores only for labelled points; unlabelled ones read back as 0.
    for fr in seq.frames:
      for p in fr.people:
        p.scores = np.where(p.keypoints[:, 2] > 0, p.scores, 0).astype(np.float32)
  assert formats.sequences_equal(seq, back) == []
  entry = json.loads(path.read_text())['annolist'][0]
  rect = entry['annorect'][0]
  for key in ('x1', 'y1', 'x2', 'y2', 'track_id'):
    assert isinstance(rect[key], list) and len(rect[key]) == 1
  assert entry['imgnum'] == [1]
  # Occluded (v = 1) -> is_visible 0; visible (v = 2) -> 1.
  kp = seq.frames[0].people[0].keypoints
  for pt in rect['annopoints'][0]['point']:
    assert pt['is_visible'][0] == int(kp[pt['id'][0], 2] == 2)


def test_posetrack17_without_extensions_derives_box_like_poseval(tmp_path):
  path = tmp_path / 's.json'
  path.write_text(json.dumps({'annolist': [{
      'image': [{'name': 'images/x/00000001.jpg'}], 'imgnum': [1],
      'annorect': [{'x1': [10], 'y1': [20], 'x2': [30], 'y2': [50], 'track_id': [4],
                    'annopoints': [{'point': [{'id': [0], 'x': [10.0], 'y': [10.0]},
                                              {'id': [14], 'x': [30.0], 'y': [50.0],
                                               'is_visible': [0]}]}]}]}]}))
  counts = collections.Counter()
  seq = formats.read_posetrack17(path, counts)
  p = seq.frames[0].people[0]
  assert counts['boxes_derived'] == 1
  # Extent 20 x 40 about centre (20, 30), enlarged 1.3x.
  np.testing.assert_allclose(p.bbox, [20 - 13, 30 - 26, 26, 52])
  np.testing.assert_array_equal(p.bbox_head, [10, 20, 20, 30])
  assert p.keypoints[0].tolist() == [10, 10, 2] and p.keypoints[14].tolist() == [30, 50, 1]
  assert seq.frames[0].is_labeled and seq.vid_id == -1 and seq.frames[0].image_id == -1


def test_posetrack_17_18_conversion_is_lossless(tmp_path):
  seq = _sequence(seed=2, scores=True)
  formats.write_posetrack18(seq, tmp_path / 'a.json')
  s18 = formats.read_posetrack(tmp_path / 'a.json')
  formats.write_posetrack17(s18, tmp_path / 'b.json')
  s17 = formats.read_posetrack(tmp_path / 'b.json')
  formats.write_posetrack18(s17, tmp_path / 'c.json')
  s18b = formats.read_posetrack(tmp_path / 'c.json')
  for fr in seq.frames:
    for p in fr.people:
      p.scores = np.where(p.keypoints[:, 2] > 0, p.scores, 0).astype(np.float32)
  seq.name = s18b.name = 'x'
  assert formats.sequences_equal(seq, s18b) == []


def test_coco_round_trip_and_crowd(tmp_path):
  rng = np.random.default_rng(3)
  frames = [Frame(image_path=f'val2017/{i:012d}.jpg', frame_id=k, is_labeled=True,
                  people=[Person(-1, _person(rng, 0, j=17).keypoints,
                                 rng.uniform(0, 50, 4).astype(np.float32), None)],
                  ignore_regions=[np.asarray([[0, 0], [10, 0], [10, 10]], np.float32)]
                  if k == 0 else [],
                  width=64, height=48, image_id=i) for k, i in enumerate([5, 9])]
  seq = Sequence('person_keypoints_val2017', frames, skeleton='coco')
  path = tmp_path / 'person_keypoints_val2017.json'
  formats.write_coco(seq, path, image_prefix='val2017/')
  raw = json.loads(path.read_text())
  assert raw['images'][0]['file_name'] == '000000000005.jpg'
  crowd = [a for a in raw['annotations'] if a['iscrowd']]
  assert len(crowd) == 1 and crowd[0]['area'] == 50
  counts = collections.Counter()
  back = formats.read_coco(path, counts)
  assert counts['crowd_regions'] == 1
  assert formats.sequences_equal(seq, back) == []


def test_coco_rle_crowd_kept_as_box(tmp_path):
  path = tmp_path / 'c.json'
  path.write_text(json.dumps({
      'images': [{'id': 1, 'file_name': 'a.jpg', 'width': 10, 'height': 10}],
      'categories': [{'id': 1, 'name': 'person'}],
      'annotations': [{'id': 1, 'image_id': 1, 'category_id': 1, 'iscrowd': 1,
                       'bbox': [1, 2, 3, 4], 'segmentation': {'counts': [0, 5], 'size': [10, 10]}},
                      {'id': 2, 'image_id': 1, 'category_id': 2, 'bbox': [0, 0, 1, 1]}]}))
  counts = collections.Counter()
  seq = formats.read_coco(path, counts)
  assert counts == {'crowd_regions': 1, 'crowd_rle_as_box': 1, 'non_person_annotations': 1}
  np.testing.assert_array_equal(seq.frames[0].ignore_regions[0], [[1, 2], [4, 2], [4, 6], [1, 6]])
  assert seq.frames[0].image_path == 'a.jpg' and seq.frames[0].people == []


def test_convert_skeleton_posetrack_coco():
  seq = _sequence(seed=4)
  kp = seq.frames[0].people[0].keypoints
  kp[:, 2] = 2  # every joint labelled, so the two dropped ones are counted
  counts = collections.Counter()
  coco = formats.convert_skeleton(seq, 'coco', counts)
  c = coco.frames[0].people[0].keypoints
  pt, cc = skeletons.POSETRACK, skeletons.COCO
  for name in formats.SHARED_POSETRACK_COCO:
    np.testing.assert_array_equal(c[cc.index(name)], kp[pt.index(name)])
  for name in ('left_eye', 'right_eye', 'left_ear', 'right_ear'):
    assert c[cc.index(name)].tolist() == [0, 0, 0]
  assert counts['joints_dropped'] >= 2
  n_dropped = sum(int((p.keypoints[[12, 14], 2] > 0).sum()) for f in seq.frames
                  for p in f.people)
  assert counts['joints_dropped'] == n_dropped
  back = formats.convert_skeleton(coco, 'posetrack')
  b = back.frames[0].people[0].keypoints
  assert b[pt.index('neck')].tolist() == [0, 0, 0] and b[pt.index('head_top')].tolist() == [0, 0, 0]
  shared = [pt.index(n) for n in formats.SHARED_POSETRACK_COCO]
  np.testing.assert_array_equal(b[shared], kp[shared])
  with pytest.raises(ValueError, match='convert_skeleton'):
    formats.write_coco(seq, '/nonexistent/x.json')


def _good18():
  return {'images': [{'id': 7, 'file_name': 'images/a/000000.jpg', 'frame_id': 7,
                      'vid_id': '000001', 'nframes': 1, 'is_labeled': True}],
          'annotations': [{'id': 1, 'image_id': 7, 'track_id': 0, 'keypoints': [0] * 51,
                           'bbox': [0, 0, 1, 1], 'bbox_head': [0, 0, 1, 1]}]}


def test_posetrack18_trimmed_sequence_is_read_with_a_warning(tmp_path, caplog):
  # nframes larger than the images listed: a trimmed sequence, read as the toolkit reads it.
  data = _good18()
  data['images'][0]['nframes'] = 149
  counts = formats.Counts()
  with caplog.at_level('WARNING'):
    seq = formats.read_posetrack18(_write(tmp_path / 'trimmed.json', data), counts=counts)
  assert len(seq.frames) == 1 and counts['frames_missing'] == 148
  assert '148 frames missing' in caplog.text and 'trimmed.json' in caplog.text


@pytest.mark.parametrize('mutate, field, message', [
    (lambda d: d['annotations'][0].update(keypoints=[0] * 48), 'annotations[0].keypoints',
     'expected 51 numbers, got 48'),
    (lambda d: d['annotations'][0].pop('track_id'), 'annotations[0].track_id', 'missing'),
    (lambda d: d['annotations'][0].update(bbox=[0, 1, 2]), 'annotations[0].bbox',
     'expected 4 numbers, got 3'),
    (lambda d: d['annotations'][0].update(image_id=8), 'annotations[0].image_id',
     'expected the id of an image of the file, got 8'),
    (lambda d: d['annotations'][0].update(bbox=[0, 0, 'a', 1]), 'annotations[0].bbox[2]',
     "expected a finite number, got 'a'"),
    (lambda d: d['annotations'][0].update(keypoints=[0] * 50 + [3]),
     'annotations[0].keypoints[50]', 'expected a visibility 0, 1 or 2, got 3'),
    (lambda d: d['images'].append(dict(d['images'][0], id=8, frame_id=8)),
     'images[0].nframes', 'says 1 but the file has 2 images'),
    (lambda d: d['images'].append(dict(d['images'][0], id=8, frame_id=8, nframes=2)),
     'images[1].nframes', 'expected the nframes of images[0].nframes (1), got 2'),
    (lambda d: d['images'][0].update(ignore_regions_x=[[1, 2]], ignore_regions_y=[[1]]),
     'images[0].ignore_regions_y[0]', 'expected 2 numbers, got 1'),
    (lambda d: d['annotations'].append(dict(d['annotations'][0], id=2)),
     'annotations[1].track_id', 'track id 0 repeats that of annotations[0].track_id'),
    (lambda d: d['annotations'].append(dict(d['annotations'][0], track_id=1)),
     'annotations[1].id', 'annotation id 1 repeats that of annotations[0]'),
    (lambda d: d['images'][0].pop('file_name'), 'images[0].file_name', 'missing'),
])
def test_posetrack18_errors_name_file_and_field(tmp_path, mutate, field, message):
  data = _good18()
  formats.read_posetrack18(_write(tmp_path / 'ok.json', data))  # the unmutated file is fine
  mutate(data)
  path = _write(tmp_path / 'bad.json', data)
  with pytest.raises(formats.FormatError) as e:
    formats.read_posetrack18(path)
  assert str(e.value).startswith(f'{path}: {field}: ') and message in str(e.value)


@pytest.mark.parametrize('entry, field, message', [
    ({'image': {'name': 'a.jpg'}}, 'annolist[0].image', 'one-element list'),
    ({'image': [{'name': 'a.jpg'}], 'annorect': [{'track_id': [0], 'annopoints': [
        {'point': [{'id': [15], 'x': [1], 'y': [1]}]}]}]},
     'annolist[0].annorect[0].annopoints[0].point[0].id[0]',
     'expected a joint id in [0, 15), got 15'),
    ({'image': [{'name': 'a.jpg'}], 'annorect': [{'track_id': [0], 'annopoints': [
        {'point': [{'id': [1], 'x': [1, 2], 'y': [1]}]}]}]},
     'annolist[0].annorect[0].annopoints[0].point[0].x', 'one-element list'),
])
def test_posetrack17_errors_name_file_and_field(tmp_path, entry, field, message):
  path = _write(tmp_path / 'bad.json', {'annolist': [entry]})
  with pytest.raises(formats.FormatError) as e:
    formats.read_posetrack17(path)
  assert str(e.value).startswith(f'{path}: {field}: ') and message in str(e.value)


def test_coco_and_json_errors(tmp_path):
  bad = tmp_path / 'person_keypoints_x.json'
  bad.write_text('{"images": [')
  with pytest.raises(formats.FormatError, match='not valid JSON'):
    formats.read_coco(bad)
  _write(bad, {'images': [{'id': 1, 'file_name': 'a.jpg', 'width': 4}], 'annotations': [],
               'categories': []})
  with pytest.raises(formats.FormatError, match=r'images\[0\]\.height: missing'):
    formats.read_coco(bad)
  with pytest.raises(formats.FormatError, match='top level: expected a PoseTrack 2017'):
    formats.read_posetrack(_write(tmp_path / 'y.json', {'frames': []}))


def _write(path, data):
  path.write_text(json.dumps(data))
  return path


def test_unknown_video_id_round_trips(tmp_path):
  seq = _sequence(seed=5)
  seq.vid_id = -1
  for writer in (formats.write_posetrack18, formats.write_posetrack17):
    writer(seq, tmp_path / f'{seq.name}.json')
    assert formats.sequences_equal(seq, formats.read_posetrack(tmp_path / f'{seq.name}.json')) == []


def test_posetrack18_missing_box_is_derived_and_counted(tmp_path):
  data = _good18()
  kp = np.zeros((17, 3))
  kp[0] = (10, 10, 1)
  kp[16] = (30, 50, 1)
  data['annotations'][0].update(keypoints=kp.reshape(-1).tolist())
  del data['annotations'][0]['bbox']
  counts = collections.Counter()
  seq = formats.read_posetrack18(_write(tmp_path / 'a.json', data), counts)
  assert counts['boxes_derived'] == 1
  np.testing.assert_allclose(seq.frames[0].people[0].bbox, [7, 4, 26, 52])


def test_json_is_written_whole_or_not_at_all(tmp_path):
  path = tmp_path / 'seq.json'
  formats._dump_json({'a': 1}, path)
  # json.dump fails half-way (an object it cannot encode, after some output): the old file
  # stays, and no temporary file is left.
  with pytest.raises(TypeError):
    formats._dump_json({'a': 2, 'b': object()}, path)
  assert json.loads(path.read_text()) == {'a': 1} and os.listdir(tmp_path) == ['seq.json']
  formats._dump_json({'a': 3}, path)
  assert json.loads(path.read_text()) == {'a': 3} and os.listdir(tmp_path) == ['seq.json']


def test_streamed_posetrack18_has_the_bytes_of_the_whole_sequence_writer(tmp_path):
  seq = _sequence(scores=True, num_frames=4)
  formats.write_posetrack18(seq, tmp_path / 'whole.json')
  writer = formats.PoseTrack18Writer(tmp_path / 'streamed.json', seq.name, vid_id=seq.vid_id)
  for fr in seq.frames:
    writer.add(fr)
  assert not os.path.exists(tmp_path / 'streamed.json')      # nothing until close
  writer.close()
  assert (tmp_path / 'streamed.json').read_bytes() == (tmp_path / 'whole.json').read_bytes()
  assert writer.frames == 4 and writer.track_ids == {1, 4, 7, 10}
  # A COCO-skeleton sequence is converted frame by frame as write_posetrack18 needs.
  coco = formats.convert_skeleton(seq, 'coco')
  writer = formats.PoseTrack18Writer(tmp_path / 'coco.json', seq.name, 'coco', seq.vid_id)
  for fr in coco.frames:
    writer.add(fr)
  writer.close()
  formats.write_posetrack18(formats.convert_skeleton(coco, 'posetrack'), tmp_path / 'c2.json')
  assert (tmp_path / 'coco.json').read_bytes() == (tmp_path / 'c2.json').read_bytes()
  # A frame that cannot be written (no image id) stops before any file is made.
  bad = formats.PoseTrack18Writer(tmp_path / 'bad.json', seq.name)
  with pytest.raises(ValueError, match='has no image_id'):
    bad.add(dataclasses.replace(seq.frames[0], image_id=-1))
  bad.discard()
  assert sorted(os.listdir(tmp_path)) == ['c2.json', 'coco.json', 'streamed.json', 'whole.json']
