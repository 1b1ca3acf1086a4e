"""TemporalNet: Human Embedding (HE) and Temporal Instance Embedding (TIE) branches (Sec. 3.3).

TemporalNet shares SpatialNet's low-level features. SpatialNet is frozen while TemporalNet
trains, so TemporalNet takes SpatialNet's outputs as plain inputs: the trainer applies
SpatialNet, wraps its outputs in ``jax.lax.stop_gradient`` and optimises only these parameters.
Use the last stack's heatmaps and SIE (``geometry.instance_embedding(outputs['svf'][-1])``).

Entry points (``model.apply(variables, ..., method=...)``):
  * ``__call__``: both branches for a frame pair (training, and ``init``).
  * ``TemporalNet.human_embedding``: HE of one frame's pose proposals (inference).
  * ``TemporalNet.temporal_vector_fields``: forward/backward TVF of a frame pair (inference).
"""
from __future__ import annotations

from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from artrack_jax import skeletons
from artrack_jax.models import hourglass
from artrack_jax.models import roi_align as roi_align_lib
from artrack_jax.models import spatialnet


def boxes_from_keypoints(keypoints, valid, margin: float = 0.15, min_size: float = 1.0):
  """Person boxes covering each pose proposal's joints, enlarged by a margin (Sec. 3.3.1).

  Args:
    keypoints: [..., P, J, 2 or 3] (x, y[, score]) in output pixels; only x, y are read.
    valid: [..., P, J] 1 for the joints that the box must cover.
    margin: each side grows by ``margin`` times the box's width (x) or height (y).
    min_size: boxes are at least this wide and high (output pixels), around their centre, so
      a one-joint person still gets a region.

  Returns:
    (boxes [..., P, 4] (x1, y1, x2, y2) output pixels, box_valid [..., P] float32). Boxes of
    people without a valid joint are all zero.
  """
  xy = keypoints[..., :2].astype(jnp.float32)
  valid = valid.astype(bool)
  big = jnp.float32(1e9)
  lo = jnp.where(valid[..., None], xy, big).min(axis=-2)              # [..., P, 2]
  hi = jnp.where(valid[..., None], xy, -big).max(axis=-2)
  size = hi - lo
  lo = lo - margin * size
  hi = hi + margin * size
  grow = jnp.maximum(min_size - (hi - lo), 0.0) / 2
  lo, hi = lo - grow, hi + grow
  box_valid = valid.any(axis=-1)
  boxes = jnp.concatenate([lo, hi], axis=-1)
  boxes = jnp.where(box_valid[..., None], boxes, 0.0)
  return boxes, box_valid.astype(jnp.float32)


class HumanEmbeddingHead(nn.Module):
  """ROI features [N, o, o, C] -> human embeddings [N, he_dim].

  No BatchNorm here: padded person slots would enter the batch statistics.
  """
  he_dim: int = 3072
  channels: int = 256
  normalize: bool = True
  dtype: Any = jnp.float32
  weight_grad: str = 'auto'

  @nn.compact
  def __call__(self, rois):
    x = rois.astype(self.dtype)
    kw = dict(dtype=self.dtype, weight_grad=self.weight_grad)
    x = nn.relu(hourglass.Conv(self.channels, 3, name='conv1', **kw)(x))
    x = nn.relu(hourglass.Conv(self.channels, 3, name='conv2', **kw)(x))
    x = x.mean(axis=(-3, -2))
    x = nn.Dense(self.he_dim, dtype=self.dtype, param_dtype=jnp.float32, name='embed')(x)
    x = x.astype(jnp.float32)
    if self.normalize:
      # Unit length: with Eq. 6's fixed margin (0.3) on squared distances, an unnormalised
      # embedding could meet the margin by growing its scale instead of separating people.
      x = x * jax.lax.rsqrt(jnp.maximum((x * x).sum(axis=-1, keepdims=True), 1e-12))
    return x


