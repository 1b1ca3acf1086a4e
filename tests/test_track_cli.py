"""Tests for track.py, video_io.py and viz/draw.py: I/O, errors, rendering, tracking."""
import logging
import os

import numpy as np
import pytest
from PIL import Image

from artrack_jax import configs_util, inference, reference, skeletons, track, video_io
from artrack_jax.evaluation import tables
from artrack_jax.tracking import online
from artrack_jax.viz import draw
from artrack_jax.data import formats
from artrack_jax.tracking.tracker import FrameObservations, PoseObservation

import tiny_networks

SK = skeletons.POSETRACK
J = SK.num_joints


def _pattern_frames(n, h=48, w=64):
  """Smooth frames that survive lossy coding: a gradient whose offset moves with the index."""
  yy, xx = np.mgrid[0:h, 0:w]
  return [np.stack([(xx * 3 + 10 * i) % 256, (yy * 4) % 256, np.full_like(xx, 40 * i % 256)],
                   -1).astype(np.uint8) for i in range(n)]


# ----------------------------------------------------------------------------------------------
# video_io


def test_video_round_trip(tmp_path):
  frames = _pattern_frames(6)
  path = tmp_path / 'clip.mp4'
  assert video_io.write_video(path, frames, fps=12) == 6
  source = video_io.open_video(path)
  assert source.fps == pytest.approx(12) and source.name == 'clip' and not source.is_folder
  back = list(video_io.iter_frames(source))
  assert len(back) == 6
  for a, b in zip(frames, back):
    assert b.shape == a.shape and b.dtype == np.uint8
    assert np.abs(a.astype(int) - b.astype(int)).mean() < 6   # lossy H.264


def test_odd_sizes_are_padded(tmp_path):
  path = tmp_path / 'odd.mp4'
  video_io.write_video(path, [np.full((15, 21, 3), 128, np.uint8)] * 2, fps=5)
  back = list(video_io.iter_frames(video_io.open_video(path)))
  assert back[0].shape == (16, 22, 3)
  assert abs(int(back[0][:15, :21].mean()) - 128) <= 3


def test_frame_folder_natural_order(tmp_path):
  for i in (10, 2, 1):
    Image.fromarray(np.full((8, 10, 3), i * 20, np.uint8)).save(tmp_path / f'f_{i}.png')
  (tmp_path / 'notes.txt').write_text('not a frame')
  source = video_io.open_video(tmp_path, fps=7)
  assert [os.path.basename(p) for p in source.frame_paths] == ['f_1.png', 'f_2.png', 'f_10.png']
  assert source.fps == 7 and source.num_frames == 3 and source.name == tmp_path.name
  assert [int(f[0, 0, 0]) for f in video_io.iter_frames(source)] == [20, 40, 200]


def test_read_errors_name_the_file(tmp_path):
  with pytest.raises(video_io.VideoReadError, match='missing.mp4: no such file'):
    video_io.open_video(tmp_path / 'missing.mp4')
  bad = tmp_path / 'bad.mp4'
  bad.write_text('this is not a video')
  with pytest.raises(video_io.VideoReadError, match='bad.mp4: not a readable video'):
    video_io.open_video(bad)
  empty = tmp_path / 'empty'
  empty.mkdir()
  with pytest.raises(video_io.VideoReadError, match='empty: folder holds no image frames'):
    video_io.open_video(empty)
  frames = tmp_path / 'frames'
  frames.mkdir()
  Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(frames / '000.png')
  (frames / '001.png').write_bytes(b'\x89PNG broken')
  source = video_io.open_video(frames)
  it = video_io.iter_frames(source)
  next(it)
  with pytest.raises(video_io.VideoReadError, match='001.png: unreadable image'):
    next(it)


# ----------------------------------------------------------------------------------------------
# visualize


def _standing(cx, cy, size=20.0):
  kp = np.zeros((J, 3))
  kp[:, 0] = cx + np.linspace(-0.3, 0.3, J) * size
  kp[:, 1] = cy + np.linspace(-0.9, 0.9, J) * size
  kp[:, 2] = 1.0
  return kp


