"""Writes colab/quickstart.ipynb and colab/real_data.ipynb, and executes the quick start.

  python colab/build_notebooks.py            # rewrite both notebooks (outputs stripped)
  python colab/build_notebooks.py --execute  # the same, then run the quick start at TINY size
                                             # on the CPU and save it with its outputs
  python colab/build_notebooks.py --check    # exit 1 when a committed notebook's sources are
                                             # out of date (saved outputs are allowed)

The notebooks only call the package (`artrack_jax`, its configs included); each opens with
an Open-in-Colab badge, a cell that clones and installs the repository when the notebook does
not run inside a clone, and a cell that warns when JAX finds no accelerator;
tests/test_notebooks.py runs the quick start at tiny size and checks the real-data notebook's
references.

`--execute` runs the quick start with nbclient (`pip install -e ".[test]"`) in a fresh kernel,
with `ARTRACK_NOTEBOOK_TINY=1` and `JAX_PLATFORMS=cpu`, in the notebook's default workdir
(/tmp/artrack_quickstart_notebook, which must not exist yet; `--workdir` picks another, shown
as `<workdir>` in the outputs). Before saving, paths of this machine in the outputs (the
checkout, the Python installation, the home folder, the kernel's temporary files) are replaced
by placeholders (`<repo>`, `<python>`, `<home>`, `<ipykernel>`), and the save is refused when
one is left, or when an output holds a token or the value of a secret-looking environment
variable; streams are joined and the PNG figures re-encoded (losslessly, or as 256 colours
where that changes the pixels by at most 0.5 of 255 on average: the training curves), and a
notebook over 2 MB is not saved. The run is recorded in the notebook metadata
(`artrack_jax.executed`). The real-data notebook needs PoseTrack and COCO, so it is committed
without outputs.
"""
from __future__ import annotations

import argparse
import copy
import os
import pathlib
import re
import shutil
import site
import sys
import tempfile
import textwrap
import time

import nbformat
from nbformat import v4

HERE = pathlib.Path(__file__).resolve().parent

_METADATA = {
    'kernelspec': {'display_name': 'Python 3', 'language': 'python', 'name': 'python3'},
    'language_info': {'name': 'python'},
    'accelerator': 'GPU',
    'colab': {'provenance': []},
}


def _md(text: str):
  return v4.new_markdown_cell(textwrap.dedent(text).strip())


def _code(*parts: str):
  """A code cell of the parts (each dedented on its own), separated by blank lines."""
  return v4.new_code_cell('\n\n'.join(textwrap.dedent(part).strip() for part in parts))


# The repository on GitHub: what the first cell clones and the Open-in-Colab badges open.
REPOSITORY = 'artrack-jax/artrack-jax'


def _badge(name: str):
  """The Open-in-Colab badge of colab/NAME (Colab opens the notebook from GitHub)."""
  url = f'https://colab.research.google.com/github/{REPOSITORY}/blob/main/colab/{name}'
  return _md(f'[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]'
             f'({url})')


# Shared by both notebooks: install the package unless it is importable already, from the
# clone the notebook runs in, else (a notebook opened from GitHub, as Colab does) from a fresh
# clone.
_INSTALL = _code(f'''
    import importlib.util
    import pathlib
    import subprocess
    import sys

    REPOSITORY = 'https://github.com/{REPOSITORY}'
    if importlib.util.find_spec('artrack_jax') is None:
      # Inside a clone: its root or its colab/ folder.
      ROOT = next((p for p in (pathlib.Path.cwd(), pathlib.Path.cwd().parent)
                   if (p / 'pyproject.toml').is_file() and (p / 'artrack_jax').is_dir()), None)
      if ROOT is None:
        ROOT = pathlib.Path.cwd() / 'artrack-jax'
        if not (ROOT / 'pyproject.toml').is_file():
          print(f'not inside a clone: cloning {{REPOSITORY}} into {{ROOT}}')
          subprocess.run(['git', 'clone', '--depth', '1', REPOSITORY, str(ROOT)], check=True)
      # Colab's own jax (with its GPU or TPU support) satisfies the requirement and stays.
      subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '-e', str(ROOT)], check=True)
      sys.path.insert(0, str(ROOT))  # this kernel started before the install
    ''')

# Shared by both notebooks: which device JAX found; a CPU runtime works but is slow.
_ACCELERATOR = _code('''
    import warnings

    import jax

    BACKEND = jax.default_backend()
    print(f'JAX {jax.__version__} on {BACKEND}: {jax.device_count()} device(s), {jax.devices()}')
    if BACKEND == 'cpu':
      warnings.warn('No GPU or TPU: JAX runs on the CPU, so training is slow (the quick start '
                    'sizes are for a CPU; the paper-size configs need an accelerator). In Colab: '
                    'Runtime > Change runtime type > GPU or TPU, then run from the top.',
                    stacklevel=1)
    ''')


