"""Inference: trained networks turned into poses and tracker observations.

  networks = inference.Networks.restore(workdir, config)      # a stage 1, 2 or 3 workdir
  predictor = inference.FramePredictor(networks, config)
  outputs = predictor(frame)               # one video frame: poses + tracker observations
  poses = predictor.predict_batch(images, transforms)   # a pipeline batch: poses per image

`FramePredictor` is the only code that turns images into poses: network input at each test
scale (the frame letterboxed, or a pipeline batch resized), the flip test, PGG refinement,
decoding, and with TemporalNet the human embeddings (HE) of the poses and the TIE maps of the
pair (previous frame, this frame), everything mapped back to image pixels. The decode-time
ablations of Table 3 (KE only, SIE only, with or without PGG) are its `variants`.

`Networks` holds SpatialNet (and TemporalNet when trained) with their variables; the variables
are arguments of the jitted functions (not constants baked into the compiled program), and one
compiled function serves every batch of the same shape.
"""
from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from artrack_jax import checkpoints
from artrack_jax import geometry
from artrack_jax import skeletons as skeletons_lib
from artrack_jax import video_io
from artrack_jax.data import augment
from artrack_jax.data.types import FrameObservations, PoseObservation
from artrack_jax.grouping import decode as decode_lib
from artrack_jax.grouping import pgg as pgg_lib
from artrack_jax.models import spatialnet
from artrack_jax.models import temporalnet

PyTree = Any
PGG_SUFFIX = '_pgg'
_MAP_KEYS = ('heatmaps', 'ke', 'sie')


# ----------------------------------------------------------------------------------------------
# The networks.