class TemporalNet(nn.Module):
  """HE branch (ROI-Align + head) and TIE branch (1-stack hourglass).

  Attributes:
    he_dim: human embedding size (paper: 3072).
    roi_size: ROI-Align output size.
    he_channels: channels of the HE head's convolutions.
    normalize_he: L2-normalise the human embeddings (see HumanEmbeddingHead).
    stacks, features, increase, depth: the TIE hourglass (paper: 1 stack).
    dtype: compute dtype; outputs are float32.
    weight_grad: kernel-gradient implementation of the convolutions (``hourglass.Conv``).
  """
  he_dim: int = 3072
  roi_size: int = 7
  he_channels: int = 256
  normalize_he: bool = True
  stacks: int = 1
  features: int = 256
  increase: int = 128
  depth: int = 4
  dtype: Any = jnp.float32
  weight_grad: str = 'auto'

  def setup(self):
    kw = dict(dtype=self.dtype, weight_grad=self.weight_grad)
    self.he_head = HumanEmbeddingHead(self.he_dim, self.he_channels, self.normalize_he, **kw)
    self.tie_input = hourglass.ConvBNReLU(self.features, kernel_size=1, **kw)
    self.tie_hourglasses = [
        hourglass.Hourglass(self.depth, self.features, self.increase, **kw)
        for _ in range(self.stacks)]
    self.tie_features = [
        (hourglass.ConvBNReLU(self.features, **kw), hourglass.ConvBNReLU(self.features, **kw))
        for _ in range(self.stacks)]
    # Forward (x, y) then backward (x, y) TVF; the last stack is the output.
    self.tie_heads = [hourglass.Conv(4, 1, **kw) for _ in range(self.stacks)]
    self.tie_merges = [hourglass.Conv(self.features, 1, **kw) for _ in range(self.stacks - 1)]

  def human_embedding(self, features, boxes):
    """HE of each box (Sec. 3.3.1).

    Args:
      features: [B, h, w, C] SpatialNet's low-level features.
      boxes: [B, P, 4] (x1, y1, x2, y2) output pixels (``boxes_from_keypoints``).

    Returns:
      [B, P, he_dim] float32 (unit length when ``normalize_he``); padded boxes give values
      that the caller masks.
    """
    b, p = boxes.shape[:2]
    rois = roi_align_lib.batched_roi_align(features.astype(self.dtype), boxes, self.roi_size)
    he = self.he_head(rois.reshape((b * p,) + rois.shape[2:]))
    return he.reshape(b, p, -1)

  def temporal_vector_fields(self, prev: Mapping[str, jax.Array], curr: Mapping[str, jax.Array],
                             train: bool):
    """Forward and backward TVF of a frame pair (Sec. 3.3.2).

    Args:
      prev, curr: SpatialNet's last-stack maps of frames t-1 and t: ``features`` [B, h, w, C]
        (low-level features), ``heatmaps`` [B, h, w, J], ``sie`` [B, h, w, 2] (output pixels).
      train: BatchNorm mode.

    Returns:
      (tvf_fwd, tvf_bwd), each [B, h, w, 2] float32 output pixels: forward TVF is meant for
      frame-t joints (joint(t) - centre(t-1)), backward for frame t-1 joints.
    """
    h, w = curr['sie'].shape[-3:-1]
    # SIE holds absolute positions (up to the map size); bring them to [0, 1] like the
    # other inputs so that one input layer suits every resolution.
    scale = jnp.asarray([max(w - 1, 1), max(h - 1, 1)], jnp.float32)
    x = jnp.concatenate([prev['features'], curr['features'], prev['heatmaps'],
                         curr['heatmaps'], prev['sie'] / scale, curr['sie'] / scale],
                        axis=-1).astype(self.dtype)
    x = self.tie_input(x, train)
    out = None
    for s in range(self.stacks):
      y = self.tie_hourglasses[s](x, train)
      y = self.tie_features[s][1](self.tie_features[s][0](y, train), train)
      out = self.tie_heads[s](y)
      if s < self.stacks - 1:
        x = x + self.tie_merges[s](y)
    out = out.astype(jnp.float32)
    return out[..., :2], out[..., 2:]

  def __call__(self, prev: Mapping[str, jax.Array], curr: Mapping[str, jax.Array],
               train: bool):
    """Both branches for a frame pair.

    Args:
      prev, curr: as ``temporal_vector_fields``, plus ``boxes`` [B, P, 4] (the people whose
        HE is computed, ``boxes_from_keypoints``).
      train: BatchNorm mode.

    Returns:
      dict(he_prev [B, P, E], he_curr [B, P, E], tvf_fwd [B, h, w, 2], tvf_bwd [B, h, w, 2]).
    """
    b = prev['boxes'].shape[0]
    # One HE pass over both frames' boxes.
    he = self.human_embedding(jnp.concatenate([prev['features'], curr['features']], axis=0),
                              jnp.concatenate([prev['boxes'], curr['boxes']], axis=0))
    tvf_fwd, tvf_bwd = self.temporal_vector_fields(prev, curr, train)
    return dict(he_prev=he[:b], he_curr=he[b:], tvf_fwd=tvf_fwd, tvf_bwd=tvf_bwd)


def from_config(config) -> TemporalNet:
  """TemporalNet for ``config.model`` (he_dim, roi_size, temporal_stacks, features, ...)."""
  m = config.model
  return TemporalNet(he_dim=m.he_dim, roi_size=m.roi_size,
                     he_channels=m.he_channels,
                     normalize_he=m.normalize_he, stacks=m.temporal_stacks,
                     features=m.features, increase=m.increase, depth=m.depth,
                     dtype=spatialnet._dtype(m.dtype),
                     weight_grad=m.conv_weight_grad)


def example_inputs(config, batch: int = 1, num_people: int | None = None
                   ) -> tuple[dict[str, jax.Array], dict[str, jax.Array]]:
  """Zero `prev`, `curr` inputs of `config`'s shapes (for `init` and `jax.eval_shape`)."""
  size = int(config.data.image_size)
  h = size // 4
  num_joints = skeletons.get(config.data.skeleton).num_joints
  num_people = int(config.data.max_people) if num_people is None else num_people
  frame = dict(features=jnp.zeros((batch, h, h, config.model.features), jnp.float32),
               heatmaps=jnp.zeros((batch, h, h, num_joints), jnp.float32),
               sie=jnp.zeros((batch, h, h, 2), jnp.float32),
               boxes=jnp.zeros((batch, num_people, 4), jnp.float32))
  return frame, dict(frame)
