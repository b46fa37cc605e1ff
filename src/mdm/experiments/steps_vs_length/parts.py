"""The parts of ``mdm exp steps-vs-length``: the languages' entropies, an oracle sweep per language,
a trained model (and its sweep) per model setup."""

from __future__ import annotations

from mdm.experiments.steps_vs_length.model import train_on_language
from mdm.experiments.steps_vs_length.sweep import spread_seed, sweep
from mdm.experiments.training import seeded
from mdm.languages import EntropyEstimate, LanguageView, fast_oracle, parse_language_spec

__all__ = ["entropies", "model_part", "oracle_part"]


def entropies(p, seed: int, ctx) -> list[dict]:
    """H(X_1..X_L) of every language at every length swept (exact for n-grams; a seeded Monte-Carlo
    estimate with its standard error for the HMM)."""
    lengths = sorted({*p.lengths, *(n for m in p.models for n in m.lengths)})
    rows = []
    for ls in p.languages:
        language = parse_language_spec(ls.spec)
        for length in lengths:
            h = language.entropy(length, samples=p.entropy_samples,
                                 seed=spread_seed(seed, "entropy", ls.name, length))
            rows.append({"language": ls.name, "length": length, "entropy": h.value,
                         "entropy_per_token": h.value / length, "stderr": h.stderr, "exact": h.exact})
    return rows


def _entropies_of(ctx, name: str) -> dict[int, EntropyEstimate]:
    return {r["length"]: EntropyEstimate(r["entropy"], r["stderr"], r["exact"])
            for r in ctx.need("entropies") if r["language"] == name}


def oracle_part(name: str):
    """The sweep of language ``name`` sampled with its exact conditionals."""

    def run(p, seed: int, ctx) -> list[dict]:
        ls = next(ls for ls in p.languages if ls.name == name)
        language = parse_language_spec(ls.spec)
        return sweep(language, fast_oracle(language), lengths=p.lengths, samplers=ls.samplers,
                     samples=ls.samples_at, seed=seed, max_steps_factor=ls.max_steps_factor,
                     entropies=_entropies_of(ctx, name), tags={"denoiser": "oracle", "language": name})

    return run


def model_part(index: int):
    """Train the preset's ``index``-th model setup on its language (``training_seeds`` models from
    independent seeds), then sweep each like the oracle; the ``i``-th model's rows are tagged
    ``denoiser = "model"`` (i = 0) or ``"model-i"``."""

    def run(p, seed: int, ctx) -> dict:
        setup = p.models[index]
        name = setup.language
        spec = next(ls.spec for ls in p.languages if ls.name == name)
        language = parse_language_spec(spec)
        entropy = _entropies_of(ctx, name)
        rate = {n: entropy[n].value / n for n in setup.lengths}
        summaries, rows = [], []
        for i in range(setup.training_seeds):
            tag = "model" if i == 0 else f"model-{i}"
            folder = seeded(name, seed) + ("" if i == 0 else f"-training{i}")
            model, summary = train_on_language(spec, setup, ctx.out_dir / "models" / folder,
                                               seed=spread_seed(seed, "model", name, *([i] if i else [])))
            nelbo = summary["heldout_nelbo_per_token"]
            summary.update(language=name, entropy_per_token=rate,
                           nelbo_gap_per_token={n: nelbo[n] - rate[n] for n in setup.lengths})
            summaries.append(summary if i == 0 else {**summary, "training_seed": i})
            rows += sweep(language, LanguageView(model, language.vocab_size), lengths=setup.lengths,
                          samplers=setup.samplers, samples=setup.samples, seed=seed,
                          max_steps_factor=setup.max_steps_factor, entropies=entropy,
                          tags={"denoiser": tag, "language": name})
        return {"summary": summaries[0], "more_seeds": summaries[1:], "rows": rows}

    return run
