"""Compare two experiment ``result.json`` files field by field: every number must be identical.

    python scripts/compare_results.py BASELINE/result.json NEW/result.json

Walks both JSON trees (dict keys, list items); every number (and bool / null) found in either
must be equal -- exactly, NaN equal to NaN.  Left out:

* ``provenance``, ``evidence`` and ``plots`` (where and when it ran, added boxes, file names);
* wall-clock timings: keys ``wall_s``, ``wall_seconds``, ``seconds``, ``total_seconds``, ``sample_seconds``,
  ``train_seconds``, ``train_wall_s``, ``wall_time_s``, ``elapsed_s``, ``timings_s``,
  ``tokens_per_second`` (measured time, different on every run);
* strings are compared too but only reported (paths such as ``checkpoint`` differ with ``--out``).

Keys present on one side only are listed: a numeric field of the baseline missing from the new
result fails, one the new result adds (e.g. a CI) is only reported.  Exit 0 iff no number differs
and no numeric field of the baseline is missing.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

EXCLUDED = {"provenance", "evidence", "plots", "wall_s", "wall_seconds", "seconds", "total_seconds",
            "sample_seconds",
            "train_seconds", "train_wall_s", "wall_time_s", "elapsed_s", "timings_s", "tokens_per_second"}


def _numeric(v) -> bool:
    return v is None or isinstance(v, (bool, int, float))


def _has_number(v) -> bool:
    if isinstance(v, dict):
        return any(_has_number(x) for k, x in v.items() if k not in EXCLUDED)
    if isinstance(v, list):
        return any(_has_number(x) for x in v)
    return _numeric(v)


def compare(a, b, path: str = "$", out: dict | None = None) -> dict:
    """``{"numbers": n compared, "differ": [...], "missing": [...], "strings": [...]}``."""
    out = out if out is not None else {"numbers": 0, "differ": [], "missing": [], "added": [], "strings": []}
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k in EXCLUDED:
                continue
            if k not in b:
                out["missing" if _has_number(a[k]) else "strings"].append(f"{path}.{k}: only in baseline")
                continue
            if k not in a:
                out["added"].append(f"{path}.{k}: only in new")
                continue
            compare(a[k], b[k], f"{path}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out["differ"].append(f"{path}: length {len(a)} != {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            compare(x, y, f"{path}[{i}]", out)
    elif _numeric(a) and _numeric(b):
        out["numbers"] += 1
        same = a == b and type(a) is type(b) or (isinstance(a, float) and isinstance(b, float)
                                                  and math.isnan(a) and math.isnan(b))
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
            same = same or (a == b and not isinstance(b, bool))  # 1 == 1.0 written differently
        if not same:
            out["differ"].append(f"{path}: {a!r} != {b!r}")
    elif isinstance(a, str) and isinstance(b, str):
        if a != b:
            out["strings"].append(f"{path}: {a!r} != {b!r}")
    else:
        (out["differ"] if _has_number(a) or _has_number(b) else out["strings"]).append(
            f"{path}: {type(a).__name__} != {type(b).__name__}")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("baseline")
    ap.add_argument("new")
    ap.add_argument("-v", "--verbose", action="store_true", help="also list differing strings")
    args = ap.parse_args(argv)
    with open(args.baseline) as f:
        a = json.load(f)
    with open(args.new) as f:
        b = json.load(f)
    res = compare(a, b)
    for kind in ("differ", "missing") + (("added", "strings") if args.verbose else ()):
        for line in res[kind][:50]:
            print(f"{kind}: {line}")
    ok = not res["differ"] and not res["missing"]
    print(f"{'IDENTICAL' if ok else 'DIFFERENT'}: {res['numbers']} numbers compared, "
          f"{len(res['differ'])} differ, "
          f"{len(res['missing'])} numeric fields of the baseline missing, {len(res['added'])} fields added, "
          f"{len(res['strings'])} strings differ "
          f"(excluded: {', '.join(sorted(EXCLUDED))})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
