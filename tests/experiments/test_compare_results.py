"""``scripts/compare_results.py``: the before/after check of the experiments' numbers."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "compare_results.py"


@pytest.fixture(scope="module")
def cmp():
    spec = importlib.util.spec_from_file_location("compare_results", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BASE = {"rows": [{"acc": 0.5, "n": 8, "ok": True, "gap": math.nan, "wall_s": 1.0, "ckpt": "/a/x"}],
        "provenance": {"seed": 0}, "curves": {"16": {"n_ter": None, "exp": 1.25}}, "wall_seconds": 3.0}


def _variant(**changes):
    new = json.loads(json.dumps(BASE))
    for path, value in changes.items():
        node = new
        *keys, last = path.split(".")
        for k in keys:
            node = node[int(k)] if isinstance(node, list) else node[k]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value
    return new


def test_timings_provenance_and_strings_do_not_count(cmp):
    new = _variant(**{"rows.0.wall_s": 9.0, "rows.0.ckpt": "/b/x", "provenance.seed": 5,
                      "wall_seconds": KeyError})
    res = cmp.compare(BASE, new)
    assert res["differ"] == [] and res["missing"] == [] and res["numbers"] == 6  # NaN equals NaN
    assert res["strings"] == ["$.rows[0].ckpt: '/a/x' != '/b/x'"]


@pytest.mark.parametrize(("change", "kind"), [
    ({"rows.0.acc": 0.5000000001}, "differ"),
    ({"rows.0.ok": 1}, "differ"),  # a bool is not the number 1
    ({"curves.16.n_ter": 4.0}, "differ"),
    ({"rows.0.gap": 0.0}, "differ"),
    ({"curves.16.exp": KeyError}, "missing"),
    ({"curves.16.lo": 1.0}, "added"),
    ({"rows": []}, "differ"),
])
def test_any_numeric_change_is_caught(cmp, change, kind, tmp_path):
    res = cmp.compare(BASE, _variant(**change))
    assert res[kind], res
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(BASE))
    b.write_text(json.dumps(_variant(**change)))
    assert cmp.main([str(a), str(b)]) == (0 if kind == "added" else 1) and cmp.main([str(a), str(a)]) == 0
