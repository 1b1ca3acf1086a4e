"""TFDS builders: build tiny fixtures in the real formats, read back without TensorFlow."""
import importlib.util
import io
import json
import os
import pathlib
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from artrack_jax import skeletons
from artrack_jax.data import augment, build, formats, pipeline, synthetic
from artrack_jax.data import images as images_lib
from artrack_jax.data import tfds_builders
from artrack_jax.data.tfds_builders import common
from artrack_jax.evaluation import posetrack

SIZE = 48
KEYS = {'image', 'image_height', 'image_width', 'image_id', 'sequence', 'sequence_index',
        'frame_id', 'num_frames', 'is_labeled', 'keypoints', 'track_id', 'bbox', 'bbox_head',
        'ignore_mask'}


def _assert_record(record, frame, image, sequence, sequence_index, num_frames, num_joints,
                   source_file=None):
  """``image``: the expected pixels; ``source_file``: the file whose bytes must be stored."""
  assert set(record) == KEYS
  assert isinstance(record['image'], bytes)
  if source_file is not None:
    assert record['image'] == pathlib.Path(source_file).read_bytes()
  decoded = images_lib.decode_image(record['image'])
  np.testing.assert_array_equal(decoded, image)
  assert decoded.dtype == np.uint8
  assert (record['image_height'], record['image_width']) == image.shape[:2]
  assert record['image_id'] == frame.image_id
  assert record['sequence'] == sequence.encode()
  assert record['sequence_index'] == sequence_index
  assert record['frame_id'] == frame.frame_id
  assert record['num_frames'] == num_frames
  assert bool(record['is_labeled']) == frame.is_labeled
  n = len(frame.people)
  assert record['keypoints'].shape == (n, num_joints, 3)
  assert record['keypoints'].dtype == np.float32
  for k, p in enumerate(frame.people):
    np.testing.assert_array_equal(record['keypoints'][k], p.keypoints)
    np.testing.assert_array_equal(record['bbox'][k], p.bbox)
    head = np.zeros(4) if p.bbox_head is None else p.bbox_head
    np.testing.assert_array_equal(record['bbox_head'][k], head)
  assert record['track_id'].tolist() == [p.track_id for p in frame.people]


def _pixel_mask(polygons, h, w):
  """Oracle for axis-aligned rectangles: pixel centres inside [x0, x1] x [y0, y1]."""
  m = np.zeros((h, w), np.uint8)
  yy, xx = np.mgrid[:h, :w]
  for p in polygons:
    (x0, y0), (x1, y1) = p.min(0), p.max(0)
    m[(xx >= x0) & (xx <= x1) & (yy >= y0) & (yy <= y1)] = 1
  return m


def test_synthetic_builder_matches_the_generator(tmp_path):
  source = tfds_builders.load_split('synthetic_posetrack', 'val', str(tmp_path), config='tiny_64')
  assert 'tensorflow' not in sys.modules
  clips = list(synthetic.generate_split('val', 2, num_frames=8, image_size=64, seed=0))
  assert len(source) == 16
  i = 0
  for index, (seq, images) in enumerate(clips):
    for fr, image in zip(seq.frames, images):
      rec = source[i]
      _assert_record(rec, fr, image, seq.name, index, 8, 15)   # the generator's pixels
      assert rec['image'].startswith(images_lib.PNG_MAGIC)
      np.testing.assert_array_equal(rec['ignore_mask'],
                                    common.rasterize_polygons(fr.ignore_regions, 64, 64))
      i += 1
  # The same files through the plain TFDS entry point.
  train = tfds.data_source('synthetic_posetrack/tiny_64', split='train', data_dir=str(tmp_path))
  order = [(int(train[k]['sequence_index']), int(train[k]['frame_id'])) for k in range(len(train))]
  assert order == sorted(order) and len(order) == 3 * 8


