"""COCO AP as COCO computes it: the data set's own annotation file through pycocotools.

A hand-written COCO-layout folder (three small JPEGs; an official-format
person_keypoints_val2017.json with polygon segmentations whose areas differ from the box
areas, an uncompressed-RLE crowd, a person without keypoints) is built with the
``coco_keypoints`` builder and evaluated by ``keypoint_ap.evaluate_model`` with stand-in
predictors that return the file's keypoints through the pipeline's letterbox.
"""
import json
import os

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from artrack_jax import configs_util, geometry
from artrack_jax.data import pipeline
from artrack_jax.data import tfds_builders
from artrack_jax.data.tfds_builders import coco_keypoints
from artrack_jax.evaluation import coco as coco_eval
from artrack_jax.evaluation import keypoint_ap
from artrack_jax.evaluation import progress as progress_lib
from artrack_jax.grouping import decode as decode_lib

# (COCO image id, width, height): record order is by id, so with one batch of two the first
# two are evaluated and 397133 is not.
IMAGES = ((397133, 96, 64), (37777, 64, 80), (252219, 80, 80))
EVALUATED = (37777, 252219)
CROWD = (252219, 52, 8, 20, 30)          # image, x, y, w, h of the RLE crowd
SIZE = 64                                # network input (configs/tiny.py)
STRIDE = 4


def _polygon(x, y, w, h):
  """A hexagon inside the box (its area ~3/4 of the box's)."""
  return [x + w / 4, y, x + 3 * w / 4, y, x + w, y + h / 2, x + 3 * w / 4, y + h,
          x + w / 4, y + h, x, y + h / 2]