class Networks:
  """SpatialNet (and TemporalNet when trained) with their variables, ready to run.

  Args:
    config: the config the networks were trained with (`model`, `data.skeleton`, `pgg`).
    spatial_variables: SpatialNet `{'params', 'batch_stats'}`.
    temporal_variables: TemporalNet `{'params', 'batch_stats'}`, or None.
  """

  def __init__(self, config: ml_collections.ConfigDict, spatial_variables: PyTree,
               temporal_variables: PyTree | None = None):
    self.config = config
    self.what = 'the given variables'   # the checkpoint, once restored: for messages
    self.step = None
    self.spatial_model = spatialnet.from_config(config)
    self.spatial_variables = spatial_variables
    self.temporal_variables = temporal_variables
    self.temporal_model = (temporalnet.from_config(config)
                           if temporal_variables is not None else None)
    self._spatial = jax.jit(self._spatial_maps)
    self._pgg_spatial = {}
    self._pgg_temporal = jax.jit(functools.partial(pgg_refine_tie,
                                                   pgg_config=config.pgg.to_dict()))
    if self.temporal_model is not None:
      self._he = jax.jit(self._human_embedding)
      self._tvf = jax.jit(self._temporal_maps)

  @classmethod
  def restore(cls, workdir: str, config: ml_collections.ConfigDict,
              step: int | None = None) -> 'Networks':
    """The networks of a training workdir (`checkpoints.restore`), on the device once."""
    restored = checkpoints.restore(workdir, config, step)
    temporal = None if restored.temporal is None else jax.device_put(restored.temporal)
    networks = cls(config, jax.device_put(restored.spatial), temporal)
    networks.what = restored.what
    networks.step = restored.step
    return networks

  @property
  def has_temporal(self) -> bool:
    return self.temporal_model is not None

  # The pure functions of (variables, inputs) behind the public methods: what `export`
  # serialises with `jax.export`.

  @property
  def spatial_function(self):
    """(SpatialNet variables, images [B, H, W, 3]) -> `spatial_infer`'s dict."""
    return self._spatial_maps

  @property
  def human_embedding_function(self):
    """(TemporalNet variables, features, keypoints, valid) -> HE [B, P, E]."""
    return self._human_embedding

  @property
  def temporal_function(self):
    """(TemporalNet variables, prev, curr) -> `temporal_infer`'s dict."""
    return self._temporal_maps

  # Pure functions of (variables, inputs), jitted once in __init__.

  def _spatial_maps(self, variables, images):
    outputs = spatialnet.last_stack(self.spatial_model.apply(variables, images, train=False))
    outputs['sie'] = geometry.instance_embedding(outputs['svf'])   # Sec. 3.1.2
    return outputs

  def _human_embedding(self, variables, features, keypoints, valid):
    boxes, box_valid = temporalnet.boxes_from_keypoints(keypoints, valid)
    he = self.temporal_model.apply(variables, features, boxes,
                                   method=temporalnet.TemporalNet.human_embedding)
    return he * box_valid[..., None]

  def _temporal_maps(self, variables, prev, curr):
    tvf_fwd, tvf_bwd = self.temporal_model.apply(
        variables, prev, curr, train=False,
        method=temporalnet.TemporalNet.temporal_vector_fields)
    # Sec. 3.3.2: TIE = pixel - TVF; forward TIE holds frame t-1 centres at frame t joints.
    return dict(tvf_fwd=tvf_fwd, tvf_bwd=tvf_bwd, tie_fwd=geometry.instance_embedding(tvf_fwd),
                tie_bwd=geometry.instance_embedding(tvf_bwd))

  # Public API.

  def spatial_infer(self, images) -> dict[str, jax.Array]:
    """SpatialNet's last stack on normalised images.

    Args:
      images: float32 [B, H, W, 3] normalised (H = W = `config.data.image_size` for the
        shapes the model was trained at; any multiple of 4 * 2**depth works).

    Returns:
      dict of device arrays: `heatmaps` [B, h, w, J], `ke` [B, h, w, J], `svf` and `sie`
      [B, h, w, 2] (output pixels), `aux` [B, h, w, 6], `features` [B, h, w, C].
    """
    return self._spatial(self.spatial_variables, jnp.asarray(images, jnp.float32))

  def pgg_refine(self, outputs: Mapping[str, jax.Array], parts: tuple[bool, bool]):
    """PGG-refined (KE [B, h, w, J], SIE [B, h, w, 2]) of `spatial_infer` outputs (Sec. 3.2).

    `parts` = (KE, SIE): the embeddings PGG groups (the rest passes through unrefined).
    """
    if parts not in self._pgg_spatial:
      pgg_config = dict(self.config.pgg.to_dict(), use_ke=parts[0], use_sie=parts[1])
      self._pgg_spatial[parts] = jax.jit(functools.partial(pgg_refine_maps,
                                                           pgg_config=pgg_config))
    return self._pgg_spatial[parts](outputs['heatmaps'], outputs['ke'], outputs['svf'])

  def pgg_refine_tie(self, tie: jax.Array, heatmaps: jax.Array) -> jax.Array:
    """PGG-refined TIE [B, h, w, 2], masked by the heatmaps of the TIE's own frame."""
    return self._pgg_temporal(tie, heatmaps)

  def human_embedding(self, features, keypoints, valid) -> jax.Array:
    """HE of pose proposals (Sec. 3.3.1).

    Args:
      features: [B, h, w, C] SpatialNet features (`spatial_infer(...)['features']`).
      keypoints: [B, P, J, 2 or 3] output pixels.
      valid: [B, P, J] joints that each person's box must cover.

    Returns:
      [B, P, he_dim]; zero for people without a valid joint.
    """
    self._require_temporal('human_embedding')
    return self._he(self.temporal_variables, features, jnp.asarray(keypoints, jnp.float32),
                    jnp.asarray(valid, jnp.float32))

  def temporal_infer(self, prev: Mapping[str, Any], curr: Mapping[str, Any]
                     ) -> dict[str, jax.Array]:
    """TVF and TIE of a frame pair (Sec. 3.3.2).

    Args:
      prev, curr: `spatial_infer` outputs of frames t-1 and t (`features`, `heatmaps`, `sie`).

    Returns:
      dict of [B, h, w, 2] output pixels: `tvf_fwd`, `tvf_bwd`, `tie_fwd` (frame t-1 centres
      at frame t pixels), `tie_bwd` (frame t centres at frame t-1 pixels).
    """
    self._require_temporal('temporal_infer')
    pick = lambda maps: {k: maps[k] for k in ('features', 'heatmaps', 'sie')}
    return self._tvf(self.temporal_variables, pick(prev), pick(curr))

  def _require_temporal(self, what: str):
    if not self.has_temporal:
      raise ValueError(f'{what}: this model has no TemporalNet (restore a workdir of the '
                       "'temporal' stage)")


