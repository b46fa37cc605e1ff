"""RL fine-tuning on a verifiable task: ``mdm exp rl`` (issue 29).

From a small SFT model on reversed-sum arithmetic (trained here when missing), RL with d1's diffu-GRPO
(Zhao et al., arXiv 2504.12216) and with the sandwiched policy gradient (SPG, Wang et al., arXiv
2510.09541) at equal rollouts (the same prompts, group size, inner updates and steps), through the RL
objectives of :mod:`mdm.rl.objectives` and :func:`mdm.train.train`; and SPG with its ELBO's
variance-reduction switch (antithetic times) off at equal compute (``spg-plain``).  Each arm's
learning rate is chosen on the validation problems (:mod:`mdm.experiments.rl.arms`); validation and
test are one held-out draw cut in two (:func:`~mdm.experiments.rl.arms.held_out_split`: same
distribution, disjoint items).  Every reported number is greedy exact-match accuracy on the test
problems, the same problems for the SFT start and every arm, so each comparison is a paired difference
by problem within a seed (:func:`mdm.eval.stats.paired_difference`) and, over seeds, paired by seed
(the runner's ``across_seeds``).  The ``variance`` and ``exact-variance`` parts measure what the switch
does to the estimator on a fixed batch (:mod:`mdm.experiments.rl.spread`).
"""

from __future__ import annotations

from mdm.experiments.common import markdown_table, paired, with_p
from mdm.experiments.rl.arms import ARMS, RLSetup, resolved, rl_arm, sft_start
from mdm.experiments.rl.spread import SETTINGS, exact_part, spread_part
from mdm.experiments.runner import Experiment, Part, fields

__all__ = ["COMPARISONS", "EXPERIMENT", "PRESETS", "compare", "over_seeds"]



def _task(digits: int, n_train: int, n_test: int, n_valid: int, *model: str) -> dict:
    """The task and model overrides of a preset (reversed sums of ``digits``-digit numbers): the task's
    held-out split holds ``n_valid + n_test`` problems, cut into validation and test by
    :func:`mdm.experiments.rl.arms.held_out_split` (same distribution, disjoint items)."""
    held_out = n_test + n_valid
    options = f"{{max_digits: {digits}, ops: ['+'], reverse: true, n_train: {n_train}, n_test: {held_out}}}"
    return {"task": (f"data.options={options}", *model), "n_test": n_test, "n_valid": n_valid}


_COMMON = ("precision=fp32", "ema=0", "save_every=0", "threads=1", "grad_accum=1")
_RL = ("eval_every=0", "loss.inner_updates=1", "loss.group_size=8", "log_every=10", "optim.warmup_steps=0")

PRESETS = {
    # quick: 2-digit sums, a 1-layer 16-dim model, a few steps: the plumbing, in seconds
    "quick": RLSetup(
        **_task(2, 64, 24, 16, "data.seq_len=10", "model.d_model=16", "model.n_layers=1", "model.n_heads=2"),
        sft=(*_COMMON, "batch_size=8", "max_steps=6", "eval_every=0", "optim.warmup_steps=0"),
        rl=(*_COMMON, *_RL, "loss.group_size=3", "batch_size=4", "max_steps=2"),
        spg=("loss.upper_draws=2", "loss.elbo_draws=1"), lrs=(1e-3, 1e-2)),
    # full: 2-digit sums (rl.md's smoke model); RL 100 steps of 8 prompts x 8 completions (sized for a
    # shared, loaded 2-core machine)
    "full": RLSetup(
        **_task(2, 3000, 200, 200, "data.seq_len=10", "model.d_model=64", "model.n_layers=2"),
        sft=(*_COMMON, "batch_size=64", "max_steps=800", "eval_every=0", "optim.warmup_steps=50"),
        rl=(*_COMMON, *_RL, "batch_size=8", "max_steps=100"),
        spg=("loss.upper_draws=8",), lrs=(1e-4, 3e-4), var_prompts=8, var_repeats=30, var_upper_repeats=5),
}

# (name, a, b): the paired differences a - b reported, "sft" the start
COMPARISONS = (("diffu-grpo", "sft"), ("spg", "sft"), ("spg", "diffu-grpo"), ("spg", "spg-plain"),
               ("spg-mirror", "spg-plain"))


# what each part reads of the setup (Part.reads): e.g. a new var_repeats reruns the variance part only
_SFT = fields("task", "sft", "n_valid")
_ARM = fields("task", "rl", "spg", "lrs", "n_valid")
_SPREAD = fields("task", "rl", "spg", "var_prompts", "var_repeats", "var_upper_repeats")


def _parts(setup: RLSetup) -> list[Part]:
    return [Part("sft", sft_start, key=lambda s: resolved(s, None), reads=_SFT),
            *(Part(arm, rl_arm(arm), key=lambda s, arm=arm: resolved(s, arm), reads=_ARM,
                   needs=("sft", *((ARMS[arm].lr_from,) if ARMS[arm].lr_from else ()))) for arm in ARMS),
            Part("variance", spread_part, key=lambda s: [resolved(s, "spg"), list(SETTINGS)], reads=_SPREAD,
                 needs=("sft",)),
            Part("exact-variance", exact_part, reads=_SPREAD, needs=("sft",),
                 key=lambda s: [resolved(s, "spg"), list(SETTINGS), "time_share"])]


def _accuracy(correct: list[int]) -> float:
    return sum(correct) / len(correct)


def compare(correct: dict[str, list[int]]) -> dict[str, dict]:
    """Each of :data:`COMPARISONS` as ``{"diff", "ci", "p"}``: the mean of ``a[i] - b[i]`` over the test
    problems ``i`` (paired by problem), its bootstrap CI and sign-flip p."""
    return {f"{a} - {b}": {"diff": _accuracy(correct[a]) - _accuracy(correct[b]),
                           **paired(correct[a], correct[b])} for a, b in COMPARISONS}


