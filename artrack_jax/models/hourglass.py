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
import jax
import jax.numpy as jnp

Dtype = Any

_NHWC = ('NHWC', 'HWIO', 'NHWC')


def _conv(x, kernel, strides):
  """'SAME' convolution, NHWC input, HWIO kernel."""
  return jax.lax.conv_general_dilated(x, kernel, (strides, strides), 'SAME',
                                      dimension_numbers=_NHWC)


def _patches(x, k):
  """im2col of a stride-1 'SAME' k x k convolution: [B, H, W, C] -> [B, H, W, k*k*C].

  The channel order (row, column, channel) matches ``kernel.reshape(k*k*C, out)`` of an HWIO
  kernel.
  """
  b, h, w, _ = x.shape
  p = k // 2
  padded = jnp.pad(x, ((0, 0), (p, k - 1 - p), (p, k - 1 - p), (0, 0)))
  return jnp.concatenate([padded[:, i:i + h, j:j + w, :] for i in range(k) for j in range(k)],
                         axis=-1)


@jax.custom_vjp
def conv_matmul_weight_grad(x, kernel):
  """Stride-1 'SAME' convolution whose weight gradient is one matmul (im2col).

  Forward and input gradient are XLA's convolutions; only the kernel gradient differs. With
  jax 0.10.2 XLA's CPU backward-filter convolution (YNNPACK) is faster than this matmul (the
  whole train step at 128 px, batch 4: 1326 ms with XLA's against 2625 ms with this one at 256
  features, 210 against 240 ms at the quick start's 64; benchmarks/bench_train_step.py on an
  idle 2-core EPYC), so 'auto' no longer picks it; it stays as an option for back ends whose
  backward-filter convolution is slow. The price is a transient [B, H, W, k*k*C] buffer per
  layer in the backward pass. Values equal ``_conv(x, kernel, 1)`` and its gradients.
  """
  return _conv(x, kernel, 1)


def _conv_fwd(x, kernel):
  return _conv(x, kernel, 1), (x, kernel)


def _conv_bwd(residuals, grad):
  x, kernel = residuals
  _, input_vjp = jax.vjp(lambda v: _conv(v, kernel, 1), x)
  (dx,) = input_vjp(grad)
  k, _, c, out = kernel.shape
  cols = _patches(x, k).reshape(-1, k * k * c)
  dkernel = jnp.dot(cols.T, grad.reshape(-1, out), preferred_element_type=jnp.float32)
  return dx, dkernel.reshape(kernel.shape).astype(kernel.dtype)


conv_matmul_weight_grad.defvjp(_conv_fwd, _conv_bwd)


class Conv(nn.Module):
  """2-D convolution, NHWC, 'SAME' padding; parameters like ``nn.Conv`` (kernel HWIO, bias).

  Attributes:
    features: output channels.
    kernel_size: square kernel size (odd).
    strides: square stride.
    use_bias: add a bias (off before BatchNorm).
    dtype: compute dtype; parameters are float32.
    weight_grad: how the kernel gradient is computed: 'xla' (XLA's convolution), 'matmul'
      (im2col matmul, see ``conv_matmul_weight_grad``; stride 1 only) or 'auto' (XLA's on
      every platform, the fastest measured). 1x1 convolutions are always a plain matmul.
      benchmarks/bench_train_step.py times the choices side by side.
  """
  features: int
  kernel_size: int = 3
  strides: int = 1
  use_bias: bool = True
  dtype: Dtype = jnp.float32
  weight_grad: str = 'auto'

  @nn.compact
  def __call__(self, x):
    k, c = self.kernel_size, x.shape[-1]
    kernel = self.param('kernel', nn.initializers.lecun_normal(), (k, k, c, self.features),
                        jnp.float32).astype(self.dtype)
    x = x.astype(self.dtype)
    y = self._conv(x, kernel, k, c)
    if self.use_bias:
      y = y + self.param('bias', nn.initializers.zeros, (self.features,),
                         jnp.float32).astype(self.dtype)
    return y

  def _conv(self, x, kernel, k, c):
    if k == 1 and self.strides == 1:
      # As a 2-D matmul: the gradients of a dot contracting over [B, H, W] at once were 1.4-3x
      # slower on CPU than those of the same dot on the flattened rows.
      y = jnp.dot(x.reshape(-1, c), kernel[0, 0]).reshape(x.shape[:-1] + (self.features,))
    elif self.strides == 1 and _use_matmul_weight_grad(self.weight_grad):
      y = conv_matmul_weight_grad(x, kernel)
    else:
      y = _conv(x, kernel, self.strides)
    return y


