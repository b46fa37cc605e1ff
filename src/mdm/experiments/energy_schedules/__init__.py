"""Energy-optimal Beta schedules vs hand-made ones: ``mdm exp energy-schedules``.

Chen et al., "Masked Diffusion Models as Energy Minimization" (arXiv 2509.13866): the schedule that
minimises the kinetic energy is ``alpha = sin^2(pi/2 * gamma)``; with ``gamma`` a Beta(a, b) CDF it
is two numbers (Beta(0.5, 0.5) = linear, Beta(1, 1) = sin^2), tunable after training.  Claim under
test: convex, slow-start Betas (e.g. Beta(0.9, 0.3)) beat linear at low step counts.  Parts:
``toy`` (:mod:`.toy`), ``languages`` and ``trained`` (:mod:`.sweeps`) and the calibration / blocks /
temperature map (:mod:`.calibration`).  (The trained-arithmetic padding parts of issue 17 were removed:
their models were at 100% or below 1% and decided nothing; ``calibration-trained`` replaces them.)
"""

from __future__ import annotations

from dataclasses import asdict

from mdm.experiments.energy_schedules.presets import HMM, NGRAM, PADDED_HMM, PRESETS, Preset  # noqa: F401
from mdm.experiments.energy_schedules.sweeps import CONVEX, FIXED_SCHEDULES, convex_vs_linear  # noqa: F401
from mdm.experiments.runner import Experiment, Part, fields


def _parts(p: Preset) -> list[Part]:
    from mdm.experiments.energy_schedules import calibration, sweeps, toy

    # the toy and each calibration setup read only their own setup (Part.reads); the language sweeps
    # and the trained model read the shared grid (steps, samples, orders, tuning), not those
    return [Part("toy", lambda t, seed, ctx: toy.run_toy(t), reads=lambda p: p.toy),
            Part("languages", sweeps.languages_part, reads=fields(exclude=("toy", "calibration", "train"))),
            *((Part("trained", sweeps.trained_part, reads=fields(exclude=("toy", "calibration"))),)
              if p.train else ()),
            *(Part(s.name, calibration.calibration_part, reads=lambda p, i=i: p.calibration[i])
              for i, s in enumerate(p.calibration))]


def _assemble(p: Preset, results: dict, seed: int) -> dict:
    config = {"length": p.length, "steps": list(p.steps), "samples": p.samples, "orders": list(p.orders),
              "tune": asdict(p.tune), "train": asdict(p.train) if p.train else None,
              "languages": [asdict(s) for s in p.languages], "toy": asdict(p.toy),
              "calibration": [asdict(s) for s in p.calibration]}
    return {"config": config, "toy": results.get("toy"), "languages": results.get("languages", {}),
            "trained": {p.train.language: results["trained"]} if "trained" in results else {},
            "calibration": {s.name: results[s.name] for s in p.calibration if s.name in results}}


def _report(result: dict, p: Preset) -> str:
    from mdm.experiments.energy_schedules.report import report

    return report(result)


def _plots(result: dict, out_dir) -> list[str]:
    from mdm.experiments.energy_schedules.plots import write_plots

    return write_plots(result, out_dir)


def _headline(result: dict) -> dict:
    """Mean improvement over linear per section and Beta; per calibration map, how many of its
    cells a Beta wins / loses with a paired CI that excludes 0."""
    out = {}
    for section in ("languages", "trained"):
        for spec, part in (result.get(section) or {}).items():
            for key, c in part["claim"]["ser"].items():
                name = f"{section} {spec.split(':')[0]} {key}: mean SER improvement vs linear"
                out[name] = c["mean_improvement"]
    for name, part in (result.get("calibration") or {}).items():
        for spec in dict.fromkeys(r["schedule"] for r in part["rows"] if "sign" in r):
            signs = [r["sign"] for r in part["rows"] if r["schedule"] == spec and "sign" in r]
            out[f"{name} {spec}: cells better than linear"] = signs.count("+")
            out[f"{name} {spec}: cells worse than linear"] = signs.count("-")
    return out


def _verdict(result: dict) -> list[str]:
    return [f"{key}: {value:.4g}" for key, value in _headline(result).items()
            if "Beta(0.9,0.3)" in key or "beta:0.9,0.3" in key]


def _evidence(result: dict, p: Preset) -> dict:
    trained = [s for s in p.calibration if s.train is not None]
    seeds = f"; {trained[0].name}: {len(trained[0].train_seeds)} training seeds" if trained else ""
    return {"n_test": p.samples, "level": 0.95, "setting": "our proxy",
            "method": "percentile bootstrap CI (10,000 resamples) over samples per cell; paired vs linear in "
                      "the calibration parts (two-stage over training seeds and instances where "
                      f"trained{seeds})"}


EXPERIMENT = Experiment(name="energy-schedules", presets=PRESETS, parts=_parts, assemble=_assemble,
                        report=_report, plots=_plots, verdict=_verdict, evidence=_evidence,
                        headline=_headline)