def over_seeds(result: dict) -> dict[str, dict]:
    """Each of :data:`COMPARISONS` over the seeds of a several-seed ``result.json``, paired by problem
    within each seed: :func:`mdm.eval.stats.paired_difference_clustered` of the ``[seeds, problems]``
    correctness (two-stage bootstrap CI, sign-flip p) as ``{"diff", "ci", "p"}``."""
    from mdm.eval.stats import paired_difference_clustered

    seeds = list(result["by_seed"].values())
    out = {}
    for a, b in COMPARISONS:
        est = paired_difference_clustered([r["correct"][a] for r in seeds], [r["correct"][b] for r in seeds])
        out[f"{a} - {b}"] = {"diff": est.mean, "ci": [est.lo, est.hi], "p": est.p_value}
    return out


def _assemble(setup: RLSetup, results: dict, seed: int) -> dict:
    correct = {"sft": results["sft"]["test"], **{arm: results[arm]["test"] for arm in ARMS}}
    arms = {arm: {k: v for k, v in results[arm].items() if k != "test"} for arm in ARMS}
    return {"n_test": len(correct["sft"]), "n_valid": setup.n_valid,
            "sft": {"steps": results["sft"]["steps"], "valid_accuracy": _accuracy(results["sft"]["valid"])},
            "arms": arms, "test_accuracy": {k: _accuracy(v) for k, v in correct.items()},
            "paired": compare(correct), "correct": correct, "variance": results.get("variance"),
            "exact_variance": results.get("exact-variance")}


def _headline(result: dict) -> dict:
    acc = result["test_accuracy"]
    out = {f"test accuracy, {k}": v for k, v in acc.items()}
    out.update({f"test accuracy, {a} minus {b}": (acc[a], acc[b]) for a, b in COMPARISONS})
    return out


def _report(result: dict, setup: RLSetup) -> str:
    acc, lrs = result["test_accuracy"], ", ".join(f"{lr:g}" for lr in setup.lrs)
    rows = [["SFT start", "-", f"{100 * result['sft']['valid_accuracy']:.1f}", f"{100 * acc['sft']:.1f}"]]
    rows += [[arm, a["lr"], ", ".join(f"{lr}: {100 * v:.1f}" for lr, v in a["valid_accuracy"].items()),
              f"{100 * acc[arm]:.1f}"] for arm, a in result["arms"].items()]
    diffs = [[name, with_p(d, scale=100)] for name, d in result["paired"].items()]
    return "\n".join([
        f"# RL fine-tuning: diffu-GRPO vs SPG at equal rollouts, SPG's switch on vs off "
        f"({result['preset']} preset)", "",
        f"Greedy exact-match accuracy (%) on {result['n_test']} test problems; each arm's learning rate "
        f"chosen on {result['n_valid']} validation problems ({lrs}).", "",
        markdown_table(["model", "lr", "validation accuracy by lr", "test accuracy"], rows), "",
        "Paired differences on the test problems (percentage points, 95% bootstrap CI, sign-flip p):", "",
        markdown_table(["comparison", "difference"], diffs), "", *_variance_report(result.get("variance")),
        *_exact_report(result.get("exact_variance"))])


def _exact_report(v: dict | None) -> list[str]:
    if not v:
        return []
    rows = [[name, e["rows_per_sequence"], f"{e['mean_var']:.3g}", f"{e['median_var']:.3g}",
             f"{e['vs_uniform']['mean_ratio']:.3f} ({e['vs_uniform']['min_ratio']:.3f}-"
             f"{e['vs_uniform']['max_ratio']:.3f})"] for name, e in v["elbo"].items()]
    return [f"Exact variance of the ELBO estimate on the same batch ({v['rows']} completions of "
            f"{v['completion_tokens']} tokens; every mask enumerated, no Monte Carlo):", "",
            markdown_table(["ELBO setting", "rows / sequence", "mean variance", "median variance",
                            "variance / uniform at equal rows: mean (min-max)"], rows), "",
            f"Share of one draw's variance due to the time t (all that antithetic or stratified times "
            f"can remove): mean {v['time_share']['mean']:.4f}, max {v['time_share']['max']:.4f} over the "
            "batch.", ""]


def _variance_report(v: dict | None) -> list[str]:
    if not v:
        return []
    rows = [[name, e["rows_per_sequence"], f"{e['estimate']['var']:.3g} +- {e['estimate']['var_se']:.2g}",
             f"{e['gradient']['trace_var']:.3g}", f"{e['gradient']['mean_sq_norm']:.3g}"]
            for name, e in v["elbo"].items()]
    up = v.get("upper_gradient")
    tail = [] if up is None else [f"SPG's upper-bound half (untouched by the switch): gradient tr Cov "
                                  f"{up['trace_var']:.3g}, |mean|^2 {up['mean_sq_norm']:.3g}.", ""]
    return [f"Estimator spread on one fixed batch ({v['rows']} completions, {v['positive']} with advantage "
            f">= 0), {v['repeats']} estimator seeds:", "",
            markdown_table(["ELBO setting", "rows / sequence", "per-sequence variance of the ELBO estimate",
                            "SPG ELBO-half gradient tr Cov", "|mean gradient|^2"], rows), "", *tail]


def _evidence(result: dict, setup: RLSetup) -> dict:
    return {"n_test": setup.n_test, "method": "paired bootstrap CI over test problems, sign-flip p",
            "setting": "our proxy"}


EXPERIMENT = Experiment(name="rl", presets=PRESETS, parts=_parts, assemble=_assemble, report=_report,
                        evidence=_evidence, headline=_headline)