def test_draw_poses_pixels():
  image = np.zeros((80, 120, 3), np.uint8)
  a, b = _standing(30, 40), _standing(90, 40)
  b[SK.index('left_wrist'), 2] = 0.0                # hidden joint: its limbs are not drawn
  out = draw.draw_poses(image, np.stack([a, b]), [1, 2], SK, thickness=3, radius=2,
                             labels=False)
  assert draw.track_colour(1) != draw.track_colour(2)
  for kp, tid in ((a, 1), (b, 2)):
    for p, q in SK.limbs:
      if kp[p, 2] > 0 and kp[q, 2] > 0:
        x, y = np.round((kp[p, :2] + kp[q, :2]) / 2).astype(int)
        assert tuple(out[y, x]) == draw.track_colour(tid)
  # The hidden wrist's limb (to the left elbow) is not drawn past the elbow's disc.
  wrist = b[SK.index('left_wrist'), :2]
  elbow = b[SK.index('left_elbow'), :2]
  x, y = np.round(elbow + 0.8 * (wrist - elbow)).astype(int)
  if np.hypot(*(np.array([x, y]) - elbow)) > 3:
    assert tuple(out[y, x]) != draw.track_colour(2)
  assert out[:, :5].max() == 0 and out[75:].max() == 0   # background untouched
  assert image.max() == 0                                # input not modified
  labelled = draw.draw_poses(image, a[None], [7], SK, labels=True)
  top = int(a[:, 1].min())
  assert labelled[max(top - 15, 0):top - 3, 20:40].any()   # id label above the head


# ----------------------------------------------------------------------------------------------
# track_video with ground-truth observations


def _config(similarity='he_tie'):
  c = configs_util.load_config('default')
  c.data.skeleton = 'posetrack'
  c.track.update(dict(similarity=similarity, lambda_he=3.0, lambda_tie=1.0, new_track_cost=1.0,
                      max_missed=0, reid_window=30))
  return c


class GroundTruthInference:
  """infer_fn from known poses: two people crossing, distinct appearance, exact SIE/TIE."""

  def __init__(self, num_frames):
    self.centres = {0: [(20.0 + 10 * f, 40.0) for f in range(num_frames)],
                    1: [(80.0 - 10 * f, 44.0) for f in range(num_frames)]}
    self.appearance = {i: np.random.default_rng(i).normal(size=8) for i in (0, 1)}
    self.t = 0
    self.order = []

  def __call__(self, frame):
    t = self.t
    # Present the people in an order that changes every frame.
    ids = [0, 1] if t % 2 == 0 else [1, 0]
    obs = []
    for i in ids:
      c = np.array(self.centres[i][t])
      prev = np.array(self.centres[i][max(t - 1, 0)])
      obs.append(PoseObservation(keypoints=_standing(*c), score=0.9, he=self.appearance[i],
                                 sie=np.tile(c, (J, 1)), tie=np.tile(prev, (J, 1))))
    bwd = None
    if t > 0:
      bwd = np.stack([np.tile(np.array(self.centres[i][t]), (J, 1)) for i in self.order])
    self.order = ids
    self.t += 1
    return FrameObservations(obs, bwd)


def test_track_video_keeps_identities(tmp_path):
  n = 7
  infer = GroundTruthInference(n)
  frames = [np.zeros((90, 110, 3), np.uint8)] * n
  seen = []
  seq = online.track_video(frames, infer, _config(), name='synth',
                          on_frame=lambda i, img, fr: seen.append(i))
  assert seen == list(range(n)) and len(seq.frames) == n
  by_identity = {}
  for f, fr in enumerate(seq.frames):
    assert fr.frame_id == f and fr.image_id == f and fr.width == 110 and fr.height == 90
    for p in fr.people:
      identity = 0 if abs(p.keypoints[:, 1].mean() - 40.0) < 1 else 1   # by height
      by_identity.setdefault(identity, set()).add(p.track_id)
  assert by_identity == {0: {0}, 1: {1}}
  path = tmp_path / 'synth.json'
  online.write_sequence(seq, str(path))
  back = formats.read_posetrack18(path)
  assert [[p.track_id for p in fr.people] for fr in back.frames] == \
      [[p.track_id for p in fr.people] for fr in seq.frames]
  np.testing.assert_allclose(back.frames[3].people[0].keypoints[:, :2],
                             seq.frames[3].people[0].keypoints[:, :2], atol=1e-2)
  np.testing.assert_allclose(back.frames[3].people[0].scores, 1.0)


def _args(tmp_path, video, *flags, **kw):
  """The command's arguments (``track.build_parser``), fields in ``kw`` replaced."""
  args = track.build_parser().parse_args(
      ['--workdir', str(tmp_path / 'wd'), '--video', str(video), '--out',
       str(tmp_path / 'out'), '--frames', '--no-labels', *flags])
  for k, v in kw.items():
    setattr(args, k, v)
  return args