def _sizes() -> dict:
  """The quick start's sizes, full and TINY, as the notebook's markdown states them."""
  from artrack_jax import quickstart as job   # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as workdir:
    stages = ('spatial', 'pgg', 'temporal')
    full = {stage: job.Job(workdir).config(stage) for stage in stages}
    tiny = {stage: job.Job(workdir, tiny=True).config(stage) for stage in stages}
  tiny_steps = {c.train.num_steps for c in tiny.values()}
  assert len(tiny_steps) == 1, tiny_steps
  return {'full_steps': ' + '.join(str(c.train.num_steps) for c in full.values()),
          'full_size': full['spatial'].data.image_size,
          'tiny_steps': tiny_steps.pop(), 'tiny_size': tiny['spatial'].data.image_size}


def quickstart() -> nbformat.NotebookNode:
  cells = [
      _badge('quickstart.ipynb'),
      _md('''
          # artrack-jax quick start

          Multi-person articulated tracking with spatial and temporal embeddings (Jin et al.,
          CVPR 2019) in JAX/Flax, end to end on the embedded synthetic video benchmark:

          1. build the synthetic data set (TFDS, generated locally) and look at its annotations;
          2. train the three stages: SpatialNet (heatmaps, KE, SVF/SIE, ordinal maps), the
             Pose-Guided Grouping fine-tuning, and TemporalNet (HE, TIE);
          3. look at the maps the paper shows (Fig. 1(c), 3, 4) and at the effect of PGG;
          4. decode poses, track the validation clips, and evaluate (COCO-style AP and the
             PoseTrack AP / MOTA tables).

          **In Colab:** open it with the badge above; the next cell clones the repository and
          installs the package when the notebook does not run inside a clone (it installs from
          the clone when it does), and the one after says which device JAX uses. The
          quick-start configs are sized for a CPU (`configs/quickstart.py`: stage 1 in about 13
          minutes on 2 cores, stages 2 and 3 shorter); an accelerator runtime is faster. Every
          cell calls the `artrack_jax` package, as `python -m artrack_jax.quickstart` (the
          same pipeline in one command) does.

          **The outputs saved in this file come from a TINY run on a CPU**
          (`python colab/build_notebooks.py --execute`: `ARTRACK_NOTEBOOK_TINY=1`,
          {tiny_size}-px clips, {tiny_steps} training steps per stage; the run is recorded in
          the notebook metadata, `artrack_jax.executed`). Section 1b's figures are those of the
          installed, trained reference model; the figures and numbers of sections 2 to 7 are of
          networks trained for {tiny_steps} steps, so they show that every cell runs, not what
          the model learns. **For the full size**, run the notebook as it is (`TINY` is off
          unless `ARTRACK_NOTEBOOK_TINY=1` is set): the quick-start configs train {full_steps}
          steps at {full_size} px. `python -m artrack_jax.quickstart --workdir W` runs the same
          pipeline in one command.
          '''.format(**_sizes())),
      _INSTALL,
      _ACCELERATOR,
      _md('''
          ## Parameters

          `TINY` (the environment variable `ARTRACK_NOTEBOOK_TINY=1`, used by the test suite)
          runs everything at the smallest size: 64-px clips, a 1-stack hourglass and a couple of
          training steps per stage. It checks that the notebook runs, not that anything is
          learned; the outputs saved with this notebook are of that size. Otherwise (the
          default) the quick-start configs (`configs/quickstart*.py`) are used.
          '''),
      _code('''
          %matplotlib inline
          # Figures as PNG at 72 dpi: the notebook saved with its outputs stays small.
          %config InlineBackend.print_figure_kwargs = {'bbox_inches': 'tight', 'dpi': 72}
          import os

          from absl import logging
          from IPython.display import Image, display
          import jax
          import numpy as np

          from artrack_jax import (checkpoints, inference, quickstart, skeletons, track,
                                   train_lib)
          from artrack_jax.data import pipeline, synthetic, tfds_builders
          from artrack_jax.evaluation import coco, keypoint_ap, tables
          from artrack_jax.grouping import decode, pgg
          from artrack_jax.tracking import online
          from artrack_jax.viz import maps as visualize_maps, plots

          TINY = os.environ.get('ARTRACK_NOTEBOOK_TINY', '0') == '1'
          WORKDIR = pathlib.Path(os.environ.get('ARTRACK_NOTEBOOK_WORKDIR',
                                                '/tmp/artrack_quickstart_notebook'))
          STAGES = ('spatial', 'pgg', 'temporal')

          logging.set_verbosity(logging.INFO)   # training progress lines
          checkpoints.quiet_checkpoint_logs()
          print('TINY =', TINY, '| devices:', jax.devices(), '| workdir:', WORKDIR)
          '''),
      _code('''
          # The configs and workdir layout of the main job (python -m artrack_jax.quickstart):
          # configs/quickstart.py, quickstart_pgg.py, quickstart_temporal.py, each pointed at
          # this workdir's data and at the previous stage (train.init_from); TINY shrinks them.
          JOB = quickstart.Job(str(WORKDIR), tiny=TINY)
          configs = {stage: JOB.config(stage) for stage in STAGES}
          WORKDIRS = {stage: JOB.stage_workdir(stage) for stage in STAGES}
          SKELETON = skeletons.get(configs['spatial'].data.skeleton)
          for stage in STAGES:
            print(f'{stage:9s} steps {configs[stage].train.num_steps:5d}  '
                  f'init_from {configs[stage].train.init_from or "-"}')
          print(configs['spatial'].model)
          '''),
      _md('''
          ## 1. The synthetic benchmark

          `synthetic_posetrack` renders articulated people (15 PoseTrack joints) walking,
          running, turning and crossing, with look-alikes, occluding poles, camera motion and
          crowd ignore regions (dimmed below). The TFDS builder writes `array_record` files on
          first use; numbers on the skeletons are the annotated track ids.
          '''),
      _code('''
          sources = {split: pipeline.data_source(configs['spatial'], split)
                     for split in ('train', 'val')}
          for split, source in sources.items():
            print(f'{split}: {len(source)} frames')
          DATA_CONFIG = tfds_builders.SyntheticPosetrack.builder_configs[
              configs['spatial'].data.builder_config]
          print(DATA_CONFIG.name, DATA_CONFIG.description)

          train_source = sources['train']
          shown = np.linspace(0, len(train_source) - 1, 4).round().astype(int)
          display(visualize_maps.ground_truth_figure([train_source[int(i)] for i in shown],
                                                     SKELETON))
          '''),
      _md('''
          ## 1b. The reference model, before training anything

          The package installs a trained model (`artrack_jax/reference_model/`: the main job's
          final SpatialNet and TemporalNet, trained on this synthetic benchmark only, with its
          provenance). Its maps on a 256-px validation frame of the main job's data, and a
          tracked clip; `python -m artrack_jax.track --video V --out O` uses the same model when
          no workdir is given.
          '''),
      _code('''
          from artrack_jax import configs_util, reference
          from artrack_jax.data import augment

          REF_CONFIG = configs_util.load_config(os.path.join(reference.REFERENCE_DIR,
                                                             'config.json'))
          ref_provenance = reference.provenance()
          print(ref_provenance['what'], '|', ref_provenance['trained_on'])
          print('val PoseTrack MOTA:', {k: round(v, 1) for k, v in
                                        ref_provenance['metrics']['posetrack_mota'].items()})
          ref_predictor = track.load_predictor(reference.REFERENCE_DIR, REF_CONFIG)
          ref_sequence, ref_frames = synthetic.generate_clip(
              'val', 0, 4 if TINY else 12, REF_CONFIG.data.image_size)
          ref_image = ref_frames[-1]
          ref_maps = jax.device_get(ref_predictor.networks.spatial_infer(
              augment.normalize_image(ref_image)[None]))
          ref_one = {name: value[0] for name, value in ref_maps.items()}
          display(visualize_maps.spatial_maps_figure(ref_image, ref_one,
                                                     tau=REF_CONFIG.pgg.tau))
          ref_tracked = online.track_video(ref_frames, ref_predictor.observe, REF_CONFIG,
                                           name=ref_sequence.name)
          display(visualize_maps.tracked_frames_figure(ref_frames, ref_tracked, SKELETON))
          '''),
      _md('''
          ## 2. Training

          Stage 1 trains SpatialNet with the heatmap, KE, ordinal and SVF losses (Eq. 1-5);
          stage 2 fine-tunes it with the PGG grouping loss (Sec. 3.2); stage 3 trains
          TemporalNet (HE triplet loss Eq. 6, TVF Eq. 7 and PGG on the TIE) on frame pairs with
          SpatialNet frozen. Re-running a cell resumes from the workdir's last checkpoint.
          '''),
      _code('''
          for stage in STAGES:
            print(f'--- stage {stage}: {configs[stage].train.num_steps} steps -> {WORKDIRS[stage]}')
            train_lib.train_and_evaluate(configs[stage], WORKDIRS[stage])
          '''),
      _code('''
          curves_png = str(WORKDIR / 'training_curves.png')
          plots.plot_training_curves([WORKDIRS[stage] for stage in STAGES], curves_png)
          display(Image(filename=curves_png))
          '''),
      _md('''
          ## 3. The maps

          SpatialNet after stage 2 on a validation batch: the instance-agnostic heat
          `max_j C_j`, KE on the pose mask (`heat > tau`), the spatial vector field
          (Fig. 4(f)(g): bright = positive offset from the person's centre), the SIE coloured by
          the centre it points at, and the six ordinal maps (Fig. 4(c)-(e)).
          '''),
      _code('''
          spatial_model = inference.Networks.restore(WORKDIRS['pgg'], configs['pgg'])
          batch = next(iter(pipeline.frame_dataset(sources['val'], configs['pgg'], 'val',
                                                   batch_size=4)))
          maps = jax.device_get(spatial_model.spatial_infer(batch['image']))
          images = [visualize_maps.denormalize_image(image) for image in batch['image']]
          # The most crowded frame of the batch.
          i = int(np.argmax(batch['person_valid'].sum(axis=1)))
          one = {name: value[i] for name, value in maps.items()}
          tau = configs['pgg'].pgg.tau
          display(visualize_maps.spatial_maps_figure(images[i], one, tau=tau))
          display(visualize_maps.ordinal_maps_figure(images[i], one['aux'], one['heatmaps'],
                                                     tau=tau))
          '''),
      _md('''
          ## 4. The effect of Pose-Guided Grouping

          PGG (Alg. 1) runs Gaussian blurring mean shift on `concat(KE, SIE)` of the pixels in
          the pose mask. As in Fig. 1(c) and Fig. 3, the embeddings of one person become more
          compact: below, each masked pixel's SIE is drawn at the centre it predicts, coloured by
          the ground-truth person whose joint is nearest (grey: none). The spread is the mean
          distance of a person's pixels to their mean embedding.
          '''),
      _code('''
          valid_joints = batch['joint_valid'][i] * batch['person_valid'][i][:, None]
          effect = visualize_maps.pgg_effect(one['heatmaps'], one['ke'], one['svf'],
                                             configs['pgg'].pgg, batch['joint_xy'][i],
                                             valid_joints)
          print(f'{len(effect["labels"])} masked pixels, '
                f'{int((effect["labels"] >= 0).sum())} near a labelled joint')
          for name in ('ke', 'sie'):
            print(f'{name.upper()} spread per person: before PGG '
                  f'{effect.get(name + "_spread_before", float("nan")):.3f}, after '
                  f'{effect.get(name + "_spread_after", float("nan")):.3f}')
          display(visualize_maps.pgg_effect_figure(images[i], effect))
          '''),
      _md('''
          ## 5. Decoding poses

          Bottom-up decoding (Sec. 3.1): heatmap NMS, then greedy grouping joint type by joint
          type with KE and SIE distances, on the PGG-refined embeddings.
          '''),
      _code('''
          refined = jax.device_get(pgg.pgg_refine(maps, configs['pgg'].pgg))
          poses = decode.decode({k: refined[k] for k in ('heatmaps', 'ke', 'sie')},
                                configs['pgg'].decode, SKELETON)
          display(visualize_maps.decoded_poses_figure(images, poses, SKELETON))
          '''),
      _md('''
          ## 6. Tracking a validation clip

          TemporalNet's human embeddings (HE) and temporal instance embeddings (TIE) feed the
          online tracker (Eq. 8-9, Hungarian matching); `online.track_video` is what
          `python -m artrack_jax.track` runs on a user's video. Colours and numbers are track
          ids.
          '''),
      _code('''
          sequence, frames = synthetic.generate_clip(
              'val', 0, DATA_CONFIG.num_frames, DATA_CONFIG.image_size, DATA_CONFIG.seed)
          infer_fn = track.load_predictor(WORKDIRS['temporal'], configs['temporal']).observe
          tracked = online.track_video(frames, infer_fn, configs['temporal'], name=sequence.name)
          print(f'{tracked.name}: {len(frames)} frames, '
                f'{len({p.track_id for f in tracked.frames for p in f.people})} track ids '
                f'(ground truth: {len({p.track_id for f in sequence.frames for p in f.people})})')
          display(visualize_maps.tracked_frames_figure(frames, tracked, SKELETON))
          '''),
      _md('''
          ## 7. Evaluation

          COCO-style keypoint AP of SpatialNet on the validation frames after stages 1 and 2.
          Then the PoseTrack toolkit's AP and MOTA tables of every validation clip
          (`evaluation.tables`): Table 4 tracks the same poses with each similarity (OKS, IoU,
          KE, KE+SIE, HE, TIE, HE+TIE, and HE+TIE with PGG), Table 3 decodes with KE, SIE and
          KE+SIE, without and with PGG. Results are written under the workdir (`eval/`), where
          `python -m artrack_jax.viz.report` reads them.
          '''),
      _code('''
          for stage in ('spatial', 'pgg'):
            coco_metrics = keypoint_ap.evaluate(configs[stage], WORKDIRS[stage])
            print(f'COCO-style keypoint AP after stage {stage} (validation frames):')
            print(coco.format_stats(coco_metrics))
          '''),
      _code('''
          results = tables.evaluate_tracking(
              configs['temporal'], WORKDIRS['pgg'], WORKDIRS['temporal'], out_dir=JOB.workdir,
              split='val', print_tables=False)
          print(tables.format_summary(results))
          '''),
  ]
  return v4.new_notebook(cells=cells, metadata=_METADATA)


