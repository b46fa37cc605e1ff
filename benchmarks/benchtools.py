"""What every benchmark here shares so its numbers hold on a shared machine.

* :func:`machine_line` -- CPU model, torch version, threads, ``torch.backends.cpu.get_cpu_capability()``
  and the load average, printed at the top of each run (a number without them cannot be compared).
* :func:`alternate` -- run the compared sides in turn, repeat by repeat, with the order of the sides
  rotated each repeat (so neither always runs first, after the other warmed the caches or while a
  neighbour's job started), timing each call in wall time *and* process CPU time.  On a loaded
  machine wall time counts the seconds another process held the core; process CPU time counts only
  this process's own work, so the ratio of CPU times is what a comparison should read.
* :class:`Timing` -- the medians of >= 3 repeats of both clocks.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

__all__ = ["Timing", "alternate", "cpu_model", "machine_line", "load_average", "timed"]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def load_average() -> str:
    try:
        return "{:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        return "n/a"


def machine_line() -> str:
    return (f"CPU {cpu_model()} ({os.cpu_count()} cores) | capability "
            f"{torch.backends.cpu.get_cpu_capability()} | torch {torch.__version__} | python "
            f"{sys.version.split()[0]} | torch threads {torch.get_num_threads()} | load average "
            f"{load_average()}")


@dataclass
class Timing:
    """Wall and process-CPU seconds of the repeats of one side; medians."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def wall_s(self) -> float:
        return statistics.median(self.wall)

    @property
    def cpu_s(self) -> float:
        return statistics.median(self.cpu)

    def to_dict(self) -> dict:
        return {"wall_s": self.wall_s, "cpu_s": self.cpu_s, "wall": self.wall, "cpu": self.cpu}


def timed(fn: Callable[[], object]) -> tuple[float, float, object]:
    """(wall seconds, process CPU seconds, result) of one call."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()
    return time.perf_counter() - w, time.process_time() - c, out


def alternate(sides: dict[str, Callable[[], object]], repeats: int, warmup: int = 1,
              check: Callable[[str, object], None] | None = None) -> dict[str, Timing]:
    """Time each side ``repeats`` times (after ``warmup`` untimed rounds), the sides taking turns
    and their order rotated every repeat; ``check(name, result)`` sees every timed result."""
    if repeats < 3:
        raise ValueError("report medians of at least 3 repeats")
    names = list(sides)
    for _ in range(warmup):
        for name in names:
            sides[name]()
    out = {name: Timing() for name in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            w, c, res = timed(sides[name])
            out[name].wall.append(w)
            out[name].cpu.append(c)
            if check is not None:
                check(name, res)
    return out