def test_run_writes_json_video_and_frames(tmp_path):
  frames_dir = tmp_path / 'clip'
  frames_dir.mkdir()
  for i in range(4):
    Image.fromarray(np.zeros((90, 110, 3), np.uint8)).save(frames_dir / f'{i:03d}.jpg')
  seq = track.run(_args(tmp_path, frames_dir), infer_fn=GroundTruthInference(4),
                  config=_config()).sequence
  out = tmp_path / 'out'
  assert sorted(os.listdir(out)) == ['clip.json', 'clip_frames', 'clip_tracked.mp4']
  back = formats.read_posetrack18(out / 'clip.json')
  assert len(back.frames) == 4 and back.frames[0].image_path == 'clip/000.jpg'
  rendered = np.asarray(Image.open(out / 'clip_frames' / '000002.png'))
  for p in seq.frames[2].people:
    a, b = SK.limbs[4]
    x, y = np.round((p.keypoints[a, :2] + p.keypoints[b, :2]) / 2).astype(int)
    assert tuple(rendered[y, x]) == draw.track_colour(p.track_id)
  video = list(video_io.iter_frames(video_io.open_video(out / 'clip_tracked.mp4')))
  assert len(video) == 4 and video[0].shape == (90, 110, 3)
  # The JSON, written frame by frame, has the bytes of the whole-sequence writer's; without
  # keep_frames nothing is kept in memory, and the file is the same.
  online.write_sequence(seq, str(tmp_path / 'whole.json'))
  assert (out / 'clip.json').read_bytes() == (tmp_path / 'whole.json').read_bytes()
  tracked = track.run(_args(tmp_path, frames_dir, '--overwrite', out=str(tmp_path / 'o2')),
                      infer_fn=GroundTruthInference(4), config=_config(), keep_frames=False)
  assert tracked.sequence.frames == [] and tracked.frames == 4 and tracked.track_ids == {0, 1}
  assert (tmp_path / 'o2' / 'clip.json').read_bytes() == (out / 'clip.json').read_bytes()
  assert tracked.outputs == {'json': str(tmp_path / 'o2' / 'clip.json'),
                             'video': str(tmp_path / 'o2' / 'clip_tracked.mp4'),
                             'frames': str(tmp_path / 'o2' / 'clip_frames')}


def test_cli_errors_exit_nonzero(tmp_path, capsys):
  code = track.main(['--workdir', str(tmp_path), '--video', str(tmp_path / 'nope.mp4'),
                     '--out', str(tmp_path / 'o')])
  assert code != 0
  assert 'nope.mp4: no such file' in capsys.readouterr().err
  empty = tmp_path / 'frames'
  empty.mkdir()
  assert track.main(['--workdir', str(tmp_path), '--video', str(empty), '--out',
                     str(tmp_path / 'o')]) != 0
  assert 'folder holds no image frames' in capsys.readouterr().err
  bad = tmp_path / 'clip'
  bad.mkdir()
  (bad / '0.png').write_bytes(b'garbage')
  with pytest.raises(video_io.VideoReadError, match='0.png'):
    track.run(_args(tmp_path, bad), infer_fn=GroundTruthInference(1), config=_config())
  assert not os.path.exists(tmp_path / 'out')


def test_output_to_image_inverts_the_input_transform():
  from artrack_jax import geometry
  from artrack_jax.data import augment
  h, w, size = 60, 100, 64
  xy = np.array([[0.0, 0.0], [99.0, 59.0], [37.5, 12.25]])
  inp = geometry.apply_affine(augment.frame_matrix(h, w, size), xy)
  out = geometry.input_to_output(inp, 4.0)
  to_image = geometry.output_to_image_matrix(augment.frame_matrix(h, w, size), 4.0)
  back = np.asarray(out, np.float64) @ to_image[:, :2].T + to_image[:, 2]
  np.testing.assert_allclose(back, xy, atol=1e-3)


# ----------------------------------------------------------------------------------------------
# Networks: a tiny SpatialNet + TemporalNet with fixed random weights (no training needed).

@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
  """(config file, config, spatial variables, temporal variables)."""
  path = tiny_networks.write_config(tmp_path_factory.mktemp('cfg') / 'tiny.py')
  config = configs_util.load_config(path)
  spatial, temporal = tiny_networks.random_variables(config)
  return path, config, spatial, temporal


