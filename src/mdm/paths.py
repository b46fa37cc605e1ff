"""The one check of an output path, run by every command that writes before any work starts.

``check_writable_output(path, kind="dir"|"file", flag="--out")`` refuses, with one
:class:`~mdm.errors.ConfigError` line naming the path (and the folder it collides with):

* an empty path, a file name longer than the filesystem allows, a path under ``/proc`` or ``/sys``;
* a file target that is a folder, or a folder target that is a file; a missing parent folder of a
  file target;
* a target whose nearest existing folder cannot be written (read-only folder or filesystem);
* **a target inside, or equal to, a checkpoint folder** (the next save of that run replaces the
  whole folder and would delete it) **or a live run folder** (one a running ``mdm train`` holds),
  and a folder target that *contains* a checkpoint or a live run folder (``run_folder=True``, for
  ``mdm train --out``, lets the target be a run folder itself: its own ``checkpoint/``;
  ``may_contain_runs=True``, for ``mdm exp --out``, a folder of the command's own runs).

Nothing is created.  Used by ``mdm train --out``, ``mdm export OUT_DIR``, ``mdm demo --out``,
``mdm sample --trace``, ``mdm eval --json``, ``mdm tune-schedule --out``; ``mdm exp --out`` and any
other writer call it the same way.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mdm.errors import ConfigError

__all__ = ["check_writable_output", "is_checkpoint_dir", "is_live_run", "guarded_owner"]

CHECKPOINT_CONFIG = "config.json"
RUN_LOCK = ".mdm-train.lock"  # mdm.train.lock.LOCK_FILE (not imported: this module sits below train)
_SYSTEM = ("/proc", "/sys")
_CONTAINS_DEPTH = 2  # how deep a folder target is searched for checkpoints and live runs


def is_checkpoint_dir(path: Path) -> bool:
    """An mdm checkpoint folder: its config.json carries the ``mdm-checkpoint`` format tag."""
    f = path / CHECKPOINT_CONFIG
    if not f.is_file():
        return False
    try:
        with open(f, encoding="utf-8") as fh:
            head = fh.read(1 << 16)
    except (OSError, UnicodeDecodeError):
        return False
    try:
        return json.loads(head).get("format") == "mdm-checkpoint"
    except (ValueError, AttributeError):  # larger than the head, or damaged: look for the tag
        return '"format": "mdm-checkpoint"' in head


def is_live_run(path: Path) -> bool:
    """A run folder a live ``mdm train`` holds (its ``flock`` is taken)."""
    lock = path / RUN_LOCK
    if not lock.is_file():
        return False
    try:
        import fcntl
    except ImportError:  # pragma: no cover - no flock: the lock is a no-op there too
        return False
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def guarded_owner(path: Path) -> tuple[Path, str] | None:
    """``(folder, what)`` when ``path`` lies inside or at a checkpoint / live run folder, else None."""
    for p in (path, *path.parents):
        if is_checkpoint_dir(p):
            return p, "checkpoint folder"
        if is_live_run(p):
            return p, "live run folder"
    return None


def _contained(path: Path, allow_run: bool, allow: tuple[Path, ...]) -> tuple[Path, str] | None:
    """A checkpoint / live run folder within ``_CONTAINS_DEPTH`` levels below ``path``."""
    level = [path]
    for depth in range(1, _CONTAINS_DEPTH + 1):
        nxt = []
        for d in level:
            try:
                children = [c for c in d.iterdir() if c.is_dir() and not c.is_symlink()]
            except OSError:
                continue
            for c in children:
                own = c.name == "checkpoint" or c.name.startswith(".checkpoint.")  # and a save's temp dirs
                if (allow_run and depth == 1 and own) or c in allow or c.parent in allow:
                    continue  # the run folder's own checkpoint; what the caller may replace
                if is_checkpoint_dir(c):
                    return c, "checkpoint folder"
                if is_live_run(c):
                    return c, "live run folder"
            nxt.extend(children)
        level = nxt[:1000]
    return None


def _name_limit(existing: Path) -> int:
    try:
        return os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):  # pragma: no cover
        return 255


def check_writable_output(path: str | os.PathLike | None, *, kind: str = "dir", flag: str = "--out",
                          run_folder: bool = False, allow: tuple[Path, ...] = (),
                          may_contain_runs: bool = False) -> Path | None:
    """Refuse an output path that cannot or must not be written (see the module docstring); return
    it as a :class:`Path` (None stays None: an option not given).  ``kind``: ``"dir"`` (a folder the
    command fills) or ``"file"``.  ``run_folder``: the target is an ``mdm train`` run folder (it may
    hold its own ``checkpoint/``).  ``allow``: run or checkpoint folders inside a folder target that
    the caller may replace (``mdm demo`` its own earlier run).  ``may_contain_runs``: the target is
    a folder of runs the command itself made and resumes (``mdm exp --out``): skip the search below."""
    if path is None:
        return None
    text = os.fspath(path)
    if not text.strip():
        raise ConfigError(f"{flag}: the path is empty; give a {'folder' if kind == 'dir' else 'file'} name")
    if "\x00" in text:
        raise ConfigError(f"{flag} {text!r}: a path cannot contain a NUL character")
    p = Path(text)
    full = Path(os.path.abspath(p))
    limit = _name_limit(Path(full.anchor))  # before any stat: a too-long name makes it raise
    too_long = [part for part in (*p.parts, *full.parts) if len(os.fsencode(part)) > limit]
    if too_long:
        raise ConfigError(f"{flag}: the name {too_long[0][:40]}... is {len(os.fsencode(too_long[0]))} bytes, "
                          f"longer than this filesystem allows ({limit})")
    size = len(os.fsencode(str(full)))
    if size >= 4096:
        raise ConfigError(f"{flag}: the path is {size} bytes, too long for this system")
    if any(str(full) == s or str(full).startswith(s + "/") for s in _SYSTEM):  # as written: /dev/stdout
        raise ConfigError(f"{flag} {text}: {full} is a kernel folder, not a place for files")  # stays usable
    resolved = full.resolve()
    existing = next(q for q in (full, *full.parents) if q.exists() or q == Path(q.anchor))
    if kind == "file":
        if full.is_dir():
            raise ConfigError(f"{flag} {text} is a directory; give a file name")
        if not full.parent.is_dir():
            raise ConfigError(f"{flag} {text}: folder {full.parent} does not exist")
    elif existing.exists() and not existing.is_dir():
        raise ConfigError(f"{flag} {text}: {existing} exists and is not a directory")
    target_dir = full.parent if kind == "file" else existing
    if kind == "file" and full.exists() and not os.access(full, os.W_OK):
        raise ConfigError(f"{flag} {text}: the file is read-only")
    if not os.access(target_dir, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {text}: cannot write in {target_dir} (read-only folder or filesystem)")
    owner = guarded_owner(resolved)
    if owner is not None and not (run_folder and owner[0] == resolved and owner[1] == "live run folder"):
        folder, what = owner
        raise ConfigError(f"{flag} {text} is inside the {what} {folder}: its next save would delete what is "
                          f"written there (or it is in use); choose a folder outside it")
    if kind == "dir" and not may_contain_runs and resolved.is_dir():
        inner = _contained(resolved, run_folder, tuple(Path(os.path.abspath(a)).resolve() for a in allow))
        if inner is not None:
            raise ConfigError(f"{flag} {text} contains the {inner[1]} {inner[0]}: writing there could "
                              "replace it; choose another folder")
    return p
