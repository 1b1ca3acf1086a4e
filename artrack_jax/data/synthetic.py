"""The embedded synthetic multi-person video benchmark (the project's default data set).

Real PoseTrack videos cannot be downloaded here, so this module renders clips that exercise
what the paper's components are for (Sections 3.1-3.3):

* articulated 2-D people with the 15 PoseTrack joints and a head box; varied body proportions
  and sizes; per-person clothing (shirt with stripes/dots/plain, sleeves, trousers or shorts,
  shoes, hair, skin); some clips contain look-alike people (same clothes, same build), which
  appearance-only association (HE) cannot separate;
* motion: walking and running cycles, standing, turning, waving, jumping, direction changes,
  people entering and leaving the view, paths that cross at different depths with depth-ordered
  occlusion, walking towards/away from the camera (scale change); camera pan, zoom and shake;
* clutter: procedural backgrounds (sky, ground noise, buildings, bushes), limb-like distractors
  (sticks in skin and clothing colours), foreground poles that occlude people, and crowd areas
  drawn with a crowd texture and given as ignore-region polygons (people whose pelvis is inside
  one are not annotated, as in PoseTrack).

Annotations are written as real ones are: a joint outside the image or behind a pole or wall
is not labelled (``(0, 0, 0)``); a joint covered by a nearer person is ``v = 1``; otherwise
``v = 2``; a person with fewer than two visible joints is not annotated.
Every frame is labelled. Generation is deterministic from ``(seed, split, clip index)``; the
splits draw from disjoint seed streams.

Sequence names follow PoseTrack's ``<video number>_<source>_<split>`` so that the official
toolkit, which parses them to compute image ids, accepts our 2018 files: video numbers are
``100000 + i`` (train), ``200000 + i`` (val), ``300000 + i`` (test) and the source is
``mpiinew`` (one of the three names poseval knows). Image ids follow the same scheme
(:func:`formats.posetrack_image_id`).

Command line::

  python -m artrack_jax.data.synthetic --root DIR [--train 100 --val 20 --test 20 \
      --frames 24 --size 128]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from typing import Iterator

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from artrack_jax.data import formats as formats_lib
from artrack_jax.data.types import Frame, Person, Sequence

SPLITS = ('train', 'val', 'test')
_SPLIT_CODE = {'train': 1, 'val': 2, 'test': 3}
VIDEO_NUMBER_OFFSET = {'train': 100_000, 'val': 200_000, 'test': 300_000}
SOURCE = 'mpiinew'
OCCLUDER_ID = 255  # id-buffer value of foreground poles
MIN_VISIBLE_JOINTS = 2  # a person with fewer visible joints is not annotated
# What real video does to trackers (rates per clip or per person-frame; see _render_clip).
DROPPED_FRAMES_CLIP_RATE = 0.7  # clips whose recording skips 3-8 steps once or twice
LOW_FRAME_RATE_CLIP_RATE = 0.3  # clips taken at every other time step
WALL_CLIP_RATE = 0.55           # clips with a wide occluder people walk behind (two in some)
ERRATIC_TURN_RATE = 0.08        # per person and frame: a sudden turn back
RETURN_RATE = 0.25              # per frame out of view: the person turns back into view
J = 15

# PoseTrack joint indices (skeletons.POSETRACK order).
R_ANKLE, R_KNEE, R_HIP, L_HIP, L_KNEE, L_ANKLE = range(6)
R_WRIST, R_ELBOW, R_SHOULDER, L_SHOULDER, L_ELBOW, L_WRIST = range(6, 12)
NECK, NOSE, HEAD_TOP = 12, 13, 14

_SKIN = np.array([[255, 224, 196], [241, 194, 125], [224, 172, 105], [198, 134, 66],
                  [141, 85, 36], [92, 56, 32]], np.float64)


def sequence_name(split: str, index: int) -> str:
  """``'<video number>_mpiinew_<split>'``, e.g. ``'200007_mpiinew_val'``."""
  _check_split(split)
  return f'{VIDEO_NUMBER_OFFSET[split] + index:06d}_{SOURCE}_{split}'


def _check_split(split):
  if split not in _SPLIT_CODE:
    raise ValueError(f'split must be one of {SPLITS}, got {split!r}')


# ------------------------------------------------------------------------------------------
# People: body, appearance, pose.


@dataclasses.dataclass
class Appearance:
  skin: tuple
  shirt: tuple
  sleeve: tuple          # upper arm colour (= skin for sleeveless)
  forearm: tuple         # skin for short sleeves
  trousers: tuple        # thigh colour
  shin: tuple            # skin for shorts
  shoes: tuple
  hair: tuple
  texture: str           # 'plain', 'stripes', 'dots'
  texture_color: tuple


@dataclasses.dataclass
class Body:
  """Proportions as fractions of standing height, plus limb widths and appearance."""
  size: float            # height multiplier (people differ in size)
  shin: float
  thigh: float
  torso: float
  neck: float
  head_radius: float
  hip_half_width: float
  shoulder_half_width: float
  upper_arm: float
  forearm: float
  build: float           # width multiplier for limbs and torso
  appearance: Appearance


@dataclasses.dataclass
class Pose:
  """Articulation of one frame (angles in radians)."""
  yaw: float = 0.0       # 0 faces the camera, +pi/2 faces right, pi faces away
  phase: float = 0.0     # gait phase
  stride: float = 0.0    # thigh swing amplitude
  knee: float = 0.0      # knee flex amplitude
  arm_swing: float = 0.0
  elbow: float = 0.3
  lean: float = 0.0      # forward lean of the torso (fraction of torso length)
  wave: int = 0          # 0 none, -1 right arm, +1 left arm
  wave_phase: float = 0.0
  crouch: float = 0.0    # 0..1 knee bend of a jump take-off/landing


def _rgb(c) -> tuple:
  return tuple(int(v) for v in np.clip(np.round(c), 0, 255))


def _random_color(rng, dark=False) -> tuple:
  if rng.random() < 0.25:  # greys, blacks, whites are common clothes
    g = rng.uniform(20, 90) if dark else rng.uniform(20, 240)
    return _rgb([g, g, g] + rng.normal(0, 6, 3))
  hsv = np.array([rng.random(), rng.uniform(0.3, 1.0), rng.uniform(0.25, 0.95)])
  return _rgb(_hsv_to_rgb(hsv) * 255)


def _hsv_to_rgb(hsv):
  h, s, v = hsv
  i = int(h * 6) % 6
  f = h * 6 - int(h * 6)
  p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
  return np.array([(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i])


def random_appearance(rng: np.random.Generator) -> Appearance:
  skin = _rgb(_SKIN[rng.integers(len(_SKIN))] + rng.normal(0, 8, 3))
  shirt = _random_color(rng)
  sleeve = shirt if rng.random() < 0.75 else skin
  forearm = shirt if sleeve == shirt and rng.random() < 0.5 else skin
  trousers = _random_color(rng, dark=rng.random() < 0.5)
  shin = trousers if rng.random() < 0.75 else skin
  return Appearance(skin=skin, shirt=shirt, sleeve=sleeve, forearm=forearm, trousers=trousers,
                    shin=shin, shoes=_random_color(rng, dark=True),
                    hair=_random_color(rng, dark=True),
                    texture=str(rng.choice(['plain', 'stripes', 'dots'], p=[.5, .3, .2])),
                    texture_color=_random_color(rng))


def random_body(rng: np.random.Generator, appearance: Appearance | None = None,
                size: float | None = None) -> Body:
  j = lambda: float(np.clip(rng.normal(1.0, 0.07), 0.85, 1.15))
  return Body(size=float(rng.uniform(0.8, 1.15)) if size is None else size,
              shin=0.24 * j(), thigh=0.245 * j(), torso=0.30 * j(), neck=0.035 * j(),
              head_radius=0.065 * j(), hip_half_width=0.065 * j(),
              shoulder_half_width=0.11 * j(), upper_arm=0.17 * j(), forearm=0.15 * j(),
              build=float(rng.uniform(0.85, 1.25)),
              appearance=appearance or random_appearance(rng))


def _limb_dir(side: float, abduction: float, swing: float) -> np.ndarray:
  """Unit vector in body coordinates (lateral to the person's left, forward, down)."""
  return np.array([side * math.sin(abduction), math.cos(abduction) * math.sin(swing),
                   math.cos(abduction) * math.cos(swing)])


def local_joints(body: Body, pose: Pose) -> np.ndarray:
  """Joints in body coordinates, origin at the pelvis, unit = standing height.

  Returns:
    [15, 3] (lateral towards the person's left, forward, down).
  """
  out = np.zeros((J, 3))
  s = math.sin(pose.phase)
  c = math.cos(pose.phase)
  # Legs: thighs swing in antiphase; the knee bends while the leg swings forward.
  for side, hip, knee, ankle, sgn in ((-1, R_HIP, R_KNEE, R_ANKLE, 1),
                                      (1, L_HIP, L_KNEE, L_ANKLE, -1)):
    swing = sgn * pose.stride * s + 0.5 * pose.crouch
    flex = 0.1 + pose.knee * max(0.0, sgn * c) + 1.1 * pose.crouch
    out[hip] = (side * body.hip_half_width, 0, 0)
    out[knee] = out[hip] + body.thigh * _limb_dir(side, 0.04, swing)
    out[ankle] = out[knee] + body.shin * _limb_dir(side, 0.02, swing - flex)
  out[NECK] = (0, pose.lean * body.torso, -body.torso)
  for side, sh, el, wr, sgn in ((-1, R_SHOULDER, R_ELBOW, R_WRIST, -1),
                                (1, L_SHOULDER, L_ELBOW, L_WRIST, 1)):
    out[sh] = out[NECK] + (side * body.shoulder_half_width, 0, 0.03)
    swing = sgn * pose.arm_swing * s
    if pose.wave == side:
      # Arm raised sideways, forearm waving above the head.
      up = 2.3
      out[el] = out[sh] + body.upper_arm * _limb_dir(side, up, 0.0)
      out[wr] = out[el] + body.forearm * _limb_dir(side, up + 0.5 + 0.45 *
                                                   math.sin(pose.wave_phase), 0.0)
    else:
      out[el] = out[sh] + body.upper_arm * _limb_dir(side, 0.09, swing)
      out[wr] = out[el] + body.forearm * _limb_dir(side, 0.06, swing + pose.elbow)
  head = out[NECK] + (0, 0.3 * pose.lean * body.torso, -(body.neck + body.head_radius))
  out[NOSE] = head + (0, 0.85 * body.head_radius, 0.2 * body.head_radius)
  out[HEAD_TOP] = head + (0, 0, -body.head_radius)
  return out


def project(local: np.ndarray, yaw: float) -> tuple[np.ndarray, np.ndarray]:
  """Body coordinates -> image-plane offsets [J, 2] and depth towards the camera [J]."""
  cy, sy = math.cos(yaw), math.sin(yaw)
  x = local[:, 0] * cy + local[:, 1] * sy
  z = -local[:, 0] * sy + local[:, 1] * cy
  return np.stack([x, local[:, 2]], -1), z


@dataclasses.dataclass
class PersonView:
  """One person as seen in one frame (image pixels): what :func:`render_frame` draws."""
  track_id: int
  body: Body
  joints: np.ndarray     # [15, 2] image pixels
  depth: float           # larger = nearer the camera; drawing goes far to near
  height_px: float       # standing height in image pixels (sets limb widths)
  yaw: float
  head_center: np.ndarray  # [2]

  @property
  def head_radius_px(self) -> float:
    return self.body.head_radius * self.height_px


def person_view(track_id: int, body: Body, pose: Pose, pelvis_xy, height_px: float,
                depth: float) -> PersonView:
  """Places a posed body with its pelvis at ``pelvis_xy`` (image pixels)."""
  local = local_joints(body, pose)
  xy, _ = project(local, pose.yaw)
  head_local = local[NECK] + (0, 0.3 * pose.lean * body.torso, -(body.neck + body.head_radius))
  head_xy, _ = project(head_local[None], pose.yaw)
  pelvis = np.asarray(pelvis_xy, np.float64)
  return PersonView(track_id=track_id, body=body, joints=pelvis + xy * height_px, depth=depth,
                    height_px=height_px, yaw=pose.yaw, head_center=pelvis + head_xy[0] * height_px)


# ------------------------------------------------------------------------------------------
# Drawing


class _Painter:
  """Draws the same shapes in colour and into the id buffer used for occlusion labels."""

  def __init__(self, image: Image.Image, ids: Image.Image):
    self.rgb = ImageDraw.Draw(image)
    self.ids = ImageDraw.Draw(ids)

  def limb(self, p, q, width, color, ident):
    w = max(1, int(round(width)))
    pts = [tuple(p), tuple(q)]
    r = w / 2
    for draw, fill in ((self.rgb, color), (self.ids, ident)):
      draw.line(pts, fill=fill, width=w)
      for x, y in pts:
        draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)

  def polygon(self, pts, color, ident):
    pts = [tuple(p) for p in pts]
    self.rgb.polygon(pts, fill=color)
    self.ids.polygon(pts, fill=ident)

  def ellipse(self, c, rx, ry, color, ident):
    box = [c[0] - rx, c[1] - ry, c[0] + rx, c[1] + ry]
    self.rgb.ellipse(box, fill=color)
    self.ids.ellipse(box, fill=ident)


