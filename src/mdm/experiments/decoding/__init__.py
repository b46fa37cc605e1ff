"""``mdm exp decoding``: what fast decoding costs and what block diffusion buys.

1. **Approximate caches on a long prompt** (:mod:`.copy`): accuracy of a copy task per cache mode
   (Fast-dLLM, arXiv 2505.22618), with token agreement against the uncached run.
2. **Block diffusion on KJV** (:mod:`.kjv`): validation NELBO of block-causal models (BD3-LM, arXiv
   2503.09573) against the bidirectional MDM at equal steps, with sample quality beside it.

Decoding speed is measured by ``benchmarks/decoding.py``, side by side on one thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mdm.experiments.decoding.copy import CopyPreset, copy_identity, run_copy
from mdm.experiments.decoding.kjv import KJVPreset, run_kjv
from mdm.experiments.plotting import figure
from mdm.experiments.report import table
from mdm.experiments.runner import Experiment, Part

__all__ = ["EXPERIMENT", "PRESETS", "Preset"]


@dataclass(frozen=True)
class Preset:
    copy: CopyPreset
    kjv: KJVPreset


PRESETS = {
    "quick": Preset(
        CopyPreset(overrides=("data.seq_len=32", "data.options={prompt_len: 24, answer_len: 8, n_symbols: 8, "
                              "n_train: 480, n_test: 16}", "model.d_model=32", "model.n_layers=1",
                              "max_steps=30", "batch_size=16", "eval_every=0", "save_every=0", "log_every=10",
                              "precision=fp32", "threads=1")),
        KJVPreset(block_sizes=(None, 4, 16), n_samples=2, sample_len=32,
                  overrides=("data.seq_len=32", "data.max_chars=20000", "model.d_model=32", "max_steps=3",
                             "eval_every=3", "eval_batches=1", "eval_samples=1", "batch_size=4")),
    ),
    "full": Preset(
        CopyPreset(overrides=("precision=fp32", "threads=1")),  # the packaged `copy` config
        KJVPreset(block_sizes=(None, 4, 16, 64), n_samples=32, sample_len=128, overrides=()),
    ),
}


def _plots(result: dict, out_dir: Path) -> list[str]:
    if "kjv" not in result:
        return []
    rows = result["kjv"]["rows"]
    labels = [r["model"] for r in rows]
    with figure(out_dir / "kjv_block_sizes.png", ncols=2, size=(9, 3.2), dpi=120,
                title="KJV: block diffusion vs bidirectional MDM at equal steps") as (fig, axes):
        axes[0].bar(labels, [r["val_bits_per_char"] or 0.0 for r in rows], color="tab:blue")
        axes[0].set_ylabel("val NELBO (bits/char)")
        axes[1].bar(labels, [r["js_3"] for r in rows], color="tab:orange")
        axes[1].set_ylabel("3-gram JS to val (bits)")
        for ax in axes:
            ax.set_xlabel("model")
            ax.tick_params(axis="x", rotation=20)
    return ["kjv_block_sizes.png"]


def _sample_cell(text: str) -> str:
    return "`" + text[:60].replace("\n", " ").replace("|", "/") + "`"


def _report(result: dict, p: Preset) -> str:
    lines = ["# decoding: approximate KV caches and block diffusion\n"]
    if "copy" in result:
        copy = result["copy"]
        task, train = copy["task"], copy["train"]
        lines += [
            f"## Copy task (prompt {task['prompt_len']}, answer {task['answer_len']}): accuracy per cache "
            "mode\n",
            f"Temperature 0, {task['n_test']} test prompts; model: {train['parameters']} parameters, "
            f"{train['steps']} steps, final train loss {train['final_train_loss']:.4g}.\n",
            table(copy["rows"], {"decoder": "decoder", "cache": "mode", "token acc.": "token_accuracy",
                                 "exact match": "exact_match",
                                 "agreement w/ no cache": "agreement_with_no_cache",
                                 "mean NFE": "mean_nfe", "tokens/s": "tokens_per_second"})]
    if "kjv" in result:
        lines += [
            "\n## KJV: block diffusion (BD3-LM) vs bidirectional at equal steps\n",
            table(result["kjv"]["rows"], {
                "model": "model", "steps": "steps", "val bits/char": "val_bits_per_char", "JS-1": "js_1",
                "JS-2": "js_2", "JS-3": "js_3", "unigram entropy": "entropy_1",
                "sample": lambda r: _sample_cell(r["sample"])}),
            "\n![KJV block sizes](kjv_block_sizes.png)"]
    return "\n".join(lines)


def _evidence(result: dict, p: Preset) -> dict:
    from mdm.train import load_config

    n_test = load_config("copy", list(p.copy.overrides)).data.options["n_test"]
    return {"n_test": n_test, "method": "point estimates (no CI)", "setting": "our proxy"}


def _headline(result: dict) -> dict:
    out = {f"copy exact match, {r['decoder']}, cache {r['mode']}": r["exact_match"]
           for r in result.get("copy", {}).get("rows", [])}
    out.update({f"KJV val bits/char, {r['model']}": r["val_bits_per_char"]
                for r in result.get("kjv", {}).get("rows", [])})
    return out


EXPERIMENT = Experiment(
    name="decoding", presets=PRESETS,
    parts=lambda p: [
        Part("copy", lambda c, seed, ctx: run_copy(c, ctx.out_dir, seed, progress=ctx.progress),
             reads=lambda p: p.copy, key=lambda p: copy_identity(p.copy)),
        Part("kjv", lambda p, seed, ctx: run_kjv(p.kjv, ctx.out_dir, seed, progress=ctx.progress))],
    assemble=lambda p, results, seed: dict(results), report=_report, plots=_plots,
    evidence=_evidence, headline=_headline)