@pytest.fixture(scope='module')
def posetrack_fixture(tmp_path_factory):
  """A manual_dir with images and both annotation versions (png so pixels compare exactly)."""
  root = tmp_path_factory.mktemp('posetrack')
  seqs = {}
  for split, count in (('train', 2), ('val', 1)):
    seqs[split] = []
    for seq, images in synthetic.generate_split(split, count, num_frames=3, image_size=SIZE):
      # One unlabelled frame and one rectangular ignore region, as in real files.
      seq.frames[2].is_labeled = False
      seq.frames[2].people = []
      seq.frames[1].ignore_regions = [np.array([[4, 6], [20, 6], [20, 15], [4, 15]], np.float32)]
      for fr, im in zip(seq.frames, images):
        fr.image_path = fr.image_path.replace('.jpg', '.png')
        os.makedirs(os.path.dirname(root / fr.image_path), exist_ok=True)
        Image.fromarray(im).save(root / fr.image_path)
      for version, writer in (('2018', formats.write_posetrack18),
                              ('2017', formats.write_posetrack17)):
        path = root / f'manual{version}' / 'annotations' / split / f'{seq.name}.json'
        writer(seq, path)
        if version == '2018' and split == 'val':
          # A trimmed sequence (nframes larger than the frames listed), as partly downloaded
          # PoseTrack sequences are: built from the frames it lists.
          data = json.loads(path.read_text())
          for im in data['images']:
            im['nframes'] = 149
          path.write_text(json.dumps(data))
      seqs[split].append((seq, images))
  for version in ('2017', '2018'):
    os.symlink(root / 'images', root / f'manual{version}' / 'images')
  return root, seqs


@pytest.mark.parametrize('version', ['2018', '2017'])
def test_posetrack_builder(posetrack_fixture, tmp_path, version):
  root, seqs = posetrack_fixture
  for split in ('train', 'val'):
    source = tfds_builders.load_split('posetrack', split, str(tmp_path),
                                      manual_dir=str(root / f'manual{version}'), config=version)
    i = 0
    for index, (seq, images) in enumerate(seqs[split]):
      for fr, image in zip(seq.frames, images):
        rec = source[i]
        _assert_record(rec, fr, image, seq.name, index, 3, 15, source_file=root / fr.image_path)
        np.testing.assert_array_equal(rec['ignore_mask'],
                                      _pixel_mask(fr.ignore_regions, SIZE, SIZE))
        i += 1
    assert len(source) == i


def _assert_builder_reads_as_evaluator(source, first, path):
  """The builder's records of the file ``path`` (records ``first``...) hold the persons, joints,
  head boxes and ignore regions the evaluator reads from it (``evaluation.posetrack``).

  Joints: labelled (v > 0) in the records, present for the evaluator. The one difference the
  reader keeps by design: a slot (x, y, 0) with x or y non-zero is a joint for the toolkit
  and unlabelled for training; the files here write unlabelled joints (0, 0, 0).
  """
  gt = posetrack.load_sequence(str(path), 'gt')
  for k, fr in enumerate(gt.frames):
    rec = source[first + k]
    assert rec['frame_id'] == k
    assert rec['track_id'].tolist() == fr.track_ids.tolist()
    kp = rec['keypoints']
    np.testing.assert_array_equal(kp[..., 2] > 0, fr.present)
    np.testing.assert_array_equal(np.where(fr.present[..., None], kp[..., :2], 0), fr.points)
    box = rec['bbox_head'].astype(np.float64)
    corners = np.concatenate([box[:, :2], box[:, :2] + box[:, 2:]], axis=1)
    with_points = fr.present.any(axis=1)
    np.testing.assert_allclose(corners[with_points], fr.head_boxes[with_points], atol=1e-4)
    h, w = int(rec['image_height']), int(rec['image_width'])
    np.testing.assert_array_equal(rec['ignore_mask'],
                                  common.rasterize_polygons(fr.ignore_regions, h, w))
  return len(gt.frames)


def test_builder_and_evaluator_read_the_same(posetrack_fixture, tmp_path):
  root, seqs = posetrack_fixture
  for version in ('2018', '2017'):
    manual = root / f'manual{version}'
    source = tfds_builders.load_split('posetrack', 'val', str(tmp_path), manual_dir=str(manual),
                                      config=version)
    first = 0
    for seq, _ in seqs['val']:
      first += _assert_builder_reads_as_evaluator(
          source, first, manual / 'annotations' / 'val' / f'{seq.name}.json')
    assert first == len(source)


def _kp17(joints):
  """{posetrack joint: (x, y, v)} -> the 51 numbers of a PoseTrack 2018 / 21 annotation."""
  kp = np.zeros((15, 3))
  for j, xyv in joints.items():
    kp[j] = xyv
  return skeletons.posetrack_to_posetrack18(kp).reshape(-1).tolist()


