"""Grain input pipelines: single frames (SpatialNet) and frame pairs (TemporalNet).

Sources. Any random-access source of frame records (``__len__``, ``__getitem__``), e.g. a
``tfds.data_source`` of the builders in ``data/tfds_builders`` or a plain list in tests. A
record is a dict with, per frame (``n`` people, ``J`` joints)::

  image: the encoded image file's bytes (JPEG/PNG, as the TFDS builders store them; decoded
  by ``data.images.decode_image``) or uint8 [H, W, 3]; image_id int64; sequence text (str or
  bytes); sequence_index int32; frame_id int32; num_frames int32; is_labeled bool;
  keypoints float32 [n, J, 3] (x, y, v); track_id int32 [n]; bbox float32 [n, 4];
  bbox_head float32 [n, 4]; ignore_mask uint8 [H, W] (1 = ignore)

Examples. Only labelled frames become examples. Each is letterboxed (and, for training,
augmented: ``data/augment.py``) to ``config.data.image_size``, padded to
``config.data.max_people`` people and encoded with ``targets.encode_frame`` (frames) or
``targets.encode_pair`` (pairs), giving the keys of docs/design.md plus:

  transform      float32 [2, 3]  original image pixels -> input pixels. A prediction ``xy`` in
                                 output pixels maps back to the original image with
                                 ``geometry.apply_affine(geometry.invert_affine(transform),
                                 geometry.output_to_input(xy, OUTPUT_STRIDE))``.
  bbox           float32 [P, 4]  person boxes, transformed like ``bbox_head``.
  image_id       int64           the record's image id (host-side bookkeeping).
  sequence_index int32, frame_id int32
  example_valid  float32         0 for the padding examples that fill the last evaluation batch.

A pair example is ``{'prev': frame, 'curr': frame, 'tvf_*': ..., 'example_valid': ...}`` with
``prev`` the earlier frame, ``1 <= t - t' <= config.data.max_frame_gap``, both frames labelled,
from one sequence, and one augmentation draw for both (the camera motion stays in the data).

Determinism and resumption. Training shuffles with a fixed seed, reshuffles every epoch and
repeats forever; each example's augmentation is drawn from a generator seeded by the pipeline
seed and the example's position, so a seed fixes every batch. ``iter(dataset)`` is a grain
``DatasetIterator``: ``get_state()`` / ``set_state()`` (or ``grain.checkpoint``) resume it
exactly. Evaluation is one pass in record order, the last batch filled with padding examples.

Hosts. Host ``shard_index`` of ``shard_count`` (default ``jax.process_index()`` of
``jax.process_count()``) yields batches of ``global_batch // shard_count`` examples. In
training it reads the elements ``shard_index::shard_count`` of the global stream that one host
would read, so a global batch holds the same examples (and augmentations) on any number of
hosts and an epoch reads every example once across the hosts; an evaluation host reads the
entries ``shard_index::shard_count``. ``config.data.num_workers > 0`` moves the work into
that many worker processes (``mp_prefetch``); 0 keeps it in the calling process, where
``config.data.read_threads`` threads (default 2) prepare examples. Workers are spawned
processes that re-import the calling script, so scripts need an ``if __name__ == '__main__':``
guard; close the iterator (``it.close()``) to stop them.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Mapping, Sequence

from absl import flags
import grain
import jax
from matplotlib import path as mpl_path
import ml_collections
import numpy as np

from artrack_jax import skeletons
from artrack_jax import targets
from artrack_jax.data import augment
from artrack_jax.data import types

OUTPUT_STRIDE = 4   # input pixels per output pixel (docs/design.md)
_INDEX_FIELDS = ('sequence_index', 'frame_id', 'is_labeled')
_REQUIRED_FIELDS = ('image', 'image_id', 'sequence_index', 'frame_id', 'is_labeled',
                    'keypoints', 'track_id', 'bbox_head')


@dataclasses.dataclass(frozen=True)
class FrameIndex:
  """What the pipelines need to know about every record, without its image.

  Attributes:
    sequence_index: [N] int32 per record.
    frame_id: [N] int32 per record.
    is_labeled: [N] bool per record.
  """
  sequence_index: np.ndarray
  frame_id: np.ndarray
  is_labeled: np.ndarray

  def __len__(self) -> int:
    return len(self.frame_id)

  def labelled_frames(self) -> np.ndarray:
    """[M] record indices of the labelled frames, in record order."""
    return np.nonzero(self.is_labeled)[0].astype(np.int64)

  def frame_pairs(self, max_frame_gap: int) -> np.ndarray:
    """[M, 2] record indices ``(prev, curr)`` of labelled frames of one sequence with
    ``1 <= frame_id[curr] - frame_id[prev] <= max_frame_gap``, in record order."""
    if max_frame_gap < 1:
      raise ValueError(f'config.data.max_frame_gap must be >= 1, got {max_frame_gap}')
    labelled = self.labelled_frames()
    pairs = []
    seq = self.sequence_index[labelled]
    for s in np.unique(seq):
      records = labelled[seq == s]
      records = records[np.argsort(self.frame_id[records], kind='stable')]
      frames = self.frame_id[records].astype(np.int64)
      for i in range(len(records)):
        gap = frames[i + 1:] - frames[i]
        for j in np.nonzero((gap >= 1) & (gap <= max_frame_gap))[0]:
          pairs.append((records[i], records[i + 1 + j]))
    pairs = np.asarray(pairs, np.int64).reshape(-1, 2)
    return pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))] if len(pairs) else pairs


def _source_name(source: Any) -> str:
  return f'{type(source).__name__} of {len(source)} records'


def build_index(source: Sequence[Mapping[str, Any]], cache_path: str | None = None) -> FrameIndex:
  """Reads the sequence/frame ids of every record once.

  Reading a record of a TFDS source reads its image bytes and ignore mask too, so the index
  is cached: with ``cache_path`` set, an existing file there is loaded (it must describe as
  many records as the source has), otherwise the index is built and saved there (``.npz``).
  """
  if cache_path and os.path.exists(cache_path):
    with np.load(cache_path) as data:
      index = FrameIndex(**{k: data[k] for k in _INDEX_FIELDS})
    if len(index) != len(source):
      raise ValueError(f'index cache {cache_path} describes {len(index)} records but the source '
                       f'has {len(source)}: delete the file to rebuild it')
    return index
  columns = {k: np.zeros(len(source), np.int32) for k in _INDEX_FIELDS}
  columns['is_labeled'] = np.zeros(len(source), bool)
  for i in range(len(source)):
    record = source[i]
    for key in _INDEX_FIELDS:
      if key not in record:
        raise KeyError(f"record {i} of {_source_name(source)}: missing field '{key}'")
      columns[key][i] = np.asarray(record[key]).item()
  index = FrameIndex(**columns)
  if cache_path:
    os.makedirs(os.path.dirname(os.path.abspath(cache_path)), exist_ok=True)
    tmp = cache_path + '.tmp.npz'
    np.savez(tmp, **columns)
    os.replace(tmp, cache_path)
  return index


def check_record(record: Mapping[str, Any], where: str, num_joints: int) -> None:
  """Raises a ValueError/KeyError naming the record and the field when a record is malformed."""
  for key in _REQUIRED_FIELDS:
    if key not in record:
      raise KeyError(f"{where}: missing field '{key}'")
  kp = np.shape(record['keypoints'])
  if len(kp) != 3 or kp[1:] != (num_joints, 3):
    raise ValueError(f"{where}: field 'keypoints' must be [n, {num_joints}, 3], got {kp}")
  n = kp[0]
  for key, shape in (('track_id', (n,)), ('bbox_head', (n, 4)), ('bbox', (n, 4))):
    if key in record and np.shape(record[key]) != shape:
      raise ValueError(f"{where}: field '{key}' must be {list(shape)} for {n} people, "
                       f'got {np.shape(record[key])}')


def ignore_mask_from_polygons(polygons: Sequence[np.ndarray], height: int,
                              width: int) -> np.ndarray:
  """uint8 [H, W]: 1 where the pixel centre lies inside any ignore polygon ([V, 2] (x, y))."""
  mask = np.zeros((height, width), bool)
  for poly in polygons:
    poly = np.asarray(poly, np.float64).reshape(-1, 2)
    if len(poly) < 3:
      continue
    x0, y0 = np.maximum(np.floor(poly.min(axis=0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(poly.max(axis=0)).astype(int) + 1, [width, height])
    if x1 <= x0 or y1 <= y0:
      continue
    yy, xx = np.mgrid[y0:y1, x0:x1]
    inside = mpl_path.Path(poly).contains_points(np.stack([xx.ravel(), yy.ravel()], -1))
    mask[y0:y1, x0:x1] |= inside.reshape(yy.shape)
  return mask.astype(np.uint8)


def records_from_sequences(sequences: Sequence[types.Sequence],
                           images: Sequence[Sequence[np.ndarray]]) -> list[dict[str, Any]]:
  """In-memory frame records (the TFDS record layout) from annotated sequences.

  Args:
    sequences: ``data.types.Sequence`` objects.
    images: per sequence, its frames' uint8 [H, W, 3] images.

  Returns:
    One record per frame, ordered by (sequence_index, frame_id); ``sequence_index`` is the
    position in ``sequences``.
  """
  records = []
  for s, (seq, frames) in enumerate(zip(sequences, images, strict=True)):
    if len(seq.frames) != len(frames):
      raise ValueError(f'sequence {seq.name!r}: {len(seq.frames)} frames but {len(frames)} images')
    num_joints = skeletons.get(seq.skeleton).num_joints
    for frame, image in sorted(zip(seq.frames, frames), key=lambda fi: fi[0].frame_id):
      image = np.asarray(image, np.uint8)
      n = len(frame.people)
      kp = np.zeros((n, num_joints, 3), np.float32)
      head = np.zeros((n, 4), np.float32)
      for k, person in enumerate(frame.people):
        kp[k] = person.keypoints
        if person.bbox_head is not None:
          head[k] = person.bbox_head
      records.append({
          'image': image, 'image_id': np.int64(frame.image_id), 'sequence': seq.name,
          'sequence_index': np.int32(s), 'frame_id': np.int32(frame.frame_id),
          'num_frames': np.int32(len(seq.frames)), 'is_labeled': np.bool_(frame.is_labeled),
          'keypoints': kp,
          'track_id': np.array([p.track_id for p in frame.people], np.int32).reshape(n),
          'bbox': np.array([p.bbox for p in frame.people], np.float32).reshape(n, 4),
          'bbox_head': head,
          'ignore_mask': ignore_mask_from_polygons(frame.ignore_regions, *image.shape[:2]),
      })
  return records


class _Entries:
  """Random-access view of the records behind each example: ``(records, example_valid)``."""

  def __init__(self, source, entries: np.ndarray, valid: np.ndarray):
    self._source = source
    self._entries = entries
    self._valid = valid

  def __len__(self) -> int:
    return len(self._entries)

  def __getitem__(self, i):
    entry = self._entries[i]
    records = []
    for r in np.atleast_1d(entry):
      records.append((int(r), self._source[int(r)]))
    return records, float(self._valid[i])


class _MakeExample:
  """Records -> encoded example; ``rng`` is None in evaluation (letterbox only)."""

  def __init__(self, config: ml_collections.ConfigDict, source_name: str):
    data = config.data
    self.size = int(data.image_size)
    self.crop = int(data.train_crop) or self.size
    for key, value in (('image_size', self.size), ('train_crop', self.crop)):
      if value % OUTPUT_STRIDE:
        raise ValueError(f'config.data.{key} = {value} must be a multiple of '
                         f'{OUTPUT_STRIDE} (the output stride)')
    self.crop_on_person = float(data.crop_on_person)
    self.canonical_sides = bool(data.get('canonical_sides', False))
    if self.crop > self.size:
      raise ValueError(f'config.data.train_crop = {self.crop} is larger than '
                       f'config.data.image_size = {self.size}')
    self.skeleton = skeletons.get(data.skeleton)
    self.max_people = int(data.max_people)
    self.sigma = float(data.sigma)
    self.augment = dict(data.augment)
    self.source_name = source_name

  def _anchor(self, record: Mapping[str, Any], rng: np.random.Generator):
    """Where a training crop is centred: on a random annotated person (its labelled joints'
    mean, placed uniformly within the crop's middle half) with probability
    ``data.crop_on_person``, else where the random translation puts it. None: no crop."""
    if self.crop == self.size or rng.uniform() >= self.crop_on_person:
      return None
    kp = np.asarray(record['keypoints'], np.float64).reshape(-1, self.skeleton.num_joints, 3)
    labelled = kp[..., 2] > 0
    people = np.flatnonzero(labelled.any(axis=1))
    if people.size == 0:
      return None
    k = people[rng.integers(people.size)]
    point = kp[k, labelled[k], :2].mean(axis=0)
    return point, rng.uniform(-0.25, 0.25, size=2) * self.crop

  def _geometry(self, index: int, record: Mapping[str, Any], params,
                anchor=None) -> dict[str, Any]:
    where = f'record {index} of {self.source_name}'
    check_record(record, where, self.skeleton.num_joints)
    try:
      # Training crops (data.train_crop) of the augmented square; evaluation sees it whole.
      geo = augment.transform_frame(record, self.size, params, self.skeleton.flip_permutation,
                                    crop=None if params is None else self.crop, anchor=anchor)
    except ValueError as e:
      raise ValueError(f'{where}: {e}') from e
    geo['track_id'] = np.asarray(record['track_id'], np.int32).reshape(-1)
    if self.canonical_sides and params is not None:
      # Training only: evaluation compares decoded (anatomical) sides with the labels.
      geo['keypoints'], geo['side_sign'] = targets.canonical_sides(geo['keypoints'],
                                                                   self.skeleton)
    if 'bbox' not in geo:
      geo['bbox'] = np.zeros((len(geo['track_id']), 4), np.float32)
    return geo

  def _ids(self, record: Mapping[str, Any]) -> dict[str, np.ndarray]:
    return {'image_id': np.int64(np.asarray(record['image_id']).item()),
            'sequence_index': np.int32(np.asarray(record['sequence_index']).item()),
            'frame_id': np.int32(np.asarray(record['frame_id']).item())}

  def __call__(self, element, rng: np.random.Generator | None = None) -> dict[str, Any]:
    records, valid = element
    params = None if rng is None else augment.sample_params(rng, self.augment, self.size)
    output_size = (self.size if rng is None else self.crop) // OUTPUT_STRIDE
    # Both frames of a pair share the anchor (a point of the first frame), hence the transform.
    anchor = None if rng is None else self._anchor(records[0][1], rng)
    if len(records) == 1:
      (index, record), = records
      ex = targets.pad_people(self._geometry(index, record, params, anchor), self.max_people)
      ex = targets.encode_frame(ex, output_size, self.skeleton, self.sigma)
      ex.update(self._ids(record))
    else:
      (i0, r0), (i1, r1) = records
      ex = targets.encode_pair(self._geometry(i0, r0, params, anchor),
                               self._geometry(i1, r1, params, anchor),
                               output_size, self.skeleton, self.sigma, self.max_people)
      ex['prev'].update(self._ids(r0))
      ex['curr'].update(self._ids(r1))
    ex['example_valid'] = np.float32(valid)
    return ex


def _build(source, entries: np.ndarray, config: ml_collections.ConfigDict, split: str, seed: int,
           batch_size: int | None, shard_index: int | None,
           shard_count: int | None) -> grain.IterDataset:
  train = split.startswith('train')
  shard_index = jax.process_index() if shard_index is None else shard_index
  shard_count = jax.process_count() if shard_count is None else shard_count
  global_batch = int(config.train.batch_size if batch_size is None else batch_size)
  if global_batch % shard_count:
    raise ValueError(f'global batch {global_batch} is not divisible by {shard_count} hosts')
  local_batch = global_batch // shard_count
  if len(entries) == 0:
    raise ValueError(f'{_source_name(source)} has no labelled {split} examples')
  valid = np.ones(len(entries), np.float32)
  if not train:
    # Pad to whole global batches so every host yields the same number of full batches.
    pad = -len(entries) % global_batch
    entries = np.concatenate([entries, np.repeat(entries[:1], pad, axis=0)])
    valid = np.concatenate([valid, np.zeros(pad, np.float32)])
  if train and len(entries) < global_batch:
    raise ValueError(f'{len(entries)} training examples, fewer than the global batch of '
                     f'{global_batch}')
  make = _MakeExample(config, _source_name(source))
  if train:
    # Every host builds the same global stream (one shuffle of all examples per epoch, each
    # example augmented by its position in the stream) and reads its elements
    # `shard_index::shard_count`: each global batch is the same set of examples for any number
    # of hosts (in another order), and an epoch reads every example once over all hosts.
    ds = grain.MapDataset.source(_Entries(source, entries, valid))
    ds = ds.seed(seed).shuffle().repeat(None).random_map(make)[shard_index::shard_count]
  else:
    entries, valid = entries[shard_index::shard_count], valid[shard_index::shard_count]
    ds = grain.MapDataset.source(_Entries(source, entries, valid)).map(make)
  read_options = grain.ReadOptions(num_threads=int(config.data.read_threads),
                                   prefetch_buffer_size=2 * local_batch)
  ds = ds.to_iter_dataset(read_options).batch(local_batch, drop_remainder=train)
  num_workers = int(config.data.num_workers)
  if num_workers > 0:
    # grain 0.2.18 reads an absl flag when it starts workers and fails if flags were never
    # parsed (google/grain#1355); outside absl.app (notebooks, tests) mark them parsed so the
    # defaults apply.
    if not flags.FLAGS.is_parsed():
      flags.FLAGS.mark_as_parsed()
    ds = ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=num_workers))
  return ds


def frame_dataset(source: Sequence[Mapping[str, Any]], config: ml_collections.ConfigDict,
                  split: str, seed: int = 0, *, index: FrameIndex | str | None = None,
                  batch_size: int | None = None, shard_index: int | None = None,
                  shard_count: int | None = None) -> grain.IterDataset:
  """Batches of single-frame SpatialNet examples.

  Args:
    source: random-access frame records (module docstring).
    config: the full config (``data.*``, ``train.batch_size``).
    split: ``'train...'`` augments, shuffles and repeats; any other split is one evaluation
      pass (letterbox only, record order, padded last batch).
    seed: fixes the shuffle and augmentation.
    index: a ``FrameIndex`` of ``source``, a cache path for ``build_index``, or None (build).
    batch_size: global batch; defaults to ``config.train.batch_size``.
    shard_index, shard_count: this host's shard; default ``jax.process_index()``/``count()``.

  Returns:
    A grain ``IterDataset`` of dicts of numpy arrays with a leading batch axis
    ``global_batch // shard_count``.
  """
  if not isinstance(index, FrameIndex):
    index = build_index(source, index)
  return _build(source, index.labelled_frames(), config, split, seed, batch_size, shard_index,
                shard_count)


def pair_dataset(source: Sequence[Mapping[str, Any]], config: ml_collections.ConfigDict,
                 split: str, seed: int = 0, *, index: FrameIndex | str | None = None,
                 batch_size: int | None = None, shard_index: int | None = None,
                 shard_count: int | None = None) -> grain.IterDataset:
  """Batches of TemporalNet frame pairs (``|t - t'| <= config.data.max_frame_gap``).

  Arguments as in ``frame_dataset``. Every ordered pair of labelled frames of one sequence
  within the gap is one example, ``prev`` the earlier frame.
  """
  if not isinstance(index, FrameIndex):
    index = build_index(source, index)
  pairs = index.frame_pairs(int(config.data.max_frame_gap))
  return _build(source, pairs, config, split, seed, batch_size, shard_index, shard_count)


# A joined split's k-th part numbers its sequences from k * JOINED_SEQUENCE_STRIDE (each split
# numbers its own from 0): more than the sequences or images of any one split (COCO train: 118k).
JOINED_SEQUENCE_STRIDE = 1 << 20


class JoinedSource:
  """Random-access records of several splits, one after the other (`'train+val'`).

  Records are those of the parts, with `sequence_index` offset by `k * JOINED_SEQUENCE_STRIDE`
  for the k-th part, so that sequences of different splits stay apart (frame pairs, the
  evaluation's (sequence, frame) keys).
  """

  def __init__(self, sources: Sequence[Sequence[Mapping[str, Any]]], names: Sequence[str]):
    self.sources, self.names = list(sources), list(names)
    self._starts = np.cumsum([0] + [len(s) for s in self.sources])

  def __len__(self) -> int:
    return int(self._starts[-1])

  def __getitem__(self, i: int) -> dict[str, Any]:
    i = int(i)
    if not 0 <= i < len(self):
      raise IndexError(f'record {i} of {len(self)} ({"+".join(self.names)})')
    part = int(np.searchsorted(self._starts, i, side='right')) - 1
    record = dict(self.sources[part][i - int(self._starts[part])])
    sequence_index = int(np.asarray(record['sequence_index']).item())
    if not 0 <= sequence_index < JOINED_SEQUENCE_STRIDE:
      raise ValueError(f'split {self.names[part]!r}: sequence_index {sequence_index} does not '
                       f'fit a joined split (at most {JOINED_SEQUENCE_STRIDE} sequences)')
    record['sequence_index'] = np.int32(part * JOINED_SEQUENCE_STRIDE + sequence_index)
    return record

  def __repr__(self) -> str:
    return f'JoinedSource({"+".join(self.names)}, {len(self)} records)'


def data_source(config: ml_collections.ConfigDict, split: str):
  """The random-access records of `config.data.name`'s `split` (built on first use).

  `split` names one split (`'train'`) or joins several with `+` (`'train+val'`: a
  `JoinedSource`).
  """
  # Imported here: tensorflow_datasets takes seconds to import and only this needs it.
  from artrack_jax.data import tfds_builders  # pylint: disable=g-import-not-at-top
  data = config.data
  names = split.split('+')
  if not all(names) or len(set(names)) != len(names):
    raise ValueError(f'split {split!r}: expected a split name or distinct names joined by "+" '
                     "(e.g. 'train+val')")
  sources = [tfds_builders.load_split(data.name, name, data.data_dir or None,
                                      data.manual_dir or None, data.builder_config or None)
             for name in names]
  return sources[0] if len(sources) == 1 else JoinedSource(sources, names)
