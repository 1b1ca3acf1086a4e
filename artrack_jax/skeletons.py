"""Joint sets and everything derived from them.

Three joint sets appear in the data this project reads:

* ``posetrack`` (PoseTrack 2017, 15 joints, the evaluation toolkit's order). This is the
  project's canonical skeleton: the synthetic benchmark and PoseTrack data train on it.
* ``posetrack18`` (PoseTrack 2018 files: 17 COCO-order slots, ``left_ear``/``right_ear`` always
  empty, ``head_bottom`` in the slot of COCO's ``left_eye``, ``head_top`` in ``right_eye``).
* ``coco`` (COCO keypoints, 17 joints).

Mappings between sets are given only where they are lossless (``posetrack`` <->
``posetrack18``); COCO has no neck or head top, so COCO data trains on the ``coco`` skeleton.
"""
from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Skeleton:
  """A joint set. Indices in every field refer to ``names``."""
  name: str
  names: tuple[str, ...]
  flip_pairs: tuple[tuple[int, int], ...]
  limbs: tuple[tuple[int, int], ...]
  # Order in which joint types are grouped by the bottom-up decoder (Associative Embedding).
  decode_order: tuple[int, ...]
  head_top: int | None
  neck: int | None
  # Per-joint OKS sigmas (COCO's values; PoseTrack joints take the nearest COCO analogue).
  oks_sigmas: tuple[float, ...]

  @property
  def num_joints(self) -> int:
    return len(self.names)

  def index(self, name: str) -> int:
    return self.names.index(name)

  @property
  def flip_permutation(self) -> np.ndarray:
    """``perm`` such that ``flipped_keypoints = keypoints[..., perm, :]`` swaps left/right."""
    perm = np.arange(self.num_joints)
    for a, b in self.flip_pairs:
      perm[a], perm[b] = b, a
    return perm


def torso_joints(skeleton: Skeleton) -> tuple[int, int, int, int]:
  """(left_shoulder, right_shoulder, left_hip, right_hip) of ``skeleton``: the joints the
  facing target (``losses.facing_target``) and ``decode.facing_orient`` read."""
  names = ('left_shoulder', 'right_shoulder', 'left_hip', 'right_hip')
  missing = [n for n in names if n not in skeleton.names]
  if missing:
    raise ValueError(f'the facing map needs the joints {missing}, which skeleton '
                     f'{skeleton.name!r} does not have')
  return tuple(skeleton.index(n) for n in names)


def _pairs(names, pairs):
  return tuple((names.index(a), names.index(b)) for a, b in pairs)


_PT_NAMES = ('right_ankle', 'right_knee', 'right_hip', 'left_hip', 'left_knee', 'left_ankle',
             'right_wrist', 'right_elbow', 'right_shoulder', 'left_shoulder', 'left_elbow',
             'left_wrist', 'neck', 'nose', 'head_top')
_PT_LIMBS = [('head_top', 'nose'), ('nose', 'neck'), ('neck', 'right_shoulder'),
             ('neck', 'left_shoulder'), ('right_shoulder', 'right_elbow'),
             ('right_elbow', 'right_wrist'), ('left_shoulder', 'left_elbow'),
             ('left_elbow', 'left_wrist'), ('right_shoulder', 'right_hip'),
             ('left_shoulder', 'left_hip'), ('right_hip', 'left_hip'),
             ('right_hip', 'right_knee'), ('right_knee', 'right_ankle'),
             ('left_hip', 'left_knee'), ('left_knee', 'left_ankle')]
_PT_DECODE = ['head_top', 'nose', 'neck', 'right_shoulder', 'left_shoulder', 'right_hip',
              'left_hip', 'right_elbow', 'left_elbow', 'right_wrist', 'left_wrist',
              'right_knee', 'left_knee', 'right_ankle', 'left_ankle']
_LR = [('right_ankle', 'left_ankle'), ('right_knee', 'left_knee'), ('right_hip', 'left_hip'),
       ('right_wrist', 'left_wrist'), ('right_elbow', 'left_elbow'),
       ('right_shoulder', 'left_shoulder')]
_COCO_SIGMA = {'nose': .026, 'left_eye': .025, 'right_eye': .025, 'left_ear': .035,
               'right_ear': .035, 'left_shoulder': .079, 'right_shoulder': .079,
               'left_elbow': .072, 'right_elbow': .072, 'left_wrist': .062, 'right_wrist': .062,
               'left_hip': .107, 'right_hip': .107, 'left_knee': .087, 'right_knee': .087,
               'left_ankle': .089, 'right_ankle': .089,
               # PoseTrack head joints: nearest COCO analogue (ears).
               'neck': .035, 'head_top': .035, 'head_bottom': .035}

