"""The ``mdm`` command: ``train``, ``sample``, ``eval``, ``demo``, ``exp``, ``tune-schedule``,
``export``, ``harness`` (+ subcommands added by hooks), one module per subcommand.

Every mistake in the arguments, a config or a checkpoint ends the command with ONE line on stderr,
``mdm: error: ...``, and exit code 2, before anything is written: arguments are parsed and checked,
configs loaded and checkpoints verified before an output folder is created.  Unexpected exceptions
(bugs) keep their traceback.

Each subcommand module has ``add(subparsers)``, which adds its parser and sets ``func``
(``parser.set_defaults(func=handler)``, ``handler(args) -> int | None``).  Other modules add
subcommands the same way through :data:`EXTENSIONS`: ``(module, function)`` pairs, where
``function(subparsers)`` is such an ``add``.  A module that is not installed is skipped.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Sequence

from mdm.cli import demo, exp, export, harness, sample, serve, train, tune_schedule
from mdm.cli import eval as evaluate
from mdm.cli.args import Parser, UsageError
from mdm.errors import MDMError

__all__ = ["main", "build_parser", "EXTENSIONS", "UNMASKERS"]

PROG = "mdm"

# Subcommands that live outside this package: (module, function(subparsers)).
EXTENSIONS: list[tuple[str, str]] = []

_BUILTIN = (train.add, sample.add, evaluate.add, demo.add, exp.add, tune_schedule.add, export.add,
            harness.add, serve.add)


def _extension_hooks() -> list[Callable]:
    hooks = []
    for module, func in EXTENSIONS:
        if importlib.util.find_spec(module) is None:
            continue  # optional module not installed
        hook = getattr(importlib.import_module(module), func, None)
        if hook is not None:
            hooks.append(hook)
    return hooks


def build_parser() -> argparse.ArgumentParser:
    from mdm import __version__

    parser = Parser(prog=PROG, description="Masked diffusion models of discrete sequences: train, sample, "
                    "evaluate. Start with `mdm demo`.")
    parser.add_argument("--version", action="version", version=f"mdm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (*_BUILTIN, *_extension_hooks()):
        add(sub)
    return parser


def __getattr__(name: str):
    if name == "UNMASKERS":  # the unmasker registry, imported on first use (it needs torch)
        from mdm.sampling.specs import UNMASKERS

        return UNMASKERS
    raise AttributeError(f"module 'mdm.cli' has no attribute {name!r}")


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mdm`` console script; returns the exit code."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except (UsageError, MDMError) as e:
        print(f"{PROG}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `mdm sample ... | head`: the reader left; stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
