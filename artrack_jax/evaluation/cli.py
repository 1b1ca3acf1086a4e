"""Command line evaluation: PoseTrack AP/MOTA/HOTA tables or COCO keypoint AP.

  python -m artrack_jax.evaluation.cli --gt GT_DIR --pred PRED_DIR [--out results.json]
      [--metrics ap,mota,hota] [--no-toolkit-quirks] [--no-ap] [--no-mota]
  python -m artrack_jax.evaluation.cli --coco-gt GT.json --coco-pred RESULTS.json
      [--sigmas 0.026,0.025,...] [--out stats.json]

Every input is validated before any metric (``evaluation/validate.py``): invalid input ends
with exit code 2 and one line naming the file, the JSON path of the field and what was expected.
This module and what it imports use NumPy, SciPy (its Hungarian solver only,
``evaluation/assignment.py``), shapely, orjson and pycocotools (COCO mode) only (no JAX, Flax or
TensorFlow), so the file modes start in 0.1 s; ``eval.py`` dispatches its file modes here.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from artrack_jax.evaluation import hota
from artrack_jax.evaluation import posetrack
from artrack_jax.evaluation.validate import EvaluationInputError


def _json_safe(value: Any) -> Any:
  """NaN (a metric without ground truth) -> null, so the output is standard JSON."""
  if isinstance(value, float) and math.isnan(value):
    return None
  if isinstance(value, dict):
    return {k: _json_safe(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [_json_safe(v) for v in value]
  return value


def _parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(
      prog='artrack_jax.evaluation.cli',
      description='PoseTrack AP / MOTA (as the official toolkit) and keypoint HOTA (as the '
                  'PoseTrack21 kit), or COCO keypoint AP.')
  parser.add_argument('--gt', help='directory of per-sequence PoseTrack ground-truth JSON')
  parser.add_argument('--pred', help='directory of per-sequence predictions (same file names)')
  parser.add_argument('--no-toolkit-quirks', action='store_true',
                      help='count the last labelled frame and score frames without predictions '
                           'or ground truth by their real people (see evaluation/posetrack.py)')
  parser.add_argument('--metrics', default='ap,mota',
                      help='comma-separated PoseTrack metrics: ap, mota (poseval) and hota '
                           '(keypoint HOTA, DetA, AssA, LocA as the PoseTrack21 kit)')
  parser.add_argument('--no-ap', action='store_true', help='skip AP')
  parser.add_argument('--no-mota', action='store_true', help='skip MOTA')
  parser.add_argument('--coco-gt', help='COCO keypoint ground-truth JSON file')
  parser.add_argument('--coco-pred', help='COCO keypoint results JSON file')
  parser.add_argument('--sigmas', help='comma-separated OKS sigmas, one per keypoint')
  parser.add_argument('--out', help='write the results here as JSON')
  return parser


def main(argv: list[str] | None = None) -> int:
  """Runs the evaluation; returns the process exit code."""
  parser = _parser()
  args = parser.parse_args(argv)
  posetrack_mode = args.gt is not None or args.pred is not None
  coco_mode = args.coco_gt is not None or args.coco_pred is not None
  if posetrack_mode == coco_mode:
    parser.error('give either --gt and --pred, or --coco-gt and --coco-pred')
  if posetrack_mode and (args.gt is None or args.pred is None):
    parser.error('--gt and --pred go together')
  if coco_mode and (args.coco_gt is None or args.coco_pred is None):
    parser.error('--coco-gt and --coco-pred go together')
  try:
    if posetrack_mode:
      metrics = {m.strip() for m in args.metrics.split(',') if m.strip()}
      unknown = metrics - {'ap', 'mota', 'hota'}
      if unknown or not metrics:
        parser.error(f'--metrics takes ap, mota and hota, got {args.metrics!r}')
      quirks = not args.no_toolkit_quirks
      gts, preds = posetrack.load_directories(args.gt, args.pred, toolkit_order=quirks)
      ap = 'ap' in metrics and not args.no_ap
      mota = 'mota' in metrics and not args.no_mota
      result = {}
      if ap or mota:
        result = posetrack.evaluate_sequences(gts, preds, ap=ap, mota=mota,
                                              toolkit_quirks=quirks)
        print(posetrack.format_tables(result))
      if 'hota' in metrics:
        # The kit's frames are the ground truth's is_labeled ones (PoseTrack21 files keep
        # box-only annotations elsewhere): each read sequence carries its file's flags.
        result['hota'] = hota.evaluate_sequences(gts, preds, kit_quirks=quirks)
        print(hota.format_table(result['hota']))
    else:
      sigmas = None
      if args.sigmas:
        try:
          sigmas = [float(s) for s in args.sigmas.split(',')]
        except ValueError:
          parser.error(f'--sigmas must be comma-separated numbers, got {args.sigmas!r}')
      # Imported here: pycocotools costs the PoseTrack mode 0.1 s of start-up otherwise.
      from artrack_jax.evaluation import coco  # pylint: disable=import-outside-toplevel
      result = coco.evaluate_keypoints(args.coco_gt, args.coco_pred, sigmas)
      print(coco.format_stats(result))
  except EvaluationInputError as e:
    print(f'error: {e}', file=sys.stderr)
    return 2
  if args.out:
    with open(args.out, 'w') as f:
      json.dump(_json_safe(result), f, indent=1)
  return 0


if __name__ == '__main__':
  sys.exit(main())
