"""The speed-up at equal accuracy of ``mdm exp eb-sampler``, with the setting chosen off the test set.

Ben-Hamu et al. (arXiv 2505.24857) compare samplers at equal accuracy: NFE(top-1) / NFE of the
cheapest setting whose accuracy is within 0.5 points of top-1.  Picking it among ~30 settings on
the prompts it is reported on flatters it, so :func:`speedup` chooses on the validation rows and
reports the same setting on the test rows.
"""

from __future__ import annotations

from mdm.eval.stats import standard_error
from mdm.experiments.common import paired

TOLERANCE = 0.005  # "equal accuracy": within 0.5 points of top-1

__all__ = ["TOLERANCE", "setting", "speedup"]


def setting(row: dict) -> tuple:
    """What identifies a sweep row's sampler setting (the same on every split)."""
    return row["family"], row["label"], row["block_size"], row.get("stop", True)


def speedup(rows: list[dict], family_prefix: str, *, block_size: int | None = None,
            tolerance: float = TOLERANCE, test_rows: list[dict] | None = None,
            stop: bool = True) -> dict | None:
    """NFE(top-1) / NFE of the cheapest setting of the families starting with ``family_prefix``
    whose accuracy in ``rows`` is within ``tolerance`` of top-1's (same block size and stop rule;
    the more accurate on NFE ties); ``None`` without a top-1 row.  With ``test_rows`` (the same
    settings on other prompts) the setting is only *chosen* on ``rows`` and every number is that of
    ``test_rows`` (``validation`` holds the same on ``rows``); without, choice and numbers are
    in-sample (oracles, unit tests).
    """
    rows = [r for r in rows if r["block_size"] == block_size and r.get("stop", True) == stop]
    ref = next((r for r in rows if r["family"] == "top-k" and r["label"] == "k=1"), None)
    if ref is None:
        return None
    near = [r for r in rows if r["family"].startswith(family_prefix) and r is not ref
            and r["accuracy"] >= ref["accuracy"] - tolerance]
    best = min(near, key=lambda r: (r["nfe_mean"], -r["accuracy"])) if near else None
    head = {"family": family_prefix, "block_size": block_size, "stop": stop}
    if test_rows is None:
        return {**head, **_compare(ref, best)}
    on_test = {setting(r): r for r in test_rows}
    return {**head, "chosen_on": "validation",
            **_compare(on_test[setting(ref)], None if best is None else on_test[setting(best)]),
            "validation": _compare(ref, best)}


def _compare(ref: dict, best: dict | None) -> dict:
    """Reference, best, NFE ratio and the paired accuracy difference on the same prompts (SE of the
    mean per-prompt difference; bootstrap CI and sign-flip p of :func:`mdm.eval.stats.paired_difference`)."""
    def brief(row: dict) -> dict:
        return {k: row[k] for k in ("family", "label", "block_size", "accuracy", "nfe_mean")}

    if best is None:
        return {"reference": brief(ref), "best": None, "speedup": None}
    out = {"reference": brief(ref), "best": brief(best), "speedup": ref["nfe_mean"] / best["nfe_mean"]}
    if "correct" in ref and "correct" in best:
        diff = best["correct"].double() - ref["correct"].double()
        out["accuracy_diff"] = float(diff.mean())
        out["accuracy_diff_se"] = standard_error(diff)
        if len(diff) > 1:
            test = paired(best["correct"], ref["correct"])
            out["accuracy_diff_ci"], out["accuracy_diff_p"] = test["ci"], test["p"]
    return out
