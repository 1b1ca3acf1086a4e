"""Tests of the Grain input pipelines (data/pipeline.py) on small in-memory records."""
import importlib.util
import io
import pathlib

import numpy as np
import pytest
from PIL import Image

from artrack_jax import geometry
from artrack_jax import skeletons
from artrack_jax.data import augment
from artrack_jax.data import pipeline

J = skeletons.POSETRACK.num_joints
SIZE = 32
# (sequence index, frame ids, labelled frame ids)
SEQUENCES = [(0, range(9), {0, 1, 2, 4, 5, 6, 7, 8}), (1, range(4), {0, 2})]


def _config(**data):
  path = pathlib.Path(__file__).resolve().parents[1] / 'configs' / 'default.py'
  spec = importlib.util.spec_from_file_location('default_config', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  config.data.image_size = SIZE
  config.data.max_people = 4
  config.train.batch_size = 4
  config.data.update(data)
  return config


def _records(encode_images=False):
  """Two short clips of 24x40 frames with 2-3 tracked people each."""
  rng = np.random.default_rng(0)
  records = []
  for seq, frames, labelled in SEQUENCES:
    for f in frames:
      n = 2 + (f % 2) if f in labelled else 0
      kp = np.zeros((n, J, 3), np.float32)
      kp[..., 0] = rng.uniform(2, 38, size=(n, J))
      kp[..., 1] = rng.uniform(2, 22, size=(n, J))
      kp[..., 2] = rng.choice([0, 1, 2], size=(n, J))
      image = rng.integers(0, 256, size=(24, 40, 3)).astype(np.uint8)
      ignore = np.zeros((24, 40), np.uint8)
      ignore[:3, :5] = 1
      if encode_images:   # as a TFDS source read with tfds.decode.SkipDecoding() gives them
        image, ignore = _png(image), _png(ignore)
      records.append({
          'image': image, 'image_id': np.int64(10_000_000_000 + 100 * seq + f),
          'sequence': f'seq{seq}'.encode() if seq else f'seq{seq}',
          'sequence_index': np.int32(seq), 'frame_id': np.int32(f),
          'num_frames': np.int32(len(frames)), 'is_labeled': np.bool_(f in labelled),
          'keypoints': kp, 'track_id': np.arange(n, dtype=np.int32) + 7 * seq,
          'bbox': np.tile(np.array([[1.0, 2.0, 10.0, 12.0]], np.float32), (n, 1)),
          'bbox_head': np.tile(np.array([[3.0, 2.0, 4.0, 4.0]], np.float32), (n, 1)),
          'ignore_mask': ignore})
  return records


def _png(array):
  buf = io.BytesIO()
  Image.fromarray(array).save(buf, format='PNG')
  return buf.getvalue()


@pytest.fixture(scope='module')
def records():
  return _records()


@pytest.fixture(scope='module')
def index(records):
  return pipeline.build_index(records)


def _take(iterator, k):
  return [next(iterator) for _ in range(k)]


def _assert_batches_equal(a, b):
  for x, y in zip(a, b):
    flat_x, flat_y = _flatten(x), _flatten(y)
    assert flat_x.keys() == flat_y.keys()
    for key in flat_x:
      np.testing.assert_array_equal(flat_x[key], flat_y[key], err_msg=key)


def _flatten(tree, prefix=''):
  out = {}
  for k, v in tree.items():
    if isinstance(v, dict):
      out.update(_flatten(v, prefix + k + '/'))
    else:
      out[prefix + k] = v
  return out


def test_index_labelled_frames_and_pairs(records, index):
  labelled = [i for i, r in enumerate(records) if r['is_labeled']]
  np.testing.assert_array_equal(index.labelled_frames(), labelled)
  want = [(a, b) for a in labelled for b in labelled
          if records[a]['sequence_index'] == records[b]['sequence_index']
          and 1 <= records[b]['frame_id'] - records[a]['frame_id'] <= 5]
  np.testing.assert_array_equal(index.frame_pairs(5), want)
  assert (0, 8) not in [tuple(p) for p in index.frame_pairs(5)]   # gap 8 > 5
  # Gap 1: frames 0-1, 1-2, 4-5, 5-6, 6-7, 7-8 of clip 0 (frame 3 is unlabelled; clip 1 has 0, 2).
  np.testing.assert_array_equal(index.frame_pairs(1), [[0, 1], [1, 2], [4, 5], [5, 6], [6, 7],
                                                       [7, 8]])


def test_index_cache_round_trip(records, index, tmp_path):
  path = str(tmp_path / 'index.npz')
  built = pipeline.build_index(records, path)
  loaded = pipeline.build_index(records, path)
  for key in ('sequence_index', 'frame_id', 'is_labeled'):
    np.testing.assert_array_equal(getattr(loaded, key), getattr(index, key))
    np.testing.assert_array_equal(getattr(built, key), getattr(index, key))
  with pytest.raises(ValueError, match='index cache'):
    pipeline.build_index(records[:-1], path)


def test_eval_frames_letterboxed_in_order_with_padding(records, index):
  config = _config()
  batches = list(pipeline.frame_dataset(records, config, 'validation', index=index))
  labelled = index.labelled_frames()
  assert len(batches) == 3                                    # 10 examples -> 3 batches of 4
  valid = np.concatenate([b['example_valid'] for b in batches])
  np.testing.assert_array_equal(valid, [1] * 10 + [0] * 2)
  image_ids = np.concatenate([b['image_id'] for b in batches])[:10]
  np.testing.assert_array_equal(image_ids, [records[i]['image_id'] for i in labelled])
  assert image_ids.dtype == np.int64
  b = batches[0]
  h = SIZE // pipeline.OUTPUT_STRIDE
  shapes = {'image': (4, SIZE, SIZE, 3), 'keypoints': (4, 4, J, 3), 'person_valid': (4, 4),
            'track_id': (4, 4), 'bbox_head': (4, 4, 4), 'ignore_mask': (4, SIZE, SIZE),
            'heatmaps': (4, h, h, J), 'loss_mask': (4, h, h), 'joint_index': (4, 4, J),
            'joint_valid': (4, 4, J), 'joint_xy': (4, 4, J, 2), 'centers': (4, 4, 2),
            'svf_target': (4, 4, J, 2), 'order_keys': (4, 4, 3), 'order_valid': (4, 4, 3),
            'transform': (4, 2, 3)}
  for key, shape in shapes.items():
    assert b[key].shape == shape, key
  assert b['image'].dtype == np.float32 and b['track_id'].dtype == np.int32
  # Letterbox only: 24x40 -> scale 0.8, rows centred; keypoints follow the same map.
  m = augment.frame_matrix(24, 40, SIZE)
  first = records[labelled[0]]
  np.testing.assert_allclose(b['transform'][0], m[:2], atol=1e-6)
  kp = first['keypoints']
  n = len(kp)
  want = np.where(kp[..., 2:] > 0, np.concatenate([geometry.apply_affine(m, kp[..., :2]),
                                                   kp[..., 2:]], -1), 0)
  np.testing.assert_allclose(b['keypoints'][0, :n], want, atol=1e-4)
  image = (first['image'] / 255.0 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
  # One input pixel against plain bilinear sampling of the original at its preimage.
  inv = geometry.invert_affine(m)
  sx, sy = geometry.apply_affine(inv, [12.0, 14.0])
  x0, y0 = int(np.floor(sx)), int(np.floor(sy))
  fx, fy = sx - x0, sy - y0
  want_px = (image[y0, x0] * (1 - fx) * (1 - fy) + image[y0, x0 + 1] * fx * (1 - fy) +
             image[y0 + 1, x0] * (1 - fx) * fy + image[y0 + 1, x0 + 1] * fx * fy)
  np.testing.assert_allclose(b['image'][0, 14, 12], want_px, atol=0.04)
  assert b['ignore_mask'][0, 6, 0] == 1 and b['ignore_mask'][0, 20, 20] == 0


def test_train_is_deterministic_and_resumable(records, index):
  config = _config()
  ds = pipeline.frame_dataset(records, config, 'train', seed=3, index=index)
  first = _take(iter(ds), 3)
  again = _take(iter(pipeline.frame_dataset(records, config, 'train', seed=3, index=index)), 3)
  _assert_batches_equal(first, again)
  other = next(iter(pipeline.frame_dataset(records, config, 'train', seed=4, index=index)))
  assert not np.array_equal(other['image'], first[0]['image'])
  # Augmentation is on: the transform differs from the letterbox.
  assert not np.allclose(first[0]['transform'][0], augment.frame_matrix(24, 40, SIZE)[:2])
  # Save the iterator state after k batches, restore it in a fresh iterator.
  it = iter(ds)
  _take(it, 2)
  state = it.get_state()
  after = _take(it, 4)   # past the end of the first epoch (10 examples)
  fresh = iter(pipeline.frame_dataset(records, config, 'train', seed=3, index=index))
  fresh.set_state(state)
  _assert_batches_equal(after, _take(fresh, 4))


def test_hosts_read_disjoint_shards(records, index):
  config = _config()
  ids = []
  for host in range(2):
    batches = list(pipeline.frame_dataset(records, config, 'validation', index=index,
                                          shard_index=host, shard_count=2))
    assert all(len(b['image_id']) == 2 for b in batches) and len(batches) == 3
    ids.append(np.concatenate([b['image_id'][b['example_valid'] > 0] for b in batches]))
  assert not set(ids[0]) & set(ids[1])
  labelled = index.labelled_frames()
  assert sorted(np.concatenate(ids)) == sorted(records[i]['image_id'] for i in labelled)
  with pytest.raises(ValueError, match='divisible'):
    pipeline.frame_dataset(records, config, 'train', index=index, shard_index=0, shard_count=3)


def test_pairs_share_one_transform_and_respect_the_gap(records, index):
  config = _config(max_frame_gap=2)
  batch = next(iter(pipeline.pair_dataset(records, config, 'train', seed=0, index=index)))
  prev, curr = batch['prev'], batch['curr']
  gap = curr['frame_id'] - prev['frame_id']
  assert ((gap >= 1) & (gap <= 2)).all()
  np.testing.assert_array_equal(prev['sequence_index'], curr['sequence_index'])
  np.testing.assert_array_equal(prev['transform'], curr['transform'])
  np.testing.assert_array_equal(prev['track_id'], curr['track_id'])   # slots aligned by track
  assert batch['tvf_fwd_target'].shape == (4, 4, J, 2)
  # Forward TVF: curr joint pixel minus the same track's prev centre (Eq. 7).
  w = SIZE // pipeline.OUTPUT_STRIDE
  idx = curr['joint_index']
  pix = np.stack([idx % w, idx // w], -1)
  want = (pix - prev['centers'][:, :, None]) * batch['tvf_fwd_valid'][..., None]
  np.testing.assert_allclose(batch['tvf_fwd_target'], want, atol=1e-5)
  assert batch['tvf_fwd_valid'].sum() > 0


def test_encoded_images_and_bytes_text_work():
  config = _config()
  plain = _records()
  encoded = _records(encode_images=True)
  a = next(iter(pipeline.frame_dataset(plain, config, 'validation')))
  b = next(iter(pipeline.frame_dataset(encoded, config, 'validation')))
  _assert_batches_equal([a], [b])


def test_bad_record_names_record_and_field(records, index):
  broken = list(records)
  broken[1] = dict(broken[1])
  del broken[1]['bbox_head']
  with pytest.raises(KeyError, match="record 1 .*'bbox_head'"):
    next(iter(pipeline.frame_dataset(broken, _config(), 'validation', index=index)))
  broken[1] = dict(records[1], track_id=np.zeros(5, np.int32))
  with pytest.raises(ValueError, match="record 1 .*'track_id'"):
    next(iter(pipeline.frame_dataset(broken, _config(), 'validation', index=index)))


def test_worker_process_gives_the_in_process_batches(records, index):
  # One worker reads the whole (unsliced) dataset, so it must reproduce the in-process
  # batches exactly, and its iterator state must resume like the in-process one.
  inline = _take(iter(pipeline.frame_dataset(records, _config(), 'train', seed=5, index=index)), 3)
  ds = pipeline.frame_dataset(records, _config(num_workers=1), 'train', seed=5, index=index)
  it = iter(ds)
  try:
    _assert_batches_equal(inline[:2], _take(it, 2))
    state = it.get_state()
    nxt = _take(it, 1)
  finally:
    it.close()
  _assert_batches_equal(inline[2:], nxt)
  fresh = iter(ds)
  try:
    fresh.set_state(state)
    _assert_batches_equal(nxt, _take(fresh, 1))
  finally:
    fresh.close()


def test_ignore_mask_from_polygons_marks_pixel_centres_inside():
  square = np.array([[1.5, 2.5], [10.5, 2.5], [10.5, 8.5], [1.5, 8.5]])
  off_image = np.array([[-5.0, -5.0], [-1.0, -5.0], [-1.0, -1.0]])
  mask = pipeline.ignore_mask_from_polygons([square, off_image], 12, 14)
  want = np.zeros((12, 14), np.uint8)
  want[3:9, 2:11] = 1
  np.testing.assert_array_equal(mask, want)


@pytest.fixture(scope='module')
def synthetic_records():
  from artrack_jax.data import synthetic
  # The first generated clip with a crowd (ignore) region, and one more clip.
  clips = []
  for i in range(20):
    clip = synthetic.generate_clip('train', i, num_frames=3, image_size=128)
    if clip[0].frames[0].ignore_regions or (clips and len(clips) < 2):
      clips.append(clip)
    if len(clips) == 2:
      break
  assert len(clips) == 2, 'no synthetic clip with an ignore region among the first 20'
  return pipeline.records_from_sequences([c[0] for c in clips], [c[1] for c in clips]), clips


def test_synthetic_clips_end_to_end(synthetic_records):
  records, clips = synthetic_records
  assert len(records) == 6 and records[0]['ignore_mask'].any()
  config = _config(image_size=64, max_people=8)
  # Evaluation: mapping the example's keypoints back through the inverse transform gives the
  # annotations (every synthetic joint lies inside the frame, so none is dropped).
  batch = next(iter(pipeline.frame_dataset(records, config, 'validation')))
  for b in range(4):
    record = records[b]
    n = len(record['keypoints'])
    back = geometry.apply_affine(geometry.invert_affine(batch['transform'][b]),
                                batch['keypoints'][b, :n, :, :2])
    labelled = record['keypoints'][..., 2] > 0
    np.testing.assert_allclose(back[labelled], record['keypoints'][..., :2][labelled], atol=1e-3)
    np.testing.assert_array_equal(batch['track_id'][b, :n], record['track_id'])
  # Training pairs: every valid joint sits on a heatmap peak of its own type (Eq. 1).
  batch = next(iter(pipeline.pair_dataset(records, config, 'train', seed=1)))
  for frame in (batch['prev'], batch['curr']):
    heat = frame['heatmaps'].reshape(4, -1, J)
    b, k, j = np.nonzero(frame['joint_valid'])
    assert len(b) > 20
    assert (heat[b, frame['joint_index'][b, k, j], j] >= np.exp(-0.5 / 4) - 1e-6).all()
  assert (batch['curr']['frame_id'] > batch['prev']['frame_id']).all()


def test_training_crops_centred_on_people_and_whole_frames_in_evaluation(records, index):
  config = _config(train_crop=16, crop_on_person=1.0)
  config.data.augment.update(rotation=0.0, scale_min=1.0, scale_max=1.0, flip=0.0)
  batch = next(iter(pipeline.frame_dataset(records, config, 'train', seed=0, index=index)))
  assert batch['image'].shape == (4, 16, 16, 3)
  assert batch['heatmaps'].shape == (4, 4, 4, J) and batch['loss_mask'].shape == (4, 4, 4)
  # Every crop is centred near someone: a person's labelled-joint mean lies in the middle
  # half of the crop (its joints may fall outside, so compare against the records).
  for b in range(4):
    rec = records[int(np.flatnonzero([
        r['sequence_index'] == batch['sequence_index'][b] and
        r['frame_id'] == batch['frame_id'][b] for r in records])[0])]
    kp = rec['keypoints']
    means = np.stack([kp[k, kp[k, :, 2] > 0, :2].mean(0) for k in range(len(kp))
                      if (kp[k, :, 2] > 0).any()])
    placed = augment.apply_affine(batch['transform'][b], means)
    assert np.any(np.all(np.abs(placed - 7.5) <= 4.0 + 1e-4, axis=1))
  pairs = next(iter(pipeline.pair_dataset(records, config, 'train', seed=0, index=index)))
  assert pairs['prev']['image'].shape == (4, 16, 16, 3)
  np.testing.assert_array_equal(pairs['prev']['transform'], pairs['curr']['transform'])
  val = next(iter(pipeline.frame_dataset(records, config, 'val', index=index)))
  assert val['image'].shape == (4, SIZE, SIZE, 3)
  with pytest.raises(ValueError, match='train_crop = 48 is larger'):
    pipeline.frame_dataset(records, _config(train_crop=48), 'train', index=index)


def test_canonical_sides_relabel_training_frames_only(records, index):
  # Every joint labelled, so that every person has a facing (random: about half face away).
  records = [dict(r, keypoints=np.concatenate(
      [r['keypoints'][..., :2], np.full(r['keypoints'].shape[:-1] + (1,), 2.0, np.float32)],
      axis=-1)) for r in records]
  config = _config(canonical_sides=True)
  config.data.augment.update(rotation=0.0, scale_min=1.0, scale_max=1.0, flip=0.0,
                             translation=0.0)
  plain = _config()
  plain.data.augment.update(config.data.augment)
  batch = next(iter(pipeline.frame_dataset(records, config, 'train', seed=0, index=index)))
  base = next(iter(pipeline.frame_dataset(records, plain, 'train', seed=0, index=index)))
  assert 'side_sign' in batch and 'side_sign' not in base
  sign = batch['side_sign']
  assert set(np.unique(sign)) <= {-1.0, 0.0, 1.0} and (sign < 0).any() and (sign > 0).any()
  perm = skeletons.POSETRACK.flip_permutation
  expected = np.where(sign[..., None, None] < 0, base['keypoints'][:, :, perm],
                      base['keypoints'])
  np.testing.assert_array_equal(batch['keypoints'], expected)
  val = next(iter(pipeline.frame_dataset(records, config, 'val', index=index)))
  assert 'side_sign' not in val


# -- Splits joined with '+' (config.data.train_split / eval_split). ---------------------------


def test_joined_source_keeps_the_splits_sequences_apart(records):
  other = _records()[:5]                 # a second split numbering its sequences from 0 too
  joined = pipeline.JoinedSource([records, other], ['train', 'val'])
  assert len(joined) == len(records) + 5
  stride = pipeline.JOINED_SEQUENCE_STRIDE
  assert int(joined[0]['sequence_index']) == 0
  assert int(joined[len(records)]['sequence_index']) == stride
  assert joined[len(records) + 4]['image_id'] == other[4]['image_id']
  np.testing.assert_array_equal(joined[len(records) + 4]['image'], other[4]['image'])
  with pytest.raises(IndexError, match=f'record {len(joined)} of {len(joined)} .train.val.'):
    joined[len(joined)]
  index = pipeline.build_index(joined)
  alone = pipeline.build_index(records)
  assert len(index.labelled_frames()) == len(alone.labelled_frames()) + len(
      pipeline.build_index(other).labelled_frames())
  # Frame pairs never join a training clip to a validation clip with the same index.
  pairs = index.frame_pairs(5)
  assert len(pairs) == len(alone.frame_pairs(5)) + len(pipeline.build_index(other).frame_pairs(5))
  sequences = index.sequence_index[pairs]
  assert np.all(sequences[:, 0] == sequences[:, 1])
  batch = next(iter(pipeline.frame_dataset(joined, _config(), 'eval', index=index,
                                           shard_index=0, shard_count=1)))
  assert batch['image'].shape == (4, SIZE, SIZE, 3)


def test_data_source_joins_tfds_splits(tmp_path):
  config = _config(name='synthetic_posetrack', builder_config='tiny_64',
                   data_dir=str(tmp_path))
  train, val = (pipeline.data_source(config, s) for s in ('train', 'val'))
  joined = pipeline.data_source(config, 'train+val')
  assert isinstance(joined, pipeline.JoinedSource) and len(joined) == len(train) + len(val)
  last = joined[len(joined) - 1]
  assert int(last['sequence_index']) == (pipeline.JOINED_SEQUENCE_STRIDE
                                         + int(val[len(val) - 1]['sequence_index']))
  for bad in ('train+', 'train+train', '+val'):
    with pytest.raises(ValueError, match='distinct names joined by'):
      pipeline.data_source(config, bad)
  with pytest.raises(ValueError, match="no split 'tset'"):
    pipeline.data_source(config, 'train+tset')
