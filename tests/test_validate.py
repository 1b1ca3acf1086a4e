"""Every bad input file is a clean error (exit code 2, file and JSON path named), never a
traceback and never a wrong number: PoseTrack (2017, 2018) and COCO file modes."""
import copy
import json
import os
import re

import hypothesis
import hypothesis.strategies as st
import pytest

from artrack_jax import skeletons
from artrack_jax.data import posetrack_reader
from artrack_jax.evaluation import cli
from artrack_jax.evaluation import posetrack as pt
from artrack_jax.evaluation import validate

from test_evaluation_coco import dataset, shifted_results
from test_evaluation_posetrack import frame, person, to_pt17, to_pt18


def posetrack_pair():
  gt = [frame(person(1, 0, 0), person(2, 100, 0)), frame(person(1, 1, 0), person(2, 101, 0)),
        frame(person(1, 2, 0), person(2, 102, 0))]
  pred = [frame(person(5, 0, 0, scores=.9, offset=(1, 0)), person(6, 100, 0, scores=.4)),
          frame(person(6, 1, 0, scores=.8), person(5, 101, 0, scores=.3, offset=(1, 1))),
          frame(person(5, 2, 0, scores=.7), person(6, 300, 0, scores=.2))]
  return gt, pred


def run_cli(capsys, argv):
  code = cli.main(argv)
  captured = capsys.readouterr()
  return code, captured.err


def write_posetrack(tmp_path, gt, pred, raw_pred=None):
  (tmp_path / 'gt').mkdir(exist_ok=True)
  (tmp_path / 'pred').mkdir(exist_ok=True)
  (tmp_path / 'gt' / 's.json').write_text(json.dumps(gt))
  path = tmp_path / 'pred' / 's.json'
  if raw_pred is not None:
    path.write_bytes(raw_pred)
  else:
    path.write_text(json.dumps(pred, allow_nan=True))
  return ['--gt', str(tmp_path / 'gt'), '--pred', str(tmp_path / 'pred')]


def _set(path_items, value):
  def mutate(doc):
    target = doc
    for key in path_items[:-1]:
      target = target[key]
    target[path_items[-1]] = value
  return mutate


def _renumber_first_image(doc):
  """Frame 0 of the predictions becomes another image (id and file name)."""
  doc['images'][0].update(id=7, file_name='images/val/000001_mpii_test/000009.jpg')
  for ann in doc['annotations']:
    if ann['image_id'] == 100:
      ann['image_id'] = 7


