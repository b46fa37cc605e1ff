"""What every published number carries: the command, seed, config, library versions and machine it
came from (:func:`provenance`, and :func:`provenance_markdown` for a report), written atomically
(:func:`write_text_atomic`, :func:`write_json_atomic`).  Used by ``mdm exp`` and ``mdm demo``."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
from pathlib import Path

__all__ = ["provenance", "provenance_markdown", "write_json_atomic", "write_text_atomic"]


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


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, then rename it over ``path``: a reader
    (or a run killed midway) sees the old file or the new one, never half of one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json_atomic(path: Path, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False, default=float))
