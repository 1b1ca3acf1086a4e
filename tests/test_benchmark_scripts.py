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
