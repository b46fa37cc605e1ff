"""The parts of ``mdm exp energy-schedules``: the exact toy, the exact languages, the model trained
here, the padding regime (one part per padding setup) and an optional task checkpoint."""

from __future__ import annotations

from mdm.experiments.energy_schedules.padding import run_padding
from mdm.experiments.energy_schedules.presets import Preset
from mdm.experiments.energy_schedules.sweeps import (
    convex_vs_linear,
    language_sweep,
    schedules_under_test,
    task_sweep,
    train_language_model,
    tune_on_language,
)
from mdm.experiments.energy_schedules.toy import run_toy
from mdm.experiments.training import seeded
from mdm.languages import LanguageView, parse_language_spec
from mdm.tuning import plot_heatmap

__all__ = ["languages_part", "padding_part", "task_part", "toy_part", "trained_part"]


def _language_part(name: str, language, denoiser, preset: Preset, tune_metric: str, seed: int,
                   ctx, entropy_per_token: float) -> dict:
    """Tune a Beta schedule per order (its heatmap drawn here), then sweep every schedule."""
    tuned, summaries = {}, {}
    for order in preset.orders:
        res = tune_on_language(language, denoiser, preset, tune_metric, order, seed,
                               ctx.out_dir / "cache" / f"tune-{name}-{order}.json",
                               entropy=entropy_per_token * preset.length)
        tuned[order] = res.schedule()
        summaries[order] = {"a": res.a, "b": res.b, "score": res.score, "metric": tune_metric,
                            **{k: v for k, v in res.to_dict().items() if k in ("grid", "refined")}}
        plot_heatmap(res, ctx.plot_dir / f"tune_{name}_{order}.png", metric=tune_metric,
                     title=f"{name}: {tune_metric}, {order} order, N={preset.tune.steps}")
    rows = language_sweep(language, denoiser, preset, tuned, seed, entropy_per_token)
    claim = {m: convex_vs_linear(rows, m) for m in ("gap", "ser")}
    return {"rows": rows, "tuned": summaries, "claim": claim, "plot": f"sweep_{name}.png",
            "tune_plots": {order: f"tune_{name}_{order}.png" for order in preset.orders},
            "entropy_per_token": entropy_per_token}


def toy_part(p: Preset, seed: int, ctx) -> dict:
    return run_toy(p.toy)


def languages_part(p: Preset, seed: int, ctx) -> dict:
    """Each exact language, sampled with its own exact conditionals (sampler error only)."""
    out = {}
    for setup in p.languages:
        language = parse_language_spec(setup.spec)
        h = language.entropy(p.length).value / p.length
        out[setup.spec] = _language_part(setup.label, language, language.denoiser(), p, setup.tune_metric,
                                         seed, ctx, h)
    return out


def trained_part(p: Preset, seed: int, ctx) -> dict:
    """A small model trained here on the n-gram, scored under the true language."""
    language = parse_language_spec(p.train.language)
    model, summary = train_language_model(p.train, p.length, ctx.out_dir / seeded("model", seed), seed)
    h = language.entropy(p.length).value / p.length
    name = f"{p.train.language.split(':')[0]}-trained"
    part = _language_part(name, language, LanguageView(model, language.vocab_size), p, "ser", seed, ctx, h)
    return {**part, "train": summary}


def padding_part(index: int):
    """The preset's ``index``-th padding setup (its ``checkpoint`` replaces training when given)."""

    def run(p: Preset, seed: int, ctx) -> dict:
        setup = p.padding[index]
        part = run_padding(setup, ctx.out_dir, seed, setup.checkpoint)
        part["claim"] = convex_vs_linear(part["rows"], "accuracy", max_steps=max(setup.steps),
                                         higher_is_better=True)
        return part

    return run


def task_part(p: Preset, seed: int, ctx) -> dict:
    """Accuracy vs N of the fixed schedules on ``p.task_checkpoint`` (a Sudoku/arithmetic model)."""
    from mdm.eval.splits import task_test_split
    from mdm.train import checkpoint

    model, _ = checkpoint.load(p.task_checkpoint)
    dataset, task = task_test_split(p.task_checkpoint, None)
    rows = task_sweep(model, dataset, p.steps, schedules_under_test(None), seed=seed)
    return {"checkpoint": str(p.task_checkpoint), "task": task, "rows": rows,
            "claim": convex_vs_linear(rows, "accuracy", higher_is_better=True)}
