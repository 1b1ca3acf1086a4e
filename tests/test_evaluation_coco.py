"""COCO keypoint AP through pycocotools: OKS oracle written in NumPy, custom skeletons, errors."""
import json

import numpy as np
import pytest

from artrack_jax import skeletons
from artrack_jax.evaluation import cli
from artrack_jax.evaluation import coco
from artrack_jax.evaluation.posetrack import EvaluationInputError

AREA = 6400.0   # a medium object (32^2 < area < 96^2)
THRESHOLDS = np.linspace(0.5, 0.95, 10)


def dataset(names, num_images=2):
  k = len(names)
  rng = np.random.default_rng(0)
  images, annotations = [], []
  for i in range(num_images):
    xy = rng.uniform(20, 100, (k, 2))
    kpts = np.concatenate([xy, np.full((k, 1), 2.0)], 1)
    images.append({'id': i + 1, 'width': 200, 'height': 200, 'file_name': f'{i}.jpg'})
    annotations.append({'id': i + 1, 'image_id': i + 1, 'category_id': 1, 'iscrowd': 0,
                        'keypoints': kpts.reshape(-1).tolist(), 'num_keypoints': k,
                        'area': AREA, 'bbox': [20.0, 20.0, 80.0, 80.0]})
  gt = {'images': images, 'annotations': annotations,
        'categories': [{'id': 1, 'name': 'person', 'keypoints': list(names)}]}
  return gt


def shifted_results(gt, shift, score=0.9):
  out = []
  for ann in gt['annotations']:
    kpts = np.asarray(ann['keypoints'], float).reshape(-1, 3).copy()
    kpts[:, :2] += shift
    out.append({'image_id': ann['image_id'], 'category_id': 1,
                'keypoints': kpts.reshape(-1).tolist(), 'score': score})
  return out


def oks_oracle(shift, sigmas):
  """COCO OKS of a uniformly shifted pose: mean_j exp(-d^2 / (2 (2 sigma_j)^2 area))."""
  d2 = float(np.sum(np.square(shift)))
  variances = (2 * np.asarray(sigmas)) ** 2
  return float(np.mean(np.exp(-d2 / variances / (AREA + np.spacing(1)) / 2)))


def expected_ap(oks):
  assert np.min(np.abs(THRESHOLDS - oks)) > 1e-3   # keep clear of a threshold
  return float(np.mean(oks >= THRESHOLDS))


def test_exact_predictions_score_one():
  gt = dataset(skeletons.COCO.names)
  stats = coco.evaluate_keypoints(gt, shifted_results(gt, (0.0, 0.0)))
  assert list(stats) == list(coco.STAT_NAMES)
  assert stats['AP'] == pytest.approx(1.0)
  assert stats['AR'] == pytest.approx(1.0)
  assert stats['APM'] == pytest.approx(1.0)
  assert stats['APL'] == -1.0   # no large objects: undefined, as pycocotools reports


def test_shift_gives_oracle_ap_with_coco_sigmas(tmp_path):
  gt = dataset(skeletons.COCO.names)
  shift = np.array([3.0, 2.0])
  oks = oks_oracle(shift, skeletons.COCO.oks_sigmas)
  (tmp_path / 'gt.json').write_text(json.dumps(gt))
  (tmp_path / 'res.json').write_text(json.dumps(shifted_results(gt, shift)))
  stats = coco.evaluate_keypoints(str(tmp_path / 'gt.json'), str(tmp_path / 'res.json'))
  assert stats['AP'] == pytest.approx(expected_ap(oks), abs=1e-6)
  assert stats['AP50'] == pytest.approx(float(oks >= 0.5))
  assert stats['AR'] == pytest.approx(expected_ap(oks), abs=1e-6)


def test_posetrack_skeleton_uses_its_sigmas_and_custom_sigmas_override():
  gt = dataset(skeletons.POSETRACK.names)
  shift = np.array([6.0, 0.0])
  oks = oks_oracle(shift, skeletons.POSETRACK.oks_sigmas)
  res = shifted_results(gt, shift)
  stats = coco.evaluate_keypoints(gt, res)
  assert stats['AP'] == pytest.approx(expected_ap(oks), abs=1e-6)
  assert stats['AP'] == pytest.approx(0.7, abs=1e-6)
  wide = np.full(15, 0.2)
  stats = coco.evaluate_keypoints(gt, res, sigmas=wide)
  assert stats['AP'] == pytest.approx(expected_ap(oks_oracle(shift, wide)), abs=1e-6)


def test_ranking_by_score_with_a_false_positive():
  # Image 1: an exact detection; image 2: a far-off detection scored higher, and its person
  # is missed. Precision at the single true positive is 1/2, recall 1/2.
  gt = dataset(skeletons.COCO.names)
  res = shifted_results(gt, (0.0, 0.0))
  res[1]['keypoints'] = (np.asarray(res[1]['keypoints']) + 500 * np.tile([1, 1, 0], 17)).tolist()
  res[1]['score'] = 0.99
  stats = coco.evaluate_keypoints(gt, res)
  # 101-point interpolated precision: 1/2 up to recall 1/2 (51 points), 0 after.
  assert stats['AP'] == pytest.approx(0.5 * 51 / 101, abs=1e-6)
  assert stats['AR'] == pytest.approx(0.5)


def test_empty_results_give_zero():
  gt = dataset(skeletons.COCO.names)
  stats = coco.evaluate_keypoints(gt, [])
  assert stats['AP'] == 0.0
  assert stats['AR'] == 0.0


def test_errors_name_the_entry_and_field():
  gt = dataset(skeletons.COCO.names)
  res = shifted_results(gt, (0.0, 0.0))
  res[1]['image_id'] = 99
  with pytest.raises(EvaluationInputError, match=r'<results>: \[1\]\.image_id: expected the id of a ground-truth image, got 99'):
    coco.evaluate_keypoints(gt, res)
  res = shifted_results(gt, (0.0, 0.0))
  res[0]['keypoints'] = res[0]['keypoints'][:-3]
  with pytest.raises(EvaluationInputError, match=r'\[0\]\.keypoints: expected 51 numbers, got 48'):
    coco.evaluate_keypoints(gt, res)
  odd = dataset([f'j{i}' for i in range(5)])
  with pytest.raises(EvaluationInputError, match='pass sigmas'):
    coco.evaluate_keypoints(odd, shifted_results(odd, (0.0, 0.0)))
  with pytest.raises(EvaluationInputError, match='expected 5 positive values'):
    coco.evaluate_keypoints(odd, shifted_results(odd, (0.0, 0.0)), sigmas=[0.1] * 4)


def test_cli_coco(tmp_path, capsys):
  gt = dataset(skeletons.COCO.names)
  (tmp_path / 'gt.json').write_text(json.dumps(gt))
  (tmp_path / 'res.json').write_text(json.dumps(shifted_results(gt, (0.0, 0.0))))
  out = tmp_path / 'stats.json'
  assert cli.main(['--coco-gt', str(tmp_path / 'gt.json'), '--coco-pred',
                   str(tmp_path / 'res.json'), '--out', str(out)]) == 0
  assert json.loads(out.read_text())['AP'] == pytest.approx(1.0)
  assert 'AP' in capsys.readouterr().out
  assert cli.main(['--coco-gt', str(tmp_path / 'missing.json'), '--coco-pred',
                   str(tmp_path / 'res.json')]) == 2
  assert 'missing.json: ground truth file does not exist' in capsys.readouterr().err