def _posetrack21_file(name, vid, nframes, frames):
  """A PoseTrack21 ``posetrack_data`` file as the data set writes it (hand-written fields)."""
  images, annotations = [], []
  for t, people in enumerate(frames):
    image_id = int(f'1{vid:06d}{t:04d}')
    images.append({'is_labeled': bool(people), 'nframes': nframes, 'image_id': image_id,
                   'id': image_id, 'vid_id': f'{vid:06d}', 'frame_id': image_id,
                   'file_name': f'images/val/{name}/{t:06d}.jpg',
                   'has_labeled_person': bool(people),
                   'ignore_regions_x': [[2, 20, 20, 2]] if t == 0 else [],
                   'ignore_regions_y': [[30, 30, 40, 40]] if t == 0 else []})
    for k, (track_id, person_id, joints) in enumerate(people):
      annotations.append({
          'bbox': [4.0 + 10 * k, 4.0, 20.0, 30.0], 'bbox_head': [5.0 + 10 * k, 4.0, 6.0, 7.0],
          'category_id': 1, 'id': image_id * 100 + k, 'image_id': image_id,
          'keypoints': _kp17(joints), 'person_id': person_id, 'track_id': track_id})
  return {'images': images, 'annotations': annotations,
          'categories': [{'supercategory': 'person', 'id': 1, 'name': 'person',
                          'keypoints': list(skeletons.POSETRACK18.names),
                          'skeleton': [[16, 14], [14, 12], [17, 15], [15, 13]]}]}


def test_posetrack21_builder(tmp_path):
  """Config 2021 on PoseTrack21's own layout: images/ and posetrack_data/{train,val}."""
  root = tmp_path / 'PoseTrack21'
  rng = np.random.default_rng(4)
  a = {0: (10, 12, 1), 1: (11, 20, 1), 5: (8, 25, 1), 14: (12, 44, 1)}
  b = {0: (21, 13, 1), 2: (22, 6, 1), 9: (20, 30, 1)}
  files = {
      # A trimmed sequence (nframes 30, 3 images listed), an unlabelled last frame.
      ('val', '000001_mpii_test', 1, 30): [[(0, 700, a), (1, 701, b)], [(1, 701, b)], []],
      ('train', '000002_bonn_train', 2, 2): [[(3, 9, a)], [(3, 9, b)]],
  }
  for (split, name, vid, nframes), frames in files.items():
    data = _posetrack21_file(name, vid, nframes, frames)
    for im in data['images']:
      im['file_name'] = im['file_name'].replace('/val/', f'/{split}/')
      os.makedirs(root / os.path.dirname(im['file_name']), exist_ok=True)
      Image.fromarray(_noisy_image(rng, SIZE, SIZE + 16)).save(root / im['file_name'],
                                                                quality=85)
    path = root / 'posetrack_data' / split / f'{name}.json'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
  source = tfds_builders.load_split('posetrack', 'val', str(tmp_path / 'd'),
                                    manual_dir=str(root), config='2021')
  assert len(source) == 3   # the frames listed, not nframes
  path = root / 'posetrack_data' / 'val' / '000001_mpii_test.json'
  data = json.loads(path.read_text())
  for t, (im, rec) in enumerate(zip(data['images'], source)):
    # The data set's own JPEG bytes, untouched.
    assert rec['image'] == (root / im['file_name']).read_bytes()
    assert rec['image'].startswith(images_lib.JPEG_MAGIC)
    assert (rec['image_height'], rec['image_width']) == (SIZE, SIZE + 16)
    assert rec['image_id'] == im['id'] and rec['sequence'] == b'000001_mpii_test'
    assert rec['num_frames'] == 3 and bool(rec['is_labeled']) == im['is_labeled']
    anns = [ann for ann in data['annotations'] if ann['image_id'] == im['id']]
    assert rec['track_id'].tolist() == [ann['track_id'] for ann in anns]
    for k, ann in enumerate(anns):
      np.testing.assert_array_equal(
          rec['keypoints'][k],
          skeletons.posetrack18_to_posetrack(np.reshape(ann['keypoints'], (17, 3))))
      np.testing.assert_array_equal(rec['bbox'][k], ann['bbox'])
      np.testing.assert_array_equal(rec['bbox_head'][k], ann['bbox_head'])
  region = np.array([[2, 30], [20, 30], [20, 40], [2, 40]], np.float32)
  np.testing.assert_array_equal(source[0]['ignore_mask'],
                                common.rasterize_polygons([region], SIZE, SIZE + 16))
  assert source[0]['ignore_mask'].sum() > 0 and source[1]['ignore_mask'].sum() == 0
  assert _assert_builder_reads_as_evaluator(source, 0, path) == 3
  seq, person_ids = formats.read_posetrack21(path)
  assert person_ids == {(0, 0): 700, (0, 1): 701, (1, 1): 701}
  assert seq.vid_id == 1
  train = tfds_builders.load_split('posetrack', 'train', str(tmp_path / 'd'),
                                   manual_dir=str(root), config='2021')
  assert len(train) == 2 and train[1]['track_id'].tolist() == [3]
  # The 2021 layout without posetrack_data/ is refused with the layout it expects.
  (tmp_path / 'empty' / 'images').mkdir(parents=True)
  with pytest.raises(FileNotFoundError, match='posetrack_data/val/\\*.json'):
    tfds_builders.load_split('posetrack', 'val', str(tmp_path / 'd2'),
                             manual_dir=str(tmp_path / 'empty'), config='2021')


