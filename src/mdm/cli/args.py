"""Argument types and output checks shared by the ``mdm`` subcommands.

A type raises :class:`argparse.ArgumentTypeError`, which the parser turns into one ``mdm: error:`` line.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from mdm.errors import ConfigError, MDMError

__all__ = ["UsageError", "Parser", "int_at_least", "float_in", "schedule_arg", "check_output_file",
           "check_output_dir"]


class UsageError(Exception):
    """A bad command line (raised by the parser instead of printing usage and exiting)."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's default prints the usage too: we want one line
        raise UsageError(message)


def int_at_least(lo: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be >= {lo}, got {v}")
        return v

    parse.__name__ = f"integer >= {lo}"
    return parse


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
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{flag} {path} is a directory; give a file name")
    if not p.parent.is_dir():
        raise ConfigError(f"{flag} {path}: folder {p.parent} does not exist")


def check_output_dir(path: Path, flag: str = "--out") -> None:
    """The folder, or its nearest existing ancestor, must be a directory (so mkdir will work)."""
    existing = next(p for p in (path, *path.parents) if p.exists() or p == Path(p.anchor or "."))
    if existing.exists() and not existing.is_dir():
        raise ConfigError(f"{flag} {path}: {existing} exists and is not a directory")