def test_network_inference_observations(tiny):
  _, config, spatial, temporal = tiny
  infer = inference.FramePredictor(inference.Networks(config, spatial, temporal), config).observe
  rng = np.random.default_rng(1)
  previous = None
  for t in range(3):
    result = infer(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8))
    obs = result.observations
    assert 1 <= len(obs) <= config.decode.max_people
    for o in obs:
      assert o.keypoints.shape == (J, 3) and o.sie.shape == (J, 2) and o.tag.shape == (2,)
      assert o.he.shape == (config.model.he_dim,)
      assert np.linalg.norm(o.he) == pytest.approx(1.0, abs=1e-4)
      found = o.keypoints[:, 2] > 0
      # Output pixels cover the letterboxed frame: found joints fall inside it (60 x 40).
      assert (o.keypoints[found, 0] > -2).all() and (o.keypoints[found, 0] < 62).all()
      if t == 0:
        assert o.tie is None
      else:
        assert o.tie.shape == (J, 2)
    if t == 0:
      assert result.tie_backward is None
    else:
      assert result.tie_backward.shape == (len(previous), J, 2)
    previous = obs
  # Two identical scales average to the single-scale heatmaps and SIE: the same poses when
  # grouping by SIE (the concatenated tags are twice as long, which changes KE distances).
  frame = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
  model = inference.Networks(config, spatial, temporal)
  single = inference.FramePredictor(model, dict_config(config, decode=dict(use_ke=False))
                                    ).observe(frame).observations
  twice = inference.FramePredictor(
      model, dict_config(config, decode=dict(scales=(1.0, 1.0), use_ke=False))
      ).observe(frame).observations
  assert len(single) == len(twice)
  for a, b in zip(single, twice):
    np.testing.assert_allclose(a.keypoints, b.keypoints, atol=1e-5)
    assert b.tag.shape == (4,)
  with pytest.raises(ValueError, match='scales'):
    inference.FramePredictor(model, dict_config(config, decode=dict(scales=(0.5,))))


def test_cli_end_to_end_from_checkpoint(tiny, tmp_path, capsys):
  config_path, config, spatial, temporal = tiny
  tiny_networks.save_checkpoint(tmp_path / 'temporal', config, temporal, spatial)
  tiny_networks.save_checkpoint(tmp_path / 'spatial', config, spatial, {})
  video = tmp_path / 'walk.mp4'
  video_io.write_video(video, _pattern_frames(3, 40, 60), fps=10)
  # The workdir's config.json (as train_and_evaluate writes it) is the default config.
  (tmp_path / 'temporal' / 'config.json').write_text(config.to_json_best_effort())
  out = tmp_path / 'out'
  code = track.main(['--checkpoint', str(tmp_path / 'temporal' / 'checkpoints' / '3'),
                     '--video', str(video), '--out', str(out)])
  assert code == 0, capsys.readouterr().err
  seq = formats.read_posetrack18(out / 'walk.json')
  assert len(seq.frames) == 3 and all(fr.people for fr in seq.frames)
  assert len(list(video_io.iter_frames(video_io.open_video(out / 'walk_tracked.mp4')))) == 3
  # A SpatialNet-only checkpoint cannot give HE/TIE: a clear error before any work.
  code = track.main(['--workdir', str(tmp_path / 'spatial'), '--video', str(video), '--out',
                     str(tmp_path / 'o2'), '--config', config_path])
  assert code != 0 and 'needs TemporalNet' in capsys.readouterr().err
  # ... and it does load for a baseline similarity.
  infer = track.load_predictor(str(tmp_path / 'spatial'),
                               dict_config(config, similarity='oks'))
  assert not infer.has_temporal
  other = config.copy_and_resolve_references()
  other.model.he_dim = 4
  with pytest.raises(ValueError, match='temporal.*TemporalNet.*shape'):
    track.load_predictor(str(tmp_path / 'temporal'), other)
  code = track.main(['--workdir', str(tmp_path / 'nowhere'), '--video', str(video), '--out',
                     str(tmp_path / 'o4'), '--config', config_path])
  assert code != 0 and 'nowhere' in capsys.readouterr().err


def dict_config(config, decode=None, **track_overrides):
  """A copy of ``config`` with ``track`` (and ``decode``) fields overridden."""
  c = config.copy_and_resolve_references()
  c.track.update(track_overrides)
  c.decode.update(decode or {})
  return c