# (format, which file, mutation, JSON path (regex) and what the message must say)
POSETRACK_CASES = [
    ('2018', 'pred', _set(['annotations', 0, 'keypoints', 7], True),
     r'annotations\[0\]\.keypoints\[7\]: expected a finite number, got true'),
    ('2018', 'pred', _set(['annotations', 2, 'scores', 0], True),
     r'annotations\[2\]\.scores\[0\]: expected a finite number, got true'),
    ('2018', 'pred', _set(['annotations', 1, 'keypoints', 3], float('nan')),
     r'annotations\[1\]\.keypoints\[3\]: expected a finite number, got NaN'),
    ('2018', 'pred', _set(['annotations', 1, 'keypoints', 4], float('inf')),
     r'annotations\[1\]\.keypoints\[4\]: expected a finite number, got Infinity'),
    ('2018', 'pred', _set(['annotations', 1, 'keypoints', 4], 1e30),
     r'annotations\[1\]\.keypoints\[4\]: expected a number within'),
    ('2018', 'pred', _set(['annotations', 1, 'keypoints'], None),
     r'annotations\[1\]\.keypoints: expected a list of 51 numbers, got null'),
    ('2018', 'gt', _set(['annotations', 0, 'bbox_head'], [5.0, 5.0, 0.0, 0.0]),
     r'annotations\[0\]\.bbox_head: degenerate head box'),
    ('2018', 'gt', _set(['annotations', 0, 'bbox_head'], [5.0, 5.0, 10.0]),
     r'annotations\[0\]\.bbox_head: expected 4 numbers, got 3'),
    ('2018', 'gt', _set(['annotations', 3, 'image_id'], 555),
     r'annotations\[3\]\.image_id: expected the id of an image of the file, got 555'),
    ('2018', 'gt', _set(['annotations', 3, 'image_id'], [101]),
     r'annotations\[3\]\.image_id: expected an integer, got a list of 1'),
    ('2018', 'gt', _set(['images', 1, 'id'], 100),
     r'images\[1\]\.id: image id 100 repeats that of images\[0\]'),
    ('2018', 'pred', _set(['categories', 0, 'keypoints', 2], 7),
     r'categories\[0\]\.keypoints\[2\]: expected a string, got 7'),
    ('2018', 'pred', lambda d: d['annotations'][1].__setitem__('id', d['annotations'][0]['id']),
     r'annotations\[1\]\.id: annotation id \d+ repeats that of annotations\[0\]'),
    ('2018', 'pred', lambda d: d['images'].reverse(),
     r'pred/s\.json: images\[0\]: expected the frame of .*gt/s\.json images\[0\] \(id 100'),
    ('2018', 'pred', _renumber_first_image,
     r'images\[0\]: expected the frame of .* \(id 100, name .*000000\.jpg.\), got \(id 7'),
    ('2018', 'gt', _set(['images', 0, 'ignore_regions_x'], [[0, 10, 10]]),
     r'images\[0\]\.ignore_regions_y: missing'),
    ('2018', 'pred', _set(['annotations', 0, 'track_id'], False),
     r'annotations\[0\]\.track_id: expected an integer, got false'),
    ('2017', 'gt', _set(['annolist', 1, 'annorect', 0, 'annopoints'], {'point': []}),
     r'annolist\[1\]\.annorect\[0\]\.annopoints: expected a list, got an object'),
    ('2017', 'gt', _set(['annolist', 1, 'annorect', 0, 'annopoints'], [{}, {}]),
     r'annolist\[1\]\.annorect\[0\]\.annopoints: expected a list of one object'),
    ('2017', 'gt', _set(['annolist', 1, 'annorect', 0, 'annopoints'], [{}]),
     r'annolist\[1\]\.annorect\[0\]\.annopoints\[0\]\.point: missing'),
    ('2017', 'gt', lambda d: d['annolist'][0]['annorect'][1].update(x2=[100.0], y2=[0.0]),
     r'annolist\[0\]\.annorect\[1\]\.x1: degenerate head box'),
    ('2017', 'pred', _set(['annolist', 0, 'annorect', 0, 'annopoints', 0, 'point', 2, 'x'],
                          [True]),
     r'annolist\[0\]\.annorect\[0\]\.annopoints\[0\]\.point\[2\]\.x\[0\]: expected a finite '
     r'number, got true'),
    ('2017', 'pred', _set(['annolist', 0, 'annorect', 0, 'annopoints', 0, 'point', 2, 'score'],
                          ['high']),
     r'point\[2\]\.score\[0\]: expected a finite number, got \'high\''),
    ('2017', 'pred', lambda d: d['annolist'].reverse(),
     r'annolist\[0\]: expected the frame of'),
    ('2017', 'pred', lambda d: d['annolist'].pop(),
     r'pred/s\.json: 2 prediction frames but 3 ground-truth frames in .*gt/s\.json'),
]


@pytest.mark.parametrize('fmt,role,mutate,message', POSETRACK_CASES)
def test_posetrack_field_errors(tmp_path, capsys, fmt, role, mutate, message):
  writer = to_pt17 if fmt == '2017' else to_pt18
  gt_frames, pred_frames = posetrack_pair()
  gt = json.loads(json.dumps(writer(gt_frames, 'gt')))
  pred = json.loads(json.dumps(writer(pred_frames, 'pred')))
  if fmt == '2018':
    for k, ann in enumerate(pred['annotations']):
      ann['id'] = 1000 + k
  code, err = run_cli(capsys, write_posetrack(tmp_path, gt, pred))
  assert code == 0, err   # the unmutated pair is fine
  mutate(gt if role == 'gt' else pred)
  code, err = run_cli(capsys, write_posetrack(tmp_path, gt, pred))
  assert code == 2
  assert err.startswith('error: ') and err.count('\n') == 1, err
  assert f'{role}/s.json' in err
  assert 'Traceback' not in err
  assert re.search(message, err), err