def _annotation_file():
  rng = np.random.default_rng(5)
  images, annotations = [], []
  people = {397133: [(10, 8, 30, 50), (55, 6, 30, 52)], 37777: [(8, 10, 40, 60)],
            252219: [(6, 12, 36, 60)]}
  for image_id, w, h in IMAGES:
    images.append({'license': 1, 'file_name': f'{image_id:012d}.jpg', 'coco_url': '',
                   'height': h, 'width': w, 'date_captured': '2013-11-14 17:02:52',
                   'flickr_url': '', 'id': image_id})
    for box in people[image_id]:
      x, y, bw, bh = box
      kp = np.zeros((17, 3))
      kp[:, 0] = rng.uniform(x + 2, x + bw - 2, 17).round(1)
      kp[:, 1] = rng.uniform(y + 2, y + bh - 2, 17).round(1)
      kp[:, 2] = 2
      kp[[3, 4], :] = 0                  # ears not labelled
      kp[5, 2] = 1                       # labelled, occluded
      poly = [_polygon(*box)]
      area = float(mask_utils.area(mask_utils.merge(mask_utils.frPyObjects(poly, h, w))))
      annotations.append({'segmentation': poly, 'num_keypoints': 15, 'area': area,
                          'iscrowd': 0, 'keypoints': kp.reshape(-1).tolist(),
                          'image_id': image_id, 'bbox': [float(v) for v in box],
                          'category_id': 1, 'id': 1000 + len(annotations)})
  # A person without keypoints (pycocotools ignores it) ...
  annotations.append({'segmentation': [_polygon(50, 50, 10, 20)], 'num_keypoints': 0,
                      'area': 150.0, 'iscrowd': 0, 'keypoints': [0] * 51, 'image_id': 37777,
                      'bbox': [50.0, 50.0, 10.0, 20.0], 'category_id': 1, 'id': 2001})
  # ... and a crowd as COCO writes them: uncompressed RLE, column-major counts.
  image_id, x, y, w, h = CROWD
  mask = np.zeros((80, 80), np.uint8, order='F')
  mask[y:y + h, x:x + w // 2] = 1        # an L: its area is not its box's
  mask[y + h - 8:y + h, x:x + w] = 1
  rle = mask_utils.encode(np.asfortranarray(mask))
  counts, run, value = [], 0, 0
  for v in mask.reshape(-1, order='F'):
    if v == value:
      run += 1
    else:
      counts.append(run)
      run, value = 1, v
  counts.append(run)
  annotations.append({'segmentation': {'counts': counts, 'size': [80, 80]},
                      'num_keypoints': 0, 'area': float(mask_utils.area(rle)), 'iscrowd': 1,
                      'keypoints': [0] * 51, 'image_id': image_id,
                      'bbox': [float(v) for v in mask_utils.toBbox(rle)], 'category_id': 1,
                      'id': 900100})
  categories = [{'supercategory': 'person', 'id': 1, 'name': 'person',
                 'keypoints': ['nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear',
                               'left_shoulder', 'right_shoulder', 'left_elbow',
                               'right_elbow', 'left_wrist', 'right_wrist', 'left_hip',
                               'right_hip', 'left_knee', 'right_knee', 'left_ankle',
                               'right_ankle'],
                 'skeleton': [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12],
                              [7, 13], [6, 7], [6, 8], [7, 9], [8, 10], [9, 11], [2, 3],
                              [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]}]
  return {'info': {'description': 'COCO 2017 Dataset'}, 'licenses': [], 'images': images,
          'annotations': annotations, 'categories': categories}


@pytest.fixture(scope='module')
def coco_dir(tmp_path_factory):
  root = tmp_path_factory.mktemp('coco')
  os.makedirs(root / 'val2017')
  os.makedirs(root / 'annotations')
  rng = np.random.default_rng(0)
  for image_id, w, h in IMAGES:
    pixels = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    Image.fromarray(pixels).save(root / 'val2017' / f'{image_id:012d}.jpg', quality=85)
  data = _annotation_file()
  for ann in data['annotations']:      # the areas are the segmentation's, not the box's
    if ann['iscrowd'] or ann['num_keypoints']:
      assert abs(ann['area'] - ann['bbox'][2] * ann['bbox'][3]) > 50
  path = root / 'annotations' / 'person_keypoints_val2017.json'
  path.write_text(json.dumps(data))
  data_dir = str(tmp_path_factory.mktemp('tfds'))
  source = tfds_builders.load_split('coco_keypoints', 'val', data_dir, manual_dir=str(root))
  return root, data_dir, str(path), source


def _config(root, data_dir):
  config = configs_util.load_config_module('tiny').get_config()
  config.data.name = 'coco_keypoints'
  config.data.skeleton = 'coco'
  config.data.builder_config = ''
  config.data.data_dir = data_dir
  config.data.manual_dir = str(root)
  config.train.eval_batch_size = 2
  config.train.eval_batches = 1
  return config


def _network_config(root, data_dir):
  """`_config` with a network small enough to restore and run in a test."""
  config = _config(root, data_dir)
  config.data.image_size = 32
  config.model.update(dict(stacks=1, features=8, increase=4, depth=1, he_dim=8, roi_size=3,
                           he_channels=8))
  config.decode.update(dict(det_threshold=-1e9, max_people=3, top_k=4))
  return config


class OraclePredictor:
  """The file's people of each image (in record order), mapped into the network's output
  maps through the batch's letterbox and back exactly as `FramePredictor.predict_batch` does.

  `noise`: pixels of Gaussian error added to each joint; `crowd_pose`: a top-scored false
  pose on the crowd region."""

  def __init__(self, path, noise=0.0, crowd_pose=False):
    data = json.loads(open(path).read())
    self.images = sorted(data['images'], key=lambda im: im['id'])
    self.people = {im['id']: [a for a in data['annotations'] if a['image_id'] == im['id']
                              and not a['iscrowd'] and a['num_keypoints']]
                   for im in self.images}
    self.noise, self.crowd_pose = noise, crowd_pose
    self.rng = np.random.default_rng(1)
    self.seen = []

  def predict_batch(self, images, transforms):
    out = []
    for transform in transforms:
      if len(self.seen) == len(self.images):    # the padding of a last batch
        out.append([])
        continue
      image = self.images[len(self.seen)]
      self.seen.append(image['id'])
      # The letterbox keeps the aspect ratio: the long side fills the input.
      scale = np.linalg.norm(geometry.apply_affine(transform, [[1.0, 0.0]])
                             - geometry.apply_affine(transform, [[0.0, 0.0]]))
      assert scale == pytest.approx(SIZE / max(image['width'], image['height']))
      to_output = geometry.invert_affine(geometry.output_to_image_matrix(transform, STRIDE))
      poses = []
      for k, ann in enumerate(self.people[image['id']]):
        kp = np.asarray(ann['keypoints'], np.float64).reshape(17, 3)
        xy = kp[:, :2] + self.noise * self.rng.standard_normal((17, 2))
        scores = np.where(kp[:, 2] > 0, 1.0, 0.0)
        poses.append(self._pose(geometry.apply_affine(to_output, xy), scores, 0.9 - 0.1 * k))
      if self.crowd_pose and image['id'] == CROWD[0]:
        _, x, y, w, h = CROWD
        xy = np.stack([np.linspace(x + 2, x + w - 2, 17), np.linspace(y + 2, y + h - 2, 17)], 1)
        poses.append(self._pose(geometry.apply_affine(to_output, xy), np.ones(17), 0.99))
      out.append(decode_lib.poses_to_image(
          poses, geometry.output_to_image_matrix(transform, STRIDE)))
    return out

  @staticmethod
  def _pose(xy, scores, score):
    keypoints = np.concatenate([xy, scores[:, None]], 1).astype(np.float32)
    return {'keypoints': keypoints, 'score': float(score), 'center': xy.mean(0)}


def _pycocotools(path, results_path, image_ids):
  gt = COCO(path)
  evaluator = COCOeval(gt, gt.loadRes(results_path), iouType='keypoints')
  evaluator.params.imgIds = sorted(image_ids)
  evaluator.evaluate()
  evaluator.accumulate()
  evaluator.summarize()
  return dict(zip(coco_eval.STAT_NAMES, evaluator.stats))


def test_perfect_predictions_score_one_against_the_file(coco_dir, tmp_path, capsys):
  root, data_dir, path, source = coco_dir
  config = _config(root, data_dir)
  results_path = str(tmp_path / 'results.json')
  predictor = OraclePredictor(path, crowd_pose=True)
  metrics = keypoint_ap.evaluate_model(predictor, config, source, max_batches=1,
                                       results_path=results_path)
  assert tuple(predictor.seen) == EVALUATED
  # 1.0 only if the crowd region absorbs the top-scored pose on it and the unevaluated image's
  # people are left out (params.imgIds).
  assert metrics['AP'] == 1.0 and metrics['AR'] == 1.0 and metrics['AP50'] == 1.0
  assert metrics['num_images'] == 2.0
  results = json.loads(open(results_path).read())
  assert sorted({r['image_id'] for r in results}) == sorted(EVALUATED)   # the COCO ids
  out = capsys.readouterr().out
  assert 'eval val: 2/2 frames (100%)' in out
  assert f'scored against {path} (pycocotools, 2 of its 3 images' in out
  # Without the restriction the third image's people are missed; without the crowd the pose
  # on it is a top-scored false positive.
  assert coco_eval.evaluate_keypoints(path, results)['AR'] < 1.0
  data = json.loads(open(path).read())
  data['annotations'] = [a for a in data['annotations'] if not a['iscrowd']]
  assert coco_eval.evaluate_keypoints(data, results, image_ids=EVALUATED)['AP'] < 0.7


def test_same_stats_as_pycocotools_on_the_file(coco_dir, tmp_path):
  root, data_dir, path, source = coco_dir
  config = _config(root, data_dir)
  results_path = str(tmp_path / 'results.json')
  ours = keypoint_ap.evaluate_model(OraclePredictor(path, noise=1.2, crowd_pose=True), config,
                                    source, max_batches=1, results_path=results_path,
                                    progress=False)
  direct = _pycocotools(path, results_path, EVALUATED)
  for name in coco_eval.STAT_NAMES:
    assert ours[name] == pytest.approx(direct[name], abs=1e-12), name
  assert 0.0 < ours['AP'] < 1.0
  # The ground truth rebuilt from the records (box areas, one crowd box) scores otherwise.
  rebuilt = keypoint_ap.evaluate_model(OraclePredictor(path, noise=1.2, crowd_pose=True),
                                       config, source, max_batches=1, ground_truth='records',
                                       progress=False)
  assert rebuilt['AP'] != pytest.approx(ours['AP'], abs=1e-6)


def test_validation_of_a_network_scores_against_the_file(coco_dir, tmp_path, capsys):
  """train_lib's `make_evaluate_fn(config, workdir)` on COCO: the real predictor, the file."""
  import tiny_networks  # pylint: disable=g-import-not-at-top
  root, data_dir, path, _ = coco_dir
  config = _network_config(root, data_dir)
  variables, _ = tiny_networks.random_variables(config)
  evaluate_fn = keypoint_ap.make_evaluate_fn(config, str(tmp_path))
  metrics = evaluate_fn(variables, 7)
  assert set(coco_eval.STAT_NAMES) <= set(metrics) and metrics['num_images'] == 2.0
  assert all(np.isfinite(metrics[k]) for k in coco_eval.STAT_NAMES)
  results = json.loads((tmp_path / 'eval' / 'results_val_7.json').read_text())
  assert results and {r['image_id'] for r in results} <= set(EVALUATED)
  direct = _pycocotools(path, str(tmp_path / 'eval' / 'results_val_7.json'), EVALUATED)
  assert all(metrics[k] == pytest.approx(direct[k], abs=1e-12) for k in coco_eval.STAT_NAMES)
  assert f'scored against {path}' in capsys.readouterr().out


def test_missing_or_mismatching_annotation_file_is_an_error(coco_dir, tmp_path):
  root, data_dir, path, source = coco_dir
  config = _config(root, data_dir)
  config.data.manual_dir = str(tmp_path / 'elsewhere')
  want = str(tmp_path / 'elsewhere' / 'annotations' / 'person_keypoints_val2017.json')
  with pytest.raises(FileNotFoundError, match=f'COCO annotation file {want} does not exist'):
    keypoint_ap.evaluate_model(OraclePredictor(path), config, source, max_batches=1)
  config.eval.coco_annotations = str(tmp_path / 'nope.json')
  with pytest.raises(FileNotFoundError, match='nope.json does not exist .*eval.coco_annotations'):
    keypoint_ap.make_evaluate_fn(config, str(tmp_path))(None, 0)
  # A file of other images (or sizes) than the records: named, not scored.
  data = json.loads(open(path).read())
  data['images'][1]['width'] = 70                       # 37777 is 64 px wide
  other = tmp_path / 'other.json'
  other.write_text(json.dumps(data))
  config.eval.coco_annotations = str(other)
  with pytest.raises(ValueError, match=f'{other} does not match split .val.: image 37777 '
                     r'\(record 0\) is 64x80 in the records, 70x80 in the file'):
    keypoint_ap.evaluate_model(OraclePredictor(path), config, source, max_batches=1)
  data['images'] = [im for im in data['images'] if im['id'] != 252219]
  data['annotations'] = [a for a in data['annotations'] if a['image_id'] != 252219]
  data['images'][0]['width'] = 96
  data['images'][1]['width'] = 64
  other.write_text(json.dumps(data))
  with pytest.raises(ValueError, match=r'image 252219 \(record 1\) is not in the file'):
    keypoint_ap.evaluate_model(OraclePredictor(path), config, source, max_batches=1)


def test_synthetic_keeps_its_rebuilt_ground_truth():
  config = configs_util.load_config_module('tiny').get_config()
  assert keypoint_ap.coco_annotation_paths(config, 'val') is None
  config.data.name = 'coco_keypoints'
  config.data.manual_dir = '/data/coco'
  assert keypoint_ap.coco_annotation_paths(config, 'train+val') == [
      '/data/coco/annotations/person_keypoints_train2017.json',
      '/data/coco/annotations/person_keypoints_val2017.json']
  config.data.manual_dir = ''              # TFDS's default manual_dir of the data_dir
  config.data.data_dir = '/data/tfds'
  assert keypoint_ap.coco_annotation_paths(config, 'val') == [
      '/data/tfds/downloads/manual/annotations/person_keypoints_val2017.json']
  config.eval.coco_annotations = '~/a.json, /b.json'
  assert keypoint_ap.coco_annotation_paths(config, 'val') == [
      os.path.expanduser('~/a.json'), '/b.json']


def test_progress_lines(capsys):
  now = [0.0]
  meter = progress_lib.Progress(1000, 'eval val', clock=lambda: now[0])
  for done in range(1, 1001):
    now[0] += 0.1              # 100 s in all: the 10% marks only
    meter.update(done)
  lines = capsys.readouterr().out.splitlines()
  assert len(lines) == 10
  assert lines[0] == 'eval val: 100/1000 frames (10%), 0:00:10 elapsed, 0:01:30 left'
  assert lines[-1] == 'eval val: 1000/1000 frames (100%), 0:01:40'
  now[0] = 0.0
  slow = progress_lib.Progress(1000, 'x', clock=lambda: now[0])
  for done in range(1, 101):
    now[0] += 1.0              # 1 s a frame: a line every 30 s before the 10% mark
    slow.update(done)
  lines = capsys.readouterr().out.splitlines()
  assert lines == ['x: 30/1000 frames (3%), 0:00:30 elapsed, 0:16:10 left',
                   'x: 60/1000 frames (6%), 0:01:00 elapsed, 0:15:40 left',
                   'x: 90/1000 frames (9%), 0:01:30 elapsed, 0:15:10 left',
                   'x: 100/1000 frames (10%), 0:01:40 elapsed, 0:15:00 left']


def test_eval_py_names_the_missing_annotation_file(coco_dir, tmp_path, monkeypatch, capsys):
  """eval.py's workdir mode: a clear error before anything is restored or predicted."""
  import types  # pylint: disable=g-import-not-at-top
  from artrack_jax.cli import eval as eval_cli  # pylint: disable=g-import-not-at-top
  root, data_dir, _, _ = coco_dir
  config = _config(root, data_dir)
  missing = tmp_path / 'ann.json'
  config.eval.coco_annotations = str(missing)
  monkeypatch.setattr(eval_cli, '_WORKDIR_FLAGS', [
      types.SimpleNamespace(config=config, workdir=str(tmp_path / 'no_checkpoints'), step=None)])
  with pytest.raises(SystemExit) as exit_info:
    eval_cli._workdir_main(['eval.py'])  # pylint: disable=protected-access
  assert exit_info.value.code == 2
  err = capsys.readouterr().err
  assert f'error: COCO annotation file {missing} does not exist' in err


def test_evaluating_an_exported_model_writes_nothing_into_it(coco_dir, tmp_path):
  """eval.py --workdir on the installed reference model must leave the package as it was."""
  import tiny_networks  # pylint: disable=g-import-not-at-top
  from artrack_jax import reference  # pylint: disable=g-import-not-at-top
  root, data_dir, _, _ = coco_dir
  config = _network_config(root, data_dir)
  spatial, temporal = tiny_networks.random_variables(config)
  trained = tmp_path / 'temporal'
  tiny_networks.save_checkpoint(trained, config, temporal, spatial)
  (trained / 'config.json').write_text(config.to_json_best_effort())
  exported = tmp_path / 'exported'
  reference.export(str(trained), str(exported), command='test')
  before = sorted((p.relative_to(exported), p.stat().st_mtime_ns) for p in exported.rglob('*'))
  from_export = keypoint_ap.evaluate(config, str(exported))
  assert sorted((p.relative_to(exported), p.stat().st_mtime_ns)
                for p in exported.rglob('*')) == before
  from_checkpoint = keypoint_ap.evaluate(config, str(trained))
  assert from_export['AP'] == pytest.approx(from_checkpoint['AP'], abs=1e-6)
  assert (trained / 'metrics.jsonl').exists() and list((trained / 'eval').glob('results_*'))
