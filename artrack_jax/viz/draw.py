"""Rendering tracked poses: skeleton limbs and joints coloured by track id, optional id label."""
from __future__ import annotations

import colorsys
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from artrack_jax import skeletons as skeletons_lib
from artrack_jax.data import types

# Golden-ratio hue steps give neighbouring ids far-apart colours.
_GOLDEN = 0.618033988749895


def track_colour(track_id: int) -> tuple[int, int, int]:
  """A bright RGB colour for a track id, the same for every frame (id < 0: white)."""
  if track_id < 0:
    return (255, 255, 255)
  hue = (0.1 + track_id * _GOLDEN) % 1.0
  r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
  return (int(round(r * 255)), int(round(g * 255)), int(round(b * 255)))


def draw_poses(image: np.ndarray, keypoints: np.ndarray | Sequence[np.ndarray],
               track_ids: Sequence[int], skeleton: skeletons_lib.Skeleton, *,
               thickness: int = 2, radius: int = 3, labels: bool = True,
               min_score: float = 0.0) -> np.ndarray:
  """Draws poses on a copy of ``image``.

  Args:
    image: uint8 [H, W, 3] RGB.
    keypoints: [P, J, 3] (x, y, score) in image pixels; a joint is drawn when its score is
      above ``min_score``, a limb when both its joints are.
    track_ids: [P] colour (and label) of each pose.
    skeleton: gives the limbs.
    thickness: limb width in pixels.
    radius: joint disc radius in pixels (0: no discs).
    labels: write each track id above the pose's top-most joint.
    min_score: joint score threshold.

  Returns:
    uint8 [H, W, 3] the drawing.
  """
  image = np.asarray(image)
  if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
    raise ValueError(f'draw_poses: image must be uint8 [H, W, 3], got {image.dtype} '
                     f'{image.shape}')
  keypoints = np.asarray(keypoints, np.float64).reshape(-1, skeleton.num_joints, 3)
  if len(track_ids) != keypoints.shape[0]:
    raise ValueError(f'draw_poses: {keypoints.shape[0]} poses but {len(track_ids)} track ids')
  canvas = Image.fromarray(image.copy())
  draw = ImageDraw.Draw(canvas)
  font = ImageFont.load_default() if labels else None
  for kp, tid in zip(keypoints, track_ids):
    colour = track_colour(int(tid))
    shown = kp[:, 2] > min_score
    for a, b in skeleton.limbs:
      if shown[a] and shown[b]:
        draw.line([(kp[a, 0], kp[a, 1]), (kp[b, 0], kp[b, 1])], fill=colour, width=thickness)
    if radius > 0:
      for x, y in kp[shown, :2]:
        draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour)
    if labels and shown.any():
      top = int(np.argmin(np.where(shown, kp[:, 1], np.inf)))
      text = str(int(tid))
      x, y = kp[top, 0], kp[top, 1] - radius - 2
      left, upper, right, lower = draw.textbbox((x, y), text, font=font, anchor='mb')
      draw.rectangle([left - 1, upper - 1, right + 1, lower + 1], fill=(0, 0, 0))
      draw.text((x, y), text, fill=colour, font=font, anchor='mb')
  return np.asarray(canvas)


def render_frame(image: np.ndarray, frame: types.Frame, skeleton: skeletons_lib.Skeleton,
                 labels: bool = True) -> np.ndarray:
  """Draws a tracked frame's people (colour = track id)."""
  if not frame.people:
    return np.asarray(image)
  # v (1 on found joints) serves as the drawing score.
  keypoints = np.stack([p.keypoints for p in frame.people])
  return draw_poses(image, keypoints, [p.track_id for p in frame.people], skeleton,
                    labels=labels)