def _draw_person(painter: _Painter, view: PersonView, ident: int) -> None:
  b, a, h, jt = view.body, view.body.appearance, view.height_px, view.joints
  wide = b.build * h
  sin_yaw, cos_yaw = math.sin(view.yaw), math.cos(view.yaw)
  # Limbs on the side turned away from the camera are drawn before the torso.
  far_side = 'left' if sin_yaw > 0 else 'right'

  def arm(side):
    sh, el, wr = ((R_SHOULDER, R_ELBOW, R_WRIST) if side == 'right'
                  else (L_SHOULDER, L_ELBOW, L_WRIST))
    painter.limb(jt[sh], jt[el], 0.06 * wide, a.sleeve, ident)
    painter.limb(jt[el], jt[wr], 0.048 * wide, a.forearm, ident)
    painter.ellipse(jt[wr], 0.032 * wide, 0.032 * wide, a.skin, ident)

  def leg(side):
    hp, kn, an = (R_HIP, R_KNEE, R_ANKLE) if side == 'right' else (L_HIP, L_KNEE, L_ANKLE)
    painter.limb(jt[hp], jt[kn], 0.085 * wide, a.trousers, ident)
    painter.limb(jt[kn], jt[an], 0.065 * wide, a.shin, ident)
    foot = jt[an] + (0.05 * h * (1 if sin_yaw >= 0 else -1) * abs(sin_yaw), 0.01 * h)
    painter.limb(jt[an], foot, 0.05 * wide, a.shoes, ident)

  near_side = 'right' if far_side == 'left' else 'left'
  arm(far_side)
  leg(far_side)
  # Torso: a quad from the shoulder line to the hip line, never thinner than the body's depth.
  neck, pelvis = jt[NECK], (jt[R_HIP] + jt[L_HIP]) / 2
  axis = pelvis - neck
  axis /= max(np.linalg.norm(axis), 1e-6)
  perp = np.array([-axis[1], axis[0]])
  top_half = max(abs(jt[L_SHOULDER, 0] - jt[R_SHOULDER, 0]) / 2 + 0.03 * wide, 0.08 * wide)
  bottom_half = max(abs(jt[L_HIP, 0] - jt[R_HIP, 0]) / 2 + 0.04 * wide, 0.075 * wide)
  top = (jt[R_SHOULDER] + jt[L_SHOULDER]) / 2
  quad = [top - perp * top_half, top + perp * top_half, pelvis + perp * bottom_half,
          pelvis - perp * bottom_half]
  painter.polygon(quad, a.shirt, ident)
  if a.texture == 'stripes':
    for f in (0.25, 0.5, 0.75):
      p, q = quad[0] + (quad[3] - quad[0]) * f, quad[1] + (quad[2] - quad[1]) * f
      painter.rgb.line([tuple(p), tuple(q)], fill=a.texture_color,
                       width=max(1, int(round(0.025 * h))))
  elif a.texture == 'dots':
    for f, g in ((0.3, 0.3), (0.7, 0.3), (0.5, 0.6), (0.3, 0.85), (0.7, 0.85)):
      p = top + (pelvis - top) * g + perp * top_half * (2 * f - 1)
      r = max(0.6, 0.018 * h)
      painter.rgb.ellipse([p[0] - r, p[1] - r, p[0] + r, p[1] + r], fill=a.texture_color)
  leg(near_side)
  arm(near_side)
  painter.limb(neck, view.head_center, 0.05 * wide, a.skin, ident)
  r = view.head_radius_px
  hc = view.head_center
  if cos_yaw < -0.3:  # seen from behind: hair covers the head
    painter.ellipse(hc, r, r, a.hair, ident)
  else:
    painter.ellipse(hc, r, r, a.skin, ident)
    painter.rgb.chord([hc[0] - r, hc[1] - r, hc[0] + r, hc[1] + r], 180, 360, fill=a.hair)
    if cos_yaw > 0.3:  # eyes show which way the face points
      for s in (-1, 1):
        e = hc + (s * 0.35 * r * cos_yaw + 0.4 * r * sin_yaw, 0.1 * r)
        er = max(0.5, 0.12 * r)
        painter.rgb.ellipse([e[0] - er, e[1] - er, e[0] + er, e[1] + er], fill=(30, 20, 20))


