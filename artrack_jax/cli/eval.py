r"""Evaluates a trained workdir, prediction files, or the tracker (Tables 3 and 4).

  artrack-eval --workdir /tmp/artrack_quickstart [--config quickstart] [--step N]
      COCO-style keypoint AP of the workdir's SpatialNet on config.data.eval_split
      (`artrack_jax.evaluation.keypoint_ap`), with progress lines; `--config` takes an
      installed config's name, a config file's path or a config.json (default: the workdir's
      config.json), `--config.<key>=<value>` overrides the config. On COCO
      (data.name=coco_keypoints) it scores against the data set's own annotation file with
      pycocotools, as COCO does: <data.manual_dir>/annotations/person_keypoints_val2017.json,
      or the file `--config.eval.coco_annotations=PATH` names.
  artrack-eval --gt GT_DIR --pred PRED_DIR [--metrics ap,mota,hota]
      PoseTrack AP / MOTA of per-sequence prediction files (the official toolkit's tables);
      `hota` adds keypoint HOTA, DetA, AssA, LocA (the PoseTrack21 kit's).
  artrack-eval --coco-gt GT.json --coco-pred RESULTS.json
      COCO keypoint AP of a results file.
  artrack-eval --track --workdir STAGE2_DIR --temporal-workdir STAGE3_DIR --out RUNS \
      [--similarity all|oks,iou,ke,ke_sie,he,tie,he_tie] [--pgg both|off|only]
      The full tracker on the synthetic (or PoseTrack) val split: per-joint AP, MOTA and
      keypoint HOTA (DetA, AssA, LocA) through the PoseTrack evaluators for each similarity
      (the paper's Table 4 rows) and the Table 3 decoding rows
      (`artrack_jax.evaluation.tables`).

The mode is the first of these flags given: --track, --gt/--pred or --coco-gt/--coco-pred (the
file modes, `artrack_jax.evaluation.cli`, which import no JAX), else the workdir mode. --help
lists every mode's flags. The repository's `python eval.py` is the same command.
"""
import argparse
import sys

FILE_MODE = 'prediction files (--gt/--pred, --coco-gt/--coco-pred): artrack_jax.evaluation.cli'


class _HelpAction(argparse.Action):
  """--help: this command's modes, then the flags of each mode's own command line."""

  def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS,
               help=None):  # pylint: disable=redefined-builtin
    super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

  def __call__(self, parser, namespace, values, option_string=None):
    # The modes' parsers are built only to print them (the tracking one imports JAX).
    from artrack_jax.evaluation import cli as evaluation_cli  # pylint: disable=g-import-not-at-top
    from artrack_jax.evaluation import tables  # pylint: disable=g-import-not-at-top
    file_modes = evaluation_cli._parser()  # pylint: disable=protected-access
    sections = [parser.format_help(),
                '== workdir mode (--config, --workdir, --step)\n' + _workdir_flags_help(),
                f'== {FILE_MODE}\n' + file_modes.format_help(),
                '== --track: artrack_jax.evaluation.tables\n'
                + tables.build_parser().format_help()]
    print('\n'.join(sections))
    parser.exit()


