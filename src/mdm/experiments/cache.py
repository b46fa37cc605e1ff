"""Per-(part, seed) results of an experiment run, saved atomically so a killed run can resume.

``OUT/parts/PART/seed-N.json`` holds ``{"key", "part", "seed", "result"}``; ``key`` hashes everything
the result depends on (:func:`mdm.experiments.runner.part_key`).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mdm.provenance import write_json_atomic

__all__ = ["PartCache"]


class PartCache:
    """Saved part results under ``out_dir/parts``; ``reuse=False`` computes everything afresh (and
    overwrites what was saved)."""

    def __init__(self, out_dir: Path, reuse: bool):
        self.root = Path(out_dir) / "parts"
        self.reuse = reuse

    @staticmethod
    def key(what: dict) -> str:
        """A short hash of the JSON ``what`` (keys sorted: the same content, the same key)."""
        blob = json.dumps(what, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def path(self, part: str, seed: int) -> Path:
        return self.root / part / f"seed-{seed}.json"

    def load(self, part: str, seed: int, key: str) -> dict | None:
        """``{"result": ...}`` saved for ``(part, seed)`` if reuse is on and its key matches, else None."""
        path = self.path(part, seed)
        if not self.reuse or not path.is_file():
            return None
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError):
            return None  # unreadable: recompute
        return {"result": saved["result"]} if saved.get("key") == key and "result" in saved else None

    def store(self, part: str, seed: int, key: str, result: Any) -> None:
        path = self.path(part, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, {"key": key, "part": part, "seed": seed, "result": result})