def _file_cases(tmp_path):
  """(name, how to break the prediction file, message)."""
  pred = tmp_path / 'pred' / 's.json'

  def non_utf8():
    pred.write_bytes(pred.read_bytes().replace(b'"track_id"', b'"track_\xff\xfeid"', 1))

  def nested():
    pred.write_text('[' * 100000 + ']' * 100000)

  def nested_in_unused_field():
    doc = json.loads(pred.read_text())
    doc['images'][0]['extra'] = json.loads('[' * 200 + ']' * 200)
    pred.write_text(json.dumps(doc))

  def directory():
    os.remove(pred)
    os.mkdir(pred)

  def dangling():
    os.remove(pred)
    os.symlink(tmp_path / 'nowhere.json', pred)

  def loop():
    os.remove(pred)
    os.symlink(pred, pred)

  def truncated():
    pred.write_bytes(pred.read_bytes()[:-10])

  def huge_integer():
    pred.write_text(pred.read_text().replace('"track_id": 5', '"track_id": ' + '9' * 5000, 1))

  def bare_nan():
    pred.write_text(pred.read_text().replace('"track_id": 5', '"track_id": NaN', 1))

  return [
      (non_utf8, r'pred/s\.json: not UTF-8 text \(byte \d+ is 0xff\)'),
      (nested, r'pred/s\.json: JSON nested too deeply|pred/s\.json: JSON nested deeper'),
      (nested_in_unused_field, r'pred/s\.json: JSON nested deeper than 64 levels'),
      (directory, r'pred/s\.json: is a directory, expected a prediction JSON file'),
      (dangling, r'pred/s\.json: prediction file is a dangling symbolic link'),
      (loop, r'pred/s\.json: prediction file is a symbolic-link loop'),
      (truncated, r'pred/s\.json: not valid JSON'),
      (huge_integer, r'pred/s\.json: not valid JSON'),
      (bare_nan, r'pred/s\.json: annotations\[0\]\.track_id: expected an integer, got NaN'),
  ]


@pytest.mark.parametrize('case', range(9))
def test_posetrack_file_errors(tmp_path, capsys, case):
  gt_frames, pred_frames = posetrack_pair()
  argv = write_posetrack(tmp_path, to_pt18(gt_frames, 'gt'), to_pt18(pred_frames, 'pred'))
  assert run_cli(capsys, argv)[0] == 0
  breaker, message = _file_cases(tmp_path)[case]
  breaker()
  code, err = run_cli(capsys, argv)
  assert code == 2, err
  assert re.search(message, err), err
  assert 'Traceback' not in err


def test_directory_arguments(tmp_path, capsys):
  gt_frames, pred_frames = posetrack_pair()
  write_posetrack(tmp_path, to_pt18(gt_frames, 'gt'), to_pt18(pred_frames, 'pred'))
  code, err = run_cli(capsys, ['--gt', str(tmp_path / 'gt' / 's.json'), '--pred',
                               str(tmp_path / 'pred')])
  assert code == 2 and 'gt/s.json: expected a ground-truth directory' in err
  code, err = run_cli(capsys, ['--gt', str(tmp_path / 'nothing'), '--pred',
                               str(tmp_path / 'pred')])
  assert code == 2 and 'nothing: ground-truth directory does not exist' in err


def test_frames_paired_by_file_name_when_ids_differ(tmp_path, capsys):
  """Prediction image ids of another numbering are fine when the file names agree."""
  gt_frames, pred_frames = posetrack_pair()
  gt, pred = to_pt18(gt_frames, 'gt'), to_pt18(pred_frames, 'pred')
  base = pt.evaluate_sequences([gt], [pred])
  for image in pred['images']:
    image['id'] += 5000
  for ann in pred['annotations']:
    ann['image_id'] += 5000
  moved = pt.evaluate_sequences([gt], [pred])
  assert moved['ap'] == base['ap'] and moved['mota'] == base['mota']
  # A 2017 prediction for a 2018 ground truth is paired by file name too.
  mixed = pt.evaluate_sequences([gt], [to_pt17(pred_frames, 'pred')])
  assert mixed['ap'] == base['ap']
  names = to_pt17(pred_frames, 'pred')
  names['annolist'][0]['image'][0]['name'] = 'images/val/000001_mpii_test/000002.jpg'
  with pytest.raises(validate.EvaluationInputError, match=r'annolist\[0\]: expected the frame'):
    pt.evaluate_sequences([gt], [names])


