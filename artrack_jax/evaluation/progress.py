"""Progress lines of long evaluations: frames done / total, elapsed, time left.

  progress = Progress(total, 'eval val')
  for ...:
    progress.update(done)          # prints at every 10% and at least every 30 s

A line reads ``eval val: 120/1000 frames (12%), 0:00:31 elapsed, 0:03:47 left``. The last
frame always prints (``... 1000/1000 frames (100%), 0:04:18``).
"""
from __future__ import annotations

import sys
import time
from typing import Callable, TextIO


def format_seconds(seconds: float) -> str:
  """``h:mm:ss``."""
  seconds = max(int(round(seconds)), 0)
  return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


class Progress:
  """Prints a progress line at each ``every_fraction`` of the total and at least every
  ``every_seconds`` (between updates), and at the end."""

  def __init__(self, total: int, what: str, *, unit: str = 'frames',
               every_fraction: float = 0.1, every_seconds: float = 30.0,
               stream: TextIO | None = None, clock: Callable[[], float] = time.monotonic):
    self.total = int(total)
    self.what = what
    self.unit = unit
    self.every_fraction = float(every_fraction)
    self.every_seconds = float(every_seconds)
    self.stream = stream
    self.clock = clock
    self.start = clock()
    self._last_time = self.start
    self._steps = max(int(round(1.0 / self.every_fraction)), 1)   # lines at k / steps
    self._last_step = 0
    self.lines = 0

  def line(self, done: int) -> str:
    elapsed = self.clock() - self.start
    if self.total <= 0:
      return f'{self.what}: {done} {self.unit}, {format_seconds(elapsed)} elapsed'
    percent = 100.0 * done / self.total
    text = f'{self.what}: {done}/{self.total} {self.unit} ({percent:.0f}%), '
    if done >= self.total:
      return text + format_seconds(elapsed)
    left = elapsed / done * (self.total - done) if done else float('nan')
    return (text + f'{format_seconds(elapsed)} elapsed, '
            + (f'{format_seconds(left)} left' if done else 'time left unknown'))

  def update(self, done: int) -> bool:
    """Reports ``done`` frames out of the total; True when a line was printed."""
    now = self.clock()
    step = done * self._steps // self.total if self.total > 0 else 0
    due = (done >= self.total > 0 or step > self._last_step
           or now - self._last_time >= self.every_seconds)
    if not due:
      return False
    self._last_step = max(step, self._last_step)
    self._last_time = now
    print(self.line(done), file=self.stream or sys.stdout, flush=True)
    self.lines += 1
    return True