def test_builder_refuses_what_the_evaluator_refuses(tmp_path):
  """A ground-truth file the evaluator refuses fails the build with the evaluator's message."""
  data = _posetrack21_file('000001_mpii_test', 1, 1,
                           [[(0, 700, {0: (10, 12, 1), 1: (11, 20, 1)})]])
  data['annotations'][0]['bbox_head'] = [5.0, 4.0, 0.0, 0.0]   # head size 0
  path = tmp_path / 'm' / 'posetrack_data' / 'val' / '000001_mpii_test.json'
  path.parent.mkdir(parents=True)
  path.write_text(json.dumps(data))
  with pytest.raises(posetrack.EvaluationInputError) as evaluator:
    posetrack.load_sequence(str(path), 'gt')
  with pytest.raises(formats.FormatError) as builder:
    tfds_builders.load_split('posetrack', 'val', str(tmp_path / 'd'),
                             manual_dir=str(tmp_path / 'm'), config='2021')
  assert str(builder.value) == str(evaluator.value)
  assert f'{path}: annotations[0].bbox_head: degenerate head box' in str(builder.value)


def test_posetrack_builder_errors(tmp_path):
  (tmp_path / 'empty' / 'images').mkdir(parents=True)  # a manual_dir without annotations/
  with pytest.raises(FileNotFoundError, match='annotations/train/\\*.json'):
    tfds_builders.load_split('posetrack', 'train', str(tmp_path / 'd'),
                             manual_dir=str(tmp_path / 'empty'), config='2018')
  seq, _ = synthetic.generate_clip('val', 0, num_frames=1, image_size=SIZE)
  formats.write_posetrack18(seq, tmp_path / 'm' / 'annotations' / 'val' / f'{seq.name}.json')
  with pytest.raises(FileNotFoundError, match=seq.frames[0].image_path):
    tfds_builders.load_split('posetrack', 'val', str(tmp_path / 'd'),
                             manual_dir=str(tmp_path / 'm'), config='2018')
  with pytest.raises(ValueError, match='unknown data set'):
    tfds_builders.load_split('mpii', 'val', str(tmp_path))