def test_true_is_not_one(tmp_path):
  """JSON true where a number belongs is refused, not read as 1.0 (ints 1 are fine)."""
  gt_frames, pred_frames = posetrack_pair()
  pred = to_pt18(pred_frames, 'pred')
  pred['annotations'][0]['scores'][0] = 1
  pt.evaluate_sequences([to_pt18(gt_frames, 'gt')], [pred])
  pred['annotations'][0]['scores'][0] = True
  with pytest.raises(validate.EvaluationInputError, match=r'scores\[0\]: expected a finite'):
    pt.evaluate_sequences([to_pt18(gt_frames, 'gt')], [pred])


# -- COCO. ------------------------------------------------------------------------------------


def _coco_set(path_items, value, which='gt'):
  return which, _set(path_items, value)


COCO_CASES = [
    (*_coco_set(['annotations', 0, 'keypoints'], None),
     r'gt\.json: annotations\[0\]\.keypoints: expected a list of 51 numbers, got null'),
    (*_coco_set(['annotations', 0, 'keypoints', 5], 'x'),
     r'annotations\[0\]\.keypoints\[5\]: expected a finite number, got \'x\''),
    (*_coco_set(['annotations', 0, 'keypoints', 5], True),
     r'annotations\[0\]\.keypoints\[5\]: expected a finite number, got true'),
    (*_coco_set(['annotations', 0, 'keypoints', 5], float('nan')),
     r'annotations\[0\]\.keypoints\[5\]: expected a finite number, got NaN'),
    (*_coco_set(['annotations', 0, 'keypoints', 5], 1e30),
     r'annotations\[0\]\.keypoints\[5\]: expected a number within'),
    (*_coco_set(['annotations', 0, 'bbox'], [1.0, 2.0, 3.0]),
     r'annotations\[0\]\.bbox: expected 4 numbers, got 3'),
    (*_coco_set(['annotations', 0, 'bbox', 2], float('nan')),
     r'annotations\[0\]\.bbox\[2\]: expected a finite number, got NaN'),
    (*_coco_set(['annotations', 1, 'area'], float('nan')),
     r'annotations\[1\]\.area: expected a finite number, got NaN'),
    ('gt', lambda d: d['annotations'][0].pop('iscrowd'),
     r'annotations\[0\]\.iscrowd: missing'),
    (*_coco_set(['annotations', 0, 'iscrowd'], False),
     r'annotations\[0\]\.iscrowd: expected 0 or 1, got false'),
    (*_coco_set(['images', 1], 'img.jpg'), r'images\[1\]: expected an object, got \'img.jpg\''),
    (*_coco_set(['annotations', 1, 'image_id'], [2]),
     r'annotations\[1\]\.image_id: expected an integer, got a list of 1'),
    (*_coco_set(['annotations', 1, 'id'], 1),
     r'annotations\[1\]\.id: annotation id 1 repeats that of annotations\[0\]'),
    (*_coco_set(['annotations', 1, 'image_id'], 9),
     r'annotations\[1\]\.image_id: expected the id of an image in \'images\', got 9'),
    (*_coco_set(['images', 1, 'id'], 1), r'images\[1\]\.id: image id 1 repeats that of images'),
    (*_coco_set([0, 'keypoints', 3], None, 'res'),
     r'res\.json: \[0\]\.keypoints\[3\]: expected a finite number, got null'),
    (*_coco_set([1, 'score'], True, 'res'), r'res\.json: \[1\]\.score: expected a finite number'),
    (*_coco_set([1, 'image_id'], [1], 'res'),
     r'res\.json: \[1\]\.image_id: expected an integer, got a list of 1'),
    (*_coco_set([1, 'keypoints', 0], 1e30, 'res'),
     r'res\.json: \[1\]\.keypoints\[0\]: expected a number within'),
]


