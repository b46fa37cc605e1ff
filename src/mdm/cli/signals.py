"""Exit codes of an interrupted ``mdm train``: 130 after SIGINT, 143 after SIGTERM (128 + the signal).

The trainer turns SIGINT / SIGTERM into "save a checkpoint after this step and return" (the run
stays resumable), so ``mdm train`` used to exit 0 and ``mdm train ... && mdm eval ...`` went on with
a half-trained model.  :func:`stop_signals` watches which signals arrived (through
``signal.set_wakeup_fd``: the interpreter writes each signal's number to a pipe, whichever Python
handler -- ours or the trainer's -- runs for it), and :func:`exit_code` turns them into the shell's
convention.  Before the trainer installs its handlers (start-up: config, data, model), a SIGTERM
unwinds the command like Ctrl-C does (``SystemExit(143)``), so ``finally`` blocks run and the run
lock removes the folder it created: no folder holding only the lock is left behind.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field

__all__ = ["Stopped", "exit_code", "stop_signals"]


@dataclass
class Stopped:
    """The signals (numbers) that arrived while :func:`stop_signals` was active."""

    signals: list[int] = field(default_factory=list)


def _on_sigterm(signum, frame):
    print("mdm: terminated (SIGTERM) during start-up; nothing was trained", file=sys.stderr)
    raise SystemExit(128 + signum)


@contextmanager
def stop_signals() -> Iterator[Stopped]:
    stopped = Stopped()
    if threading.current_thread() is not threading.main_thread():
        yield stopped
        return
    r, w = os.pipe()
    os.set_blocking(w, False)
    os.set_blocking(r, False)
    old_fd = signal.set_wakeup_fd(w, warn_on_full_buffer=False)
    old_term = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield stopped
    finally:
        signal.signal(signal.SIGTERM, old_term)
        signal.set_wakeup_fd(old_fd)
        with suppress(BlockingIOError):
            stopped.signals.extend(os.read(r, 1024))
        os.close(r)
        os.close(w)


def exit_code(stopped: Stopped, result) -> int:
    """0 for a run that ended by itself (finished, or ``stop_after``); 128 + the signal otherwise."""
    if getattr(result, "interrupted", False):
        for sig in (signal.SIGTERM, signal.SIGINT):
            if int(sig) in stopped.signals:
                return 128 + int(sig)
    return 0
