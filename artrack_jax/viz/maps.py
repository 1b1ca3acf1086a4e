"""Figures of the network maps the paper shows, for notebooks (Fig. 1(c), 3, 4).

Every function returns a matplotlib ``Figure`` built on the Agg canvas without pyplot, so
importing this module changes no global matplotlib state; a notebook shows a figure with
``display(fig)`` (or as a cell's last value) and ``fig.savefig(path)`` writes it.

What is drawn, in the paper's terms:

* ``spatial_maps_figure``: the input, the instance-agnostic heat ``max_j C_j`` (Sec. 3.2), the
  keypoint embedding (KE) colour-coded on the pose mask, the spatial vector field (SVF) x and y
  (Fig. 4(f)(g): bright = positive offset from the person's centre), and the spatial instance
  embedding (SIE = pixel - SVF, Sec. 3.1.2) colour-coded by the centre it points at.
* ``ordinal_maps_figure``: the six auxiliary ordinal maps l2r, r2l, t2b, b2t, f2n, n2f
  (Sec. 3.1.1, Fig. 4(c)-(e): brighter = higher order).
* ``pgg_effect_figure``: KE on the pose mask and the SIE of the masked pixels before and after
  Pose-Guided Grouping (Fig. 1(c), Fig. 3): after PGG the embeddings of one person are more
  compact. ``pgg_effect`` gives the numbers behind it (``embedding_spread`` per person).
* ``poses_figure``, ``ground_truth_figure``, ``decoded_poses_figure``,
  ``tracked_frames_figure``: frames with skeletons coloured by person or track id.

Maps are at output stride 4 and drawn over the input image with the pipeline's pixel-centre
convention (``geometry.output_to_input``): output pixel ``(i, j)`` covers input pixels
``[stride * j - 0.5, stride * (j + 1) - 0.5]``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import matplotlib
from matplotlib import figure as mpl_figure
from matplotlib.backends import backend_agg

from artrack_jax import geometry
from artrack_jax import skeletons as skeletons_lib
from artrack_jax.data import augment
from artrack_jax.data import images as images_lib
from artrack_jax.data import types
from artrack_jax.grouping import pgg as pgg_lib
from artrack_jax.models.spatialnet import AUX_TASKS
from artrack_jax.viz import draw

# Pose-mask threshold of Sec. 3.2 (config.pgg.tau).
DEFAULT_TAU = 0.2
_PANEL_INCHES = 2.6


# ---------------------------------------------------------------------------------------------
# Map helpers (NumPy; the values the figures draw).


def denormalize_image(image: np.ndarray) -> np.ndarray:
  """Pipeline image back to pixels: float32 [H, W, 3] ImageNet-normalised -> uint8 [H, W, 3]."""
  image = np.asarray(image, np.float32)
  if image.ndim != 3 or image.shape[-1] != 3:
    raise ValueError(f'denormalize_image: expected [H, W, 3], got shape {image.shape}')
  pixels = image * augment.IMAGENET_STD + augment.IMAGENET_MEAN
  return np.clip(np.round(pixels), 0, 255).astype(np.uint8)


def instance_agnostic_heat(heatmaps: np.ndarray) -> np.ndarray:
  """C_bar(p) = max_j C_j(p) (Sec. 3.2). heatmaps: [..., h, w, J] -> [..., h, w]."""
  return np.max(np.asarray(heatmaps), axis=-1)


def pose_mask(heatmaps: np.ndarray, tau: float = DEFAULT_TAU) -> np.ndarray:
  """The instance-agnostic pose mask M = C_bar > tau (Sec. 3.2).

  Args:
    heatmaps: [..., h, w, J].
    tau: the threshold (paper: 0.2).

  Returns:
    bool [..., h, w].
  """
  return instance_agnostic_heat(heatmaps) > tau


def keypoint_embedding_at_pixels(heatmaps: np.ndarray, ke: np.ndarray) -> np.ndarray:
  """The KE tag each pixel carries: the tag map of its most confident joint type.

  KE holds one 1-D tag map per joint type (Sec. 3.1.1); a pixel near joint j is grouped by tag
  map j, so the tag shown at a pixel is ``ke[..., argmax_j heatmaps]``.

  Args:
    heatmaps: [h, w, J].
    ke: [h, w, J].

  Returns:
    [h, w] float32.
  """
  heatmaps, ke = np.asarray(heatmaps), np.asarray(ke)
  if heatmaps.shape != ke.shape or heatmaps.ndim != 3:
    raise ValueError(f'keypoint_embedding_at_pixels: heatmaps {heatmaps.shape} and ke '
                     f'{ke.shape} must both be [h, w, J]')
  joint = np.argmax(heatmaps, axis=-1)
  return np.take_along_axis(ke, joint[..., None], axis=-1)[..., 0].astype(np.float32)


def centre_colours(centres: np.ndarray, height: int, width: int) -> np.ndarray:
  """RGB colour of a centre position: red grows to the right, green downwards.

  Pixels whose SIE points at the same centre get the same colour, so a person whose SIE is
  consistent is one flat patch.

  Args:
    centres: [..., 2] (x, y) output pixels.
    height, width: the map size; positions are scaled by it and clipped to [0, 1].

  Returns:
    [..., 3] float32 in [0, 1].
  """
  centres = np.asarray(centres, np.float32)
  red = np.clip(centres[..., 0] / max(width - 1, 1), 0.0, 1.0)
  green = np.clip(centres[..., 1] / max(height - 1, 1), 0.0, 1.0)
  blue = np.full_like(red, 0.35)
  return np.stack([red, green, blue], axis=-1)


def slot_person_labels(slot_xy: np.ndarray, joint_xy: np.ndarray, joint_valid: np.ndarray,
                       radius: float = 3.0) -> np.ndarray:
  """Ground-truth person of each masked pixel: the person of the nearest labelled joint.

  Args:
    slot_xy: [N, 2] (x, y) output pixels of the masked pixels.
    joint_xy: [P, J, 2] ground-truth joints, output pixels.
    joint_valid: [P, J] 0/1 (``targets`` ``joint_valid`` times ``person_valid``).
    radius: a pixel farther than this (output pixels) from every labelled joint is unlabelled.

  Returns:
    [N] int32 person slot index in [0, P), or -1.
  """
  slot_xy = np.asarray(slot_xy, np.float32).reshape(-1, 2)
  joint_xy = np.asarray(joint_xy, np.float32)
  valid = np.asarray(joint_valid) > 0
  if joint_xy.shape[:2] != valid.shape or joint_xy.shape[-1] != 2:
    raise ValueError(f'slot_person_labels: joint_xy {joint_xy.shape} must be [P, J, 2] and '
                     f'joint_valid {valid.shape} [P, J]')
  people, _ = np.nonzero(valid)
  points = joint_xy[valid]                                      # [K, 2]
  if points.shape[0] == 0:
    return np.full(slot_xy.shape[0], -1, np.int32)
  distance = np.linalg.norm(slot_xy[:, None, :] - points[None, :, :], axis=-1)   # [N, K]
  nearest = np.argmin(distance, axis=1)
  labels = people[nearest].astype(np.int32)
  labels[distance[np.arange(len(nearest)), nearest] > radius] = -1
  return labels


def embedding_spread(embeddings: np.ndarray, labels: np.ndarray) -> float:
  """Mean over people of the mean distance of their pixels' embeddings to the person's mean.

  Smaller is more compact (what PGG does, Fig. 3). Pixels labelled -1 are left out.

  Args:
    embeddings: [N, D] (or [N]) embeddings.
    labels: [N] person of each pixel, -1 for none.

  Returns:
    The spread in the embedding's units; NaN when no pixel is labelled.
  """
  x = np.asarray(embeddings, np.float64)
  x = x.reshape(x.shape[0], -1)
  labels = np.asarray(labels).reshape(-1)
  if labels.shape[0] != x.shape[0]:
    raise ValueError(f'embedding_spread: {x.shape[0]} embeddings but {labels.shape[0]} labels')
  spreads = []
  for person in np.unique(labels[labels >= 0]):
    member = x[labels == person]
    spreads.append(np.mean(np.linalg.norm(member - member.mean(axis=0), axis=-1)))
  return float(np.mean(spreads)) if spreads else float('nan')


def pgg_effect(heatmaps: np.ndarray, ke: np.ndarray, svf: np.ndarray,
               pgg_config: Mapping[str, Any], joint_xy: np.ndarray | None = None,
               joint_valid: np.ndarray | None = None, radius: float = 3.0) -> dict[str, Any]:
  """Runs PGG (Alg. 1) on one image's maps and collects the embeddings before and after.

  The grouped embedding is ``concat(KE, SIE / sie_scale)`` (``grouping.pgg``), as in training;
  the parts switched off in ``pgg_config`` (``use_ke``, ``use_sie``) stay as predicted.

  Args:
    heatmaps: [h, w, J] last-stack heatmaps.
    ke: [h, w, J] keypoint embedding.
    svf: [h, w, 2] spatial vector field, output pixels.
    pgg_config: ``config.pgg`` (tau, delta, iterations, num_slots, sie_scale, ...).
    joint_xy, joint_valid: ground truth ([P, J, 2] output pixels, [P, J]) to label the masked
      pixels by person (``slot_person_labels``); None leaves them unlabelled.
    radius: labelling radius, output pixels.

  Returns:
    dict with ``slot_xy`` [N, 2] (x, y) of the masked pixels (the valid slots only),
    ``labels`` [N], ``ke_before`` / ``ke_after`` [N] (the tag of each pixel's most confident
    joint type), ``sie_before`` / ``sie_after`` [N, 2] output pixels, ``ke_map_before`` /
    ``ke_map_after`` [h, w] (NaN off the mask), ``mask`` [h, w] bool (the pixels in slots),
    and when labelled ``ke_spread_before/after`` and ``sie_spread_before/after``
    (``embedding_spread``).
  """
  # The grouping is JAX; imported here so that plotting alone does not need it.
  heatmaps = np.asarray(heatmaps, np.float32)
  ke = np.asarray(ke, np.float32)
  svf = np.asarray(svf, np.float32)
  if heatmaps.ndim != 3 or ke.shape != heatmaps.shape or svf.shape != heatmaps.shape[:2] + (2,):
    raise ValueError(f'pgg_effect: expected heatmaps and ke [h, w, J] and svf [h, w, 2], got '
                     f'{heatmaps.shape}, {ke.shape}, {svf.shape}')
  h, w, num_joints = heatmaps.shape
  use_ke = bool(pgg_config['use_ke'])
  use_sie = bool(pgg_config['use_sie'])
  sie_scale = float(pgg_config['sie_scale'])
  embeddings = np.asarray(pgg_lib.spatial_embeddings(ke, svf, sie_scale, use_ke, use_sie))
  xs, slot_index, slot_valid = pgg_lib.pgg_from_config(
      embeddings, pgg_lib.instance_agnostic_heat(heatmaps), pgg_config)
  xs, slot_index, slot_valid = (np.asarray(a) for a in (xs, slot_index, slot_valid))
  keep = slot_valid.astype(bool)
  index = slot_index[keep]
  before, after = xs[0][keep], xs[-1][keep]                      # [N, D]
  slot_xy = np.stack([index % w, index // w], axis=-1).astype(np.float32)

  tag_joint = np.argmax(heatmaps.reshape(-1, num_joints)[index], axis=-1)
  sie = geometry.instance_embedding(np.asarray(svf, np.float32)).reshape(-1, 2)[index]
  ke_flat = ke.reshape(-1, num_joints)[index]
  ke_before = ke_flat[np.arange(len(index)), tag_joint]
  ke_after, sie_before, sie_after = ke_before, sie, sie
  if use_ke:
    ke_before = before[np.arange(len(index)), tag_joint]
    ke_after = after[np.arange(len(index)), tag_joint]
  if use_sie:
    offset = num_joints if use_ke else 0
    sie_before = before[:, offset:offset + 2] * sie_scale
    sie_after = after[:, offset:offset + 2] * sie_scale

  def to_map(values):
    out = np.full(h * w, np.nan, np.float32)
    out[index] = values
    return out.reshape(h, w)

  mask = np.zeros(h * w, bool)
  mask[index] = True
  result = dict(slot_xy=slot_xy, ke_before=ke_before.astype(np.float32),
                ke_after=ke_after.astype(np.float32), sie_before=sie_before.astype(np.float32),
                sie_after=sie_after.astype(np.float32), ke_map_before=to_map(ke_before),
                ke_map_after=to_map(ke_after), mask=mask.reshape(h, w),
                labels=np.full(len(index), -1, np.int32))
  if joint_xy is not None:
    if joint_valid is None:
      raise ValueError('pgg_effect: joint_xy given without joint_valid')
    labels = slot_person_labels(slot_xy, joint_xy, joint_valid, radius)
    result['labels'] = labels
    for name in ('ke', 'sie'):
      for when in ('before', 'after'):
        result[f'{name}_spread_{when}'] = embedding_spread(result[f'{name}_{when}'], labels)
  return result


# ---------------------------------------------------------------------------------------------
# Figures.


def _figure(rows: int, columns: int, inches: float = _PANEL_INCHES):
  fig = mpl_figure.Figure(figsize=(columns * inches, rows * inches + 0.3), layout='constrained')
  backend_agg.FigureCanvasAgg(fig)
  axes = fig.subplots(rows, columns, squeeze=False)
  for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
  return fig, axes


def _map_extent(map_hw: tuple[int, int], image_hw: tuple[int, int]) -> tuple[float, ...]:
  """imshow extent placing an output map over the input image (pixel-centre convention)."""
  (h, w), (height, width) = map_hw, image_hw
  stride_y, stride_x = height / h, width / w
  return (-0.5, w * stride_x - 0.5, h * stride_y - 0.5, -0.5)


def _show_map(ax, image, values, title, cmap='viridis', alpha=0.75, **kwargs):
  """Draws ``values`` [h, w] (or [h, w, 3]) over the dimmed ``image``; returns the artist."""
  ax.imshow((image * 0.5).astype(np.uint8))
  artist = ax.imshow(values, cmap=cmap, alpha=alpha, interpolation='nearest',
                     extent=_map_extent(values.shape[:2], image.shape[:2]), **kwargs)
  ax.set_xlim(-0.5, image.shape[1] - 0.5)
  ax.set_ylim(image.shape[0] - 0.5, -0.5)
  ax.set_title(title, fontsize=9)
  return artist


def _check_image(image: np.ndarray, name: str) -> np.ndarray:
  image = np.asarray(image)
  if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
    raise ValueError(f'{name}: image must be uint8 [H, W, 3] (denormalize_image turns a '
                     f'pipeline image into one), got {image.dtype} {image.shape}')
  return image


def _symmetric_limit(values: np.ndarray) -> float:
  finite = np.abs(values[np.isfinite(values)])
  return float(max(np.percentile(finite, 99), 1e-6)) if finite.size else 1.0


def spatial_maps_figure(image: np.ndarray, maps: Mapping[str, np.ndarray],
                        tau: float = DEFAULT_TAU) -> mpl_figure.Figure:
  """SpatialNet's maps of one image: heat, KE, SVF x / y and SIE (Sec. 3.1, Fig. 4).

  Args:
    image: uint8 [H, W, 3] the network input.
    maps: one image's last-stack maps: ``heatmaps`` [h, w, J], ``ke`` [h, w, J], ``svf``
      [h, w, 2] (output pixels); ``sie`` [h, w, 2] is used when present, else pixel - SVF.
    tau: pose-mask threshold; KE and SIE are shown on the mask M = max_j C_j > tau.

  Returns:
    A 2 x 3 figure: input, heat max over joints, KE on the mask, SVF x, SVF y, SIE on the mask.
  """
  image = _check_image(image, 'spatial_maps_figure')
  heatmaps = np.asarray(maps['heatmaps'], np.float32)
  ke = np.asarray(maps['ke'], np.float32)
  svf = np.asarray(maps['svf'], np.float32)
  sie = np.asarray(maps['sie'], np.float32) if 'sie' in maps else geometry.instance_embedding(np.asarray(svf, np.float32))
  h, w = heatmaps.shape[:2]
  heat = instance_agnostic_heat(heatmaps)
  mask = heat > tau
  fig, axes = _figure(2, 3)
  axes[0, 0].imshow(image)
  axes[0, 0].set_title('input', fontsize=9)
  artist = _show_map(axes[0, 1], image, heat, 'heatmaps, max over joints', cmap='magma',
                     vmin=0.0, vmax=max(1.0, float(heat.max())))
  fig.colorbar(artist, ax=axes[0, 1], shrink=0.8)
  tags = np.where(mask, keypoint_embedding_at_pixels(heatmaps, ke), np.nan)
  artist = _show_map(axes[0, 2], image, tags, f'KE on the pose mask (heat > {tau:g})',
                     cmap='turbo')
  fig.colorbar(artist, ax=axes[0, 2], shrink=0.8)
  for k, axis_name in enumerate('xy'):
    limit = _symmetric_limit(svf[..., k])
    artist = _show_map(axes[1, k], image, svf[..., k], f'SVF {axis_name} (output px)',
                       cmap='RdBu_r', vmin=-limit, vmax=limit)
    fig.colorbar(artist, ax=axes[1, k], shrink=0.8)
  colours = centre_colours(sie, h, w)
  rgba = np.concatenate([colours, mask[..., None].astype(np.float32)], axis=-1)
  _show_map(axes[1, 2], image, rgba, 'SIE on the mask (colour = centre)', cmap=None, alpha=None)
  return fig


def ordinal_maps_figure(image: np.ndarray, aux: np.ndarray, heatmaps: np.ndarray | None = None,
                        tau: float = DEFAULT_TAU) -> mpl_figure.Figure:
  """The six auxiliary ordinal maps (Sec. 3.1.1, Fig. 4(c)-(e)); brighter = higher order.

  Args:
    image: uint8 [H, W, 3].
    aux: [h, w, 6] in the order ``models.spatialnet.AUX_TASKS``.
    heatmaps: [h, w, J]; when given, the maps are shown on the pose mask only.
    tau: pose-mask threshold.
  """
  image = _check_image(image, 'ordinal_maps_figure')
  aux = np.asarray(aux, np.float32)
  if aux.ndim != 3 or aux.shape[-1] != len(AUX_TASKS):
    raise ValueError(f'ordinal_maps_figure: aux must be [h, w, {len(AUX_TASKS)}], got '
                     f'{aux.shape}')
  if heatmaps is not None:
    aux = np.where(pose_mask(heatmaps, tau)[..., None], aux, np.nan)
  fig, axes = _figure(2, 3)
  names = {'l2r': 'left to right', 'r2l': 'right to left', 't2b': 'top to bottom',
           'b2t': 'bottom to top', 'f2n': 'far to near', 'n2f': 'near to far'}
  for k, task in enumerate(AUX_TASKS):
    ax = axes.flat[k]
    artist = _show_map(ax, image, aux[..., k], f'{task}: {names[task]}', cmap='viridis')
    fig.colorbar(artist, ax=ax, shrink=0.8)
  return fig


def pgg_effect_figure(image: np.ndarray, effect: Mapping[str, Any]) -> mpl_figure.Figure:
  """KE and SIE before and after PGG (Fig. 1(c), Fig. 3), from ``pgg_effect``.

  Top: KE on the pose mask before / after (common colour scale; similar colour = likely the
  same person). Bottom: the SIE of every masked pixel as a point at the centre it predicts,
  coloured by ground-truth person (grey: unlabelled); after PGG each person's points gather.
  """
  image = _check_image(image, 'pgg_effect_figure')
  fig, axes = _figure(2, 2, inches=3.2)
  finite = np.concatenate([effect['ke_before'], effect['ke_after']])
  vmin, vmax = ((float(np.percentile(finite, 1)), float(np.percentile(finite, 99)))
                if finite.size else (0.0, 1.0))
  for k, when in enumerate(('before', 'after')):
    artist = _show_map(axes[0, k], image, effect[f'ke_map_{when}'], f'KE {when} PGG',
                       cmap='turbo', vmin=vmin, vmax=max(vmax, vmin + 1e-6))
    fig.colorbar(artist, ax=axes[0, k], shrink=0.8)
  labels = np.asarray(effect['labels'])
  palette = matplotlib.colormaps['tab10']
  colours = np.array([(0.6, 0.6, 0.6, 0.6) if label < 0 else palette(label % 10)
                      for label in labels]).reshape(-1, 4)
  h, w = effect['mask'].shape
  all_sie = np.concatenate([effect['sie_before'], effect['sie_after']]).reshape(-1, 2)
  lo = np.minimum(all_sie.min(0) if all_sie.size else 0.0, 0.0) - 1
  hi = np.maximum(all_sie.max(0) if all_sie.size else 0.0, [w - 1, h - 1]) + 1
  for k, when in enumerate(('before', 'after')):
    ax = axes[1, k]
    sie = effect[f'sie_{when}'].reshape(-1, 2)
    ax.scatter(sie[:, 0], sie[:, 1], s=6, c=colours if len(colours) else None)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(hi[1], lo[1])
    ax.set_aspect('equal')
    spread = effect.get(f'sie_spread_{when}')
    title = f'SIE of masked pixels {when} PGG'
    if spread is not None and np.isfinite(spread):
      title += f'\nspread {spread:.2f} output px'
    ax.set_title(title, fontsize=9)
  return fig


def poses_figure(images: Sequence[np.ndarray], keypoints: Sequence[np.ndarray],
                 ids: Sequence[Sequence[int]], skeleton: skeletons_lib.Skeleton, *,
                 titles: Sequence[str] | None = None, columns: int = 4,
                 labels: bool = True) -> mpl_figure.Figure:
  """A grid of frames with skeletons coloured by id (``draw.draw_poses``).

  Args:
    images: uint8 [H, W, 3] frames.
    keypoints: per frame [P, J, 3] (x, y, score or visibility) in image pixels; joints with a
      positive third value are drawn.
    ids: per frame the P person / track ids (colour and label).
    skeleton: the joint set.
    titles: per-frame titles.
    columns: grid width.
    labels: write the ids.
  """
  if not (len(images) == len(keypoints) == len(ids)):
    raise ValueError(f'poses_figure: {len(images)} images, {len(keypoints)} keypoint arrays '
                     f'and {len(ids)} id lists must match')
  if not images:
    raise ValueError('poses_figure: no frames to draw')
  columns = max(1, min(columns, len(images)))
  rows = math.ceil(len(images) / columns)
  fig, axes = _figure(rows, columns)
  for ax in axes.flat[len(images):]:
    ax.set_axis_off()
  for k, (image, kp, frame_ids) in enumerate(zip(images, keypoints, ids)):
    image = _check_image(image, 'poses_figure')
    # Small frames are drawn at 4x so that limbs and ids stay readable.
    zoom = max(1, int(round(256 / max(image.shape[:2]))))
    kp = np.asarray(kp, np.float32).reshape(-1, skeleton.num_joints, 3)
    big = np.repeat(np.repeat(image, zoom, axis=0), zoom, axis=1)
    scaled = kp.copy()
    scaled[..., :2] = (kp[..., :2] + 0.5) * zoom - 0.5
    drawn = draw.draw_poses(big, scaled, list(frame_ids), skeleton, labels=labels,
                                 thickness=max(1, zoom), radius=max(2, zoom))
    ax = axes.flat[k]
    ax.imshow(drawn)
    if titles is not None:
      ax.set_title(titles[k], fontsize=9)
  return fig


def ground_truth_figure(records: Sequence[Mapping[str, Any]],
                        skeleton: skeletons_lib.Skeleton, columns: int = 4) -> mpl_figure.Figure:
  """Data-set records (``tfds_builders.common``) with their annotated poses and track ids.

  Labelled joints (v > 0) are drawn; ignore regions are dimmed.
  """
  images, keypoints, ids, titles = [], [], [], []
  for k, record in enumerate(records):
    image = images_lib.decode_image(record['image'], f'ground_truth_figure: record {k} image')
    ignore = np.asarray(record.get('ignore_mask', np.zeros(image.shape[:2])))
    if ignore.shape[:2] == image.shape[:2]:
      image = np.where(ignore.reshape(image.shape[:2] + (1,)) > 0, image // 3, image)
    images.append(image.astype(np.uint8))
    keypoints.append(np.asarray(record['keypoints'], np.float32))
    ids.append([int(t) for t in np.asarray(record['track_id']).reshape(-1)])
    sequence = record.get('sequence', b'')
    sequence = sequence.decode() if isinstance(sequence, bytes) else str(sequence)
    titles.append(f'{sequence} frame {int(record["frame_id"])}')
  return poses_figure(images, keypoints, ids, skeleton, titles=titles, columns=columns)


def decoded_poses_figure(images: Sequence[np.ndarray], poses_per_image: Sequence[Sequence[dict]],
                         skeleton: skeletons_lib.Skeleton, stride: float = 4.0,
                         columns: int = 4) -> mpl_figure.Figure:
  """Decoded poses (``grouping.decode.decode``, output pixels) drawn on the network inputs.

  Output pixels map to input pixels as ``x_in = (x_out + 0.5) * stride - 0.5``; a pose's label
  is its rank by score.
  """
  keypoints, ids, titles = [], [], []
  for poses in poses_per_image:
    kp = (np.stack([np.asarray(p['keypoints'], np.float32) for p in poses]) if poses
          else np.zeros((0, skeleton.num_joints, 3), np.float32))
    kp = kp.copy()
    kp[..., :2] = (kp[..., :2] + 0.5) * stride - 0.5
    keypoints.append(kp)
    ids.append(list(range(len(poses))))
    titles.append(f'{len(poses)} poses')
  return poses_figure(list(images), keypoints, ids, skeleton, titles=titles, columns=columns)


def tracked_frames_figure(images: Sequence[np.ndarray], sequence: types.Sequence,
                          skeleton: skeletons_lib.Skeleton, columns: int = 4,
                          max_frames: int = 8) -> mpl_figure.Figure:
  """Frames of a tracked sequence (``track.track_video``) with skeletons coloured by track id.

  Args:
    images: the video's uint8 frames, in order.
    sequence: the tracked sequence (people's ``track_id`` and keypoints in frame pixels).
    skeleton: its joint set.
    columns: grid width.
    max_frames: at most this many frames, evenly spaced over the video.
  """
  if len(images) != len(sequence.frames):
    raise ValueError(f'tracked_frames_figure: {len(images)} images but sequence '
                     f'{sequence.name!r} has {len(sequence.frames)} frames')
  picked = np.unique(np.linspace(0, len(images) - 1, min(max_frames, len(images))).round()
                     ).astype(int)
  keypoints, ids, titles = [], [], []
  for index in picked:
    frame = sequence.frames[index]
    keypoints.append(np.stack([p.keypoints for p in frame.people]) if frame.people
                     else np.zeros((0, skeleton.num_joints, 3), np.float32))
    ids.append([int(p.track_id) for p in frame.people])
    # Long id lists would run into the neighbouring titles.
    titles.append(f'frame {frame.frame_id}: ids {sorted(ids[-1])}' if len(ids[-1]) <= 5
                  else f'frame {frame.frame_id}: {len(ids[-1])} people')
  return poses_figure([images[i] for i in picked], keypoints, ids, skeleton, titles=titles,
                      columns=columns)