def real_data() -> nbformat.NotebookNode:
  cells = [
      _badge('real_data.ipynb'),
      _md('''
          # artrack-jax on PoseTrack and COCO

          Trains the paper's model (`configs/default.py`: 4-stack hourglass, 512-px input,
          stage 2 `configs/pgg.py`, stage 3 `configs/temporal.py`) on the real data sets, read
          from a mounted Google Drive, and evaluates it with the PoseTrack toolkit's rules.

          **Before you start:** open it in Colab with the badge above, on a GPU or TPU runtime
          (the first cell clones and installs the package; the second warns on a CPU). Put the
          downloaded
          data sets on your Drive, arranged as below (the builders' `MANUAL_DOWNLOAD_INSTRUCTIONS`,
          printed by the parameters cell, say the same).

          ```
          PoseTrack (2018 COCO-style or 2017 annolist files):
            <POSETRACK_DIR>/images/...               frames; annotation paths are relative to here
            <POSETRACK_DIR>/annotations/train/*.json one file per sequence
            <POSETRACK_DIR>/annotations/val/*.json
          COCO 2017 person keypoints:
            <COCO_DIR>/annotations/person_keypoints_train2017.json
            <COCO_DIR>/annotations/person_keypoints_val2017.json
            <COCO_DIR>/train2017/*.jpg, <COCO_DIR>/val2017/*.jpg
          ```

          The TFDS `array_record` files are written once to `DATA_DIR` (on the Drive, so that
          they survive the session); training resumes from the workdir's last checkpoint when a
          session ends.

          **This file is saved without outputs:** they come from running it on the data sets,
          which the repository does not hold (the quick-start notebook, `quickstart.ipynb`, is
          saved with the outputs of a run on the synthetic benchmark).
          '''),
      _INSTALL,
      _ACCELERATOR,
      _code('''
          import sys

          if 'google.colab' in sys.modules:
            from google.colab import drive
            drive.mount('/content/drive')
          '''),
      _md('''
          ## Parameters

          Edit the paths. `SPATIAL_DATA` picks what SpatialNet (stages 1 and 2) trains on:
          `'posetrack'` (15 joints; the whole pipeline) or `'coco_keypoints'` (17 COCO joints,
          COCO AP only: TemporalNet and the PoseTrack evaluation need a SpatialNet of the
          `posetrack` skeleton, so stage 3 and section 4 are skipped).
          '''),
      _code('''
          %matplotlib inline

          from absl import logging
          from IPython.display import Image, display
          import jax
          import numpy as np

          from artrack_jax import checkpoints, configs_util, skeletons, track, train_lib
          from artrack_jax.data import formats, pipeline, tfds_builders
          from artrack_jax.data.tfds_builders import common
          from artrack_jax.evaluation import coco, keypoint_ap, tables
          from artrack_jax.tracking import online
          from artrack_jax.viz import maps as visualize_maps, plots, report

          DRIVE = pathlib.Path('/content/drive/MyDrive/artrack')
          POSETRACK_DIR = DRIVE / 'posetrack2018'
          POSETRACK_VERSION = '2018'           # '2017' for the annolist files
          COCO_DIR = DRIVE / 'coco2017'
          DATA_DIR = DRIVE / 'tensorflow_datasets'
          WORKDIR = DRIVE / 'runs'
          SPATIAL_DATA = 'posetrack'           # or 'coco_keypoints'
          STAGES = ('spatial', 'pgg', 'temporal') if SPATIAL_DATA == 'posetrack' else (
              'spatial', 'pgg')
          WORKDIRS = {stage: str(WORKDIR / stage) for stage in ('spatial', 'pgg', 'temporal')}

          logging.set_verbosity(logging.INFO)
          checkpoints.quiet_checkpoint_logs()
          print('devices:', jax.devices())
          print(tfds_builders.Posetrack.MANUAL_DOWNLOAD_INSTRUCTIONS)
          print(tfds_builders.CocoKeypoints.MANUAL_DOWNLOAD_INSTRUCTIONS)
          '''),
      _code('''
          # The paper's configs (configs/default.py, pgg.py, temporal.py) pointed at the Drive.
          posetrack_data = {'data.name': 'posetrack', 'data.manual_dir': str(POSETRACK_DIR),
                            'data.builder_config': POSETRACK_VERSION,
                            'data.data_dir': str(DATA_DIR)}
          coco_data = {'data.name': 'coco_keypoints', 'data.manual_dir': str(COCO_DIR),
                       'data.builder_config': '', 'data.skeleton': 'coco',
                       'data.data_dir': str(DATA_DIR)}
          spatial_data = posetrack_data if SPATIAL_DATA == 'posetrack' else coco_data
          configs = {
              'spatial': configs_util.load_config('default', spatial_data),
              'pgg': configs_util.load_config(
                  'pgg', {**spatial_data, 'train.init_from': WORKDIRS['spatial']}),
              # TemporalNet learns from videos: stage 3 reads PoseTrack.
              'temporal': configs_util.load_config(
                  'temporal', {**posetrack_data, 'train.init_from': WORKDIRS['pgg']}),
          }
          SKELETON = skeletons.get(configs['spatial'].data.skeleton)
          print(configs['spatial'])
          '''),
      _md('''
          ## 1. Build the TFDS data sets from the Drive files

          The first call reads every annotation file and image and writes the records (hours
          for COCO train); later calls only open them.
          '''),
      _code('''
          sources = {split: pipeline.data_source(configs['spatial'], split)
                     for split in ('train', 'val')}
          for split, source in sources.items():
            print(f'{configs["spatial"].data.name} {split}: {len(source)} frames')
          shown = np.linspace(0, len(sources['val']) - 1, 4).round().astype(int)
          display(visualize_maps.ground_truth_figure([sources['val'][int(i)] for i in shown],
                                                     SKELETON))
          '''),
      _md('''
          ## 2. Train with the paper's configuration

          Stage 1 (300k steps at batch 32) is long: run it on an accelerator runtime and re-run
          the cell after a disconnect; it resumes from the last checkpoint. Lower
          `configs[stage].train.num_steps` for a shorter run.
          '''),
      _code('''
          for stage in STAGES:
            print(f'--- stage {stage}: {configs[stage].train.num_steps} steps -> {WORKDIRS[stage]}')
            train_lib.train_and_evaluate(configs[stage], WORKDIRS[stage])
          curves_png = str(WORKDIR / 'training_curves.png')
          plots.plot_training_curves([WORKDIRS[stage] for stage in STAGES], curves_png)
          display(Image(filename=curves_png))
          '''),
      _md('''
          ## 3. COCO-style keypoint AP

          SpatialNet after stages 1 and 2 on the validation split.
          '''),
      _code('''
          for stage in ('spatial', 'pgg'):
            coco_metrics = keypoint_ap.evaluate(configs[stage], WORKDIRS[stage])
            print(f'after stage {stage}:')
            print(coco.format_stats(coco_metrics))
          '''),
      _md('''
          ## 4. Tracking and the PoseTrack tables

          One tracked validation video, then every validation video with the toolkit's rules
          (`evaluation.tables`): Table 4 (MOTA per similarity, the same poses for every row)
          and Table 3 (AP of KE / SIE / KE+SIE decoding, without and with PGG). Results go to
          `WORKDIR/eval`, and `artrack_jax.viz.report` turns them into the tables.
          '''),
      _code('''
          if 'temporal' in STAGES:
            first = sorted((POSETRACK_DIR / 'annotations' / 'val').glob('*.json'))[0]
            sequence = formats.read_posetrack(first)
            frames = [common.load_image(str(POSETRACK_DIR / frame.image_path))
                      for frame in sequence.frames]
            infer_fn = track.load_predictor(WORKDIRS['temporal'], configs['temporal']).observe
            tracked = online.track_video(frames, infer_fn, configs['temporal'],
                                        name=sequence.name)
            display(visualize_maps.tracked_frames_figure(frames, tracked,
                                                         skeletons.get('posetrack')))
          '''),
      _code('''
          if 'temporal' in STAGES:
            results = tables.evaluate_tracking(
                configs['temporal'], WORKDIRS['pgg'], WORKDIRS['temporal'],
                out_dir=str(WORKDIR), split='val', print_tables=False)
            print(tables.format_summary(results))
            print(report.build_report(str(WORKDIR)))
          '''),
  ]
  return v4.new_notebook(cells=cells, metadata=_METADATA)