def build_parser() -> argparse.ArgumentParser:
  """The mode flags; each mode's other flags are its own command line's."""
  parser = argparse.ArgumentParser(prog='artrack-eval', description=__doc__, add_help=False,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('-h', '--help', action=_HelpAction, help='every mode\'s flags')
  parser.add_argument('--track', action='store_true',
                      help='the Table 3 / 4 evaluation of trained networks on a video split '
                           '(AP; MOTA and HOTA of the tracker)')
  files = parser.add_argument_group(FILE_MODE)
  for flag in ('--gt', '--pred', '--coco-gt', '--coco-pred'):
    files.add_argument(flag)
  return parser


def _workdir_flags_help() -> str:
  _define_workdir_flags()
  from absl import flags  # pylint: disable=g-import-not-at-top
  return flags.FLAGS.main_module_help()


_WORKDIR_FLAGS = []


def _define_workdir_flags():
  """The workdir mode's absl flags (`--config` takes `--config.<key>=<value>` overrides)."""
  if _WORKDIR_FLAGS:
    return
  from absl import flags  # pylint: disable=g-import-not-at-top
  from ml_collections import config_flags  # pylint: disable=g-import-not-at-top
  config_flags.DEFINE_config_file('config', None, 'The configuration the workdir was trained '
                                  'with: an installed config\'s name or a config file\'s path.',
                                  lock_config=True)
  flags.DEFINE_string('workdir', None, 'A training workdir.')
  flags.DEFINE_integer('step', None, 'Checkpoint step to evaluate (default: the latest).')
  _WORKDIR_FLAGS.append(flags.FLAGS)


def _workdir_main(argv):
  from absl import app  # pylint: disable=g-import-not-at-top
  from artrack_jax import checkpoints  # pylint: disable=g-import-not-at-top
  from artrack_jax.evaluation import coco  # pylint: disable=g-import-not-at-top
  from artrack_jax.evaluation import keypoint_ap  # pylint: disable=g-import-not-at-top
  flags = _WORKDIR_FLAGS[0]
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if flags.config is None or flags.workdir is None:
    raise app.UsageError('give --config and --workdir (or --gt/--pred, --coco-gt/--coco-pred, '
                         '--track)')
  checkpoints.quiet_checkpoint_logs()
  try:
    metrics = keypoint_ap.evaluate(flags.config, flags.workdir, flags.step)
  except (FileNotFoundError, coco.EvaluationInputError,
          keypoint_ap.AnnotationMismatchError) as e:
    # A missing checkpoint or annotation file, a malformed or mismatching annotation file.
    print(f'error: {e}', file=sys.stderr)
    sys.exit(2)
  print(coco.format_stats(metrics))


def _default_config_from_workdir(argv: list[str]) -> list[str]:
  """Without --config, the workdir's config.json (as `track` does), overrides kept."""
  if any(a == '--config' or a.startswith('--config=') for a in argv):
    return argv
  workdir = None
  for i, arg in enumerate(argv):
    if arg == '--workdir' and i + 1 < len(argv):
      workdir = argv[i + 1]
    elif arg.startswith('--workdir='):
      workdir = arg[len('--workdir='):]
  if workdir is None:
    return argv
  import os  # pylint: disable=g-import-not-at-top
  saved = os.path.join(workdir, 'config.json')
  if not os.path.isfile(saved):
    return argv     # _workdir_main then asks for --config
  print(f'--config: {saved} (the workdir\'s)', file=sys.stderr)
  return [f'--config={saved}'] + argv


def main(argv: list[str]) -> int:
  args, rest = build_parser().parse_known_args(argv[1:])
  if args.track:
    from artrack_jax.evaluation import tables  # pylint: disable=g-import-not-at-top
    return tables.main(rest)
  if any(v is not None for v in (args.gt, args.pred, args.coco_gt, args.coco_pred)):
    # The file modes import no JAX, Flax or TFDS.
    from artrack_jax.evaluation import cli as evaluation_cli  # pylint: disable=g-import-not-at-top
    return evaluation_cli.main(argv[1:])
  from absl import app  # pylint: disable=g-import-not-at-top
  from artrack_jax import configs_util  # pylint: disable=g-import-not-at-top
  _define_workdir_flags()
  rest = _default_config_from_workdir(rest)
  try:
    workdir_argv = configs_util.resolve_config_flag([argv[0]] + rest)
  except FileNotFoundError as e:
    print(f'--config: {e}', file=sys.stderr)
    return 2
  app.run(_workdir_main, argv=workdir_argv)
  return 0


def run() -> None:
  """The `artrack-eval` console script (and `python eval.py`)."""
  sys.exit(main(sys.argv))
