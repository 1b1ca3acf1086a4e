"""Tests for export.py and exported.py: jax.export functions against the in-process networks,
and ``track --exported`` against the in-process model on a tiny clip."""
import importlib.util
import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from artrack_jax import configs_util, export, exported, inference, track, video_io
from artrack_jax.data import formats

import tiny_networks


def _clip(n=4, h=40, w=60):
  yy, xx = np.mgrid[0:h, 0:w]
  return [np.stack([(xx * 3 + 10 * i) % 256, (yy * 4) % 256, np.full_like(xx, 40 * i % 256)],
                   -1).astype(np.uint8) for i in range(n)]


@pytest.fixture(scope='module')
def model(tmp_path_factory):
  """(config file, config, in-process Networks, checkpoint workdir, export dir by the CLI)."""
  root = tmp_path_factory.mktemp('export')
  config_path = tiny_networks.write_config(root / 'tiny.py')
  config = configs_util.load_config(config_path)
  spatial, temporal = tiny_networks.random_variables(config)
  workdir = root / 'temporal'
  tiny_networks.save_checkpoint(workdir, config, temporal, spatial)
  (workdir / 'config.json').write_text(config.to_json_best_effort())
  out = root / 'exported'
  assert export.main(['--workdir', str(workdir), '--out', str(out)]) == 0
  networks = inference.Networks(config, jax.device_put(spatial), jax.device_put(temporal))
  return config_path, config, networks, workdir, out


def test_manifest_describes_the_export(model):
  _, config, _, _, out = model
  manifest = json.loads((out / 'manifest.json').read_text())
  assert manifest['failed'] == {}
  # Lowered for CPU and CUDA (no GPU needed to lower; these tests run them on the CPU).
  assert manifest['platforms'] == ['cpu', 'cuda']
  assert all(f['platforms'] == ['cpu', 'cuda'] for f in manifest['functions'].values())
  assert set(manifest['functions']) == {'spatial', 'pgg_ke_sie', 'pgg_tie', 'human_embedding',
                                        'temporal'}
  spatial = manifest['functions']['spatial']
  assert spatial['sizes'] == [] and spatial['inputs'][-1] == 'float32[b,8*h,8*w,3]'
  # Every function has symbolic sizes, PGG included (its slot selection never compares the
  # symbolic map size with a constant).
  sizes = {name: entry['sizes'] for name, entry in manifest['functions'].items()}
  assert sizes == {'spatial': [], 'pgg_ke_sie': [], 'pgg_tie': [], 'human_embedding': [],
                   'temporal': []}
  assert manifest['functions']['temporal']['inputs'][-1] == 'float32[b,2*h,2*w,2]'
  assert manifest['functions']['pgg_tie']['inputs'][0] == 'float32[b,2*h,2*w,2]'
  assert not any('symbolic_size_error' in f for f in manifest['functions'].values())
  assert manifest['input']['image_size'] == 32 and manifest['input']['flip_test']
  np.testing.assert_allclose(manifest['input']['normalisation']['mean'],
                             [123.675, 116.28, 103.53], atol=1e-3)
  assert manifest['skeleton']['name'] == 'posetrack' and len(manifest['skeleton']['joints']) == 15
  # The manifest is JSON: tuples of the config (track.min_joint_scores) come back as lists.
  assert manifest['decode']['max_people'] == 3
  assert manifest['track'] == json.loads(json.dumps(config.track.to_dict()))
  assert manifest['versions']['jax'] == jax.__version__
  assert sorted(os.listdir(out)) == ['config.json', 'functions', 'manifest.json',
                                     'variables.msgpack']
  assert not [n for n in os.listdir(out.parent) if '.partial-' in n]


def test_exported_functions_match_the_networks(model):
  _, config, networks, _, out = model
  loaded = exported.ExportedNetworks(str(out))
  assert loaded.has_temporal and loaded.step == 3
  rng = np.random.default_rng(0)
  close = lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5,
                                                  rtol=1e-5)
  maps = {}
  for batch, size in ((2, 32), (1, 48)):   # the flip batch; one image at another scale
    images = rng.normal(size=(batch, size, size, 3)).astype(np.float32)
    ours, theirs = loaded.spatial_infer(images), networks.spatial_infer(images)
    assert set(ours) == set(theirs)
    for k in ours:
      close(ours[k], theirs[k])
    maps.setdefault(size, theirs)   # the batch of 2 at 32
  close(loaded.pgg_refine(maps[32], (True, True))[0], networks.pgg_refine(maps[32],
                                                                          (True, True))[0])
  close(loaded.pgg_refine(maps[32], (True, True))[1], networks.pgg_refine(maps[32],
                                                                          (True, True))[1])
  with pytest.raises(ValueError, match="no exported 'pgg_ke'"):
    loaded.pgg_refine(maps[32], (True, False))
  tie = maps[32]['sie']
  close(loaded.pgg_refine_tie(tie, maps[32]['heatmaps']),
        networks.pgg_refine_tie(tie, maps[32]['heatmaps']))
  # HE and TIE at the shapes FramePredictor uses (one frame, max_people poses): the compiled
  # in-process functions serve the tracking test below.
  keypoints = rng.uniform(0, 8, (1, 3, 15, 3)).astype(np.float32)
  valid = keypoints[..., 2] > 2
  features = maps[32]['features'][:1]
  close(loaded.human_embedding(features, keypoints, valid),
        networks.human_embedding(features, keypoints, valid))
  prev = {k: v[:1] for k, v in maps[32].items()}
  curr = {k: v[1:] for k, v in maps[32].items()}
  ours, theirs = loaded.temporal_infer(prev, curr), networks.temporal_infer(prev, curr)
  for k in theirs:
    close(ours[k], theirs[k])
  close(loaded.temporal_infer(maps[48], maps[48])['tie_fwd'],
        networks.temporal_infer(maps[48], maps[48])['tie_fwd'])
  # PGG at a map size the export never saw (12 x 12 at the 48-px input).
  close(loaded.pgg_refine_tie(maps[48]['sie'], maps[48]['heatmaps']),
        networks.pgg_refine_tie(maps[48]['sie'], maps[48]['heatmaps']))
  close(loaded.pgg_refine(maps[48], (True, True))[0], networks.pgg_refine(maps[48],
                                                                          (True, True))[0])