def test_exported_model_tracks_like_its_checkpoint_and_is_the_default(tiny, tmp_path, capsys,
                                                                      monkeypatch):
  _, config, spatial, temporal = tiny
  tiny_networks.save_checkpoint(tmp_path / 'temporal', config, temporal, spatial)
  (tmp_path / 'temporal' / 'config.json').write_text(config.to_json_best_effort())
  exported = tmp_path / 'exported'
  eval_dir = tmp_path / 'eval'
  eval_dir.mkdir()
  (eval_dir / 'posetrack_mota_he_tie_pgg.json').write_text('{"mota": {"Total": 41.5}}')
  record = reference.export(str(tmp_path / 'temporal'), str(exported), command='tiny test',
                            eval_dir=str(eval_dir))
  assert record['metrics']['posetrack_mota'] == {'he_tie_pgg': 41.5}
  assert record['bytes'] < reference.MAX_BYTES and 'synthetic' in record['trained_on']
  assert reference.provenance(str(exported))['command'] == 'tiny test'
  with pytest.raises(FileExistsError, match='--overwrite'):
    reference.export(str(tmp_path / 'temporal'), str(exported), command='again')
  video = tmp_path / 'walk.mp4'
  video_io.write_video(video, _pattern_frames(3, 40, 60), fps=10)
  runs = {}
  for name, workdir in (('checkpoint', tmp_path / 'temporal'), ('exported', exported)):
    assert track.main(['--workdir', str(workdir), '--video', str(video), '--out',
                       str(tmp_path / name), '--no-video']) == 0, capsys.readouterr().err
    runs[name] = formats.read_posetrack18(tmp_path / name / 'walk.json')
  for a, b in zip(runs['checkpoint'].frames, runs['exported'].frames):
    assert [p.track_id for p in a.people] == [p.track_id for p in b.people]
    for p, q in zip(a.people, b.people):
      np.testing.assert_allclose(p.keypoints, q.keypoints, atol=1e-3)
  # The tables take the exported workdir as both networks' workdir.
  assert tables.load_networks(config, str(exported), str(exported)).has_temporal
  # Without --workdir the installed reference model is used.
  monkeypatch.setattr(reference, 'REFERENCE_DIR', str(exported))
  assert track.main(['--video', str(video), '--out', str(tmp_path / 'default'),
                     '--no-video']) == 0
  monkeypatch.setattr(reference, 'REFERENCE_DIR', str(tmp_path / 'none'))
  assert track.main(['--video', str(video), '--out', str(tmp_path / 'o5'), '--no-video']) == 2
  assert 'no reference model' in capsys.readouterr().err


# ----------------------------------------------------------------------------------------------
# Never a broken file: temporary names renamed at the end, refusals before the model loads.


def _frame_folder(path, n, h=90, w=110, sizes=None):
  path.mkdir()
  for i in range(n):
    hw = (sizes or {}).get(i, (h, w))
    Image.fromarray(np.full(hw + (3,), 10 * i, np.uint8)).save(path / f'{i:03d}.jpg')
  return path


def _listing(directory):
  """Every file and folder under ``directory`` (relative), hidden ones included."""
  return sorted(os.path.relpath(os.path.join(r, n), directory)
                for r, ds, fs in os.walk(directory) for n in ds + fs)


class _FailingInference(GroundTruthInference):
  def __init__(self, num_frames, fail_at):
    super().__init__(num_frames)
    self.fail_at = fail_at

  def __call__(self, frame):
    if self.t == self.fail_at:
      raise RuntimeError('network failed')
    return super().__call__(frame)


def test_existing_outputs_are_kept_unless_overwrite(tmp_path, capsys):
  clip = _frame_folder(tmp_path / 'clip', 3)
  track.run(_args(tmp_path, clip), infer_fn=GroundTruthInference(3), config=_config())
  out = tmp_path / 'out'
  before = {p: (out / p).stat().st_mtime_ns for p in _listing(out)}
  (out / 'clip.json').write_text('{"mine": 1}')
  with pytest.raises(FileExistsError, match=r'clip\.json.*already there.*--overwrite'):
    track.run(_args(tmp_path, clip), infer_fn=GroundTruthInference(3), config=_config())
  assert (out / 'clip.json').read_text() == '{"mine": 1}' and _listing(out) == sorted(before)
  # The refusal comes before the model loads: a workdir that does not exist is not reached.
  code = track.main(['--workdir', str(tmp_path / 'nowhere'), '--video', str(clip), '--out',
                     str(out), '--no-video'])
  err = capsys.readouterr().err
  assert code == 2 and 'already there' in err and 'nowhere' not in err
  assert 'Traceback' not in err
  # --overwrite replaces all three, the frames folder included (its stale file goes).
  (out / 'clip_frames' / 'stale.png').write_bytes(b'old')
  track.run(_args(tmp_path, clip, '--overwrite'), infer_fn=GroundTruthInference(3),
            config=_config())
  assert _listing(out) == sorted(before)
  assert len(formats.read_posetrack18(out / 'clip.json').frames) == 3


