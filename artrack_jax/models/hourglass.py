"""Stacked hourglass backbone (Newell et al., Associative Embedding; paper Sec. 3.4).

Layout follows the Associative Embedding network: a stem that brings the image to output stride
4, then ``stacks`` hourglasses. Each hourglass of depth ``depth`` halves the resolution per
level while the channels grow by ``increase`` per level; each stack ends with two feature
layers and a 1x1 prediction head, and (except for the last stack) its predictions and features
are mapped back to the trunk width and added to the stack's input (intermediate supervision).

Everything is NHWC. ``dtype`` is the compute dtype; parameters are always float32.
"""
from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax.numpy as jnp

Dtype = Any


def max_pool_2x2(x):
  """2x2 max pooling with stride 2 by reshape; [B, H, W, C] -> [B, H/2, W/2, C].

  A reshape + max lowers to a plain reduction whose gradient is an elementwise select, which
  XLA fuses; ``reduce_window`` has a ``select_and_scatter`` gradient that is slow on CPU.
  """
  b, h, w, c = x.shape
  if h % 2 or w % 2:
    raise ValueError(f'max_pool_2x2 needs even spatial sizes, got {x.shape}: the input size '
                     'must be divisible by 4 * 2**depth')
  return x.reshape(b, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


def upsample_nearest_2x(x):
  """Nearest-neighbour 2x upsampling by broadcast; [B, h, w, C] -> [B, 2h, 2w, C]."""
  b, h, w, c = x.shape
  x = jnp.broadcast_to(x[:, :, None, :, None, :], (b, h, 2, w, 2, c))
  return x.reshape(b, 2 * h, 2 * w, c)


class ConvBNReLU(nn.Module):
  """Convolution (no bias) -> BatchNorm -> ReLU, the unit of the AE hourglass."""
  features: int
  kernel_size: int = 3
  strides: int = 1
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    x = nn.Conv(self.features, (self.kernel_size, self.kernel_size),
                strides=(self.strides, self.strides), padding='SAME', use_bias=False,
                dtype=self.dtype, param_dtype=jnp.float32, name='conv')(x)
    # axis_name=None: under jit over a sharded batch the mean is already global.
    x = nn.BatchNorm(use_running_average=not train, axis_name=None, momentum=0.9,
                     epsilon=1e-5, dtype=self.dtype, param_dtype=jnp.float32, name='bn')(x)
    return nn.relu(x)


class Residual(nn.Module):
  """Pre-activation bottleneck residual block (BN-ReLU-1x1, BN-ReLU-3x3, BN-ReLU-1x1)."""
  features: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    mid = self.features // 2

    def bn_relu(y, name):
      y = nn.BatchNorm(use_running_average=not train, axis_name=None, momentum=0.9,
                       epsilon=1e-5, dtype=self.dtype, param_dtype=jnp.float32, name=name)(y)
      return nn.relu(y)

    def conv(y, features, k, name):
      return nn.Conv(features, (k, k), padding='SAME', dtype=self.dtype,
                     param_dtype=jnp.float32, name=name)(y)

    y = conv(bn_relu(x, 'bn1'), mid, 1, 'conv1')
    y = conv(bn_relu(y, 'bn2'), mid, 3, 'conv2')
    y = conv(bn_relu(y, 'bn3'), self.features, 1, 'conv3')
    skip = x
    if x.shape[-1] != self.features:
      skip = conv(x, self.features, 1, 'skip')
    return skip + y


class Stem(nn.Module):
  """Image [B, H, W, 3] -> low-level features [B, H/4, W/4, features]."""
  features: int
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, images, train: bool):
    x = images.astype(self.dtype)
    x = ConvBNReLU(64, kernel_size=7, strides=2, dtype=self.dtype, name='conv7x7')(x, train)
    x = Residual(128, dtype=self.dtype, name='res1')(x, train)
    x = max_pool_2x2(x)
    x = Residual(128, dtype=self.dtype, name='res2')(x, train)
    return Residual(self.features, dtype=self.dtype, name='res3')(x, train)


class Hourglass(nn.Module):
  """One hourglass of ``depth`` levels; channels grow by ``increase`` per level.

  [B, h, w, features] -> [B, h, w, features]; h and w must be divisible by 2**depth.
  """
  depth: int
  features: int
  increase: int = 128
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, x, train: bool):
    inner = self.features + self.increase
    up1 = ConvBNReLU(self.features, dtype=self.dtype, name='up1')(x, train)
    low = ConvBNReLU(inner, dtype=self.dtype, name='low1')(max_pool_2x2(x), train)
    if self.depth > 1:
      low = Hourglass(self.depth - 1, inner, self.increase, dtype=self.dtype,
                      name='low2')(low, train)
    else:
      low = ConvBNReLU(inner, dtype=self.dtype, name='low2')(low, train)
    low = ConvBNReLU(self.features, dtype=self.dtype, name='low3')(low, train)
    return up1 + upsample_nearest_2x(low)


class StackedHourglass(nn.Module):
  """Stem + ``stacks`` hourglasses with intermediate supervision.

  Attributes:
    head_channels: output channels of each stack's 1x1 prediction head.
    stacks, features, increase, depth: hourglass configuration (paper: 4, 256, 128, 4).
    dtype: compute dtype.

  ``__call__(images [B, H, W, 3], train)`` returns ``(predictions, features)``:
  predictions float32 [S, B, H/4, W/4, head_channels] (every stack, for intermediate
  supervision) and the stem's low-level features [B, H/4, W/4, features] (compute dtype).
  """
  head_channels: int
  stacks: int = 4
  features: int = 256
  increase: int = 128
  depth: int = 4
  dtype: Dtype = jnp.float32

  @nn.compact
  def __call__(self, images, train: bool):
    _check_input_size(images.shape, self.depth)
    low_level = Stem(self.features, dtype=self.dtype, name='stem')(images, train)
    x = low_level
    predictions = []
    for s in range(self.stacks):
      y = Hourglass(self.depth, self.features, self.increase, dtype=self.dtype,
                    name=f'hourglass_{s}')(x, train)
      y = ConvBNReLU(self.features, dtype=self.dtype, name=f'feature_{s}_0')(y, train)
      y = ConvBNReLU(self.features, dtype=self.dtype, name=f'feature_{s}_1')(y, train)
      pred = nn.Conv(self.head_channels, (1, 1), dtype=self.dtype, param_dtype=jnp.float32,
                     name=f'head_{s}')(y)
      predictions.append(pred)
      if s < self.stacks - 1:
        # Merge: predictions and features are mapped back to the trunk width and added.
        x = (x + nn.Conv(self.features, (1, 1), dtype=self.dtype, param_dtype=jnp.float32,
                         name=f'merge_predictions_{s}')(pred)
             + nn.Conv(self.features, (1, 1), dtype=self.dtype, param_dtype=jnp.float32,
                       name=f'merge_features_{s}')(y))
    return jnp.stack(predictions).astype(jnp.float32), low_level


def _check_input_size(shape: Sequence[int], depth: int):
  if len(shape) != 4 or shape[-1] != 3:
    raise ValueError(f'images must be [B, H, W, 3] (NHWC), got shape {tuple(shape)}')
  multiple = 4 * 2 ** depth
  if shape[1] % multiple or shape[2] % multiple:
    raise ValueError(f'image height and width must be multiples of {multiple} '
                     f'(output stride 4, hourglass depth {depth}); got {tuple(shape)}')