def pgg_refine_maps(heatmaps, ke, svf, pgg_config):
  """PGG-refined KE [B, h, w, J] and SIE [B, h, w, 2] of a batch (Sec. 3.2, Alg. 1)."""
  refined = pgg_lib.pgg_refine({'heatmaps': heatmaps, 'ke': ke, 'svf': svf}, pgg_config)
  return refined['ke'], refined['sie']


def pgg_refine_tie(tie, heatmaps, pgg_config):
  """PGG-refined TIE [B, h, w, 2] (output pixels), masked by ``heatmaps`` [B, h, w, J].

  Sec. 3.3.2: TIE is grouped alone, in the space of ``pgg.sie_scale`` like the SIE (the space
  the grouping loss of ``pgg.pgg_temporal_loss`` trains).
  """
  scale = float(pgg_config['sie_scale'])

  def one(x, heat):
    xs, slot_index, slot_valid = pgg_lib.pgg_from_config(x, heat, pgg_config)
    return pgg_lib.scatter_slots(x, xs[-1], slot_index, slot_valid)

  return jax.vmap(one)(tie / scale, pgg_lib.instance_agnostic_heat(heatmaps)) * scale


# ----------------------------------------------------------------------------------------------
# Decoding variants and test scales.

@dataclasses.dataclass(frozen=True)
class DecodeVariant:
  """Which embeddings group the joints, and whether PGG refines them first."""
  use_ke: bool
  use_sie: bool
  pgg: bool

  def __post_init__(self):
    if not (self.use_ke or self.use_sie):
      raise ValueError('a decoding variant needs KE or SIE (or both)')

  @classmethod
  def from_config(cls, config: ml_collections.ConfigDict, pgg: bool = False) -> 'DecodeVariant':
    """The grouping `config.decode` names (`use_ke`, `use_sie`)."""
    return cls(bool(config.decode.use_ke), bool(config.decode.use_sie), pgg)

  @property
  def name(self) -> str:
    parts = (['ke'] if self.use_ke else []) + (['sie'] if self.use_sie else [])
    return '_'.join(parts) + (PGG_SUFFIX if self.pgg else '')

  @property
  def parts(self) -> tuple[bool, bool]:
    return self.use_ke, self.use_sie


def validated_scales(config) -> tuple[tuple[float, ...], int]:
  """The test scales (``config.decode.scales``) and the multiple every input side must be.

  Returns:
    (scales, multiple): scales include 1.0 (TemporalNet reads the scale-1 maps, and the poses
    are in its pixels); ``config.data.image_size`` is a multiple of ``multiple`` = 4 * 2^depth
    (output stride 4 times the hourglass's downsampling).

  Raises:
    ValueError: naming the config field that breaks either rule.
  """
  scales = tuple(float(x) for x in config.decode.scales)
  if 1.0 not in scales:
    raise ValueError(f'config.decode.scales = {scales} must include 1.0 (the scale '
                     'whose maps TemporalNet reads and whose pixels the poses are in)')
  multiple = 4 * 2 ** int(config.model.depth)
  if int(config.data.image_size) % multiple:
    raise ValueError(f'config.data.image_size = {config.data.image_size} is not a multiple of '
                     f'{multiple} (output stride 4, hourglass depth {config.model.depth})')
  return scales, multiple


def input_size(size: int, scale: float, multiple: int) -> int:
  """Network input side for a test scale: ``size * scale`` rounded to the nearest multiple."""
  return max(multiple, int(round(size * scale / multiple)) * multiple)


# ----------------------------------------------------------------------------------------------
# The predictor.

@dataclasses.dataclass
class FrameOutputs:
  """What one frame's network pass gives every decoding variant.

  Attributes:
    poses: variant name -> the frame's poses in original image pixels, each a dict with
      ``keypoints`` [J, 3] (x, y, score; score 0 where not found), ``score``, ``tag``,
      ``center``.
    observations: variant name -> tracker input (``FrameObservations``, image pixels) for the
      tracked variants.
    seconds: stage -> seconds spent on this frame: ``spatialnet`` (letterbox and SpatialNet),
      ``pgg_<ke|sie|ke_sie>`` (PGG refinement of those embeddings), ``temporalnet_tie`` (TIE
      maps of the pair), ``pgg_temporal`` (PGG refinement of both TIE maps), ``he_<variant>``
      (human embeddings of a tracked variant's poses), ``decode_<variant>``.
  """
  poses: dict[str, list[dict]]
  observations: dict[str, FrameObservations]
  seconds: dict[str, float]


