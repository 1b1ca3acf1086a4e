"""Inference with a trained workdir: jitted SpatialNet and TemporalNet functions.

  model = inference.restore(workdir, config)
  maps = model.spatial_infer(images)          # last-stack maps, [B, h, w, ...]
  poses = decode.decode(model.decode_maps(images), config.decode, skeleton)

A stage-1/2 workdir holds SpatialNet; a stage-3 workdir holds TemporalNet (trained) and the
SpatialNet it was trained on (frozen), so both come back from it. Variables are arguments of
the jitted functions (not constants baked into the compiled program), and one compiled function
serves every batch of the same shape.
"""
from __future__ import annotations

import functools
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from artrack_jax import skeletons as skeletons_lib
from artrack_jax import train_lib
from artrack_jax.grouping import decode as decode_lib
from artrack_jax.grouping import pgg as pgg_lib
from artrack_jax.models import spatialnet
from artrack_jax.models import temporalnet

PyTree = Any


class InferenceModel:
  """SpatialNet (and TemporalNet when trained) with their variables, ready to run.

  Args:
    config: the config the networks were trained with (`model`, `data.skeleton`, `decode`).
    spatial_variables: SpatialNet `{'params', 'batch_stats'}`.
    temporal_variables: TemporalNet `{'params', 'batch_stats'}`, or None.
  """

  def __init__(self, config: ml_collections.ConfigDict, spatial_variables: PyTree,
               temporal_variables: PyTree | None = None):
    self.config = config
    self.skeleton = skeletons_lib.get(config.data.skeleton)
    self.spatial_model = spatialnet.from_config(config)
    self.spatial_variables = spatial_variables
    self.temporal_variables = temporal_variables
    self.temporal_model = (temporalnet.from_config(config)
                           if temporal_variables is not None else None)
    self._spatial = jax.jit(self._spatial_maps)
    self._pgg_refine = jax.jit(lambda maps: pgg_lib.pgg_refine(maps, config.pgg))
    if self.temporal_model is not None:
      self._he = jax.jit(self._human_embedding)
      self._tvf = jax.jit(self._temporal_maps)

  @property
  def has_temporal(self) -> bool:
    return self.temporal_model is not None

  # Pure functions of (variables, inputs), jitted once in __init__.

  def _spatial_maps(self, variables, images):
    outputs = train_lib.last_stack(self.spatial_model.apply(variables, images, train=False))
    outputs['sie'] = spatialnet.svf_to_sie(outputs['svf'])   # Sec. 3.1.2: SIE = pixel - SVF
    return outputs

  def _human_embedding(self, variables, features, keypoints, valid):
    boxes, box_valid = temporalnet.boxes_from_keypoints(keypoints, valid)
    he = self.temporal_model.apply(variables, features, boxes,
                                   method=temporalnet.TemporalNet.human_embedding)
    return he * box_valid[..., None]

  def _temporal_maps(self, variables, prev, curr):
    tvf_fwd, tvf_bwd = self.temporal_model.apply(
        variables, prev['features'], curr['features'], prev['heatmaps'], curr['heatmaps'],
        prev['sie'], curr['sie'], train=False,
        method=temporalnet.TemporalNet.temporal_vector_fields)
    # Sec. 3.3.2: TIE = pixel - TVF; forward TIE holds frame t-1 centres at frame t joints.
    return dict(tvf_fwd=tvf_fwd, tvf_bwd=tvf_bwd, tie_fwd=temporalnet.tvf_to_tie(tvf_fwd),
                tie_bwd=temporalnet.tvf_to_tie(tvf_bwd))

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

  def decode_maps(self, images, flip_test: bool | None = None,
                  scales: tuple[float, ...] | None = None,
                  pgg_refine: bool | None = None) -> dict[str, np.ndarray]:
    """Host maps for `decode.decode`: `heatmaps`, `ke`, `sie`, test-time augmentation merged.

    Args:
      images: float32 [B, H, W, 3] normalised.
      flip_test: also run the mirrored images and merge (`decode.merge_flip`); defaults to
        `config.decode.flip_test`.
      pgg_refine: refine KE and SIE with PGG before decoding (Sec. 3.2, the model trained in
        stage 2); defaults to `config.pgg.enabled`.
      scales: input scales whose maps are averaged at the scale-1 size
        (`decode.merge_scales`); defaults to `config.decode.scales`. Each scaled input is
        rounded to a multiple of 4 * 2**depth.

    Returns:
      `heatmaps` [B, h, w, J], `ke` [B, h, w, J] or [B, h, w, J, L] (one tag per flip and
      scale), `sie` [B, h, w, 2], output pixels of the scale-1 maps.
    """
    flip_test = bool(self.config.decode.flip_test) if flip_test is None else flip_test
    scales = tuple(self.config.decode.get('scales', (1.0,))) if scales is None else scales
    pgg_refine = bool(self.config.pgg.enabled) if pgg_refine is None else pgg_refine
    images = np.asarray(images, np.float32)
    b, height, width, _ = images.shape
    multiple = 4 * 2 ** int(self.config.model.depth)
    per_scale = []
    for scale in scales:
      size = tuple(max(multiple, int(round(scale * n / multiple)) * multiple)
                   for n in (height, width))
      scaled = images if size == (height, width) else np.asarray(
          jax.image.resize(images, (b,) + size + (3,), 'linear'))
      per_scale.append(self._flip_merged_maps(scaled, flip_test, pgg_refine))
    if len(per_scale) == 1 and per_scale[0]['heatmaps'].shape[1:3] == (height // 4, width // 4):
      return per_scale[0]
    return decode_lib.merge_scales(per_scale, (height // 4, width // 4))

  def _flip_merged_maps(self, images: np.ndarray, flip_test: bool,
                        pgg_refine: bool) -> dict[str, np.ndarray]:
    keys = ('heatmaps', 'ke', 'sie')
    if flip_test:
      # One batch of 2B images: the originals, then their mirrors.
      images = np.concatenate([images, images[:, :, ::-1]])
    outputs = self.spatial_infer(images)
    if pgg_refine:
      # Each image (and each mirror) is grouped on its own maps; the flip merge follows.
      outputs = self._pgg_refine({k: outputs[k] for k in ('heatmaps', 'ke', 'svf')})
    outputs = jax.device_get(outputs)
    if not flip_test:
      return {k: np.asarray(outputs[k]) for k in keys}
    b = images.shape[0] // 2
    return decode_lib.merge_flip({k: np.asarray(outputs[k][:b]) for k in keys},
                                 {k: np.asarray(outputs[k][b:]) for k in keys}, self.skeleton)

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


def restore(workdir: str, config: ml_collections.ConfigDict,
            step: int | None = None) -> InferenceModel:
  """The networks of a training workdir's checkpoint (the latest unless `step`).

  Args:
    workdir: a training workdir (it has `checkpoints/`).
    config: the config it was trained with.
    step: which checkpoint.

  Raises:
    FileNotFoundError: no checkpoint; ValueError: the variables do not fit the config's model.
  """
  saved = train_lib.load_trained_variables(workdir, step)
  trained = {'params': saved['params'], 'batch_stats': saved['batch_stats']}
  if saved['frozen']:
    spatial, temporal = saved['frozen'], trained
  else:
    spatial, temporal = trained, None
  model = InferenceModel(config, spatial, temporal)
  # Fail here, with the workdir named, rather than at the first image.
  size = int(config.data.image_size)
  expected = jax.eval_shape(functools.partial(model.spatial_model.init, train=False),
                            jax.random.key(0), jnp.zeros((1, size, size, 3)))
  what = f'{workdir} (step {saved["step"]})'
  model.spatial_variables = train_lib.conform_variables(
      spatial, {'params': expected['params'], 'batch_stats': expected.get('batch_stats', {})},
      what)
  return model