def test_out_naming_a_file_is_a_clean_error(tmp_path, capsys):
  clip = _frame_folder(tmp_path / 'clip', 1)
  target = tmp_path / 'result.json'
  target.write_text('keep me')
  code = track.main(['--workdir', str(tmp_path / 'nowhere'), '--video', str(clip), '--out',
                     str(target)])
  err = capsys.readouterr().err
  assert code == 2 and f'--out {target}: a file, not a folder' in err
  assert 'Traceback' not in err and target.read_text() == 'keep me'
  assert _listing(tmp_path) == ['clip', 'clip/000.jpg', 'result.json']


def test_a_failure_mid_video_leaves_nothing(tmp_path):
  clip = _frame_folder(tmp_path / 'clip', 5)
  with pytest.raises(RuntimeError, match='network failed'):
    track.run(_args(tmp_path, clip), infer_fn=_FailingInference(5, fail_at=3),
              config=_config())
  assert not os.path.exists(tmp_path / 'out')     # the folder it made is removed too
  # In an existing folder, what was there stays and nothing is added.
  (tmp_path / 'out').mkdir()
  (tmp_path / 'out' / 'other.txt').write_text('x')
  with pytest.raises(RuntimeError):
    track.run(_args(tmp_path, clip), infer_fn=_FailingInference(5, fail_at=3),
              config=_config())
  assert _listing(tmp_path / 'out') == ['other.txt']


def test_bad_frames_stop_cleanly_or_are_skipped_and_counted(tmp_path, monkeypatch, capsys):
  clip = _frame_folder(tmp_path / 'clip', 7, sizes={4: (60, 80)})
  (clip / '002.jpg').write_bytes(b'\xff\xd8\xff\xe0 not really a jpeg')
  with pytest.raises(video_io.VideoReadError, match=r'002\.jpg: unreadable image.*'
                     r'--skip-bad-frames'):
    track.run(_args(tmp_path, clip), infer_fn=GroundTruthInference(7), config=_config())
  assert not os.path.exists(tmp_path / 'out')
  # Without the corrupt file the odd-sized frame stops the run, naming its size.
  good = tmp_path / 'sizes'
  _frame_folder(good, 6, sizes={4: (60, 80)})
  with pytest.raises(video_io.VideoReadError, match=r'004\.jpg: frame size 80x60, the first '
                     r'frame is 110x90'):
    track.run(_args(tmp_path, good), infer_fn=GroundTruthInference(6), config=_config())
  assert not os.path.exists(tmp_path / 'out')
  # --skip-bad-frames: both skipped and counted; the rest tracked and rendered.
  report = video_io.ReadReport()
  seq = track.run(_args(tmp_path, clip, '--skip-bad-frames'), infer_fn=GroundTruthInference(5),
                  config=_config(), report=report).sequence
  assert [f.frame_id for f in seq.frames] == [0, 1, 3, 5, 6]
  assert [f.image_path for f in seq.frames][2] == 'clip/003.jpg'
  assert [i for i, _ in report.skipped] == [2, 4] and report.frames == 5
  assert report.summary() == '2 bad frames skipped (2, 4)'
  out = tmp_path / 'out'
  assert [(f.image_id, f.image_path) for f in formats.read_posetrack18(out / 'clip.json').frames
          ] == [(i, f'clip/{i:03d}.jpg') for i in (0, 1, 3, 5, 6)]
  assert len(list(video_io.iter_frames(video_io.open_video(out / 'clip_tracked.mp4')))) == 5
  assert sorted(os.listdir(out / 'clip_frames')) == [f'{i:06d}.png' for i in (0, 1, 3, 5, 6)]
  # The command's summary line carries the count.
  monkeypatch.setattr(track, '_load_infer_fn',
                      lambda args, config: (GroundTruthInference(5), _config()))
  assert track.main(['--video', str(clip), '--out', str(tmp_path / 'o2'), '--no-video',
                     '--skip-bad-frames']) == 0
  assert '5 frames, 2 tracks' in capsys.readouterr().out.splitlines()[-1]


