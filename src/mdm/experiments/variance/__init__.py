"""``mdm exp variance``: the A/B/C decomposition and variance-reduced SFT at laptop scale.

Reproduces the setting of Jia et al., arXiv 2511.18159 ("Bringing Stability to Diffusion",
PAPERS.md section 5) on 2-digit addition (:mod:`mdm.tasks.arithmetic`): one small MDM is pretrained
on whole problems and shared by every arm; each arm (:data:`~mdm.experiments.variance.arms.ARMS`:
standard, antithetic, StraTS, P-POTS, MIRROR, MIRROR-independent, P-POTS + MIRROR) fine-tunes a copy
of it on the answers for the same number of steps, with several seeds (data order and noise); an AR
transformer of the same size, pretrained and fine-tuned the same way, is the floor (data noise C
only).  Reported: A, B, C of the SFT loss at init and after SFT; per-step loss variance and
gradient-norm variance; exact-match accuracy (mean, min-max, SE and bootstrap CI over seeds) at equal
steps and at equal compute, and each arm minus the standard arm paired on the same seeds and test
problems (two-stage bootstrap over seeds then problems, sign-flip p), at equal steps and at equal
compute (MIRROR's two masks cost ~2 forward passes per step, so at equal compute a MIRROR arm is
read at half the steps).  Nothing is tuned per arm; the shared settings in the preset below were fixed
from probe runs of the standard arm that printed accuracy on the *validation* split, so the headline
accuracy is on a separate held-out *test* split that no choice has looked at (validation beside it).
"""

from __future__ import annotations

from mdm.experiments.runner import Experiment, Part
from mdm.experiments.variance.presets import (  # noqa: F401 (re-exported)
    DECOMP_EPS,
    PRESETS,
    Preset,
)
from mdm.experiments.variance.report import plots, report

__all__ = ["DECOMP_EPS", "EXPERIMENT", "PRESETS", "Preset"]

def _parts(p: Preset) -> list[Part]:
    from mdm.experiments.variance.parts import ar_part, mdm_part

    return [Part("mdm", mdm_part), Part("ar", ar_part)]


def _verdict(result: dict) -> list[str]:
    lines = []
    for name, arm in (result.get("arms") or {}).items():
        d = arm.get("vs_standard", {}).get("test", {}).get("equal_steps")
        if d is not None and name != "standard":
            lines.append(f"{name} - standard (test, equal steps): {100 * d['diff']:+.1f} pt "
                         f"[{100 * d['ci'][0]:+.1f}, {100 * d['ci'][1]:+.1f}]")
    return lines


def _evidence(p: Preset) -> dict:
    return {"n_test": p.n_test, "seeds_per_run": p.seeds, "level": 0.95, "setting": "our proxy",
            "method": "two-stage paired bootstrap CI (seeds, then test problems) for arm differences"}


def _headline(result: dict) -> dict:
    groups = [*(result.get("arms") or {}).items(), *((("AR", result["ar"]),) if "ar" in result else ())]
    out = {f"{name}: test accuracy, equal steps": a["test"]["equal_steps"]["mean"] for name, a in groups}
    std = out.get("standard: test accuracy, equal steps")
    out.update({f"{name} vs standard: test accuracy, equal steps": (a["test"]["equal_steps"]["mean"], std)
                for name, a in groups if std is not None and name != "standard"})
    return out


def _assemble(p: Preset, results: dict, seed: int) -> dict:
    from mdm.experiments.variance.parts import assemble

    return assemble(p, results, seed)


EXPERIMENT = Experiment(name="variance", presets=PRESETS, parts=_parts, assemble=_assemble, report=report,
                        plots=plots, verdict=_verdict, evidence=lambda result, p: _evidence(p),
                        headline=_headline)