def _use_matmul_weight_grad(mode: str) -> bool:
  if mode == 'auto':
    return False
  if mode not in ('xla', 'matmul'):
    raise ValueError(f"weight_grad must be 'auto', 'xla' or 'matmul', got {mode!r}")
  return mode == 'matmul'


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
  weight_grad: str = 'auto'

  @nn.compact
  def __call__(self, x, train: bool):
    x = Conv(self.features, self.kernel_size, self.strides, use_bias=False, dtype=self.dtype,
             weight_grad=self.weight_grad, name='conv')(x)
    # axis_name=None: under jit over a sharded batch the mean is already global.
    x = nn.BatchNorm(use_running_average=not train, axis_name=None, momentum=0.9,
                     epsilon=1e-5, dtype=self.dtype, param_dtype=jnp.float32, name='bn')(x)
    return nn.relu(x)


class Residual(nn.Module):
  """Pre-activation bottleneck residual block (BN-ReLU-1x1, BN-ReLU-3x3, BN-ReLU-1x1)."""
  features: int
  dtype: Dtype = jnp.float32
  weight_grad: str = 'auto'

  @nn.compact
  def __call__(self, x, train: bool):
    mid = self.features // 2

    def bn_relu(y, name):
      y = nn.BatchNorm(use_running_average=not train, axis_name=None, momentum=0.9,
                       epsilon=1e-5, dtype=self.dtype, param_dtype=jnp.float32, name=name)(y)
      return nn.relu(y)

    def conv(y, features, k, name):
      return Conv(features, k, dtype=self.dtype, weight_grad=self.weight_grad, name=name)(y)

    y = conv(bn_relu(x, 'bn1'), mid, 1, 'conv1')
    y = conv(bn_relu(y, 'bn2'), mid, 3, 'conv2')
    y = conv(bn_relu(y, 'bn3'), self.features, 1, 'conv3')
    skip = x
    if x.shape[-1] != self.features:
      skip = conv(x, self.features, 1, 'skip')
    return skip + y


class Stem(nn.Module):
  """Image [B, H, W, 3] -> low-level features [B, H/4, W/4, features].

  ``widths`` are the channels of the 7x7 stride-2 convolution and of the two residuals before
  the last one (AE: 64, 128). At half resolution the first residual is the network's most
  expensive layer when the hourglass is narrow, so small configs narrow it.
  """
  features: int
  widths: Sequence[int] = (64, 128)
  dtype: Dtype = jnp.float32
  weight_grad: str = 'auto'

  @nn.compact
  def __call__(self, images, train: bool):
    kw = dict(dtype=self.dtype, weight_grad=self.weight_grad)
    conv_width, res_width = self.widths
    x = images.astype(self.dtype)
    x = ConvBNReLU(conv_width, kernel_size=7, strides=2, name='conv7x7', **kw)(x, train)
    x = Residual(res_width, name='res1', **kw)(x, train)
    x = max_pool_2x2(x)
    x = Residual(res_width, name='res2', **kw)(x, train)
    return Residual(self.features, name='res3', **kw)(x, train)


