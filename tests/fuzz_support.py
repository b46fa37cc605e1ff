"""Shared by the hypothesis fuzz tests: example budgets, the in-process CLI runner, folder snapshots.

Every fuzz property exists twice: a small default run (``FAST`` examples per property, part of the
default suite) and the big one under ``slow`` (``SLOW`` examples per property; over all properties
more than 1,000 cases).  Both are derandomized: the same cases on every run and machine.
"""

import contextlib
import hashlib
import io
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

FAST, SLOW = 20, 220


def fuzz_settings(n: int):
    return settings(max_examples=n, deadline=None, derandomize=True, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large, HealthCheck.filter_too_much])


def fast_and_slow(make):
    """``test_x, test_x_slow = fast_and_slow(make)`` with ``make(n)`` -> a hypothesis test of n cases."""
    return make(FAST), pytest.mark.slow(make(SLOW))


def run_cli(argv, cwd: Path | None = None) -> tuple[int, str, str]:
    """``mdm ARGV`` in this process: (exit code, stdout, stderr).  A traceback propagates."""
    from mdm import cli

    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = cli.main([str(a) for a in argv])
    finally:
        os.chdir(old)
    return rc, out.getvalue(), err.getvalue()


def assert_one_line_error(rc: int, err: str, argv) -> None:
    lines = err.splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("mdm: error: "), (argv, rc, err)


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``root`` with its size and SHA-256 (to show nothing was created or changed)."""
    return {str(p.relative_to(root)): (p.stat().st_size, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(root.rglob("*")) if p.is_file()} | {
            str(p.relative_to(root)) + "/": (0, "") for p in root.rglob("*") if p.is_dir()}
