"""SpatialNet: body-part heatmaps, KE, SVF/SIE and the ordinal auxiliary maps (paper Sec. 3.1).

One stacked hourglass whose per-stack 1x1 head predicts, channel by channel,
``[heatmaps (J) | KE (J) | SVF (2) | aux (6)]``; a single head keeps one convolution per stack.
"""
from __future__ import annotations

from typing import Any, Mapping

import flax.linen as nn
import jax
import jax.numpy as jnp

from artrack_jax import skeletons
from artrack_jax.models import hourglass

# Order of the auxiliary ordinal maps (Sec. 3.1.1); losses.ordinal_loss uses the same order.
AUX_TASKS = ('l2r', 'r2l', 't2b', 'b2t', 'f2n', 'n2f')


def last_stack(outputs: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
  """SpatialNet outputs of the last stack: per-stack maps [S, B, ...] -> [B, ...].

  `features` (the stem's, [B, h, w, C]) has no stack axis and passes through.
  """
  return {name: (value if name == 'features' else value[-1]) for name, value in outputs.items()}


class SpatialNet(nn.Module):
  """Stacked hourglass with the SpatialNet heads.

  Attributes:
    num_joints: J, joints of the skeleton.
    stacks, features, increase, depth: hourglass configuration (paper: 4, 256, 128, 4).
    stem_widths: channels of the stem's first layers (``hourglass.Stem``; AE: 64, 128).
    dtype: compute dtype (float32, or bfloat16 on accelerators); outputs are float32.
    weight_grad: kernel-gradient implementation of the convolutions (``hourglass.Conv``:
      'auto' = XLA's convolution on every platform; 'matmul' = im2col).
    facing_head: add the facing map (not in the paper; ``config.model.facing_head``): one
      channel per stack read from the hourglass output, trained by ``losses.facing_loss``
      and read at decoding only with ``decode.facing_orient``.
  """
  num_joints: int
  stacks: int = 4
  features: int = 256
  increase: int = 128
  depth: int = 4
  stem_widths: tuple[int, int] = (64, 128)
  dtype: Any = jnp.float32
  weight_grad: str = 'auto'
  facing_head: bool = False

  @nn.compact
  def __call__(self, images, train: bool):
    """Runs the network.

    Args:
      images: [B, H, W, 3] normalised; H and W multiples of 4 * 2**depth.
      train: BatchNorm uses batch statistics (and updates ``batch_stats``) when True.

    Returns:
      dict with ``heatmaps`` [S, B, h, w, J], ``ke`` [S, B, h, w, J], ``svf`` [S, B, h, w, 2]
      (output pixels), ``aux`` [S, B, h, w, 6] (order AUX_TASKS), all float32, and
      ``features`` [B, h, w, C] the stem's low-level features (shared with TemporalNet);
      with ``facing_head`` also ``facing`` [S, B, h, w, 1].
    """
    j = self.num_joints
    predictions, features, facing = hourglass.StackedHourglass(
        head_channels=2 * j + 2 + len(AUX_TASKS), stacks=self.stacks, features=self.features,
        increase=self.increase, depth=self.depth, stem_widths=tuple(self.stem_widths),
        dtype=self.dtype,
        weight_grad=self.weight_grad, facing_channels=1 if self.facing_head else 0,
        name='backbone')(images, train)
    outputs = dict(
        heatmaps=predictions[..., :j],
        ke=predictions[..., j:2 * j],
        svf=predictions[..., 2 * j:2 * j + 2],
        aux=predictions[..., 2 * j + 2:],
        features=features.astype(jnp.float32),
    )
    if facing is not None:
      outputs['facing'] = facing
    return outputs


def _dtype(name: str):
  try:
    return {'float32': jnp.float32, 'bfloat16': jnp.bfloat16, 'float16': jnp.float16}[name]
  except KeyError:
    raise ValueError(f'config.model.dtype: unknown dtype {name!r}; use float32, bfloat16 or '
                     'float16') from None


def from_config(config) -> SpatialNet:
  """SpatialNet for ``config`` (``config.model`` and ``config.data.skeleton``)."""
  m = config.model
  return SpatialNet(num_joints=skeletons.get(config.data.skeleton).num_joints,
                    stacks=m.stacks, features=m.features, increase=m.increase, depth=m.depth,
                    stem_widths=tuple(m.stem_widths), dtype=_dtype(m.dtype),
                    weight_grad=m.conv_weight_grad, facing_head=bool(m.facing_head))
