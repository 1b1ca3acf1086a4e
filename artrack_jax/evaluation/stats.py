"""Statistics of a split: how crowded, occluded and moving the clips are, and how well the
plain IoU / OKS trackers associate the ground-truth poses (evidence that tracking is not
trivial on the data).

Usage (synthetic data written by ``python -m artrack_jax.data.synthetic``)::

  from artrack_jax.data import formats
  from artrack_jax.evaluation import stats
  seqs = formats.read_posetrack_dir(f'{root}/annotations/posetrack18/val')
  print(stats.format_statistics(stats.split_statistics(
      seqs, metadata=stats.load_metadata(root, 'val'),
      gt_dir=f'{root}/annotations/posetrack18/val')))
"""
from __future__ import annotations

import json
import os
import tempfile
import warnings
from typing import Any

import numpy as np

from artrack_jax.data import formats
from artrack_jax.data.types import Sequence
from artrack_jax.evaluation import posetrack
from artrack_jax.tracking import baselines


def load_metadata(root: str, split: str) -> list[dict] | None:
  """The synthetic generator's per-clip metadata, or None when the data set has none."""
  path = os.path.join(root, 'annotations', 'synthetic_meta', f'{split}.json')
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def _overlap(a: np.ndarray, b: np.ndarray) -> bool:
  return bool(a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3]
              and b[1] < a[1] + a[3])


def crossing_counts(seq: Sequence) -> tuple[int, int]:
  """(pairs of tracks whose boxes overlap and later separate, frames with overlapping people)."""
  state: dict[tuple[int, int], int] = {}  # 0 seen apart/never, 1 overlapped, 2 crossed
  frames_with_overlap = 0
  for fr in seq.frames:
    any_overlap = False
    people = fr.people
    for i in range(len(people)):
      for j in range(i + 1, len(people)):
        key = tuple(sorted((people[i].track_id, people[j].track_id)))
        over = _overlap(people[i].bbox, people[j].bbox)
        any_overlap |= over
        s = state.get(key, 0)
        if over and s == 0:
          state[key] = 1
        elif not over and s == 1:
          state[key] = 2
    frames_with_overlap += int(any_overlap)
  return sum(1 for s in state.values() if s == 2), frames_with_overlap


def _tracker_scores(sequences: list[Sequence], gt_dir: str | None,
                    similarities=('iou', 'oks')) -> dict[str, dict[str, float]]:
  """MOTA / switches of the baseline trackers run on the ground-truth poses."""
  out = {}
  with tempfile.TemporaryDirectory() as tmp:
    if gt_dir is None:
      gt_dir = os.path.join(tmp, 'gt')
      formats.write_posetrack_dir(sequences, gt_dir)
    for sim in similarities:
      pred_dir = os.path.join(tmp, sim)
      tracked = []
      for seq in sequences:
        t = baselines.track_sequence(seq, sim)
        for fr in t.frames:
          for p in fr.people:
            # Ground-truth poses as predictions: every labelled joint is certain.
            p.scores = (p.keypoints[:, 2] > 0).astype(np.float32)
        tracked.append(t)
      formats.write_posetrack_dir(tracked, pred_dir)
      with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        result = posetrack.evaluate(gt_dir, pred_dir + os.sep, ap=False)
      out[sim] = {'mota': float(result['mota']['Total']),
                  'switches': int(result['num_switches']['total']),
                  'switches_per_joint': float(result['num_switches']['total'] / 15)}
  return out


OUTPUT_STRIDE = 4


def pckh_radius(bbox_head) -> float:
  """PoseTrack's PCKh@0.5 match radius of a head box (x, y, w, h): 0.5 x 0.6 x its diagonal."""
  return 0.5 * 0.6 * float(np.hypot(bbox_head[2], bbox_head[3]))