def test_coco_builder(tmp_path):
  seq, images = synthetic.generate_clip('val', 1, num_frames=2, image_size=SIZE)
  coco = formats.convert_skeleton(seq, 'coco')
  for fr, im in zip(coco.frames, images):
    fr.image_path = f'val2017/{fr.image_id:012d}.png'
    fr.ignore_regions = []
    os.makedirs(tmp_path / 'm' / 'val2017', exist_ok=True)
    Image.fromarray(im).save(tmp_path / 'm' / fr.image_path)
  rect = np.array([[2, 3], [9, 3], [9, 8], [2, 8]], np.float32)
  coco.frames[0].ignore_regions = [rect]
  path = tmp_path / 'm' / 'annotations' / 'person_keypoints_val2017.json'
  formats.write_coco(coco, path, image_prefix='val2017/')
  data = json.loads(path.read_text())
  # An RLE crowd (columns 30-31 of frame 1, column-major counts) and a person without
  # keypoints (masked like a crowd by the AE convention).
  im1 = coco.frames[1].image_id
  data['annotations'].append({'id': 900, 'image_id': im1, 'category_id': 1, 'iscrowd': 1,
                              'bbox': [30, 0, 2, SIZE], 'num_keypoints': 0,
                              'segmentation': {'size': [SIZE, SIZE],
                                               'counts': [30 * SIZE, 2 * SIZE, 16 * SIZE]}})
  data['annotations'].append({'id': 901, 'image_id': im1, 'category_id': 1, 'iscrowd': 0,
                              'bbox': [40, 40, 4, 4], 'num_keypoints': 0, 'keypoints': [0] * 51,
                              'segmentation': [[40, 40, 44, 40, 44, 44, 40, 44]]})
  path.write_text(json.dumps(data))
  source = tfds_builders.load_split('coco_keypoints', 'val', str(tmp_path / 'd'),
                                    manual_dir=str(tmp_path / 'm'))
  back = formats.read_coco(path)
  assert len(source) == 2
  for index, (fr, image) in enumerate(zip(back.frames, images)):
    rec = source[index]
    fr.frame_id = 0
    _assert_record(rec, fr, image, '', index, 1, 17, source_file=tmp_path / 'm' / fr.image_path)
    assert np.all(rec['bbox_head'] == 0) and np.all(rec['track_id'] == -1)
  m0, m1 = source[0]['ignore_mask'], source[1]['ignore_mask']
  assert m0[5, 5] == 1 and m0[0, 0] == 0 and m0[20, 20] == 0 and 30 <= m0.sum() <= 60
  expected = np.zeros((SIZE, SIZE), np.uint8)
  expected[:, 30:32] = 1
  assert np.array_equal(m1[:, :35], expected[:, :35])
  assert m1[42, 42] == 1 and m1[30, 42] == 0


# ------------------------------------------------------------------------ encoded images

JPEG_W, JPEG_H = 1280, 720   # large enough that array_record's 64 KiB blocks do not dominate


