"""What the experiments share: part and seed selection, report tables, CIs and paired differences, threads.

Provenance and the atomic writes live in :mod:`mdm.provenance` (re-exported here)."""

from __future__ import annotations

import contextlib

from mdm.errors import ConfigError
from mdm.limits import SEED_MAX
from mdm.provenance import (  # noqa: F401 (re-exported)
    provenance,
    provenance_markdown,
    write_json_atomic,
    write_text_atomic,
)


def select_parts(available: tuple[str, ...], wanted) -> tuple[str, ...]:
    """The parts of an experiment to run: all of ``available`` when ``wanted`` is None, else
    ``wanted`` (names, in the experiment's order); an unknown or empty selection raises
    :class:`~mdm.errors.ConfigError` before anything runs."""
    if wanted is None:
        return tuple(available)
    wanted = tuple(wanted)
    unknown = [w for w in wanted if w not in available]
    if unknown or not wanted:
        raise ConfigError(f"unknown part(s) {', '.join(unknown) or '(none given)'}; this preset has: "
                          f"{', '.join(available)}")
    return tuple(a for a in available if a in wanted)


MAX_SEEDS = 10_000  # seeds in one run: each trains or samples, so more is a typo, not a plan


def parse_seeds(text: str) -> tuple[int, ...]:
    """``"0-9"`` -> 0..9, ``"1,4,7"`` -> (1, 4, 7), ``"3"`` -> (3,)."""
    seeds: list[int] = []
    try:
        for item in str(text).split(","):
            item = item.strip()
            lo, sep, hi = item.partition("-")
            first, last = (int(lo), int(hi)) if sep else (int(item), int(item))
            if not 0 <= first <= last <= SEED_MAX or last - first >= MAX_SEEDS:
                raise ConfigError(f"bad seeds {text!r}: each range A-B needs 0 <= A <= B <= {SEED_MAX} "
                                  f"and at most {MAX_SEEDS:,} seeds")
            seeds += range(first, last + 1)
    except ValueError:
        raise ConfigError(f"bad seeds {text!r}; write A-B (e.g. 0-9), a list (1,4,7) or one seed") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ConfigError(f"bad seeds {text!r}: need distinct non-negative seeds, e.g. 0-9")
    return tuple(seeds)


def markdown_table(header: list[str], rows: list[list]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


@contextlib.contextmanager
def one_thread(threads: int = 1):
    """Run on ``threads`` torch threads (one by default), then restore.  The experiments are made of
    small ops (tiny transformers, a few enumerated states) that intra-op threads only slow down; on
    a busy machine two threads spinning for each other cost over 10x the CPU time (measured)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def interval(values) -> list[float]:
    """The 95% percentile bootstrap CI ``[lo, hi]`` of the mean of ``values``
    (:func:`mdm.eval.stats.summarize`, seeded: the same values give the same interval)."""
    from mdm.eval.stats import summarize  # numpy: imported when needed (``mdm --help`` stays fast)

    est = summarize(_numbers(values))
    return [est.lo, est.hi]


def paired(a, b) -> dict:
    """The paired difference ``a - b`` over matched items (:func:`mdm.eval.stats.paired_difference`):
    ``{"ci": [lo, hi], "p": two-sided sign-flip p-value}``."""
    from mdm.eval.stats import paired_difference

    est = paired_difference(_numbers(a), _numbers(b))
    return {"ci": [est.lo, est.hi], "p": est.p_value}


def _numbers(values):
    import numpy

    if hasattr(values, "detach"):  # a tensor (bool, int or float)
        values = values.detach().cpu().double().numpy()
    return numpy.asarray(values, dtype=numpy.float64)


def with_ci(value: float, ci, scale: float = 1.0, digits: int = 1, sign: bool = False) -> str:
    """``"12.3 [10.1, 14.5]"``: a value and its CI for a report table (``scale=100``: percent)."""
    if ci is None:
        return f"{scale * value:{'+' if sign else ''}.{digits}f}"
    lo, hi = ci
    return (f"{scale * value:{'+' if sign else ''}.{digits}f} "
            f"[{scale * lo:.{digits}f}, {scale * hi:.{digits}f}]")


def with_p(d: dict | None, scale: float = 1.0, digits: int = 1) -> str:
    """``"+1.2 [-0.3, 2.7] (p 0.12)"``: a paired difference ``{"diff", "ci", "p"}`` for a report
    table ("-" for None)."""
    if d is None:
        return "-"
    return f"{with_ci(d['diff'], d['ci'], scale, digits, sign=True)} (p {d['p']:.2g})"
