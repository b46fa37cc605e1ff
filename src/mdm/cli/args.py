"""Argument types and output checks shared by the ``mdm`` subcommands.

A type raises :class:`argparse.ArgumentTypeError`, which the parser turns into one ``mdm: error:`` line.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from mdm.errors import MDMError
from mdm.limits import INT64_MAX, MAX_STEPS, SEED_MAX, SEED_MIN
from mdm.paths import check_writable_output

__all__ = ["UsageError", "Parser", "int_at_least", "int_in", "seed_arg", "steps_arg", "float_in",
           "schedule_arg", "check_output_file", "check_output_dir"]


class UsageError(Exception):
    """A bad command line (raised by the parser instead of printing usage and exiting)."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's default prints the usage too: we want one line
        raise UsageError(message)


def int_in(lo: int, hi: int | Callable[[], int] = INT64_MAX, what: str = "") -> Callable[[str], int]:
    """An integer in ``[lo, hi]`` (``hi`` may be a function: a machine limit read when parsing).
    Every integer option has an upper bound: at most :data:`mdm.limits.INT64_MAX`."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        top = hi() if callable(hi) else hi
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be >= {lo}, got {v}")
        if v > top:
            raise argparse.ArgumentTypeError(f"must be <= {top}{what}, got {v}")
        return v

    parse.__name__ = f"integer >= {lo}"
    return parse


def int_at_least(lo: int) -> Callable[[str], int]:
    return int_in(lo)


seed_arg = int_in(SEED_MIN, SEED_MAX, " (mdm.limits.SEED_MAX)")
seed_arg.__name__ = "seed"
steps_arg = int_in(1, MAX_STEPS, " (mdm.limits.MAX_STEPS)")
steps_arg.__name__ = "steps"


def float_in(lo: float, hi: float, lo_open: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (lo < v if lo_open else lo <= v) or not v <= hi:
            if hi == float("inf"):
                raise argparse.ArgumentTypeError(f"must be {'>' if lo_open else '>='} {lo:g}, got {text}")
            left = "(" if lo_open else "["
            raise argparse.ArgumentTypeError(f"must be in {left}{lo:g}, {hi:g}], got {text}")
        return v

    parse.__name__ = "number"
    return parse


def schedule_arg(text: str):
    """``--schedule SPEC``: the one schedule grammar, :func:`mdm.schedules.from_spec`."""
    from mdm.schedules import from_spec

    try:
        return from_spec(text)
    except MDMError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


schedule_arg.__name__ = "schedule"


def check_output_file(path: str | None, flag: str) -> None:
    """An output file: :func:`mdm.paths.check_writable_output` (``kind="file"``), before any work."""
    check_writable_output(path, kind="file", flag=flag)


def check_output_dir(path: Path, flag: str = "--out", **kw) -> None:
    """An output folder: :func:`mdm.paths.check_writable_output` (``kind="dir"``; ``kw`` passed on).
    Called with a flag alone (``mdm exp --out``), the folder may hold the command's own runs."""
    check_writable_output(path, kind="dir", flag=flag, **(kw or {"may_contain_runs": True}))
