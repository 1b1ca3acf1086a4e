"""The machine a run or a benchmark ran on: CPU model, core count, Python, JAX and devices.

One description for every place that records it: `timings.json` and the report's machine line
(`machine_info`, `format_machine`), the tracking evaluation's results, and the benchmarks'
printed header (`host_description`, `jax_description`). JAX is imported only when its part is
asked for, so a NumPy-only benchmark can describe its host without loading it.
"""
from __future__ import annotations

import collections
import os
import platform
from collections.abc import Mapping
from typing import Any


def cpu_model() -> str:
  """The CPU's model name (Linux /proc/cpuinfo, else what `platform` knows)."""
  try:
    with open('/proc/cpuinfo', encoding='utf-8') as f:
      for line in f:
        if line.lower().startswith('model name'):
          return line.split(':', 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or platform.machine() or 'unknown CPU'


def machine_info() -> dict[str, Any]:
  """The machine this process runs on, for `timings.json` and the report's machine line.

  Returns:
    {'platform': OS string, 'cpu': model name, 'cpu_count': logical cores, 'python': version,
     'jax': version, 'devices': ['<count> x <platform> (<device kind>)', ...]}.
  """
  import jax  # pylint: disable=g-import-not-at-top
  kinds = collections.Counter(f'{d.platform} ({d.device_kind})' for d in jax.devices())
  return {'platform': platform.platform(), 'cpu': cpu_model(), 'cpu_count': os.cpu_count(),
          'python': platform.python_version(), 'jax': jax.__version__,
          'devices': [f'{n} x {kind}' for kind, n in kinds.items()]}


def format_machine(info: Mapping[str, Any]) -> str:
  """One line from a `machine_info` dict (missing fields print as '?')."""
  devices = info.get('devices')
  devices = ', '.join(devices) if isinstance(devices, list) else devices
  return (f"{info.get('platform', '?')}; CPU {info.get('cpu', '?')}, "
          f"{info.get('cpu_count', '?')} cores; jax {info.get('jax', '?')}; devices: "
          f"{devices or '?'}")


def host_description() -> str:
  """Two lines for a benchmark's header: the OS, and the CPU with its logical core count."""
  return (f'platform: {platform.platform()}\n'
          f'cpu: {cpu_model()} ({os.cpu_count()} logical cores)')


def jax_description() -> str:
  """One line for a benchmark's header: Python and JAX versions and the JAX devices."""
  import jax  # pylint: disable=g-import-not-at-top
  return (f'python {platform.python_version()}, jax {jax.__version__}, '
          f'devices: {jax.devices()}')


# ------------------------------------------------------------------------------ machine load

IDLE_OTHER_CORES = 0.2   # other processes' average use (cores) above which a run is not idle


def _busy_cpu_seconds() -> float | None:
  """Seconds of CPU time all processes have used since boot (/proc/stat), None off Linux."""
  try:
    with open('/proc/stat', encoding='ascii') as f:
      fields = f.readline().split()
  except OSError:
    return None
  if not fields or fields[0] != 'cpu':
    return None
  ticks = [int(v) for v in fields[1:]]
  idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)          # idle + iowait
  busy = sum(ticks[:8]) - idle                                     # guest is inside user
  return busy / os.sysconf('SC_CLK_TCK')


def _own_cpu_seconds() -> float:
  import resource  # pylint: disable=g-import-not-at-top
  own = resource.getrusage(resource.RUSAGE_SELF)
  children = resource.getrusage(resource.RUSAGE_CHILDREN)
  return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class LoadMonitor:
  """Records whether the machine was idle while a benchmark ran, and says so.

  A ratio of two implementations timed in one run is only fair when nothing else runs (load
  slows PyTorch's threads more than XLA's), so every benchmark wraps its run in this:

      with machine.LoadMonitor():
        main()

  On entry it prints the load average; on exit the load average again and the CPU time other
  processes used meanwhile (all processes' busy time from /proc/stat minus this process's and
  its children's), as average cores. More than ``IDLE_OTHER_CORES``, or a 1-minute load
  average over 0.5 before the start, prints a WARNING line saying the figures were not taken
  on an idle machine. ``idle`` holds the verdict afterwards.
  """

  def __init__(self, stream=None):
    self.stream = stream
    self.idle = None
    self.other_cores = None

  def _print(self, text: str) -> None:
    import sys  # pylint: disable=g-import-not-at-top
    print(text, file=self.stream or sys.stdout, flush=True)

  def __enter__(self):
    import time  # pylint: disable=g-import-not-at-top
    self.load_before = os.getloadavg()
    self._busy = _busy_cpu_seconds()
    self._own = _own_cpu_seconds()
    self._start = time.monotonic()
    self._print('load average before: ' + ' '.join(f'{v:.2f}' for v in self.load_before)
                + ' (1, 5, 15 min)')
    return self

  def __exit__(self, *exc_info):
    import time  # pylint: disable=g-import-not-at-top
    wall = max(time.monotonic() - self._start, 1e-9)
    self.load_after = os.getloadavg()
    busy = _busy_cpu_seconds()
    parts = ['load average after: ' + ' '.join(f'{v:.2f}' for v in self.load_after)]
    if busy is not None and self._busy is not None:
      self.other_cores = max(0.0, (busy - self._busy) - (_own_cpu_seconds() - self._own)) / wall
      parts.append(f'other processes used {self.other_cores:.2f} cores on average over '
                   f'{wall:.0f} s')
    self._print('; '.join(parts))
    busy_before = self.load_before[0] > 0.5
    busy_during = self.other_cores is not None and self.other_cores > IDLE_OTHER_CORES
    self.idle = not (busy_before or busy_during)
    if not self.idle:
      self._print('WARNING: the machine was not idle (' + ', '.join(
          reason for reason, hit in (
              (f'1-minute load average {self.load_before[0]:.2f} at the start', busy_before),
              (f'other processes used {self.other_cores or 0:.2f} cores', busy_during)) if hit)
          + '): timings and ratios above are not idle-machine figures.')
    return False


TIMED_COMMANDS_NOTE = ('each command run once untimed first, with Python\'s bytecode cache on '
                       '(PYTHONDONTWRITEBYTECODE unset), as an installed package runs')


def time_commands(commands: Mapping[str, tuple[list[str], str]], runs: int
                  ) -> dict[str, list[float]]:
  """Wall seconds of whole commands (a new process each), ``runs`` times, alternating.

  As a user's commands run (``TIMED_COMMANDS_NOTE``): Python's bytecode cache is on for the
  commands even where this environment turns it off (``PYTHONDONTWRITEBYTECODE``; pip writes
  the cache when it installs a package), and one untimed round first writes it and warms the
  file cache, so no command pays for compiling its sources.

  Args:
    commands: name -> (argv, working directory); run in this order within each round, so that
      every command sees the same machine state.
    runs: timed rounds.

  Raises:
    SystemExit: a command failed (its exit code and the end of its stderr).
  """
  import subprocess  # pylint: disable=import-outside-toplevel
  import time  # pylint: disable=import-outside-toplevel
  env = {k: v for k, v in os.environ.items() if k != 'PYTHONDONTWRITEBYTECODE'}
  seconds: dict[str, list[float]] = {name: [] for name in commands}
  for round_ in range(runs + 1):
    for name, (argv, cwd) in commands.items():
      start = time.perf_counter()
      proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False, env=env)
      if round_:
        seconds[name].append(time.perf_counter() - start)
      if proc.returncode:
        raise SystemExit(f'{name} failed (exit {proc.returncode}): {" ".join(argv)}\n'
                         f'{proc.stderr[-2000:]}')
  return seconds