def test_start_end_every_select_frames(tmp_path):
  clip = _frame_folder(tmp_path / 'clip', 9)
  seq = track.run(_args(tmp_path, clip, '--start', '1', '--end', '8', '--every', '3'),
                  infer_fn=GroundTruthInference(3), config=_config()).sequence
  assert [(f.frame_id, f.image_path) for f in seq.frames] == \
      [(1, 'clip/001.jpg'), (4, 'clip/004.jpg'), (7, 'clip/007.jpg')]
  assert sorted(os.listdir(tmp_path / 'out' / 'clip_frames')) == \
      ['000001.png', '000004.png', '000007.png']
  # A video file gives the same frames as reading all and slicing.
  video = tmp_path / 'v.mp4'
  video_io.write_video(video, _pattern_frames(10), fps=10)
  source = video_io.open_video(video)
  every = list(video_io.iter_frames(source))
  picked = list(video_io.read_frames(source, start=2, end=9, every=3))
  assert [i for i, _ in picked] == [2, 5, 8]
  for i, frame in picked:
    np.testing.assert_array_equal(frame, every[i])
  assert [i for i, _ in video_io.read_frames(source, start=7)] == [7, 8, 9]
  assert video_io.selected_count(10, 2, 9, 3) == 3 and video_io.selected_count(None) is None
  with pytest.raises(video_io.VideoReadError, match='no frame to track'):
    list(video_io.read_frames(source, start=20))
  for bad, message in (((-1, None, 1), 'start = -1'), ((3, 3, 1), 'end = 3 must be after'),
                       ((0, None, 0), 'every = 0')):
    with pytest.raises(ValueError, match=message):
      list(video_io.read_frames(source, start=bad[0], end=bad[1], every=bad[2]))