def test_exporter_falls_back_to_listed_sizes():
  # A function that branches on its input side cannot be exported with a symbolic side: it is
  # exported once per listed size, with the reason recorded.
  def fn(x):
    return x * 2.0 if x.shape[1] < 10 else x

  ex = export._Exporter(('cpu',))
  ex.add('f', fn, lambda b, h, w: (jax.ShapeDtypeStruct((b, h, w), jnp.float32),), [8, 16], 1)
  assert ex.functions['f']['sizes'] == [8, 16] and ex.failed == {}
  assert 'inconclusive' in ex.functions['f']['symbolic_size_error']
  assert sorted(ex.files) == sorted(exported.function_file('f', s) for s in (8, 16))
  small = jax.export.deserialize(ex.files[exported.function_file('f', 8)])
  np.testing.assert_allclose(small.call(np.ones((3, 8, 8), np.float32)), 2.0)


def test_track_exported_gives_the_same_posetrack_json(model, tmp_path, capsys):
  _, config, networks, _, out = model
  video = tmp_path / 'walk.mp4'
  video_io.write_video(video, _clip(), fps=10)
  # In process: the networks the export was made of (the checkpoint's variables).
  args = track.build_parser().parse_args(['--video', str(video), '--out',
                                          str(tmp_path / 'checkpoint'), '--no-video'])
  track.run(args, infer_fn=inference.FramePredictor(networks, config).observe,
            config=config.copy_and_resolve_references())
  assert track.main(['--exported', str(out), '--video', str(video), '--out',
                     str(tmp_path / 'exported'), '--no-video']) == 0, capsys.readouterr().err
  runs = {name: formats.read_posetrack18(tmp_path / name / 'walk.json')
          for name in ('checkpoint', 'exported')}
  assert len(runs['exported'].frames) == 4
  assert sum(len(f.people) for f in runs['exported'].frames) > 0
  for a, b in zip(runs['checkpoint'].frames, runs['exported'].frames):
    assert [p.track_id for p in a.people] == [p.track_id for p in b.people]
    for p, q in zip(a.people, b.people):
      np.testing.assert_allclose(p.keypoints, q.keypoints, atol=1e-3)
      np.testing.assert_allclose(p.scores, q.scores, atol=1e-4)


def test_export_refuses_to_replace_and_unreadable_exports_name_the_file(model, tmp_path,
                                                                         capsys):
  _, _, _, workdir, out = model
  before = sorted(os.listdir(out))
  assert export.main(['--workdir', str(workdir), '--out', str(out)]) == 2
  assert 'already there (--overwrite replaces it)' in capsys.readouterr().err
  assert sorted(os.listdir(out)) == before
  assert export.main(['--workdir', str(tmp_path / 'nowhere'), '--out',
                      str(tmp_path / 'e')]) == 2
  assert 'nowhere' in capsys.readouterr().err and not os.path.exists(tmp_path / 'e')
  broken = tmp_path / 'broken'
  import shutil
  shutil.copytree(out, broken)
  (broken / 'functions' / 'spatial.jax').write_bytes(b'not a flatbuffer')
  with pytest.raises(exported.ExportError, match=r'functions/spatial\.jax: unreadable '
                     'exported function.*export the model again'):
    exported.ExportedNetworks(str(broken))
  video = tmp_path / 'v'
  video.mkdir()
  video_io.save_image(video / '0.png', _clip(1)[0])
  (broken / 'manifest.json').unlink()
  assert track.main(['--exported', str(broken), '--video', str(video), '--out',
                     str(tmp_path / 'o')]) == 2
  assert 'broken: no manifest.json' in capsys.readouterr().err
  assert not os.path.exists(tmp_path / 'o')


@pytest.mark.skipif(all(importlib.util.find_spec(m) for m in ('jax2onnx', 'onnxruntime')),
                    reason='the ONNX packages are installed (tests/test_export_onnx.py)')
def test_onnx_without_its_packages_is_a_clean_error(model, tmp_path, capsys):
  _, _, _, workdir, _ = model
  assert export.main(['--workdir', str(workdir), '--out', str(tmp_path / 'e'), '--onnx']) == 2
  assert '--onnx needs the optional packages jax2onnx and onnxruntime' in \
      capsys.readouterr().err
  assert not os.path.exists(tmp_path / 'e')
