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
