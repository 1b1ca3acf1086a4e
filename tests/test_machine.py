"""machine.LoadMonitor: the benchmarks' idle-machine check."""
import io
import subprocess
import sys
import time

import pytest

from artrack_jax import machine


def test_load_monitor_flags_a_busy_machine():
  # A process this one has not waited for counts as "other": a spinning one makes the run
  # not idle, whatever else the machine does.
  spinner = subprocess.Popen([sys.executable, '-c', 'while True: pass'])
  try:
    time.sleep(0.5)
    out = io.StringIO()
    with machine.LoadMonitor(stream=out) as monitor:
      time.sleep(1.5)
  finally:
    spinner.kill()
    spinner.wait()
  text = out.getvalue()
  assert text.startswith('load average before: ')
  assert 'load average after: ' in text
  assert monitor.other_cores > 0.5
  assert monitor.idle is False
  assert 'WARNING: the machine was not idle' in text


def test_load_monitor_subtracts_its_own_cpu_time(monkeypatch):
  # All processes used 3 CPU-seconds, this one 2.5 of them, over 1 s of wall time: others
  # used 0.5 cores, above the idle limit.
  clock = iter([100.0, 101.0])
  busy = iter([50.0, 53.0])
  own = iter([10.0, 12.5])
  monkeypatch.setattr(machine, '_busy_cpu_seconds', lambda: next(busy))
  monkeypatch.setattr(machine, '_own_cpu_seconds', lambda: next(own))
  monkeypatch.setattr(time, 'monotonic', lambda: next(clock))
  monkeypatch.setattr(machine.os, 'getloadavg', lambda: (0.1, 0.1, 0.1))
  out = io.StringIO()
  with machine.LoadMonitor(stream=out) as monitor:
    pass
  assert abs(monitor.other_cores - 0.5) < 1e-9
  assert monitor.idle is False
  # The same with this process using all of it: idle.
  clock, busy, own = iter([0.0, 1.0]), iter([50.0, 53.0]), iter([10.0, 13.0])
  with machine.LoadMonitor(stream=out) as monitor:
    pass
  assert monitor.other_cores == 0.0
  assert monitor.idle is True


def test_time_commands_alternates_and_reports_failures(tmp_path):
  log = tmp_path / 'order.txt'
  commands = {name: ([sys.executable, '-c', f'open({str(log)!r}, "a").write({name!r})'],
                     str(tmp_path)) for name in ('a', 'b')}
  seconds = machine.time_commands(commands, 2)
  assert log.read_text() == 'ababab'   # an untimed round first
  assert [len(v) for v in seconds.values()] == [2, 2] and min(seconds['a']) > 0
  # The commands run with Python's bytecode cache on, whatever this process was given.
  flag = tmp_path / 'flag.txt'
  check = [sys.executable, '-c', f'import sys; open({str(flag)!r}, "w").write('
           'str(sys.dont_write_bytecode))']
  machine.time_commands({'check': (check, str(tmp_path))}, 1)
  assert flag.read_text() == 'False'
  with pytest.raises(SystemExit, match=r'bad failed \(exit 3\)'):
    machine.time_commands({'bad': ([sys.executable, '-c', 'raise SystemExit(3)'], '.')}, 1)
