"""``mdm exp variance``: the A/B/C decomposition and variance-reduced SFT at laptop scale.

The setting of Jia et al., arXiv 2511.18159 ("Bringing Stability to Diffusion", PAPERS.md section
5) on 2-digit addition (:mod:`mdm.tasks.arithmetic`): one small MDM pretrained on whole problems is
shared by every arm (:data:`~mdm.experiments.variance.arms.ARMS`: standard, antithetic, StraTS,
P-POTS, MIRROR, MIRROR-independent, P-POTS + MIRROR), each fine-tuned on the answers for the same
steps with several seeds; an AR transformer of the same size, trained the same way, is the floor (C
only).  Each arm is compared with the standard one paired on seeds and test problems, at equal
steps and at equal compute (a MIRROR step costs ~2 forward passes).  Nothing is tuned per arm; the
shared settings were fixed on the validation split, and accuracy is reported on a held-out test split.

Learning-curve parts (:mod:`~mdm.experiments.variance.curves`): test accuracy every ``curve_every``
steps for ``curve_seeds`` seeds per arm, read as steps and forward passes to 50 % / 80 % with
censoring under three definitions of equal compute (:mod:`~mdm.experiments.variance.threshold`);
the ``long`` part measures A/B/C and the P-POTS fit on a task with 32-token answers (sorting).
"""

from __future__ import annotations

import dataclasses

from mdm.experiments.runner import Experiment, Part, fields
from mdm.experiments.variance.curves import curve_parts
from mdm.experiments.variance.long import long_part
from mdm.experiments.variance.parts import ar_part, assemble, mdm_part
from mdm.experiments.variance.presets import (  # noqa: F401 (re-exported)
    DECOMP_EPS,
    PRESETS,
    Preset,
)
from mdm.experiments.variance.report import plots, report

__all__ = ["DECOMP_EPS", "EXPERIMENT", "PRESETS", "Preset"]


def _evidence(result: dict, p: Preset) -> dict:
    return {"n_test": p.n_test, "seeds_per_run": p.seeds, "level": 0.95, "setting": "our proxy",
            "method": "two-stage paired bootstrap CI (seeds, then test problems) for arm differences"}


def _headline(result: dict) -> dict:
    groups = [*(result.get("arms") or {}).items(), *((("AR", result["ar"]),) if "ar" in result else ())]
    out = {f"{name}: test accuracy, equal steps": a["test"]["equal_steps"]["mean"] for name, a in groups}
    std = out.get("standard: test accuracy, equal steps")
    out.update({f"{name} vs standard: test accuracy, equal steps": (a["test"]["equal_steps"]["mean"], std)
                for name, a in groups if std is not None and name != "standard"})
    return out


# the settings of the learning-curve parts and of the long-answer part: no other part reads them
# (Part.reads), so changing one group reruns its own parts only
_CURVES = ("curve_seeds", "curve_steps", "curve_every", "curve_chunks", "extra_chunks", "curve_arms",
           "half_batch_arms")
_LONG = tuple(f.name for f in dataclasses.fields(Preset) if f.name.startswith("long_"))


def _parts(p: Preset) -> list[Part]:
    base = fields(exclude=(*_CURVES, *_LONG))
    return [Part("mdm", mdm_part, reads=base), Part("ar", ar_part, reads=base),
            *(Part(name, run, reads=fields(exclude=_LONG)) for name, run in curve_parts(p)),
            Part("long", long_part, reads=fields(exclude=_CURVES))]


EXPERIMENT = Experiment(name="variance", presets=PRESETS, parts=_parts,
                        assemble=assemble,
                        report=report, plots=plots, evidence=_evidence, headline=_headline)
