"""``metrics.jsonl``: one JSON row per log / validation event, appended as training goes."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["METRICS_FILE", "append_metrics", "read_metrics", "write_metrics"]

METRICS_FILE = "metrics.jsonl"


def append_metrics(path: Path, row: dict) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def write_metrics(path: Path, rows: list[dict]) -> None:
    """Replace the file with ``rows`` (a resumed run keeps the rows up to its step)."""
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def read_metrics(path: Path, upto_step: int | None = None) -> list[dict]:
    """The rows of a ``metrics.jsonl`` (up to ``upto_step``), skipping a line cut short by a kill and
    any line that is not a metrics row (so a damaged log never blocks ``--resume``)."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a kill
        if not isinstance(row, dict) or not isinstance(row.get("step", 0), (int, float)):
            continue  # an edited or damaged line: not a metrics row
        if upto_step is None or row.get("step", 0) <= upto_step:
            rows.append(row)
    return rows