POSETRACK = Skeleton(
    name='posetrack', names=_PT_NAMES, flip_pairs=_pairs(_PT_NAMES, _LR),
    limbs=_pairs(_PT_NAMES, _PT_LIMBS),
    decode_order=tuple(_PT_NAMES.index(n) for n in _PT_DECODE),
    head_top=_PT_NAMES.index('head_top'), neck=_PT_NAMES.index('neck'),
    oks_sigmas=tuple(_COCO_SIGMA[n] for n in _PT_NAMES))

_COCO_NAMES = ('nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder',
               'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
               'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle')
_COCO_LR = _LR + [('right_eye', 'left_eye'), ('right_ear', 'left_ear')]
_COCO_LIMBS = [('nose', 'left_eye'), ('nose', 'right_eye'), ('left_eye', 'left_ear'),
               ('right_eye', 'right_ear'), ('left_shoulder', 'right_shoulder'),
               ('left_shoulder', 'left_elbow'), ('left_elbow', 'left_wrist'),
               ('right_shoulder', 'right_elbow'), ('right_elbow', 'right_wrist'),
               ('left_shoulder', 'left_hip'), ('right_shoulder', 'right_hip'),
               ('left_hip', 'right_hip'), ('left_hip', 'left_knee'), ('left_knee', 'left_ankle'),
               ('right_hip', 'right_knee'), ('right_knee', 'right_ankle')]
_COCO_DECODE = ['nose', 'left_eye', 'right_eye', 'left_ear', 'right_ear', 'left_shoulder',
                'right_shoulder', 'left_hip', 'right_hip', 'left_elbow', 'right_elbow',
                'left_wrist', 'right_wrist', 'left_knee', 'right_knee', 'left_ankle',
                'right_ankle']

COCO = Skeleton(
    name='coco', names=_COCO_NAMES, flip_pairs=_pairs(_COCO_NAMES, _COCO_LR),
    limbs=_pairs(_COCO_NAMES, _COCO_LIMBS),
    decode_order=tuple(_COCO_NAMES.index(n) for n in _COCO_DECODE),
    head_top=None, neck=None, oks_sigmas=tuple(_COCO_SIGMA[n] for n in _COCO_NAMES))

_PT18_NAMES = ('nose', 'head_bottom', 'head_top', 'left_ear', 'right_ear', 'left_shoulder',
               'right_shoulder', 'left_elbow', 'right_elbow', 'left_wrist', 'right_wrist',
               'left_hip', 'right_hip', 'left_knee', 'right_knee', 'left_ankle', 'right_ankle')
_PT18_LIMBS = [(a.replace('neck', 'head_bottom'), b.replace('neck', 'head_bottom'))
               for a, b in _PT_LIMBS]

POSETRACK18 = Skeleton(
    name='posetrack18', names=_PT18_NAMES, flip_pairs=_pairs(_PT18_NAMES, _COCO_LR[:-2] +
                                                            [('right_ear', 'left_ear')]),
    limbs=_pairs(_PT18_NAMES, _PT18_LIMBS),
    decode_order=tuple(_PT18_NAMES.index(n.replace('neck', 'head_bottom'))
                       for n in _PT_DECODE),
    head_top=_PT18_NAMES.index('head_top'), neck=_PT18_NAMES.index('head_bottom'),
    oks_sigmas=tuple(_COCO_SIGMA[n] for n in _PT18_NAMES))

# Slots of PoseTrack 2018 files that are always empty.
POSETRACK18_EMPTY_SLOTS = (POSETRACK18.index('left_ear'), POSETRACK18.index('right_ear'))

SKELETONS = {s.name: s for s in (POSETRACK, POSETRACK18, COCO)}


def get(name: str) -> Skeleton:
  try:
    return SKELETONS[name]
  except KeyError:
    raise ValueError(f'unknown skeleton {name!r}; choose one of {sorted(SKELETONS)}') from None


def _pt_to_pt18_index() -> np.ndarray:
  out = []
  for n in _PT_NAMES:
    out.append(_PT18_NAMES.index('head_bottom' if n == 'neck' else n))
  return np.asarray(out)


# posetrack joint i lives in posetrack18 slot PT_TO_PT18[i].
PT_TO_PT18 = _pt_to_pt18_index()


def posetrack_to_posetrack18(kpts: np.ndarray) -> np.ndarray:
  """[..., 15, C] in PoseTrack 2017 order -> [..., 17, C] PoseTrack 2018 slots (ears zero)."""
  kpts = np.asarray(kpts)
  out = np.zeros(kpts.shape[:-2] + (17, kpts.shape[-1]), kpts.dtype)
  out[..., PT_TO_PT18, :] = kpts
  return out


def posetrack18_to_posetrack(kpts: np.ndarray) -> np.ndarray:
  """[..., 17, C] PoseTrack 2018 slots -> [..., 15, C]; the always-empty ear slots are dropped."""
  kpts = np.asarray(kpts)
  if kpts.shape[-2] != 17:
    raise ValueError(f'expected 17 PoseTrack 2018 slots, got shape {kpts.shape}')
  return kpts[..., PT_TO_PT18, :]