def _head_box(view: PersonView) -> np.ndarray:
  """Head box (x, y, w, h): the square around the drawn head."""
  r = view.head_radius_px
  top = min(view.head_center[1] - r, view.joints[HEAD_TOP, 1])
  return np.array([view.head_center[0] - r, top, 2 * r, view.joints[NECK, 1] - top],
                  np.float32)


def render_frame(background: Image.Image, views: list[PersonView],
                 occluders: list[np.ndarray] = (), ignore_regions: list[np.ndarray] = (),
                 rng: np.random.Generator | None = None,
                 gain: float = 1.0) -> tuple[np.ndarray, list[Person]]:
  """Draws people (far to near) and foreground occluders; labels joints as annotators would.

  Args:
    background: RGB image of the frame size (already seen through the camera).
    views: the people of this frame.
    occluders: polygons [V, 2] (image pixels) drawn in front of everyone.
    ignore_regions: polygons [V, 2]; a person whose pelvis lies inside one is not annotated.
    rng: adds sensor noise when given.
    gain: global brightness factor (lighting changes).

  Returns:
    image uint8 [H, W, 3] and the annotated people (track ids from the views).
  """
  image = background.copy()
  width, height = image.size
  ids = Image.new('L', image.size, 0)
  painter = _Painter(image, ids)
  order = sorted(range(len(views)), key=lambda k: views[k].depth)
  for rank, k in enumerate(order):
    _draw_person(painter, views[k], rank + 1)
  for poly in occluders:
    painter.polygon(poly, (70, 70, 75), OCCLUDER_ID)
  id_map = np.asarray(ids)
  people = []
  for rank, k in enumerate(order):
    v = views[k]
    if any(_inside(r, (v.joints[R_HIP] + v.joints[L_HIP]) / 2) for r in ignore_regions):
      continue
    kp = np.zeros((J, 3), np.float32)
    xy = v.joints
    inside = (xy[:, 0] >= 0) & (xy[:, 0] <= width - 1) & (xy[:, 1] >= 0) & (xy[:, 1] <= height - 1)
    if not inside.any():
      continue
    px = np.clip(np.round(xy).astype(int), 0, [width - 1, height - 1])
    # Occluded when something drawn later (a nearer person, a pole) owns the joint's pixel;
    # background (0) at the rim of one's own silhouette does not count.
    owner = id_map[px[:, 1], px[:, 0]]
    covered = owner > rank + 1
    # Behind a pole or wall nobody can place a joint: unlabelled. Behind a nearer person the
    # body's shape still shows where it is: labelled as occluded.
    hidden = owner == OCCLUDER_ID
    inside &= ~hidden
    kp[inside, :2] = xy[inside]
    kp[inside, 2] = np.where(covered[inside], 1, 2)
    if (kp[:, 2] == 2).sum() < MIN_VISIBLE_JOINTS:
      continue  # (almost) fully hidden: annotators do not label a person they cannot see
    lab = kp[inside, :2]
    margin = 1.2 * v.head_radius_px
    lo = np.maximum(lab.min(0) - margin, 0)
    hi = np.minimum(lab.max(0) + margin, [width - 1, height - 1])
    people.append(Person(track_id=v.track_id, keypoints=kp,
                         bbox=np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]], np.float32),
                         bbox_head=_head_box(v)))
  out = np.asarray(image, np.float32) * gain
  if rng is not None:
    out += rng.normal(0, 3.0, out.shape)
  return np.clip(np.round(out), 0, 255).astype(np.uint8), people


