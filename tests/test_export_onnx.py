"""ONNX back end (optional: jax2onnx and onnxruntime): ``export --onnx`` and ``track --exported
DIR --onnx`` against the in-process networks on the tiny random-weight model."""
import json
import os

import jax
import numpy as np
import pytest

jax2onnx = pytest.importorskip('jax2onnx')
onnxruntime = pytest.importorskip('onnxruntime')

from artrack_jax import (  # pylint: disable=wrong-import-position
    configs_util, export, exported, inference, track, video_io)
from artrack_jax.data import formats  # pylint: disable=wrong-import-position

import tiny_networks  # pylint: disable=wrong-import-position


@pytest.fixture(scope='module')
def model(tmp_path_factory):
  """(config, in-process Networks, export dir with ONNX, the CLI's stdout)."""
  root = tmp_path_factory.mktemp('onnx')
  config = configs_util.load_config(tiny_networks.write_config(root / 'tiny.py'))
  spatial, temporal = tiny_networks.random_variables(config)
  workdir = root / 'temporal'
  tiny_networks.save_checkpoint(workdir, config, temporal, spatial)
  (workdir / 'config.json').write_text(config.to_json_best_effort())
  out = root / 'exported'
  assert export.main(['--workdir', str(workdir), '--out', str(out), '--onnx']) == 0
  networks = inference.Networks(config, jax.device_put(spatial), jax.device_put(temporal))
  return config, networks, out


def test_onnx_functions_match_jax(model):
  config, networks, out = model
  manifest = json.loads((out / 'manifest.json').read_text())
  converted = manifest['onnx']
  assert {'spatial', 'human_embedding', 'temporal'} <= set(converted)
  for name, entry in converted.items():
    assert entry['max_abs_diff'] <= export.ONNX_TOLERANCE
    for size in entry['sizes']:
      assert os.path.isfile(out / exported.onnx_file(name, size))
  # What did not convert is named with the converter's error, and has no ONNX file.
  for name, error in manifest.get('onnx_failed', {}).items():
    assert error and name not in converted
    assert not os.path.exists(out / exported.onnx_file(name, 32))
  loaded = exported.OnnxNetworks(str(out))
  assert set(loaded.onnx_functions) == set(converted)
  rng = np.random.default_rng(3)
  images = rng.normal(size=(2, 32, 32, 3)).astype(np.float32)
  ours, theirs = loaded.spatial_infer(images), networks.spatial_infer(images)
  assert isinstance(ours['heatmaps'], np.ndarray)   # from ONNX Runtime, not a jax.Array
  for k in theirs:
    np.testing.assert_allclose(ours[k], np.asarray(theirs[k]), atol=1e-4)
  prev = {k: v[:1] for k, v in theirs.items()}
  curr = {k: v[1:] for k, v in theirs.items()}
  ours_t, theirs_t = loaded.temporal_infer(prev, curr), networks.temporal_infer(prev, curr)
  for k in theirs_t:
    np.testing.assert_allclose(ours_t[k], np.asarray(theirs_t[k]), atol=1e-4)
  # PGG runs from ONNX where it converted, else from its jax.export file: same maps.
  ke, sie = loaded.pgg_refine(theirs, (True, True))
  ke_ref, sie_ref = networks.pgg_refine(theirs, (True, True))
  np.testing.assert_allclose(np.asarray(ke), np.asarray(ke_ref), atol=1e-4)
  np.testing.assert_allclose(np.asarray(sie), np.asarray(sie_ref), atol=1e-4)


def test_track_onnx_gives_the_same_posetrack_json(model, tmp_path, capsys):
  config, networks, out = model
  yy, xx = np.mgrid[0:40, 0:60]
  frames = [np.stack([(xx * 3 + 10 * i) % 256, (yy * 4) % 256, np.full_like(xx, 40 * i)], -1
                     ).astype(np.uint8) for i in range(4)]
  video = tmp_path / 'walk.mp4'
  video_io.write_video(video, frames, fps=10)
  args = track.build_parser().parse_args(['--video', str(video), '--out', str(tmp_path / 'jax'),
                                          '--no-video'])
  track.run(args, infer_fn=inference.FramePredictor(networks, config).observe,
            config=config.copy_and_resolve_references())
  assert track.main(['--exported', str(out), '--onnx', '--video', str(video), '--out',
                     str(tmp_path / 'onnx'), '--no-video']) == 0, capsys.readouterr().err
  a, b = (formats.read_posetrack18(tmp_path / n / 'walk.json') for n in ('jax', 'onnx'))
  assert sum(len(f.people) for f in b.frames) > 0
  for fa, fb in zip(a.frames, b.frames):
    assert [p.track_id for p in fa.people] == [p.track_id for p in fb.people]
    for p, q in zip(fa.people, fb.people):
      np.testing.assert_allclose(p.keypoints, q.keypoints, atol=1e-3)
  # --onnx without --exported, or on an export made without --onnx: clean errors.
  assert track.main(['--onnx', '--video', str(video), '--out', str(tmp_path / 'x')]) == 2
  assert '--onnx runs an export directory' in capsys.readouterr().err
  import shutil
  plain = tmp_path / 'plain'
  shutil.copytree(out, plain)
  manifest = json.loads((plain / 'manifest.json').read_text())
  del manifest['onnx']
  (plain / 'manifest.json').write_text(json.dumps(manifest))
  assert track.main(['--exported', str(plain), '--onnx', '--video', str(video), '--out',
                     str(tmp_path / 'y')]) == 2
  assert 'exported without ONNX (python -m artrack_jax.export --onnx)' in \
      capsys.readouterr().err
  assert not os.path.exists(tmp_path / 'y')
