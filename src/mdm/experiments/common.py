"""What every experiment writes: result.json with provenance, report.md, plots."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import platform
import sys
from pathlib import Path


def provenance(command: str, seed: int, config: dict, precision: str | None = None, **extra) -> dict:
    """Command, seed, config, library versions and machine: attached to every published number.

    ``precision``: the resolved training/inference precision (``fp32`` / ``bf16``), when one applies;
    ``extra`` (e.g. ``seeds``, ``wall_s``, ``part_seconds``) is added as given.
    """
    import numpy
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    from mdm import __version__
    from mdm.train.precision import cpu_capability

    prov = {
        "command": command,
        "seed": seed,
        "config": config,
        "versions": {
            "mdm": __version__,
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "numpy": numpy.__version__,
        },
        "machine": {
            "hostname": platform.node(),
            "platform": platform.platform(),
            "cpu": cpu,
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "cpu_capability": cpu_capability(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    if precision is not None:
        prov["precision"] = precision
    return {**prov, **extra}


def select_parts(available: tuple[str, ...], wanted) -> tuple[str, ...]:
    """The parts of an experiment to run: all of ``available`` when ``wanted`` is None, else
    ``wanted`` (names, in the experiment's order); an unknown or empty selection raises
    :class:`~mdm.errors.ConfigError` before anything runs."""
    from mdm.errors import ConfigError

    if wanted is None:
        return tuple(available)
    wanted = tuple(wanted)
    unknown = [w for w in wanted if w not in available]
    if unknown or not wanted:
        raise ConfigError(f"unknown part(s) {', '.join(unknown) or '(none given)'}; this preset has: "
                          f"{', '.join(available)}")
    return tuple(a for a in available if a in wanted)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``: a reader
    (or a run killed midway) sees the old file or the new one, never half of one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json_atomic(path: Path, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False, default=float))


def markdown_table(header: list[str], rows: list[list]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4g}"
        return str(v)

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def provenance_markdown(prov: dict) -> str:
    v, m = prov["versions"], prov["machine"]
    seeds = prov.get("seeds") or [prov["seed"]]
    wall = f"- wall time: {prov['wall_s']:.0f} s\n" if "wall_s" in prov else ""
    return (
        f"- command: `{prov['command']}`\n- seed{'s' if len(seeds) > 1 else ''}: "
        f"{', '.join(map(str, seeds))}\n"
        f"- versions: mdm {v['mdm']}, python {v['python']}, torch {v['torch']}, numpy {v['numpy']}\n"
        f"- machine: {m['cpu']} ({m['cpu_count']} cores, {m['torch_threads']} torch threads, "
        f"CPU capability {m.get('cpu_capability', 'unknown')}), "
        f"{m.get('hostname', '?')}: {m['platform']}, cuda: {m['cuda']}\n- date: {prov['date']}\n{wall}"
    )


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
    from mdm.eval.stats import summarize

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