def pgg_stage(parts: tuple[bool, bool]) -> str:
  """Timing key of the PGG refinement of the embeddings ``parts`` = (KE, SIE)."""
  return 'pgg_' + DecodeVariant(*parts, pgg=False).name


def _add_time(seconds: dict[str, float], key: str, start: float) -> None:
  seconds[key] = seconds.get(key, 0.0) + time.perf_counter() - start


class FramePredictor:
  """Images -> poses (every decoding variant) and tracker observations (the tracked ones).

  Per call: the network input at each test scale (``config.decode.scales``; with
  ``decode.flip_test`` the mirrored image too, in the same batch); SpatialNet; PGG refinement
  of KE/SIE for the variants that ask for it (on each network output before the flip/scale
  merge, each image masked by its own heatmaps); the flip merge (``decode.merge_flip``) and the
  scale merge at the scale-1 output size (``decode.merge_scales``); decoding of each variant;
  the poses mapped back to image pixels. On video frames (``__call__``), with TemporalNet, the
  TIE maps of the pair (previous frame, this frame), raw and PGG-refined, and the human
  embeddings of the tracked variants' poses; TemporalNet reads the raw scale-1 unflipped maps it
  was trained on.

  Args:
    networks: the trained networks (``Networks.restore``), or an object with the same
      ``spatial_infer``/``pgg_refine``/``pgg_refine_tie``/``human_embedding``/
      ``temporal_infer`` methods and ``has_temporal`` (``exported.ExportedNetworks``: the
      functions of an export directory); None only in a subclass that supplies its own maps
      (``batch_maps``).
    config: the full config (``data``, ``decode``, ``pgg``, ``model``).
    variants: the decoding variants to decode with; default the one ``config.decode`` names,
      without PGG. The first is the one ``predict_batch`` and ``observe`` give.
    tracked: the variants whose poses become tracker observations (a subset of ``variants``);
      default all of them.
  """

  def __init__(self, networks: Any, config: ml_collections.ConfigDict,
               variants: Sequence[DecodeVariant] | None = None,
               tracked: Sequence[DecodeVariant] | None = None):
    self.networks = networks
    self.config = config
    self.variants = (tuple(variants) if variants is not None
                     else (DecodeVariant.from_config(config),))
    self.tracked = tuple(tracked) if tracked is not None else self.variants
    missing = [v.name for v in self.tracked if v not in self.variants]
    if missing:
      raise ValueError(f'tracked variants {missing} are not among the decoded variants')
    self.skeleton = skeletons_lib.get(config.data.skeleton)
    self.size = int(config.data.image_size)
    self.flip_test = bool(config.decode.flip_test)
    self.max_people = int(config.decode.max_people)
    self.scales, self._multiple = validated_scales(config)
    base_decode = config.decode.to_dict()
    self._decode_config = {
        v: ml_collections.ConfigDict(dict(base_decode, use_ke=v.use_ke, use_sie=v.use_sie))
                           for v in self.variants}
    self._pgg_parts = sorted({v.parts for v in self.variants if v.pgg})
    self._pgg_temporal = any(v.pgg for v in self.tracked)
    self._previous = None

  @property
  def has_temporal(self) -> bool:
    return self.networks is not None and self.networks.has_temporal

  def reset(self):
    """Forgets the previous frame (call between videos or sequences)."""
    self._previous = None

  # -- maps ----------------------------------------------------------------------------------

  def _frame_input(self, frame: np.ndarray, scale: float) -> np.ndarray:
    """Normalised network input [1, S, S, 3]: the uint8 frame [H, W, 3] letterboxed to S."""
    height, width = frame.shape[:2]
    size = input_size(self.size, scale, self._multiple)
    return augment.normalize_image(
        augment.warp_image(frame, augment.frame_matrix(height, width, size), size))[None]

  def _batch_input(self, images: np.ndarray, scale: float) -> np.ndarray:
    """A batch of letterboxed images [B, H, W, 3] resized to the test scale."""
    b, height, width, _ = images.shape
    size = tuple(input_size(n, scale, self._multiple) for n in (height, width))
    if size == (height, width):
      return images
    return np.asarray(jax.image.resize(images, (b,) + size + (3,), 'linear'))

  def _maps(self, inputs, out_hw: tuple[int, int], seconds: dict[str, float]):
    """Merged maps per map set ('raw' and each PGG grouping), and the scale-1 raw maps.

    Args:
      inputs: (scale, [B, S, S, 3] network input) per test scale.
      out_hw: the output size the scales are merged at.
      seconds: timings to add to.
    """
    per_scale: dict[Any, list[dict]] = {}
    base = None
    for scale, images in inputs:
      start = time.perf_counter()
      b = images.shape[0]
      if self.flip_test:
        # One batch of 2B images: the originals, then their mirrors.
        images = np.concatenate([images, images[:, :, ::-1]], axis=0)
      out = self.networks.spatial_infer(images)
      keys = _MAP_KEYS + (('facing',) if 'facing' in out else ())
      sets = {'raw': {k: np.asarray(v) for k, v in jax.device_get(
          {k: out[k] for k in keys}).items()}}
      _add_time(seconds, 'spatialnet', start)
      for parts in self._pgg_parts:
        start = time.perf_counter()
        # Each image (and each mirror) is grouped on its own maps; the flip merge follows.
        ke, sie = jax.device_get(self.networks.pgg_refine(out, parts))
        sets[parts] = dict(sets['raw'], ke=np.asarray(ke), sie=np.asarray(sie))
        _add_time(seconds, pgg_stage(parts), start)
      for name, maps in sets.items():
        merged = {k: maps[k][:b] for k in keys}
        if self.flip_test:
          merged = decode_lib.merge_flip(merged, {k: maps[k][b:] for k in keys},
                                         self.skeleton)
        per_scale.setdefault(name, []).append(merged)
      if scale == 1.0 and base is None:
        base = {k: out[k][:b] for k in ('features', 'heatmaps', 'sie')}
    merged = {name: maps[0] if len(maps) == 1 and maps[0]['heatmaps'].shape[1:3] == out_hw
              else decode_lib.merge_scales(maps, out_hw)
              for name, maps in per_scale.items()}
    return merged, base

  def variant_maps(self, merged, variant: DecodeVariant) -> dict[str, np.ndarray]:
    """The maps a variant decodes, of `batch_maps`'s (or a frame's) map sets."""
    return merged[variant.parts if variant.pgg else 'raw']

  def batch_maps(self, images: np.ndarray) -> dict[Any, dict[str, np.ndarray]]:
    """Decoding maps of a batch of letterboxed images, per map set.

    Args:
      images: float32 [B, H, W, 3] normalised network inputs (the pipeline's ``image``).

    Returns:
      'raw' and each PGG grouping (KE, SIE) of the variants -> host maps ``heatmaps``
      [B, h, w, J], ``ke`` [B, h, w, J] or [B, h, w, J, L] (one tag per flip and scale),
      ``sie`` [B, h, w, 2], output pixels of the scale-1 maps.
    """
    images = np.asarray(images, np.float32)
    height, width = images.shape[1:3]
    inputs = [(scale, self._batch_input(images, scale)) for scale in self.scales]
    return self._maps(inputs, (height // 4, width // 4), {})[0]

  def predict_batch(self, images: np.ndarray, transforms: np.ndarray) -> list[list[dict]]:
    """Poses of the first variant per image of a pipeline batch, in original image pixels.

    Args:
      images: float32 [B, H, W, 3] normalised network inputs.
      transforms: [B, 2 or 3, 3] original image -> input pixels (the pipeline's ``transform``).
    """
    variant = self.variants[0]
    maps = self.variant_maps(self.batch_maps(images), variant)
    stride = np.shape(images)[2] / maps['heatmaps'].shape[2]
    poses = decode_lib.decode(maps, self._decode_config[variant], self.skeleton)
    return [decode_lib.poses_to_image(p, geometry.output_to_image_matrix(t, stride))
            for p, t in zip(poses, transforms)]

  # -- video frames --------------------------------------------------------------------------

  def observe(self, frame: np.ndarray) -> FrameObservations:
    """The tracker input of a video frame for the first tracked variant."""
    return self(frame).observations[self.tracked[0].name]

  def __call__(self, frame: np.ndarray) -> FrameOutputs:
    """Poses of every variant and the tracked variants' observations of one video frame.

    Args:
      frame: uint8 [H, W, 3] RGB.
    """
    frame = video_io.rgb_frame(frame, 'FramePredictor: frame')
    height, width = frame.shape[:2]
    seconds: dict[str, float] = {}
    inputs = [(scale, self._frame_input(frame, scale)) for scale in self.scales]
    merged, base = self._maps(inputs, (self.size // 4, self.size // 4), seconds)
    h = base['heatmaps'].shape[1]
    to_image = geometry.output_to_image_matrix(augment.frame_matrix(height, width, self.size),
                                               self.size / h)
    to_img = lambda xy: geometry.apply_affine(to_image, xy).astype(np.float32)

    poses_out, poses_img = {}, {}
    for v in self.variants:
      start = time.perf_counter()
      poses_out[v] = decode_lib.decode(self.variant_maps(merged, v), self._decode_config[v],
                                       self.skeleton)[0]
      poses_img[v.name] = decode_lib.poses_to_image(poses_out[v], to_image)
      seconds[f'decode_{v.name}'] = time.perf_counter() - start

    tie = self._tie_maps(base, seconds)
    observations, keypoints_of = {}, {}
    for v in self.tracked:
      poses = poses_out[v]
      keypoints_of[v] = (np.stack([p['keypoints'] for p in poses]) if poses
                         else np.zeros((0, self.skeleton.num_joints, 3), np.float32))
      he = None
      if self.has_temporal:
        start = time.perf_counter()
        he = self._human_embeddings(base['features'], keypoints_of[v])
        seconds[f'he_{v.name}'] = time.perf_counter() - start
      sie_map = self.variant_maps(merged, v)['sie'][0]
      tie_fwd, tie_bwd = tie.get(v.pgg, (None, None))
      obs = []
      for k, (pose, pose_img) in enumerate(zip(poses, poses_img[v.name])):
        kp = pose['keypoints']
        obs.append(PoseObservation(
            keypoints=pose_img['keypoints'], score=float(pose['score']),
            tag=np.asarray(pose['tag'], np.float32), center=to_img(pose['center']),
            he=None if he is None else he[k],
            sie=to_img(geometry.sample_at_joints(sie_map, kp)),
            tie=None if tie_fwd is None else to_img(geometry.sample_at_joints(tie_fwd, kp))))
      tie_backward = None
      if tie_bwd is not None:
        previous = self._previous['keypoints'][v]
        tie_backward = np.zeros((len(previous), self.skeleton.num_joints, 2), np.float32)
        for k, kp in enumerate(previous):
          tie_backward[k] = to_img(geometry.sample_at_joints(tie_bwd, kp))
      observations[v.name] = FrameObservations(obs, tie_backward)
    if self.has_temporal:
      self._previous = dict(base=base, keypoints=keypoints_of)
    return FrameOutputs(poses=poses_img, observations=observations, seconds=seconds)

  def _tie_maps(self, base, seconds: dict[str, float]) -> dict[bool, tuple]:
    """TIE maps (forward, backward) [h, w, 2] output pixels of the pair (t-1, t): raw under
    False, PGG-refined under True (when a tracked variant uses PGG); {} without a pair."""
    tie = {}
    if not self.has_temporal or self._previous is None:
      return tie
    start = time.perf_counter()
    maps = self.networks.temporal_infer(self._previous['base'], base)
    tie[False] = tuple(np.asarray(x)[0] for x in jax.device_get(
        (maps['tie_fwd'], maps['tie_bwd'])))
    seconds['temporalnet_tie'] = time.perf_counter() - start
    if self._pgg_temporal:
      start = time.perf_counter()
      # Forward TIE lives at frame t's pixels, backward at frame t-1's: each is masked by its
      # own frame's heatmaps.
      fwd = self.networks.pgg_refine_tie(maps['tie_fwd'], base['heatmaps'])
      bwd = self.networks.pgg_refine_tie(maps['tie_bwd'], self._previous['base']['heatmaps'])
      tie[True] = tuple(np.asarray(x)[0] for x in jax.device_get((fwd, bwd)))
      seconds['pgg_temporal'] = time.perf_counter() - start
    return tie

  def _human_embeddings(self, features, keypoints: np.ndarray) -> np.ndarray:
    """HE [K, E] of poses [K, J, 3] (output pixels), padded to ``max_people``: one compile."""
    k, j = keypoints.shape[:2]
    padded = np.zeros((1, self.max_people, j, 3), np.float32)
    padded[0, :k] = keypoints[:self.max_people]
    return np.asarray(self.networks.human_embedding(features, padded,
                                                    padded[..., 2] > 0))[0, :k]