def _damaged_avi(path, n=30, flips=20):
  """An MPEG-4 Part 2 AVI (the codec of OpenCV's ``Megamind_bugy.avi``) with bytes overwritten
  in its second two thirds: FFmpeg rejects some packets and conceals errors in some frames."""
  video_io.write_video(path, _pattern_frames(n), fps=10, codec='mpeg4')
  data = bytearray(path.read_bytes())
  rng = np.random.default_rng(0)
  for _ in range(flips):
    i = int(rng.integers(len(data) // 3, len(data) - 200))
    data[i:i + 8] = bytes(rng.integers(0, 256, 8).tolist())
  path.write_bytes(bytes(data))
  return path


def test_damaged_video_frames_are_counted(tmp_path, monkeypatch, capsys):
  clean = tmp_path / 'clean.avi'
  video_io.write_video(clean, _pattern_frames(30), fps=10, codec='mpeg4')
  report = video_io.ReadReport()
  assert len(list(video_io.read_frames(video_io.open_video(clean), report=report))) == 30
  assert report.summary() == '' and not report.damaged and not report.rejected_packets
  video = _damaged_avi(tmp_path / 'bugy.avi')
  report = video_io.ReadReport()
  frames = list(video_io.read_frames(video_io.open_video(video), report=report))
  assert report.damaged and report.rejected_packets      # both kinds occur in this file
  assert set(report.damaged) <= {i for i, _ in frames} and report.frames == len(frames)
  assert f'{len(report.damaged)} frames damaged in the file, concealed by FFmpeg' in \
      report.summary()
  monkeypatch.setattr(track, '_load_infer_fn',
                      lambda args, config: (GroundTruthInference(len(frames)), _config()))
  assert track.main(['--video', str(video), '--out', str(tmp_path / 'o'), '--no-video']) == 0
  line = capsys.readouterr().out.splitlines()[-1]
  assert f'{len(frames)} frames' in line and 'damaged in the file' in line
  assert f'{report.rejected_packets} packets rejected by the decoder' in line


_KILL_SCRIPT = '''
import os, signal, sys
sys.path.insert(0, {tests!r})
import test_track_cli as t
from artrack_jax import track

class Killed(t.GroundTruthInference):
  def __call__(self, frame):
    if self.t == 4:
      os.kill(os.getpid(), signal.SIGKILL)
    return super().__call__(frame)

args = track.build_parser().parse_args(['--video', {video!r}, '--out', {out!r}, '--frames'])
track.run(args, infer_fn=Killed(8), config=t._config())
'''


def test_kill_9_mid_video_leaves_no_file_under_an_output_name(tmp_path, caplog):
  import subprocess
  import sys
  clip = _frame_folder(tmp_path / 'clip', 8)
  out = tmp_path / 'out'
  script = _KILL_SCRIPT.format(tests=os.path.dirname(__file__), video=str(clip), out=str(out))
  proc = subprocess.run([sys.executable, '-c', script], capture_output=True, timeout=120)
  assert proc.returncode == -9, proc.stderr.decode()[-2000:]
  names = os.listdir(out)
  assert names and all(n.startswith('.clip') and '.partial-' in n for n in names), names
  assert not {'clip.json', 'clip_tracked.mp4', 'clip_frames'} & set(names)
  # The next run says what the killed one left, and completes.
  with caplog.at_level(logging.WARNING, logger=track.__name__):
    track.run(_args(tmp_path, clip, out=str(out)), infer_fn=GroundTruthInference(8),
              config=_config())
  assert f'{len(names)} temporary outputs of an interrupted run' in caplog.text
  assert all(n in caplog.text for n in names)
  assert sorted(os.listdir(out)) == sorted(names + ['clip.json', 'clip_tracked.mp4',
                                                    'clip_frames'])


def test_checkpoint_problems_name_the_file_and_what_to_do(tiny, tmp_path, capsys):
  import shutil
  config_path, config, spatial, temporal = tiny
  workdir = tmp_path / 'wd'
  tiny_networks.save_checkpoint(workdir, config, temporal, spatial)
  clip = _frame_folder(tmp_path / 'clip', 1, 40, 60)
  state = workdir / 'checkpoints' / '3' / 'state'

  def attempt(name):
    broken = tmp_path / name
    shutil.copytree(workdir, broken)
    yield broken / 'checkpoints' / '3' / 'state'
    code = track.main(['--workdir', str(broken), '--video', str(clip), '--out',
                       str(tmp_path / f'out_{name}'), '--config', config_path, '--no-video'])
    err = capsys.readouterr().err
    assert code == 2 and 'Traceback' not in err.split('error:')[-1]
    assert not os.path.exists(tmp_path / f'out_{name}')
    yield err.split('error: ')[-1]

  runs = {}
  for name, damage in (
      ('no_metadata', lambda s: os.unlink(s / '_METADATA')),
      ('bad_metadata', lambda s: (s / '_METADATA').write_text('{garbage')),
      ('no_manifest', lambda s: os.unlink(s / 'manifest.ocdbt')),
      ('truncated', lambda s: [open(p, 'r+b').truncate(10)
                               for p in (s / 'ocdbt.process_0' / 'd').iterdir()])):
    it = attempt(name)
    damage(next(it))
    runs[name] = next(it)
  assert 'no_metadata/checkpoints/3/state/_METADATA is missing' in runs['no_metadata']
  assert 'bad_metadata/checkpoints/3/state/_METADATA is not valid JSON' in runs['bad_metadata']
  assert 'no_manifest/checkpoints/3/state/manifest.ocdbt is missing' in runs['no_manifest']
  assert 'truncated/checkpoints/3: damaged checkpoint: array data under' in runs['truncated']
  assert 'Error reading' in runs['truncated']
  for err in runs.values():
    assert 'restore it from a copy' in err
  assert state.is_dir()
  # A step that is not there.
  assert track.main(['--checkpoint', str(workdir / 'checkpoints' / '99'), '--video', str(clip),
                     '--out', str(tmp_path / 'o'), '--config', config_path]) == 2
  assert 'checkpoints/99: no such checkpoint (steps there: 3)' in capsys.readouterr().err
  # No checkpoint folder at all; an exported workdir with an unreadable variables file.
  assert track.main(['--workdir', str(tmp_path / 'clip'), '--video', str(clip), '--out',
                     str(tmp_path / 'o'), '--config', config_path]) == 2
  assert 'no checkpoints/ directory and no variables.msgpack' in capsys.readouterr().err
  exported = tmp_path / 'exported'
  exported.mkdir()
  (exported / 'variables.msgpack').write_bytes(b'\x00\x01 not msgpack')
  assert track.main(['--workdir', str(exported), '--video', str(clip), '--out',
                     str(tmp_path / 'o'), '--config', config_path]) == 2
  assert 'variables.msgpack: unreadable exported variables' in capsys.readouterr().err
