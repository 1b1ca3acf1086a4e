r"""Evaluates a trained workdir, prediction files, or the tracker (Tables 3 and 4):
`artrack_jax.cli.eval` (installed as `artrack-eval`; `python eval.py --help` lists every mode).

  python eval.py --config configs/quickstart.py --workdir /tmp/artrack_quickstart [--step N]
  python eval.py --gt GT_DIR --pred PRED_DIR
  python eval.py --coco-gt GT.json --coco-pred RESULTS.json
  python eval.py --track --workdir STAGE2_DIR --temporal-workdir STAGE3_DIR --out RUNS
"""
from artrack_jax.cli import eval as eval_cli

if __name__ == '__main__':
  eval_cli.run()