class Hourglass(nn.Module):
  """One hourglass of ``depth`` levels; channels grow by ``increase`` per level.

  [B, h, w, features] -> [B, h, w, features]; h and w must be divisible by 2**depth.
  """
  depth: int
  features: int
  increase: int = 128
  dtype: Dtype = jnp.float32
  weight_grad: str = 'auto'

  @nn.compact
  def __call__(self, x, train: bool):
    kw = dict(dtype=self.dtype, weight_grad=self.weight_grad)
    inner = self.features + self.increase
    up1 = ConvBNReLU(self.features, name='up1', **kw)(x, train)
    low = ConvBNReLU(inner, name='low1', **kw)(max_pool_2x2(x), train)
    if self.depth > 1:
      low = Hourglass(self.depth - 1, inner, self.increase, name='low2', **kw)(low, train)
    else:
      low = ConvBNReLU(inner, name='low2', **kw)(low, train)
    low = ConvBNReLU(self.features, name='low3', **kw)(low, train)
    return up1 + upsample_nearest_2x(low)


class StackedHourglass(nn.Module):
  """Stem + ``stacks`` hourglasses with intermediate supervision.

  Attributes:
    head_channels: output channels of each stack's 1x1 prediction head.
    stacks, features, increase, depth: hourglass configuration (paper: 4, 256, 128, 4).
    stem_widths: the stem's channels before its last residual (``Stem``; AE: 64, 128).
    dtype: compute dtype.
    weight_grad: kernel-gradient implementation of the convolutions (see ``Conv``).

  ``__call__(images [B, H, W, 3], train)`` returns ``(predictions, features, facing)``:
  predictions float32 [S, B, H/4, W/4, head_channels] (every stack, for intermediate
  supervision), the stem's low-level features [B, H/4, W/4, features] (compute dtype), and,
  when ``facing_channels`` > 0, a 1x1 head on each hourglass's output (before the two feature
  layers) float32 [S, B, H/4, W/4, facing_channels], else None. It reads the layer below the
  heatmap heads so that those two layers can combine what it carries (which way the person
  faces) with what they see locally (not in the paper; ``losses.facing_loss``).
  """
  head_channels: int
  stacks: int = 4
  features: int = 256
  increase: int = 128
  depth: int = 4
  stem_widths: Sequence[int] = (64, 128)
  dtype: Dtype = jnp.float32
  weight_grad: str = 'auto'
  facing_channels: int = 0

  @nn.compact
  def __call__(self, images, train: bool):
    _check_input_size(images.shape, self.depth)
    kw = dict(dtype=self.dtype, weight_grad=self.weight_grad)
    low_level = Stem(self.features, tuple(self.stem_widths), name='stem', **kw)(images, train)
    x = low_level
    predictions, facing = [], []
    for s in range(self.stacks):
      y = Hourglass(self.depth, self.features, self.increase, name=f'hourglass_{s}', **kw)(
          x, train)
      if self.facing_channels:
        facing.append(Conv(self.facing_channels, 1, name=f'facing_{s}', **kw)(y))
      y = ConvBNReLU(self.features, name=f'feature_{s}_0', **kw)(y, train)
      y = ConvBNReLU(self.features, name=f'feature_{s}_1', **kw)(y, train)
      pred = Conv(self.head_channels, 1, name=f'head_{s}', **kw)(y)
      predictions.append(pred)
      if s < self.stacks - 1:
        # Merge: predictions and features are mapped back to the trunk width and added.
        x = (x + Conv(self.features, 1, name=f'merge_predictions_{s}', **kw)(pred)
             + Conv(self.features, 1, name=f'merge_features_{s}', **kw)(y))
    facing = jnp.stack(facing).astype(jnp.float32) if facing else None
    return jnp.stack(predictions).astype(jnp.float32), low_level, facing


def _check_input_size(shape: Sequence[int], depth: int):
  if len(shape) != 4 or shape[-1] != 3:
    raise ValueError(f'images must be [B, H, W, 3] (NHWC), got shape {tuple(shape)}')
  multiple = 4 * 2 ** depth
  if shape[1] % multiple or shape[2] % multiple:
    raise ValueError(f'image height and width must be multiples of {multiple} '
                     f'(output stride 4, hourglass depth {depth}); got {tuple(shape)}')
