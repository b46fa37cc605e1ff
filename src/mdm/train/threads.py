"""Intra-op torch threads of a training run: ``threads: N``, ``null`` (torch's default) or ``auto``.

``auto`` is resolved once, when a run starts and before its data is built, by the rule of
:func:`auto_threads` (the cores this process may use, less those the 1-minute load average says are
busy); :func:`set_threads` applies the config's value.  A resumed run keeps the count its checkpoint
recorded, so it continues as the uninterrupted run would have whatever the load is now (an integer
``--set threads=N`` on the resume chooses another).  The count a run used is in every ``train``
row of ``metrics.jsonl`` and in the checkpoint's metadata (``threads``), and in
:attr:`mdm.train.TrainResult.threads`.
"""

from __future__ import annotations

import math
import os

import torch

from mdm.errors import ConfigError

__all__ = ["AUTO", "auto_threads", "check_threads_setting", "local_processes", "set_threads"]

AUTO = "auto"


def auto_threads(usable: int, load: float, processes: int = 1) -> int:
    """Threads per process for ``threads: auto``: the idle cores, shared among the training
    processes on this machine, at least one each::

        busy    = floor(load + 1/2)                     # the 1-minute load average, rounded half up
        threads = max(1, (usable - busy) // processes)

    ``usable``: the cores this process may run on (``os.sched_getaffinity``); ``load``: the 1-minute
    load average (``os.getloadavg``); ``processes``: training processes on this machine (torchrun's
    ``LOCAL_WORLD_SIZE``, 1 without torchrun).  So on 2 cores: idle -> 2, one busy -> 1, overloaded
    -> 1, and 2 DDP processes -> 1 each; on 4 cores at load 1.2 -> 3, at load 1.5 -> 2.

    Why (``docs/results/performance.md``, section 4; a 2-core AMD EPYC, fp32): with the second core
    idle, two intra-op threads trained at 1.66x (``kjv-char-tiny``) and 1.74x (``sudoku-hard``) the
    tokens/s of one thread, and 2-process DDP with one thread each at 1.79-1.91x; with other jobs on
    the second core (load average 2.2-4.7), two threads fell to 0.19x on ``kjv-char-tiny``: they
    spin-wait on the busy core.  A wrong guess costs far more than a right one gains, so a core
    counts as busy from half a load up, and processes x threads never exceeds the idle cores.

    Limits of the rule: the load average counts the whole machine (in a container, the host), so
    with fewer usable cores than the machine has it errs towards fewer threads; it ignores cgroup
    CPU quotas; it includes this process only once it has run (about ``1 - exp(-t / 60)`` of a
    core after ``t`` seconds: 0.08 after 5 s), which is why it is read when the run starts, where
    rounding half up leaves a few seconds of start-up out.
    """
    busy = math.floor(load + 0.5)
    return max(1, (usable - busy) // processes)


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity; all of them where there is none)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def local_processes(world_size: int = 1) -> int:
    """Training processes on this machine: torchrun's ``LOCAL_WORLD_SIZE`` (else ``world_size``)."""
    try:
        return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", world_size)))
    except ValueError:
        return max(1, world_size)


def _resolve_auto(processes: int) -> tuple[int, str]:
    usable = usable_cores()
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # Windows: no load average; do not guess the other cores idle
        return 1, f"auto: no load average here, 1 thread ({usable} usable cores)"
    n = auto_threads(usable, load, processes)
    shared = f", {processes} processes" if processes > 1 else ""
    return n, f"auto: {usable} usable cores, 1-minute load average {load:.2f}{shared}"


def set_threads(value: int | str | None, *, kept: int | None = None, processes: int = 1) -> tuple[int, str]:
    """Set torch's intra-op threads to the config's ``threads`` ``value``; return the count in
    use and how it was chosen.  ``auto``: ``kept`` (the count a resumed checkpoint's run used) when
    given, else :func:`auto_threads` of this process's cores and the load now; an integer: that;
    ``None``: torch's default, untouched."""
    if value == AUTO:
        resumed = isinstance(kept, int) and not isinstance(kept, bool) and kept >= 1
        n, why = (kept, "auto, kept from the checkpoint's run") if resumed else _resolve_auto(processes)
        torch.set_num_threads(n)
    elif value is not None:
        torch.set_num_threads(value)
        why = "the config's threads"
    else:
        why = "torch's default"
    return torch.get_num_threads(), why


def check_threads_setting(value: object) -> None:
    """ConfigError unless ``value`` is an integer >= 1, ``"auto"`` or ``None`` (the upper bound is
    :func:`mdm.limits.check_threads`)."""
    count = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    if value is None or value == AUTO or count:
        return
    raise ConfigError(f"threads must be an integer >= 1, 'auto' (one thread per idle core, chosen when "
                      f"the run starts) or null (torch's default), got {value!r}")
