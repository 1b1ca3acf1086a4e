"""SciPy's ``linear_sum_assignment``, loaded without the rest of ``scipy.optimize``.

The evaluators' only optimisation routine is SciPy's Hungarian solver (the compiled
``scipy.optimize._lsap`` extension). ``import scipy.optimize`` first runs the package's
``__init__``, which imports linprog, the minimisers, ``scipy.linalg`` and SciPy's array-API
layer: 0.33 s of a 0.45 s start-up of the evaluation command on the 2-core machine, against
0.3 ms for the extension itself. ``linear_sum_assignment`` here loads that extension module
from SciPy's installed package under its own name (so a later ``import scipy.optimize`` finds
and reuses it: ``scipy.optimize.linear_sum_assignment is assignment.linear_sum_assignment``)
and is SciPy's function, not a re-implementation.

Where the extension is not found as a file of its own (another SciPy layout), the function is
taken from ``scipy.optimize`` as usual: the same function, only the start-up is slower.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from typing import Callable

_MODULE = 'scipy.optimize._lsap'


def _load() -> Callable:
  """SciPy's ``linear_sum_assignment`` (see the module docstring)."""
  module = sys.modules.get(_MODULE)
  if module is None and 'scipy.optimize' not in sys.modules:
    import scipy  # pylint: disable=import-outside-toplevel
    directory = os.path.join(os.path.dirname(scipy.__file__), 'optimize')
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
      path = os.path.join(directory, '_lsap' + suffix)
      if os.path.isfile(path):
        spec = importlib.util.spec_from_file_location(_MODULE, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[_MODULE] = module
        break
  if module is None or not hasattr(module, 'linear_sum_assignment'):
    import scipy.optimize  # pylint: disable=import-outside-toplevel
    return scipy.optimize.linear_sum_assignment
  return module.linear_sum_assignment


_function: Callable | None = None


def linear_sum_assignment(cost, maximize: bool = False):
  """``scipy.optimize.linear_sum_assignment(cost, maximize)``: (row indices, column indices)."""
  global _function
  if _function is None:
    _function = _load()
  return _function(cost, maximize)