def _noisy_image(rng, h, w):
  yy, xx = np.mgrid[:h, :w]
  smooth = np.stack([xx * 255 // w, yy * 255 // h, (xx + yy) % 256], -1)
  return np.clip(smooth + rng.integers(-20, 21, (h, w, 3)), 0, 255).astype(np.uint8)


@pytest.fixture(scope='module')
def jpeg_fixture(tmp_path_factory):
  """A PoseTrack 2018 manual_dir of one 3-frame sequence of 1280x720 JPEGs."""
  root = tmp_path_factory.mktemp('posetrack_jpeg')
  seq, _ = synthetic.generate_clip('val', 0, num_frames=3, image_size=SIZE)
  rng = np.random.default_rng(3)
  for fr in seq.frames:
    fr.width, fr.height = JPEG_W, JPEG_H
    os.makedirs(os.path.dirname(root / fr.image_path), exist_ok=True)
    Image.fromarray(_noisy_image(rng, JPEG_H, JPEG_W)).save(root / fr.image_path, quality=90)
  formats.write_posetrack18(seq, root / 'annotations' / 'val' / f'{seq.name}.json')
  return root, seq


def test_jpeg_bytes_stored_untouched(jpeg_fixture, tmp_path):
  root, seq = jpeg_fixture
  out = io.StringIO()
  result = build.build('posetrack', str(tmp_path), str(root), '2018', interval=0.0, stream=out)
  text = out.getvalue()
  assert 'val: 3 frames to write' in text and 'val: 3/3 frames (100%)' in text
  assert 'estimated size on disk' in text and 'ratio' in text
  files = [root / fr.image_path for fr in seq.frames]
  source_bytes = sum(f.stat().st_size for f in files)
  assert result['frames'] == 3 and result['source_bytes'] == source_bytes
  assert result['built_bytes'] == build.directory_size(result['data_dir'])
  # 1.0.0 stored zlib-compressed pixels: ~18x the JPEGs. Now the files' own bytes.
  print(f'built / source images: {result["ratio"]:.3f}')
  assert result['ratio'] <= 1.2
  source = tfds_builders.load_split('posetrack', 'val', str(tmp_path), manual_dir=str(root),
                                    config='2018')
  for i, (fr, path) in enumerate(zip(seq.frames, files)):
    with Image.open(path) as im:
      pillow = np.asarray(im.convert('RGB'))
    _assert_record(source[i], fr, pillow, seq.name, 0, 3, 15, source_file=path)
    assert source[i]['image'].startswith(images_lib.JPEG_MAGIC)
  # Built already: reported, not rebuilt.
  again = build.build('posetrack', str(tmp_path), str(root), '2018', stream=io.StringIO())
  assert again['frames'] == 0 and again['built_bytes'] == result['built_bytes']


def test_corrupt_image_fails_the_build_naming_the_frame(tmp_path):
  seq, frames = synthetic.generate_clip('val', 0, num_frames=2, image_size=SIZE)
  for fr, im in zip(seq.frames, frames):
    os.makedirs(os.path.dirname(tmp_path / 'm' / fr.image_path), exist_ok=True)
    Image.fromarray(im).save(tmp_path / 'm' / fr.image_path)
  bad = tmp_path / 'm' / seq.frames[1].image_path
  bad.write_bytes(bad.read_bytes()[:200])            # truncated JPEG
  formats.write_posetrack18(seq, tmp_path / 'm' / 'annotations' / 'val' / f'{seq.name}.json')
  with pytest.raises(images_lib.ImageDecodeError,
                     match=f"sequence '{seq.name}' frame 1: image .*000001.jpg: cannot decode"):
    tfds_builders.load_split('posetrack', 'val', str(tmp_path / 'd'),
                             manual_dir=str(tmp_path / 'm'), config='2018')


def _pipeline_config():
  path = pathlib.Path(__file__).resolve().parents[1] / 'configs' / 'default.py'
  spec = importlib.util.spec_from_file_location('default_config', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  config.data.image_size = 32
  config.data.max_people = 4
  config.train.batch_size = 2
  return config


def test_corrupt_record_image_error_names_the_record(tmp_path):
  source = tfds_builders.load_split('synthetic_posetrack', 'val', str(tmp_path), config='tiny_64')
  records = [dict(source[i]) for i in range(2)]
  for r in records:
    r['is_labeled'] = True
  records[1]['image'] = records[1]['image'][:100]
  name = records[1]['sequence'].decode()
  want = (f"record 1 of list of 2 records: field 'image' of sequence '{name}' frame 1 "
          f"\\(image_id {records[1]['image_id']}\\): cannot decode the image \\(100 bytes, png")
  with pytest.raises(ValueError, match=want):
    next(iter(pipeline.frame_dataset(records, _pipeline_config(), 'validation')))
  with pytest.raises(images_lib.ImageDecodeError, match='image_id 7: cannot decode'):
    images_lib.decode_image(b'not an image',
                            images_lib.describe_record({'image_id': 7, 'sequence': b''}))


@pytest.mark.parametrize('mode,fmt', [('L', 'PNG'), ('LA', 'PNG'), ('RGBA', 'PNG'), ('P', 'PNG'),
                                      ('L', 'JPEG'), ('CMYK', 'JPEG'), ('RGB', 'JPEG')])
def test_decode_image_converts_to_rgb_as_pillow_does(mode, fmt):
  rgb = _noisy_image(np.random.default_rng(1), 12, 20)
  buf = io.BytesIO()
  Image.fromarray(rgb).convert(mode).save(buf, format=fmt)
  with Image.open(io.BytesIO(buf.getvalue())) as im:
    want = np.asarray(im.convert('RGB'))
  got = images_lib.decode_image(buf.getvalue())
  assert got.dtype == np.uint8 and got.shape == (12, 20, 3)
  np.testing.assert_array_equal(got, want)
  np.testing.assert_array_equal(images_lib.decode_image(np.bytes_(buf.getvalue())), want)


def test_simplejpeg_gives_pillows_pixels():
  if images_lib.simplejpeg is None:
    pytest.skip('simplejpeg is not installed (optional: Pillow decodes every image)')
  rng = np.random.default_rng(2)
  for subsampling, progressive in ((2, False), (1, False), (0, True)):
    buf = io.BytesIO()
    Image.fromarray(_noisy_image(rng, 37, 51)).save(buf, format='JPEG', quality=85,
                                                    subsampling=subsampling,
                                                    progressive=progressive)
    np.testing.assert_array_equal(images_lib._decode_simplejpeg(buf.getvalue()),
                                  images_lib.decode_pillow(buf.getvalue()))