def split_statistics(sequences: list[Sequence], metadata: list[dict] | None = None,
                     gt_dir: str | None = None, trackers: bool = True) -> dict[str, Any]:
  """Computes the statistics printed by :func:`format_statistics`.

  Args:
    sequences: ground-truth sequences of one split (``posetrack`` skeleton).
    metadata: the synthetic generator's per-clip metadata (camera, look-alikes), if any.
    gt_dir: directory of these sequences' PoseTrack files for the evaluator; written to a
      temporary directory when None.
    trackers: run the IoU/OKS baselines through ``evaluation.posetrack``.
  """
  people_per_frame, tracks_per_clip, radii = [], [], []
  v = np.zeros(3, np.int64)
  crossings, overlap_frames, ignore_clips = 0, 0, 0
  for seq in sequences:
    tracks = set()
    for fr in seq.frames:
      if fr.is_labeled:
        people_per_frame.append(len(fr.people))
      for p in fr.people:
        tracks.add(p.track_id)
        if p.bbox_head is not None and p.bbox_head[2] > 0 and p.bbox_head[3] > 0:
          radii.append(pckh_radius(p.bbox_head))
        v += np.bincount(np.asarray(p.keypoints[:, 2], np.int64), minlength=3)[:3]
    tracks_per_clip.append(len(tracks))
    c, o = crossing_counts(seq)
    crossings += c
    overlap_frames += o
    ignore_clips += int(any(fr.ignore_regions for fr in seq.frames))
  ppf = np.asarray(people_per_frame or [0])
  labelled = max(int(v[1] + v[2]), 1)
  stats: dict[str, Any] = {
      'clips': len(sequences), 'frames': int(sum(len(s.frames) for s in sequences)),
      'people_per_frame': (float(ppf.mean()), int(ppf.min()), int(ppf.max())),
      'tracks_per_clip': (float(np.mean(tracks_per_clip or [0])), int(min(tracks_per_clip or [0])),
                          int(max(tracks_per_clip or [0]))),
      'crossing_pairs': crossings, 'frames_with_overlap': overlap_frames,
      'occluded_joints_pct': 100.0 * v[1] / labelled,
      'unlabelled_joints_pct': 100.0 * v[0] / max(int(v.sum()), 1),
      'ignore_region_clips': ignore_clips,
      # PoseTrack's PCKh@0.5 match radius, frame pixels (10th, 50th, 90th percentile).
      'pckh_radius_px': tuple(float(x) for x in np.percentile(radii or [0.0], [10, 50, 90])),
  }
  if metadata is not None:
    pans, zooms = [], []
    for m in metadata:
      c = np.asarray(m['camera_center'], np.float64)
      z = np.asarray(m['camera_zoom'], np.float64)
      if len(c) > 1:
        # Image-plane motion of the scene: world displacement times zoom.
        pans.extend((np.linalg.norm(np.diff(c, axis=0), axis=1) * z[1:]).tolist())
      zooms.extend(z.tolist())
    stats['camera_pan_px_per_frame'] = float(np.mean(pans)) if pans else 0.0
    stats['zoom_range'] = (float(min(zooms)), float(max(zooms))) if zooms else (1.0, 1.0)
    stats['look_alike_clips'] = sum(int(m['look_alike']) for m in metadata)
    stats['wall_clips'] = sum(int(m.get('walls', 0) > 0) for m in metadata)
    stats['dropped_frame_clips'] = sum(int(m.get('dropped_steps', 0) > 0) for m in metadata)
  if trackers and sequences:
    stats['trackers'] = _tracker_scores(sequences, gt_dir)
  return stats


def format_statistics(stats: dict[str, Any], title: str = '') -> str:
  """A printable block of :func:`split_statistics`."""
  m, lo, hi = stats['people_per_frame']
  tm, tlo, thi = stats['tracks_per_clip']
  lines = [f'== {title} ==' if title else '==',
           f'clips {stats["clips"]}, frames {stats["frames"]}',
           f'people per frame: mean {m:.2f}, min {lo}, max {hi}',
           f'tracks per clip: mean {tm:.2f}, min {tlo}, max {thi}',
           f'crossings (box pairs overlapping then separating): {stats["crossing_pairs"]}; '
           f'frames with overlapping people: {stats["frames_with_overlap"]} '
           f'({100 * stats["frames_with_overlap"] / max(stats["frames"], 1):.1f}%)',
           f'occluded joints (v=1 of labelled): {stats["occluded_joints_pct"]:.1f}%',
           'unlabelled joints (v=0: out of frame or behind a pole or wall): '
           f'{stats["unlabelled_joints_pct"]:.1f}%',
           f'clips with ignore regions: {stats["ignore_region_clips"]}']
  r10, r50, r90 = stats['pckh_radius_px']
  lines.append(f'PCKh@0.5 radius: median {r50:.1f} px (10th {r10:.1f}, 90th {r90:.1f}) = '
               f'{r50 / OUTPUT_STRIDE:.2f} output px ({r10 / OUTPUT_STRIDE:.2f}, '
               f'{r90 / OUTPUT_STRIDE:.2f}) at stride {OUTPUT_STRIDE} on the whole frame')
  if 'camera_pan_px_per_frame' in stats:
    z0, z1 = stats['zoom_range']
    lines += [f'camera: mean |pan| {stats["camera_pan_px_per_frame"]:.2f} px/frame, '
              f'zoom {z0:.2f}..{z1:.2f}',
              f'look-alike clips: {stats["look_alike_clips"]}, clips with a wide occluder: '
              f'{stats.get("wall_clips", 0)}, with dropped frames: '
              f'{stats.get("dropped_frame_clips", 0)}']
  for name, r in stats.get('trackers', {}).items():
    lines.append(f'{name.upper()} tracker on GT poses: MOTA {r["mota"]:.1f}, '
                 f'ID switches {r["switches"]} ({r["switches_per_joint"]:.1f} per joint)')
  return '\n'.join(lines)
