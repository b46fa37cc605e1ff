"""One writer per run folder: an advisory ``flock`` on ``OUT/.mdm-train.lock``, held for the run's life.

The kernel drops a ``flock`` when its process dies (even by ``kill -9``), so a crashed run never
leaves the folder stuck; the file itself only records who holds it (pid, host, start time) for the
refusal message.  The holder deletes the file when it lets go.  A process that locked a file which
another one deleted meanwhile (it was letting go) sees the path now names another inode and retries,
so two processes can never both believe they hold the folder.

POSIX only (``fcntl``); where it is missing the lock is a no-op.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from mdm.errors import ConfigError, RunLockedError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["LOCK_FILE", "RunLock", "check_unlocked", "hold_run_folder"]

LOCK_FILE = ".mdm-train.lock"


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return f"pid {info['pid']} on {info['host']}, since {info['started']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "holder unknown"


def _refuse(out: Path, path: Path) -> RunLockedError:
    return RunLockedError(
        f"run folder {out} is in use by another mdm train ({_holder(path)}); "
        "wait for it to finish, stop it, or train into another --out"
    )


def check_unlocked(out: str | Path) -> None:
    """Raise :class:`RunLockedError` if a live process holds ``out``'s lock (creates nothing)."""
    path = Path(out) / LOCK_FILE
    if fcntl is None:
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # no lock file: nobody holds the folder
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _refuse(Path(out), path) from None
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class RunLock:
    """``with RunLock(out):`` -- hold the run folder ``out`` (created if missing) or raise
    :class:`RunLockedError`.  On exit the lock file is removed, and so is ``out`` if this lock
    created it and nothing else was written there (a run refused before writing leaves no trace)."""

    def __init__(self, out: str | Path):
        self.out = Path(out)
        self.path = self.out / LOCK_FILE
        self._fd: int | None = None
        self._created_dir = False

    def acquire(self) -> RunLock:
        try:
            self._created_dir = not self.out.exists()
            self.out.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise ConfigError(f"cannot create the run folder {self.out}: {e}") from e
        if fcntl is None:  # pragma: no cover
            return self
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                self._cleanup_dir()
                raise _refuse(self.out, self.path) from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)  # the previous holder deleted the file as we locked it: lock the new one
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(info).encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            try:
                self.path.unlink(missing_ok=True)  # while still holding it: see the module docstring
            finally:
                os.close(self._fd)
                self._fd = None
        self._cleanup_dir()

    def _cleanup_dir(self) -> None:
        if self._created_dir:
            with suppress(OSError):
                self.out.rmdir()  # only succeeds when empty

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


@contextmanager
def hold_run_folder(out: Path, ctx) -> Iterator[None]:
    """The trainer's lock: rank 0 holds ``out``; every rank raises if it is taken (no rank hangs)."""
    lock, error = RunLock(out), None
    if ctx.is_main:
        try:
            lock.acquire()
        except (RunLockedError, ConfigError) as e:
            error = e
    if ctx.any(error is not None):
        raise error or RunLockedError(f"run folder {out} is in use by another process (see rank 0)")
    try:
        yield
    finally:
        lock.release()