NOTEBOOKS = {'quickstart.ipynb': quickstart, 'real_data.ipynb': real_data}
# Saved with the outputs of `--execute`; the real-data notebook needs data sets the repository
# does not hold, so it is saved without outputs.
EXECUTED = ('quickstart.ipynb',)
# The quick start's workdir when ARTRACK_NOTEBOOK_WORKDIR is not set (its parameters cell).
DEFAULT_WORKDIR = '/tmp/artrack_quickstart_notebook'
MAX_BYTES = 2_000_000        # an executed notebook larger than this is not saved
RUN_KEY = 'artrack_jax'      # notebook metadata: {'executed': how the saved outputs were made}
COMMAND = 'python colab/build_notebooks.py --execute'
PALETTE_ERROR = 0.5          # mean |change| (of 255) a 256-colour re-encoding may make


def _writes(notebook: nbformat.NotebookNode) -> str:
  nbformat.validate(notebook)
  return nbformat.writes(notebook) + '\n'


def render(build) -> str:
  """The generator's notebook as saved without outputs."""
  notebook = build()
  # Fixed cell ids keep the files stable from one build to the next.
  for k, cell in enumerate(notebook.cells):
    cell.id = f'cell-{k:02d}'
  return _writes(notebook)


def strip(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
  """A copy with the sources only: no outputs, execution counts or record of the run."""
  notebook = copy.deepcopy(notebook)
  notebook.metadata.pop(RUN_KEY, None)
  for cell in notebook.cells:
    cell.metadata.pop('execution', None)
    if cell.cell_type == 'code':
      cell.outputs = []
      cell.execution_count = None
  return notebook


def is_current(path: pathlib.Path, build) -> bool:
  """Whether the notebook at `path` has the generator's sources (saved outputs allowed)."""
  if not path.is_file():
    return False
  return _writes(strip(nbformat.read(path, as_version=4))) == render(build)


# -- executing the quick start --------------------------------------------------------------

# Secrets that must never reach a saved output: tokens by their shape, and the values of
# environment variables whose names say they are secret.
_SECRET_PATTERNS = re.compile(
    r'gh[pousr]_[A-Za-z0-9]{20,}|github_pat_\w{20,}|sk-[A-Za-z0-9_-]{20,}|hf_[A-Za-z0-9]{20,}'
    r'|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_-]{35}|xox[abprs]-[A-Za-z0-9-]{10,}'
    r'|-----BEGIN [A-Z ]*PRIVATE KEY-----')
_SECRET_NAMES = re.compile(r'TOKEN|SECRET|PASSW|API_?KEY|ACCESS_?KEY|CREDENTIAL|AUTH',
                           re.IGNORECASE)


def _output_texts(notebook: nbformat.NotebookNode):
  """(cell index, text) of every textual part of every output (images left out)."""
  for k, cell in enumerate(notebook.cells):
    for output in cell.get('outputs', []):
      if 'text' in output:
        yield k, output['text']
      if 'traceback' in output:
        yield k, '\n'.join(output['traceback'])
      for mime, value in output.get('data', {}).items():
        if not mime.startswith('image/'):
          yield k, value if isinstance(value, str) else str(value)


def _machine_paths(workdir: str) -> list[tuple[str, str]]:
  """(path of this machine, placeholder) that outputs must not show, longest first."""
  pairs = {str(HERE.parent): '<repo>', os.path.expanduser('~'): '<home>'}
  for prefix in (sys.prefix, sys.base_prefix, sys.exec_prefix):
    pairs[prefix] = '<python>'
  for packages in (*site.getsitepackages(), site.getusersitepackages()):
    pairs[packages] = '<site-packages>'
  if os.path.abspath(workdir) != DEFAULT_WORKDIR:
    pairs[os.path.abspath(workdir)] = '<workdir>'
  # A path of one component (`/`, `/usr`, `/root`) could be a word of any output: only the
  # home folder, as the start of a longer path, is kept of those.
  return sorted(((path, name) for path, name in pairs.items()
                 if path.count('/') >= 2 or (name == '<home>' and len(path) > 1)),
                key=lambda pair: -len(pair[0]))


def _path_pattern(path: str) -> str:
  return re.escape(path) + r'(?![\w.-])'


def _ipykernel_pattern() -> str:
  """The files the kernel runs cells from (`/tmp/ipykernel_123/456.py`), in warnings."""
  return re.escape(tempfile.gettempdir()) + r'/ipykernel_\d+/\d+\.py'


def sanitize(notebook: nbformat.NotebookNode, workdir: str) -> None:
  """Replaces this machine's paths in the outputs by placeholders (in place)."""
  replacements = [(_ipykernel_pattern(), '<ipykernel>')] + [
      (_path_pattern(path), name) for path, name in _machine_paths(workdir)]

  def clean(text):
    for pattern, name in replacements:
      text = re.sub(pattern, name, text)
    return text

  for cell in notebook.cells:
    for output in cell.get('outputs', []):
      if 'text' in output:
        output['text'] = clean(output['text'])
      if 'traceback' in output:
        output['traceback'] = [clean(line) for line in output['traceback']]
      for mime, value in output.get('data', {}).items():
        if not mime.startswith('image/') and isinstance(value, str):
          output['data'][mime] = clean(value)


def compact(notebook: nbformat.NotebookNode) -> None:
  """Makes the outputs smaller without changing what they show (in place): consecutive
  stream outputs of a cell are joined, with what a carriage return overwrites removed (as
  nbconvert's coalesce_streams does), and PNG images are re-encoded losslessly (an opaque
  alpha channel dropped, zlib at its best), or as 256 colours when that changes the pixels by
  at most PALETTE_ERROR on average; each kept only if smaller."""
  import io   # pylint: disable=g-import-not-at-top
  import base64   # pylint: disable=g-import-not-at-top
  import numpy as np   # pylint: disable=g-import-not-at-top
  from PIL import Image as pil_image   # pylint: disable=g-import-not-at-top
  for cell in notebook.cells:
    if cell.cell_type != 'code':
      continue
    outputs = []
    for output in cell.outputs:
      if (output.output_type == 'stream' and outputs and outputs[-1].output_type == 'stream'
          and outputs[-1].name == output.name):
        outputs[-1].text += output.text
      else:
        outputs.append(output)
    for output in outputs:
      if output.output_type == 'stream':
        output.text = re.sub(r'[^\n]*\r(?!\n)', '', output.text.replace('\r\n', '\n'))
      png = output.get('data', {}).get('image/png')
      if png is None:
        continue
      raw = base64.b64decode(png)
      with pil_image.open(io.BytesIO(raw)) as image:
        pixels = image.convert('RGBA')
      if int(np.asarray(pixels)[..., 3].min()) == 255:
        pixels = pixels.convert('RGB')
      best = raw
      buffer = io.BytesIO()
      pixels.save(buffer, format='PNG', optimize=True)
      if len(buffer.getvalue()) < len(best):
        best = buffer.getvalue()
      # A figure of lines and text (the training curves) has few colours besides the
      # anti-aliasing: as a 256-colour PNG it is much smaller, and kept when its pixels are
      # within PALETTE_ERROR of the original on average (out of 255).
      if pixels.mode == 'RGB':
        palette = pixels.quantize(256, method=pil_image.Quantize.MEDIANCUT,
                                  dither=pil_image.Dither.NONE)
        error = np.abs(np.asarray(palette.convert('RGB'), np.int16)
                       - np.asarray(pixels, np.int16)).mean()
        buffer = io.BytesIO()
        palette.save(buffer, format='PNG', optimize=True)
        if error <= PALETTE_ERROR and len(buffer.getvalue()) < len(best):
          best = buffer.getvalue()
      if best is not raw:
        output.data['image/png'] = base64.b64encode(best).decode('ascii')
    cell.outputs = outputs


def leaks(notebook: nbformat.NotebookNode, workdir: str = DEFAULT_WORKDIR) -> list[str]:
  """What the outputs must not show: paths of this machine, secrets; empty when clean."""
  found = []
  paths = [(_path_pattern(path), path) for path, _ in _machine_paths(workdir)]
  paths.append((_ipykernel_pattern(), 'a kernel file'))
  secrets = [value for name, value in os.environ.items()
             if _SECRET_NAMES.search(name) and len(value) >= 8]
  for k, text in _output_texts(notebook):
    for pattern, path in paths:
      if re.search(pattern, text):
        found.append(f'cell {k}: the path {path}')
    if _SECRET_PATTERNS.search(text) or any(value in text for value in secrets):
      found.append(f'cell {k}: a secret')
  return found


def execute(notebook: nbformat.NotebookNode, workdir: str, cwd: str,
            timeout: int = 1800) -> float:
  """Runs every cell of `notebook` (in place) at TINY size on the CPU in a fresh kernel,
  started in `cwd` and writing under `workdir`; returns the seconds it took."""
  from nbclient import NotebookClient   # pylint: disable=g-import-not-at-top
  env = {**os.environ, 'ARTRACK_NOTEBOOK_TINY': '1', 'ARTRACK_NOTEBOOK_WORKDIR': workdir,
         'JAX_PLATFORMS': 'cpu'}
  client = NotebookClient(notebook, timeout=timeout, kernel_name='python3',
                          record_timing=False, resources={'metadata': {'path': cwd}})
  start = time.monotonic()
  client.execute(env=env)   # raises CellExecutionError naming the failing cell
  return time.monotonic() - start


def execute_and_save(name: str, workdir: str, timeout: int = 1800) -> None:
  """Executes colab/NAME (as the generator writes it) and saves it with its outputs."""
  import jax   # pylint: disable=g-import-not-at-top
  workdir = os.path.abspath(workdir)
  if os.path.exists(workdir):
    raise SystemExit(f'{workdir} exists: remove it (the run must start from nothing) or pass '
                     '--workdir')
  notebook = nbformat.reads(render(NOTEBOOKS[name]), as_version=4)
  metadata = copy.deepcopy(notebook.metadata)
  print(f'executing {name} at TINY size on the CPU in {workdir} ...', flush=True)
  seconds = execute(notebook, workdir, cwd=str(HERE), timeout=timeout)
  sanitize(notebook, workdir)
  compact(notebook)
  rejected = os.path.join(workdir, name)   # a notebook not saved, to look at
  problems = leaks(notebook, workdir)
  if problems:
    nbformat.write(notebook, rejected)
    raise SystemExit(f'{name} not saved, its outputs show {"; ".join(problems)} '
                     f'(the executed notebook: {rejected})')
  # The kernel rewrites the metadata (language_info); keep the generator's, and say how the
  # outputs were made.
  notebook.metadata = metadata
  notebook.metadata[RUN_KEY] = {'executed': {
      'command': COMMAND, 'size': 'TINY (ARTRACK_NOTEBOOK_TINY=1)', 'backend': 'cpu',
      'cpu_count': os.cpu_count(), 'seconds': round(seconds), 'jax': jax.__version__,
      'date': time.strftime('%Y-%m-%d')}}
  text = _writes(notebook)
  size = len(text.encode('utf-8'))
  if size > MAX_BYTES:
    nbformat.write(notebook, rejected)
    raise SystemExit(f'{name} not saved: {size} bytes executed, at most {MAX_BYTES} (the '
                     f'executed notebook: {rejected})')
  (HERE / name).write_text(text, encoding='utf-8')
  images = sum(mime.startswith('image/') for cell in notebook.cells
               for output in cell.get('outputs', []) for mime in output.get('data', {}))
  print(f'wrote {HERE / name} with its outputs: {images} images, {size / 1e6:.2f} MB, '
        f'executed in {seconds:.0f} s')
  shutil.rmtree(workdir)


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--check', action='store_true',
                      help="only compare the committed notebooks' sources with what would be "
                           'written (saved outputs are allowed)')
  parser.add_argument('--execute', action='store_true',
                      help=f'also run {", ".join(EXECUTED)} at TINY size on the CPU and save '
                           'it with its outputs')
  parser.add_argument('--workdir', default=DEFAULT_WORKDIR,
                      help='where --execute runs (must not exist; removed after the run)')
  parser.add_argument('--timeout', type=int, default=1800,
                      help='seconds a cell may run under --execute')
  args = parser.parse_args(argv)
  if args.check:
    stale = [name for name, build in NOTEBOOKS.items() if not is_current(HERE / name, build)]
    if stale:
      print(f'out of date: {", ".join(stale)} (run {COMMAND})', file=sys.stderr)
      return 1
    return 0
  for name, build in NOTEBOOKS.items():
    path = HERE / name
    path.write_text(render(build), encoding='utf-8')
    print(f'wrote {path} (outputs stripped)')
  if args.execute:
    for name in EXECUTED:
      execute_and_save(name, args.workdir, args.timeout)
  return 0


if __name__ == '__main__':
  sys.exit(main())
