"""Assemble the learning-curve and long-answer parts of ``mdm exp variance --preset full`` from a
folder where each part ran as its own process (``--parts curves-3`` etc.; the shared machine's load).

Finished parts are read from their cache (``OUT/parts/PART/seed-0.json``); a part still running or
stopped is read from its per-seed progress file (``OUT/progress/PART-seed-0.json``: whole seeds only)
and marked ``partial``.  Parts with neither are left out.  Usage: ``python assemble.py OUT``.
"""
import dataclasses
import json
import sys
from pathlib import Path

from mdm.experiments.runner import Part, run
from mdm.experiments.variance import EXPERIMENT, PRESETS

out = Path(sys.argv[1])
full = PRESETS["full"]
names = [p.name for p in EXPERIMENT.parts(full) if p.name not in ("mdm", "ar")]


def loader(name):
    def load(setup, seed, ctx):
        cached = out / "parts" / name / f"seed-{seed}.json"
        if cached.is_file():
            return json.loads(cached.read_text())["result"]
        return json.loads((out / "progress" / f"{name}-seed-{seed}.json").read_text()) | {"partial": True}
    return load


have = [n for n in names if (out / "parts" / n / "seed-0.json").is_file()
        or (out / "progress" / f"{n}-seed-0.json").is_file()]
print("parts:", have, "missing:", sorted(set(names) - set(have)), file=sys.stderr)
exp = dataclasses.replace(EXPERIMENT, parts=lambda p: [Part(n, loader(n)) for n in names])
run(exp, "full", out / "assembled", seeds=(0,), parts=have)