@pytest.mark.parametrize('which,mutate,message', COCO_CASES)
def test_coco_errors_before_pycocotools(tmp_path, capsys, which, mutate, message):
  gt = dataset(skeletons.COCO.names)
  res = shifted_results(gt, (1.0, 0.0))
  argv = ['--coco-gt', str(tmp_path / 'gt.json'), '--coco-pred', str(tmp_path / 'res.json')]
  (tmp_path / 'gt.json').write_text(json.dumps(gt))
  (tmp_path / 'res.json').write_text(json.dumps(res))
  assert run_cli(capsys, argv)[0] == 0
  mutate(gt if which == 'gt' else res)
  (tmp_path / 'gt.json').write_text(json.dumps(gt, allow_nan=True))
  (tmp_path / 'res.json').write_text(json.dumps(res, allow_nan=True))
  code, err = run_cli(capsys, argv)
  assert code == 2, err
  assert re.search(message, err), err
  assert 'Traceback' not in err


def test_coco_file_errors(tmp_path, capsys):
  gt = dataset(skeletons.COCO.names)
  (tmp_path / 'gt.json').write_text(json.dumps(gt))
  (tmp_path / 'res').mkdir()
  code, err = run_cli(capsys, ['--coco-gt', str(tmp_path / 'gt.json'), '--coco-pred',
                               str(tmp_path / 'res')])
  assert code == 2 and 'res: is a directory, expected a results JSON file' in err
  (tmp_path / 'bad.json').write_bytes(b'{"images": [\xc3\x28]}')
  code, err = run_cli(capsys, ['--coco-gt', str(tmp_path / 'bad.json'), '--coco-pred',
                               str(tmp_path / 'gt.json')])
  assert code == 2 and 'bad.json: not UTF-8 text' in err


def test_valid_coco_objects_are_not_modified():
  gt = dataset(skeletons.COCO.names)
  res = shifted_results(gt, (1.0, 0.0))
  before = copy.deepcopy((gt, res))
  validate.check_coco_results(res, 'r', validate.check_coco_gt(gt, 'g'))
  assert (gt, res) == before


@pytest.mark.parametrize('text', [
    '1', '"[[{"', '[]', '{}', '[[1, [2]], {"a": {"b": []}}]', r'["a\"[[[", [[1]]]',
    r'{"k\\": [[]]}', r'["\\\"]]", {"]": [{}]}]', '[' * 70 + ']' * 70,
    '{"a": "\u00e9[", "b": [[["\\u005b"]]]}'])
def test_text_depth_is_the_depth_of_the_decoded_objects(text):
  def walk(value):
    if not isinstance(value, (list, dict)):
      return 0
    values = value.values() if isinstance(value, dict) else value
    return 1 + max((walk(v) for v in values), default=0)
  assert posetrack_reader.text_depth(text) == walk(json.loads(text))
  assert posetrack_reader.text_depth(text.encode('utf-8')) == walk(json.loads(text))


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(alphabet='[]{}"\\ab\u00e9\n'),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.text(alphabet='[]{}"\\k'), inner, max_size=3),
    max_leaves=20)


@hypothesis.settings(max_examples=200, deadline=None, derandomize=True, database=None)
@hypothesis.given(_JSON, st.booleans())
def test_text_depth_of_any_json(value, ascii_only):
  def walk(v):
    if not isinstance(v, (list, dict)):
      return 0
    return 1 + max((walk(x) for x in (v.values() if isinstance(v, dict) else v)), default=0)
  assert posetrack_reader.text_depth(json.dumps(value, ensure_ascii=ascii_only)) == walk(value)


@pytest.mark.parametrize('raw', [
    b'{"a": [1, 2.5, -0, 1e5, "x\\u00e9", null, true]}', b'[NaN, Infinity]', b'["\\ud800"]',
    b'\xef\xbb\xbf[1]', b'{"a": 1, "a": 2}', b'[18446744073709551615]'])
def test_decode_json_reads_as_json_does(raw):
  """orjson first, json where orjson refuses: the same objects (NaN / Infinity as NonFinite)."""
  want = json.loads(raw.decode('utf-8-sig'),
                    parse_constant=posetrack_reader.NonFinite) if raw[:3] != b'\xef\xbb\xbf' else None
  if want is None:   # json refuses a BOM in decoded text: a clean error either way
    with pytest.raises(posetrack_reader.FormatError, match='not valid JSON'):
      posetrack_reader.decode_json(raw, 'f.json')
    return
  got = posetrack_reader.decode_json(raw, 'f.json')
  assert repr(got) == repr(want)
