"""The benchmark scripts that need nothing outside the project run (at their smallest size)."""
import os
import sys

import pytest

BENCHMARKS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          'benchmarks')


@pytest.fixture
def bench_decode(monkeypatch):
  monkeypatch.syspath_prepend(BENCHMARKS)
  import bench_decode  # pylint: disable=import-outside-toplevel
  return bench_decode


def test_bench_decode_runs_on_the_papers_decoding_config(bench_decode, monkeypatch, capsys):
  monkeypatch.setattr(sys, 'argv', ['bench_decode.py', '--people', '3', '--repeats', '1'])
  bench_decode.main()
  lines = capsys.readouterr().out.splitlines()
  header = lines.index(next(l for l in lines if l.split()[:1] == ['people']))
  row = lines[header + 1].split()
  assert row[0] == '3' and all(float(v) > 0 for v in row[1:])


def test_ke_collapse_windows_and_report(tmp_path, monkeypatch, capsys):
  monkeypatch.syspath_prepend(BENCHMARKS)
  import ke_collapse  # pylint: disable=import-outside-toplevel
  from artrack_jax import metrics_writer  # pylint: disable=import-outside-toplevel
  records = [{'step': s, 'train/ke_pull': 0.01 * s, 'train/ke_push': 1.0 - 0.01 * s,
              'train/det': 0.5} for s in range(0, 40, 10)] + [{'step': 30, 'val/AP': 0.25}]
  # Windows of 20 steps centred on 0 and 20: steps (-10, 10] and (10, 30].
  assert ke_collapse.windows(records, 20) == [pytest.approx((0, 0.05, 0.95, 0.5)),
                                              pytest.approx((20, 0.25, 0.75, 0.5))]
  with metrics_writer.MetricsWriter(str(tmp_path)) as writer:
    for r in records:
      writer.write_scalars(r['step'], {k: v for k, v in r.items() if k != 'step'})
  assert ke_collapse.main(['--workdir', str(tmp_path), '--window', '20',
                           '--png', str(tmp_path / 'k.png')]) == 0
  out = capsys.readouterr().out
  assert '    20   0.250   0.750' in out and 'AP 0.250' in out
  assert (tmp_path / 'k.png').stat().st_size > 0
  with pytest.raises(SystemExit, match='not a KE training workdir'):
    ke_collapse.windows([{'step': 1, 'train/det': 0.1}], 10)