def _inside(poly: np.ndarray, p) -> bool:
  """Even-odd point-in-polygon test."""
  x, y = float(p[0]), float(p[1])
  poly = np.asarray(poly, np.float64)
  xs, ys = poly[:, 0], poly[:, 1]
  xn, yn = np.roll(xs, -1), np.roll(ys, -1)
  crosses = (ys > y) != (yn > y)
  with np.errstate(divide='ignore', invalid='ignore'):
    xint = xs + (y - ys) * (xn - xs) / (yn - ys)
  return bool(np.sum(crosses & (x < xint)) % 2)


# ------------------------------------------------------------------------------------------
# Scenes: background world, camera, trajectories.


@dataclasses.dataclass
class Scene:
  """Everything about one clip that does not change per frame (world coordinates)."""
  world: Image.Image               # background canvas, larger than the view
  horizon: float                   # world y of the horizon
  ground_bottom: float             # world y of the nearest ground line
  crowd_regions: list[np.ndarray]  # ignore polygons [V, 2], world
  poles: list[tuple[float, float]]  # (world x, width) of foreground poles and walls


def _noise(rng, h, w, cells, amplitude):
  grid = rng.normal(0, 1, (max(2, h // cells), max(2, w // cells))).astype(np.float32)
  img = Image.fromarray(((grid - grid.min()) / (np.ptp(grid) + 1e-6) * 255).astype(np.uint8))
  up = np.asarray(img.resize((w, h), Image.BICUBIC), np.float32) / 255 - 0.5
  return up * amplitude


def _draw_mini_person(draw, rng, x, y, h):
  """A small crowd figure (head, body, legs) with its feet at (x, y)."""
  c = _random_color(rng)
  skin = _rgb(_SKIN[rng.integers(len(_SKIN))])
  w = max(1, int(round(0.12 * h)))
  draw.line([(x, y), (x, y - 0.45 * h)], fill=_random_color(rng, dark=True), width=w)
  draw.line([(x, y - 0.45 * h), (x, y - 0.8 * h)], fill=c, width=max(1, int(0.25 * h)))
  r = 0.09 * h
  draw.ellipse([x - r, y - 0.92 * h - r, x + r, y - 0.92 * h + r], fill=skin)


def world_size(image_size: int) -> tuple[int, int]:
  """(width, height) of a clip's world canvas: wider than the view so the camera can pan."""
  return int(2.4 * image_size), int(1.45 * image_size)


def make_scene(rng: np.random.Generator, image_size: int, crowd: bool, poles: int,
               focus_x: float | None = None, walls: int = 0) -> Scene:
  """Procedural background: sky, ground, buildings, bushes, limb-like distractors, crowds.

  Crowds and poles are placed within about a view's width of ``focus_x`` (world x) so that
  the camera sees them.
  """
  u = image_size / 128
  ww, wh = world_size(image_size)
  focus_x = ww / 2 if focus_x is None else focus_x
  horizon = wh * rng.uniform(0.28, 0.42)
  ground_bottom = wh * 0.97
  img = np.zeros((wh, ww, 3), np.float32)
  sky0, sky1 = np.array(_random_color(rng)), np.array(_random_color(rng))
  ground = np.array(_random_color(rng))
  yy = np.arange(wh, dtype=np.float32)[:, None, None]
  t = np.clip(yy / max(horizon, 1), 0, 1)
  img[:] = sky0 * (1 - t) + sky1 * t
  img[int(math.ceil(horizon)):] = ground
  img += _noise(rng, wh, ww, int(24 * u), 70)[..., None] * np.array([1.0, 0.9, 0.8])
  img += _noise(rng, wh, ww, max(2, int(3 * u)), 30)[..., None]
  canvas = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
  draw = ImageDraw.Draw(canvas)
  # Buildings with windows standing on the horizon.
  x = rng.uniform(-20, 0) * u
  while x < ww:
    bw, bh = rng.uniform(18, 60) * u, rng.uniform(15, 60) * u
    color = _random_color(rng)
    draw.rectangle([x, horizon - bh, x + bw, horizon], fill=color)
    wc = _random_color(rng)
    for wy in np.arange(horizon - bh + 4 * u, horizon - 6 * u, 9 * u):
      for wx in np.arange(x + 3 * u, x + bw - 5 * u, 8 * u):
        draw.rectangle([wx, wy, wx + 3.5 * u, wy + 4 * u], fill=wc)
    x += bw + rng.uniform(0, 25) * u
  # Bushes, rocks and blobs on the ground.
  for _ in range(int(rng.integers(6, 16))):
    cx, cy = rng.uniform(0, ww), rng.uniform(horizon, wh)
    rx, ry = rng.uniform(4, 18) * u, rng.uniform(3, 10) * u
    draw.ellipse([cx - rx, cy - ry, cx + rx, cy + ry], fill=_random_color(rng))
  # Limb-like distractors: sticks (some jointed) in skin and clothing colours.
  for _ in range(int(rng.integers(5, 14))):
    color = (_rgb(_SKIN[rng.integers(len(_SKIN))] + rng.normal(0, 8, 3)) if rng.random() < 0.5
             else _random_color(rng))
    p = np.array([rng.uniform(0, ww), rng.uniform(horizon * 0.6, wh)])
    w = max(1, int(round(rng.uniform(2, 5) * u)))
    for _ in range(int(rng.integers(1, 4))):
      ang = rng.uniform(0, 2 * np.pi)
      q = p + rng.uniform(8, 20) * u * np.array([math.cos(ang), math.sin(ang)])
      draw.line([tuple(p), tuple(q)], fill=color, width=w)
      draw.ellipse([q[0] - w / 2, q[1] - w / 2, q[0] + w / 2, q[1] + w / 2], fill=color)
      p = q
  regions = []
  if crowd:
    # A crowd band in the far half of the ground, drawn densely and marked as ignore region.
    cw = rng.uniform(0.25, 0.45) * ww
    cx0 = float(np.clip(focus_x + rng.uniform(-0.9, 0.1) * cw, 0, ww - cw))
    y0 = horizon + rng.uniform(0.0, 0.06) * (ground_bottom - horizon)
    y1 = y0 + rng.uniform(0.14, 0.2) * (ground_bottom - horizon)
    jag = rng.uniform(-4, 4, 4) * u
    poly = np.array([[cx0 + jag[0], y0 - 16 * u], [cx0 + cw + jag[1], y0 - 14 * u],
                     [cx0 + cw + jag[2], y1], [cx0 + jag[3], y1]], np.float32)
    layer = canvas.copy()
    ldraw = ImageDraw.Draw(layer)
    for _ in range(int(cw * (y1 - y0) / (18 * u * u) * 1.2)):
      fy = rng.uniform(y0, y1 + 2 * u)
      size = (8 + 10 * (fy - horizon) / (ground_bottom - horizon)) * u
      _draw_mini_person(ldraw, rng, rng.uniform(cx0, cx0 + cw), fy, size)
    mask = Image.new('L', canvas.size, 0)
    ImageDraw.Draw(mask).polygon([tuple(p) for p in poly], fill=255)
    canvas.paste(layer, (0, 0), mask)
    regions.append(poly)
  pole_list = [(float(focus_x + rng.uniform(-0.5, 0.5) * image_size), float(rng.uniform(4, 8) * u))
               for _ in range(poles)]
  # Wide occluders (a pillar, a parked van): people walking behind one vanish for several frames.
  pole_list += [(float(focus_x + rng.uniform(-0.4, 0.4) * image_size),
                 float(rng.uniform(0.12, 0.25) * image_size)) for _ in range(walls)]
  canvas = canvas.filter(ImageFilter.GaussianBlur(0.4 * u))
  return Scene(world=canvas, horizon=horizon, ground_bottom=ground_bottom,
               crowd_regions=regions, poles=pole_list)


@dataclasses.dataclass
class Camera:
  """Per-frame camera: world point at the image centre, zoom (image px per world px)."""
  center: np.ndarray   # [T, 2]
  zoom: np.ndarray     # [T]

  def to_image(self, t: int, world_xy: np.ndarray, image_size: int) -> np.ndarray:
    return (np.asarray(world_xy) - self.center[t]) * self.zoom[t] + image_size / 2

  def view(self, scene: Scene, t: int, image_size: int) -> Image.Image:
    """The background as seen at frame t (affine resampling of the world canvas)."""
    z, (cx, cy) = self.zoom[t], self.center[t]
    # PIL maps output (u, v) to input (a u + b v + c, d u + e v + f).
    data = (1 / z, 0, cx - image_size / 2 / z, 0, 1 / z, cy - image_size / 2 / z)
    return scene.world.transform((image_size, image_size), Image.AFFINE, data,
                                 resample=Image.BILINEAR)


def make_camera(rng: np.random.Generator, num_frames: int, image_size: int) -> Camera:
  """Still (30%) or panning and zooming camera, with hand-held shake (1-3.5 px at 128 px) in
  40% of the moving ones."""
  u = image_size / 128
  ww, wh = world_size(image_size)
  still = rng.random() < 0.3
  pan = 0.0 if still else rng.normal(0, 1.6) * u
  rate = 0.0 if still else rng.uniform(-0.02, 0.02)
  shake = rng.random() < 0.4 and not still
  shake_px = rng.uniform(1.0, 3.5) * u   # hand-held, up to a strong shake
  z0 = rng.uniform(0.9, 1.15)
  zoom = np.clip(z0 * np.exp(rate * np.arange(num_frames)), 0.75, 1.4)
  centers = np.zeros((num_frames, 2))
  half = image_size / 2
  x = rng.uniform(half / zoom[0] + 1, ww - half / zoom[0] - 1)
  y = wh / 2 + rng.uniform(-0.05, 0.05) * wh
  for t in range(num_frames):
    lo, hi = half / zoom[t] + 1, ww - half / zoom[t] - 1
    if not lo <= x + pan <= hi:
      pan = -pan  # the operator pans back at the edge of the world
    x = float(np.clip(x + pan, lo, hi))
    centers[t] = (x, np.clip(y, half / zoom[t] + 1, wh - half / zoom[t] - 1))
  if shake:
    centers += rng.normal(0, shake_px, centers.shape)
  return Camera(center=centers, zoom=zoom)


@dataclasses.dataclass
class Track:
  """One person's trajectory over the clip (world coordinates)."""
  track_id: int
  body: Body
  x: np.ndarray        # [T] pelvis x
  depth: np.ndarray    # [T] 0 (horizon) .. 1 (nearest)
  poses: list[Pose]
  jump: np.ndarray     # [T] airborne height (fraction of standing height)


# Motion per frame is that of a ~12 frames/s video (walking 0.8 heights/s at 0.9 strides/s,
# running 1.7 heights/s), so people move several pixels between frames as in fast footage.
_GAITS = {  # stride, knee, arm swing, elbow, lean, speed (heights/frame), cadence (cycles/frame)
    'stand': (0.03, 0.05, 0.03, 0.25, 0.0, 0.0, 0.02),
    'walk': (0.42, 0.65, 0.38, 0.3, 0.02, 0.055, 0.075),
    'run': (0.7, 1.3, 0.8, 1.4, 0.15, 0.14, 0.12),
    'sprint': (0.85, 1.5, 0.95, 1.5, 0.22, 0.22, 0.15),
}
# Start-gait and gait-change probabilities, in the order of _GAITS.
_START_GAIT_P = (0.2, 0.5, 0.22, 0.08)
_CHANGE_GAIT_P = (0.3, 0.45, 0.15, 0.1)


def _person_height(scene: Scene, depth: np.ndarray, image_size: int, size: float) -> np.ndarray:
  """Standing height in world pixels at a ground depth (perspective: nearer is larger)."""
  return image_size * (0.22 + 0.5 * np.asarray(depth)) * size


def _feet_y(scene: Scene, depth):
  return scene.horizon + (scene.ground_bottom - scene.horizon) * (0.12 + 0.88 * np.asarray(depth))


def make_track(rng: np.random.Generator, track_id: int, body: Body, scene: Scene,
               camera: Camera, num_frames: int, image_size: int,
               start: tuple[float, float] | None = None, heading: float | None = None,
               gait: str | None = None, turns: bool = True, erratic: float = 0.0,
               return_rate: float = 0.0) -> Track:
  """Random walk on the ground plane with gait changes, turns, waves and jumps.

  ``erratic`` is the per-frame probability of a sudden turn back; ``return_rate`` the
  per-frame probability that someone out of view turns back towards it.
  """
  gait = gait or str(rng.choice(list(_GAITS), p=_START_GAIT_P))
  if start is None:
    view_half = image_size / 2 / camera.zoom[0]
    spread = view_half * (1.0 if rng.random() < 0.75 else 1.6)  # some start out of view
    start = (camera.center[0, 0] + rng.uniform(-spread, spread), rng.uniform(0.05, 1.0))
  heading = rng.uniform(-np.pi, np.pi) if heading is None else heading
  x, d = start
  # Heading psi on the ground: 0 moves right, +pi/2 towards the camera. The body then faces
  # yaw = pi/2 - psi, kept as the unit vector (sin yaw, cos yaw) = (cos psi, sin psi).
  yaw_vec = np.array([math.cos(heading), math.sin(heading)])
  wave_side = int(rng.choice([-1, 1]))
  wave_window = (-1, -1)
  if rng.random() < 0.25:
    a = int(rng.integers(0, max(1, num_frames - 6)))
    wave_window = (a, a + int(rng.integers(6, 16)))
  jump_start = int(rng.integers(0, max(1, num_frames - 8))) if rng.random() < 0.12 else -99
  xs, ds, poses, jumps = [], [], [], []
  phase = rng.uniform(0, 2 * np.pi)
  yaw = math.atan2(math.cos(heading), math.sin(heading))
  for t in range(num_frames):
    if turns and rng.random() < 0.05:
      heading = heading + rng.normal(0, 1.4)
      if rng.random() < 0.3:
        gait = str(rng.choice(list(_GAITS), p=_CHANGE_GAIT_P))
    if turns and rng.random() < erratic:
      heading = heading + np.pi + rng.normal(0, 0.5)   # a sudden turn back (dodging, chasing)
    stride, knee, arm, elbow, lean, speed, cadence = _GAITS[gait]
    h = float(_person_height(scene, d, image_size, body.size))
    if turns:
      # Someone who has left the view comes back now and then (re-entering, as in real video).
      ix = camera.to_image(min(t, len(camera.zoom) - 1), np.array([x, 0.0]), image_size)[0]
      outside = ix < -0.3 * h * camera.zoom[min(t, len(camera.zoom) - 1)] or \
          ix > image_size + 0.3 * h * camera.zoom[min(t, len(camera.zoom) - 1)]
      if outside and rng.random() < return_rate:
        heading = (0.0 if ix < 0 else np.pi) + rng.normal(0, 0.3)
    # Ground motion: x in world pixels, depth in ground units (slower: perspective).
    x += math.cos(heading) * speed * h
    d += math.sin(heading) * speed * 0.35
    if not 0.0 <= d <= 1.0:
      heading = -heading  # turn back at the horizon / at the camera
      d = float(np.clip(d, 0.0, 1.0))
    if gait != 'stand':
      # Facing follows the walking direction, smoothed so that turns take a few frames.
      target = np.array([math.cos(heading), math.sin(heading)])
      yaw_vec = 0.6 * yaw_vec + 0.4 * target
      yaw = math.atan2(yaw_vec[0], yaw_vec[1])
    else:
      yaw += rng.normal(0, 0.08)
      yaw_vec = np.array([math.sin(yaw), math.cos(yaw)])
    phase += 2 * np.pi * cadence
    jt = t - jump_start
    crouch, air = 0.0, 0.0
    if 0 <= jt < 8:
      crouch = 0.6 if jt in (0, 7) else 0.15
      air = 0.18 * math.sin(np.pi * (jt - 0.5) / 7) if 1 <= jt <= 6 else 0.0
    wave = wave_side if wave_window[0] <= t < wave_window[1] else 0
    poses.append(Pose(yaw=yaw, phase=phase, stride=stride, knee=knee, arm_swing=arm,
                      elbow=elbow, lean=lean, wave=wave, wave_phase=1.3 * t, crouch=crouch))
    xs.append(x)
    ds.append(d)
    jumps.append(air)
  return Track(track_id=track_id, body=body, x=np.asarray(xs), depth=np.asarray(ds),
               poses=poses, jump=np.asarray(jumps))


def track_view(track: Track, t: int, scene: Scene, camera: Camera,
               image_size: int) -> PersonView:
  """The person of ``track`` at frame ``t`` in image pixels."""
  body, pose = track.body, track.poses[t]
  h_world = float(_person_height(scene, track.depth[t], image_size, body.size))
  local = local_joints(body, pose)
  lowest = local[[R_ANKLE, L_ANKLE], 2].max() + 0.015
  pelvis_world = np.array([track.x[t], _feet_y(scene, track.depth[t]) -
                           (lowest + track.jump[t]) * h_world])
  pelvis = camera.to_image(t, pelvis_world, image_size)
  return person_view(track.track_id, body, pose, pelvis, h_world * camera.zoom[t],
                     depth=float(track.depth[t]))


def _people_count(rng) -> int:
  return int(rng.choice(np.arange(1, 11), p=np.array([4, 8, 11, 12, 12, 10, 8, 6, 5, 4]) / 80))


def generate_clip(split: str, index: int, num_frames: int = 24, image_size: int = 128,
                  seed: int = 0) -> tuple[Sequence, list[np.ndarray]]:
  """Renders one clip. Deterministic in ``(split, index, num_frames, image_size, seed)``."""
  seq, images, _ = generate_clip_with_metadata(split, index, num_frames, image_size, seed)
  return seq, images


def generate_clip_with_metadata(split: str, index: int, num_frames: int = 24,
                                image_size: int = 128, seed: int = 0
                                ) -> tuple[Sequence, list[np.ndarray], dict]:
  """:func:`generate_clip` plus what the annotations do not say about the clip.

  Returns:
    (sequence, images, metadata) with metadata keys ``name``, ``num_people`` (tracks
    generated, some may never be in view), ``look_alike`` (people sharing clothes),
    ``crowd`` (has an ignore region), ``poles`` (poles and walls), ``walls`` (wide
    occluders), ``constructed_crossing``, ``dropped_steps`` (time steps the recording skipped),
    ``camera_center`` [T, 2] (world pixels) and ``camera_zoom`` [T] at the frames.
  """
  _check_split(split)
  rng = np.random.default_rng(np.random.SeedSequence([seed, _SPLIT_CODE[split], index]))
  # Re-draw the (rare) clip in which nobody is ever annotated: every clip has 1-10 people.
  for _ in range(20):
    seq, images, metadata = _render_clip(rng, split, index, num_frames, image_size)
    if any(fr.people for fr in seq.frames):
      return seq, images, metadata
  raise RuntimeError(f'{seq.name}: no annotated person after 20 draws')


def _timeline(rng, num_frames: int) -> np.ndarray:
  """[num_frames] time steps at which the frames are taken: every step, or every other step in
  low-frame-rate clips; in some clips the recording also drops 3-8 steps once or twice (a
  stutter, a dropped-frame encoder)."""
  # Some clips are recorded at half the frame rate: people move twice as far between frames.
  steps = np.full(num_frames, 2 if rng.random() < LOW_FRAME_RATE_CLIP_RATE else 1, np.int64)
  steps[0] = 0
  if num_frames > 4 and rng.random() < DROPPED_FRAMES_CLIP_RATE:
    for at in rng.choice(np.arange(1, num_frames), size=int(rng.integers(1, 3)), replace=False):
      steps[at] += int(rng.integers(3, 9))
  return np.cumsum(steps)


def _render_clip(rng, split, index, num_frames, image_size):
  num_people = _people_count(rng)
  times = _timeline(rng, num_frames)
  num_steps = int(times[-1]) + 1
  camera = make_camera(rng, num_steps, image_size)
  scene = make_scene(rng, image_size, crowd=rng.random() < 0.3,
                     poles=int(rng.random() < 0.3) + int(rng.random() < 0.1),
                     focus_x=float(camera.center[num_steps // 2, 0]),
                     walls=int(rng.random() < WALL_CLIP_RATE) + int(rng.random() < 0.15))
  look_alike = num_people >= 2 and rng.random() < 0.3
  bodies = [random_body(rng) for _ in range(num_people)]
  if look_alike:
    # Twins: same clothes and almost the same build as person 0.
    for k in range(1, min(num_people, 1 + int(rng.integers(1, 3)))):
      twin = random_body(rng, appearance=bodies[0].appearance, size=bodies[0].size)
      twin.build = bodies[0].build
      bodies[k] = twin
  # Track ids are sparse, as in PoseTrack (ids need not be 0..K-1).
  ids = sorted(rng.choice(np.arange(100), num_people, replace=False).tolist())
  tracks = []
  crossing = num_people >= 2 and rng.random() < 0.7
  # A constructed crossing: two people walk towards each other at slightly different depths
  # and meet in the middle of the view around the middle of the clip.
  tc = rng.uniform(0.3, 0.7) * num_steps
  d0 = rng.uniform(0.4, 0.85)
  gap = rng.uniform(0.04, 0.15)
  for k in range(num_people):
    if crossing and k < 2:
      dk = d0 + (gap if k else 0.0)
      gait = str(rng.choice(['walk', 'run'], p=[0.7, 0.3]))
      speed = _GAITS[gait][5] * float(_person_height(scene, dk, image_size, bodies[k].size))
      direction = 1 if k == 0 else -1
      x0 = camera.center[int(tc) if tc < num_steps else -1, 0] - direction * speed * tc
      tracks.append(make_track(rng, ids[k], bodies[k], scene, camera, num_steps, image_size,
                               start=(x0, dk), heading=0.0 if direction > 0 else np.pi,
                               gait=gait, turns=False))
    else:
      start = ((camera.center[0, 0], rng.uniform(0.6, 0.95)) if k == 0 and not crossing
               else None)
      tracks.append(make_track(rng, ids[k], bodies[k], scene, camera, num_steps, image_size,
                               start=start, erratic=ERRATIC_TURN_RATE,
                               return_rate=RETURN_RATE))
  name = sequence_name(split, index)
  vid = VIDEO_NUMBER_OFFSET[split] + index
  frames, images = [], []
  gain0, gain_rate = rng.uniform(0.85, 1.1), rng.normal(0, 0.004)
  for frame_id, t in enumerate(times.tolist()):
    background = camera.view(scene, t, image_size)
    views = [track_view(tr, t, scene, camera, image_size) for tr in tracks]
    ignore = [camera.to_image(t, r, image_size).astype(np.float32) for r in scene.crowd_regions]
    ignore = [r for r in ignore if _overlaps_view(r, image_size)]
    poles = []
    for px, pw in scene.poles:
      x = camera.to_image(t, np.array([px, 0.0]), image_size)[0]
      w = pw * camera.zoom[t]
      poles.append(np.array([[x - w / 2, -1], [x + w / 2, -1], [x + w / 2, image_size + 1],
                             [x - w / 2, image_size + 1]]))
    image, people = render_frame(background, views, poles, ignore, rng,
                                 gain=gain0 + gain_rate * t)
    images.append(image)
    frames.append(Frame(image_path=f'images/{split}/{name}/{frame_id:06d}.jpg',
                        frame_id=frame_id, is_labeled=True, people=people,
                        ignore_regions=ignore, width=image_size, height=image_size,
                        image_id=formats_lib.posetrack_image_id(name, frame_id)))
  metadata = {'name': name, 'num_people': num_people,
              'look_alike': bool(look_alike), 'crowd': bool(scene.crowd_regions),
              'poles': len(scene.poles), 'constructed_crossing': bool(crossing),
              'walls': sum(1 for _, w in scene.poles if w > 0.1 * image_size),
              'dropped_steps': int(num_steps - num_frames),
              'camera_center': camera.center[times].round(3).tolist(),
              'camera_zoom': camera.zoom[times].round(5).tolist()}
  return (Sequence(name=name, frames=frames, skeleton='posetrack', vid_id=vid), images,
          metadata)


def _overlaps_view(poly: np.ndarray, size: int) -> bool:
  lo, hi = poly.min(0), poly.max(0)
  return bool(hi[0] >= 0 and hi[1] >= 0 and lo[0] <= size - 1 and lo[1] <= size - 1)


def generate_split(split: str, num_clips: int, num_frames: int = 24, image_size: int = 128,
                   seed: int = 0) -> Iterator[tuple[Sequence, list[np.ndarray]]]:
  """Yields ``(Sequence, images)`` for clips ``0 .. num_clips - 1`` of a split.

  Images are uint8 [image_size, image_size, 3]; ``Frame.image_path`` is
  ``images/<split>/<sequence>/%06d.jpg`` relative to the data set root.
  """
  for seq, images, _ in _generate_split_with_metadata(split, num_clips, num_frames,
                                                      image_size, seed):
    yield seq, images


def _generate_split_with_metadata(split, num_clips, num_frames, image_size, seed):
  _check_split(split)
  if image_size < 32:
    raise ValueError(f'image_size must be >= 32, got {image_size}')
  if num_frames < 1 or num_frames >= 10000:
    raise ValueError(f'num_frames must be in [1, 10000), got {num_frames}')
  for index in range(num_clips):
    yield generate_clip_with_metadata(split, index, num_frames, image_size, seed)


def write_dataset(root: str | os.PathLike, splits: dict[str, int] | None = None,
                  num_frames: int = 24, image_size: int = 128, seed: int = 0,
                  formats=('posetrack18', 'posetrack17', 'coco'),
                  image_format: str = 'jpg', jpeg_quality: int = 90) -> dict[str, list[Sequence]]:
  """Renders the benchmark and writes images and annotations in the real formats.

  Layout under ``root``::

    images/<split>/<sequence>/%06d.jpg
    annotations/posetrack18/<split>/<sequence>.json
    annotations/posetrack17/<split>/<sequence>.json
    annotations/coco/person_keypoints_<split>.json   (file_name relative to root)
    annotations/synthetic_meta/<split>.json          (camera path, look-alikes, crowds)

  Returns:
    The written sequences per split.
  """
  splits = {'train': 100, 'val': 20, 'test': 20} if splits is None else splits
  unknown = set(formats) - {'posetrack18', 'posetrack17', 'coco'}
  if unknown:
    raise ValueError(f'unknown formats {sorted(unknown)}')
  if image_format not in ('jpg', 'png'):
    raise ValueError(f'image_format must be jpg or png, got {image_format!r}')
  root = str(root)
  written = {}
  for split, count in splits.items():
    seqs, metas = [], []
    for seq, images, meta in _generate_split_with_metadata(split, count, num_frames,
                                                           image_size, seed):
      metas.append(meta)
      for fr, img in zip(seq.frames, images):
        if image_format == 'png':
          fr.image_path = fr.image_path[:-3] + 'png'
        path = os.path.join(root, fr.image_path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if image_format == 'jpg':
          Image.fromarray(img).save(path, quality=jpeg_quality)
        else:
          Image.fromarray(img).save(path)
      if 'posetrack18' in formats:
        formats_lib.write_posetrack18(
            seq, os.path.join(root, 'annotations', 'posetrack18', split, f'{seq.name}.json'))
      if 'posetrack17' in formats:
        formats_lib.write_posetrack17(
            seq, os.path.join(root, 'annotations', 'posetrack17', split, f'{seq.name}.json'))
      seqs.append(seq)
    if 'coco' in formats:
      formats_lib.write_coco([formats_lib.convert_skeleton(s, 'coco') for s in seqs],
                         os.path.join(root, 'annotations', 'coco',
                                      f'person_keypoints_{split}.json'))
    meta_path = os.path.join(root, 'annotations', 'synthetic_meta', f'{split}.json')
    os.makedirs(os.path.dirname(meta_path), exist_ok=True)
    with open(meta_path, 'w') as f:
      json.dump(metas, f, separators=(',', ':'))
    written[split] = seqs
  return written


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--root', required=True)
  parser.add_argument('--train', type=int, default=100)
  parser.add_argument('--val', type=int, default=20)
  parser.add_argument('--test', type=int, default=20)
  parser.add_argument('--frames', type=int, default=24)
  parser.add_argument('--size', type=int, default=128)
  parser.add_argument('--seed', type=int, default=0)
  parser.add_argument('--no-stats', action='store_true', help='skip the statistics printout')
  args = parser.parse_args(argv)
  start = time.time()
  written = write_dataset(args.root, {'train': args.train, 'val': args.val, 'test': args.test},
                          num_frames=args.frames, image_size=args.size, seed=args.seed)
  n = sum(len(s.frames) for seqs in written.values() for s in seqs)
  print(f'wrote {n} frames to {args.root} in {time.time() - start:.1f} s')
  if not args.no_stats:
    from artrack_jax.evaluation import stats  # pylint: disable=import-outside-toplevel
    for split, seqs in written.items():
      if seqs:
        print(stats.format_statistics(
            stats.split_statistics(seqs, metadata=stats.load_metadata(args.root, split),
                                   gt_dir=os.path.join(args.root, 'annotations', 'posetrack18',
                                                       split)),
            title=f'{split} ({len(seqs)} clips)'))


if __name__ == '__main__':
  main(sys.argv[1:])
