"""Training metrics as JSON lines and TensorBoard events.

Every call of `MetricsWriter.write_scalars(step, scalars)` appends one line
`{"step": step, "name": value, ...}` to `workdir/metrics.jsonl` (easy to load with pandas or
`read_metrics`) and the same scalars to a TensorBoard event file under `workdir/tensorboard/`
(tensorboardX, so no TensorFlow is needed). Only process 0 of a multi-host job writes.

A resumed run redoes the steps after its checkpoint: `MetricsWriter(workdir, resume_step=N)`
first drops the training loop's records after step N from `metrics.jsonl` (they are written
again) and tells TensorBoard to hide its events after step N, so each step has one record.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Mapping

import jax
import numpy as np
import tensorboardX

METRICS_FILE = 'metrics.jsonl'
TENSORBOARD_DIR = 'tensorboard'
# The prefixes of the training loop's records (`train_lib.train`), those a resume writes again;
# other records (`eval/...` of eval.py) are never dropped.
TRAINING_PREFIXES = ('train/', 'val/')


def _to_float(name: str, value: Any) -> float:
  """A Python float from a scalar (Python, NumPy or JAX); anything else is a clear error."""
  array = np.asarray(value)
  if array.size != 1:
    raise ValueError(f'metric {name!r} must be a scalar, got shape {array.shape}')
  return float(array.reshape(()))


class MetricsWriter:
  """Writes scalar metrics to `workdir/metrics.jsonl` and TensorBoard.

  Args:
    workdir: the training directory (created when missing).
    enabled: write at all; defaults to `jax.process_index() == 0` so that only one host of a
      multi-host job writes.
    resume_step: the step training (re)starts after: the training records of later steps are
      dropped from `metrics.jsonl` and hidden in TensorBoard. None: append only.
  """

  def __init__(self, workdir: str, enabled: bool | None = None,
               resume_step: int | None = None):
    self.workdir = os.fspath(workdir)
    self.enabled = (jax.process_index() == 0) if enabled is None else enabled
    self._jsonl = None
    self._tensorboard = None
    if self.enabled:
      os.makedirs(self.workdir, exist_ok=True)
      path = os.path.join(self.workdir, METRICS_FILE)
      if resume_step is not None:
        drop_records_after(path, resume_step)
      # Appending keeps the history of a resumed run in one file.
      self._jsonl = open(path, 'a', encoding='utf-8')
      self._tensorboard = tensorboardX.SummaryWriter(
          logdir=os.path.join(self.workdir, TENSORBOARD_DIR), flush_secs=30,
          purge_step=None if resume_step is None else int(resume_step) + 1)

  def write_scalars(self, step: int, scalars: Mapping[str, Any]) -> None:
    """Writes one record of scalars at `step`.

    Non-finite values are kept (JSON `NaN`/`Infinity`, which `json.loads` reads back) because a
    diverging loss is exactly what the log must show.
    """
    if not self.enabled:
      return
    values = {name: _to_float(name, value) for name, value in scalars.items()}
    record = {'step': int(step), **values}
    self._jsonl.write(json.dumps(record, allow_nan=True) + '\n')
    self._jsonl.flush()
    for name, value in values.items():
      self._tensorboard.add_scalar(name, value, global_step=int(step))

  def flush(self) -> None:
    if self.enabled:
      self._jsonl.flush()
      self._tensorboard.flush()

  def close(self) -> None:
    if self.enabled and self._jsonl is not None:
      self._jsonl.close()
      self._tensorboard.close()
      self._jsonl = None
      self._tensorboard = None

  def __enter__(self) -> 'MetricsWriter':
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()


def _is_redone(line: str, step: int) -> bool:
  """Whether a metrics.jsonl line is a training-loop record of a step after `step`."""
  try:
    record = json.loads(line)
  except json.JSONDecodeError:
    return False          # Not ours to judge: kept as it is.
  if not isinstance(record, dict) or not isinstance(record.get('step'), int):
    return False
  names = [k for k in record if k != 'step']
  return record['step'] > step and bool(names) and all(
      n.startswith(TRAINING_PREFIXES) for n in names)


def drop_records_after(path: str, step: int) -> int:
  """Removes the training-loop records of steps after `step` from a metrics.jsonl file.

  Every other line stays, in order; the file is replaced atomically. Returns how many records
  were dropped (0 leaves the file untouched).
  """
  if not os.path.isfile(path):
    return 0
  with open(path, encoding='utf-8') as f:
    lines = f.readlines()
  kept = [line for line in lines if not (line.strip() and _is_redone(line, step))]
  if len(kept) == len(lines):
    return 0
  # A line cut short by a crash still ends with a newline, so the next record starts a line.
  kept = [line if line.endswith('\n') else line + '\n' for line in kept]
  tmp = f'{path}.tmp'
  with open(tmp, 'w', encoding='utf-8') as f:
    f.writelines(kept)
  os.replace(tmp, path)
  return len(lines) - len(kept)


def read_metrics(workdir: str) -> list[dict[str, float]]:
  """Reads `workdir/metrics.jsonl` back as a list of records (one per `write_scalars` call)."""
  path = os.path.join(os.fspath(workdir), METRICS_FILE)
  records = []
  with open(path, encoding='utf-8') as f:
    for line_number, line in enumerate(f, 1):
      if not line.strip():
        continue
      try:
        records.append(json.loads(line))
      except json.JSONDecodeError as e:
        raise ValueError(f'{path}: line {line_number} is not valid JSON: {e}') from e
  return records


def format_progress(step: int, num_steps: int, steps_per_second: float,
                    scalars: Mapping[str, float]) -> str:
  """One human-readable progress line: step, steps/s, loss, learning rate, skips and ETA.

  Example: `step 1200/300000 | 3.41 steps/s | loss 0.00213 | lr 2.0e-04 | eta 1d 00:16:40`.
  """
  parts = [f'step {step}/{num_steps}']
  if math.isfinite(steps_per_second):
    parts.append(f'{steps_per_second:.2f} steps/s')
  if 'loss' in scalars:
    parts.append(f"loss {scalars['loss']:.5g}")
  if 'learning_rate' in scalars:
    parts.append(f"lr {scalars['learning_rate']:.1e}")
  if scalars.get('skipped_steps', 0) > 0:
    # Steps whose loss or gradient was not finite and whose update was dropped.
    parts.append(f"skipped {int(scalars['skipped_steps'])}")
  if steps_per_second > 0 and math.isfinite(steps_per_second):
    parts.append('eta ' + _format_duration((num_steps - step) / steps_per_second))
  return ' | '.join(parts)


def _format_duration(seconds: float) -> str:
  seconds = int(round(max(seconds, 0.0)))
  days, seconds = divmod(seconds, 86400)
  hours, seconds = divmod(seconds, 3600)
  minutes, seconds = divmod(seconds, 60)
  clock = f'{hours:02d}:{minutes:02d}:{seconds:02d}'
  return f'{days}d {clock}' if days else clock
