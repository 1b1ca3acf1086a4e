"""Where a SpatialNet's keypoint AP goes: detection (heatmaps) versus grouping (KE / SIE).

Runs a trained workdir's SpatialNet once over a split, then decodes the same maps several
ways and reports the COCO-style keypoint AP (pycocotools, the skeleton's OKS sigmas) of each:

* ``predicted``: the network's heatmaps, KE and SIE, decoded with the config's settings;
* ``quarter`` / ``gaussian``: the same maps with the other sub-pixel step (``decode.subpixel``);
* ``ke only`` / ``sie only``: one embedding for grouping (``decode.use_ke`` / ``use_sie``);
* ``GT heatmaps``: the ground-truth heatmaps (Eq. 1 targets) with the predicted KE and SIE,
  i.e. perfect detection, the network's grouping;
* ``GT grouping``: the predicted heatmaps with a tag map that holds, at every pixel, the index
  of the person whose joint of that type is nearest (SIE off), i.e. the network's detection,
  perfect grouping;
* ``GT both``: both ground truths (checks the coordinate chain: near 1 up to rounding).

Run:  python benchmarks/ap_breakdown.py --config configs/quickstart.py \\
          --workdir runs/quickstart/spatial --data_dir runs/quickstart/tfds
      (--split train --max_frames 480 reads training frames without augmentation)
"""
from __future__ import annotations

import argparse
import copy
import time

import numpy as np

from artrack_jax import configs_util
from artrack_jax import inference
from artrack_jax import machine
from artrack_jax.data import pipeline
from artrack_jax.evaluation import keypoint_ap


def ground_truth_tags(batch) -> np.ndarray:
  """[B, h, w, J] tag maps whose value is the index (x 3) of the person nearest per joint type.

  Tags of different people differ by 3, beyond the decoder's tag threshold of 1, so grouping
  by them is the ground-truth grouping of whatever the heatmaps detect.
  """
  b, h, w, j = batch['heatmaps'].shape
  yy, xx = np.mgrid[0:h, 0:w]
  tags = np.zeros((b, h, w, j), np.float32)
  for i in range(b):
    xy, valid = batch['joint_xy'][i], batch['joint_valid'][i]          # [P, J, 2], [P, J]
    d2 = ((xx[None, :, :, None] - xy[:, None, None, :, 0]) ** 2
          + (yy[None, :, :, None] - xy[:, None, None, :, 1]) ** 2)      # [P, h, w, J]
    d2 = np.where(valid[:, None, None, :] > 0, d2, np.inf)
    tags[i] = 3.0 * d2.argmin(axis=0)
  return tags


class _CachedMaps(inference.FramePredictor):
  """A `FramePredictor` for `keypoint_ap.evaluate_model` that decodes precomputed maps, one
  batch per call, in the order the evaluation reads the split."""

  def __init__(self, maps, config):
    super().__init__(None, config)
    self._maps = list(maps)

  def batch_maps(self, images):
    maps = self._maps.pop(0)
    if len(images) != len(maps['heatmaps']):
      raise ValueError(f'batch of {len(images)} images, cached maps of '
                       f'{len(maps["heatmaps"])}: the split was read in another order')
    return {'raw': maps}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
  parser.add_argument('--config', required=True, help='the config the workdir was trained with')
  parser.add_argument('--workdir', required=True, help='a SpatialNet training workdir')
  parser.add_argument('--data_dir', default='', help='TFDS data_dir (config.data.data_dir)')
  parser.add_argument('--split', default='val')
  parser.add_argument('--max_frames', type=int, default=0, help='0: the whole split')
  parser.add_argument('--batch_size', type=int, default=16)
  args = parser.parse_args()

  overrides = {'data.data_dir': args.data_dir} if args.data_dir else {}
  config = configs_util.load_config(args.config, overrides)
  source = pipeline.data_source(config, args.split)
  index = pipeline.build_index(source)
  predictor = keypoint_ap.predictor_for(inference.Networks.restore(args.workdir, config),
                                        config)
  print(machine.host_description())
  print(machine.jax_description())

  start = time.perf_counter()
  batches = []
  frames = 0
  # 'eval': one pass in record order without augmentation, whatever the split.
  for batch in pipeline.frame_dataset(source, config, 'eval', index=index,
                                      batch_size=args.batch_size, shard_index=0, shard_count=1):
    if args.max_frames and frames >= args.max_frames:
      break
    sets = predictor.batch_maps(batch['image'])
    batch = dict(batch, maps=predictor.variant_maps(sets, predictor.variants[0]))
    batch.pop('image')
    batches.append(batch)
    frames += int(batch['example_valid'].sum())
  print(f'{frames} {args.split} frames through the network in '
        f'{time.perf_counter() - start:.0f} s')

  def evaluate(maps_of, **decode_overrides) -> dict[str, float]:
    row_config = copy.deepcopy(config)
    for key, value in decode_overrides.items():
      row_config.decode[key] = value
    row_config.train.eval_batch_size = args.batch_size
    # evaluate_model reads the split again in the same order and asks the stand-in model for
    # each batch's maps: this row's maps, computed from the cached network outputs.
    return keypoint_ap.evaluate_model(_CachedMaps([maps_of(b) for b in batches], row_config),
                                      row_config, source, index=index, split=args.split,
                                      max_batches=len(batches))

  def predicted(b):
    return b['maps']

  def gt_heat(b):
    return dict(b['maps'], heatmaps=b['heatmaps'])

  def gt_group(b):
    return dict(heatmaps=b['maps']['heatmaps'], ke=ground_truth_tags(b))

  def gt_both(b):
    return dict(heatmaps=b['heatmaps'], ke=ground_truth_tags(b))

  other = 'quarter' if config.decode.get('subpixel', 'quarter') == 'gaussian' else 'gaussian'
  rows = [
      (f'predicted (decode.subpixel={config.decode.get("subpixel", "quarter")})', predicted, {}),
      (f'predicted, decode.subpixel={other}', predicted, dict(subpixel=other)),
      ('predicted, KE only', predicted, dict(use_sie=False)),
      ('predicted, SIE only', predicted, dict(use_ke=False)),
      ('GT heatmaps + predicted KE/SIE', gt_heat, {}),
      ('predicted heatmaps + GT grouping', gt_group, dict(use_sie=False, use_ke=True)),
      ('GT heatmaps + GT grouping', gt_both, dict(use_sie=False, use_ke=True)),
  ]
  print(f'\n| decoding ({args.split}, {frames} frames) | AP | AP50 | AP75 | AR |')
  print('| --- | ---: | ---: | ---: | ---: |')
  for name, maps_of, decode_overrides in rows:
    m = evaluate(maps_of, **decode_overrides)
    print(f'| {name} | {m["AP"]:.3f} | {m["AP50"]:.3f} | {m["AP75"]:.3f} | {m["AR"]:.3f} |',
          flush=True)


if __name__ == '__main__':
  with machine.LoadMonitor():
    main()
