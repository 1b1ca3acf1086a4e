"""Evaluates a trained workdir, or prediction files.

  python eval.py --config configs/quickstart.py --workdir /tmp/artrack_quickstart [--step N]
      COCO-style keypoint AP of the workdir's SpatialNet on config.train.eval_split.
  python eval.py --gt GT_DIR --pred PRED_DIR
      PoseTrack AP / MOTA of per-sequence prediction files (the official toolkit's tables).
  python eval.py --coco-gt GT.json --coco-pred RESULTS.json
      COCO keypoint AP of a results file.
  python eval.py --track --workdir STAGE2_DIR --temporal-workdir STAGE3_DIR --out RUNS \
      [--similarity all|oks,iou,ke,ke_sie,he,tie,he_tie] [--pgg both|off|only]
      The full tracker on the synthetic (or PoseTrack) val split: per-joint AP and MOTA through
      the PoseTrack evaluator for each similarity (the paper's Table 4 rows) and the Table 3
      decoding rows (`artrack_jax.tracking.evaluate`; its --help lists every option).

The file modes are `artrack_jax.evaluation.cli` (see its --help for every option).
"""
import sys

from absl import app
from absl import flags
from ml_collections import config_flags

from artrack_jax import train_lib
from artrack_jax.evaluation import cli as evaluation_cli
from artrack_jax.evaluation import coco
from artrack_jax.tracking import evaluate as tracking_evaluate

FILE_MODE_FLAGS = ('--gt', '--pred', '--coco-gt', '--coco-pred')

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file('config', None, 'The configuration the workdir was trained '
                                'with (configs/*.py).', lock_config=True)
flags.DEFINE_string('workdir', None, 'A training workdir.')
flags.DEFINE_integer('step', None, 'Checkpoint step to evaluate (default: the latest).')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if FLAGS.config is None or FLAGS.workdir is None:
    raise app.UsageError('give --config and --workdir (or --gt/--pred, --coco-gt/--coco-pred)')
  train_lib.quiet_checkpoint_logs()
  metrics = train_lib.evaluate(FLAGS.config, FLAGS.workdir, FLAGS.step)
  print(coco.format_stats(metrics))


def _is_file_mode(argv) -> bool:
  return any(arg.split('=')[0] in FILE_MODE_FLAGS for arg in argv[1:])


if __name__ == '__main__':
  if '--track' in sys.argv[1:]:
    sys.exit(tracking_evaluate.main([a for a in sys.argv[1:] if a != '--track']))
  if _is_file_mode(sys.argv):
    sys.exit(evaluation_cli.main(sys.argv[1:]))
  app.run(main)
