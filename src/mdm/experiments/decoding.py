"""``mdm exp decoding``: what fast decoding costs and what block diffusion buys.

1. **Approximate caches on a long prompt** (:mod:`mdm.experiments.decoding_copy`): accuracy of a
   copy task trained here, per cache mode (none / prefix / dual / dual refreshed every 2 passes;
   Fast-dLLM, arXiv 2505.22618), with token agreement against the uncached run.
2. **Block diffusion on KJV** (:mod:`mdm.experiments.decoding_kjv`): validation NELBO of
   block-causal models (block sizes 4 / 16 / 64; BD3-LM, arXiv 2503.09573) against the
   bidirectional MDM at equal steps, with sample quality beside it.

Decoding speed (tokens/s of each cache mode, the exact block cache) is measured by
``benchmarks/decoding.py``, side by side on one thread.
"""

from __future__ import annotations

from pathlib import Path

import torch

from mdm.experiments.common import markdown_table, provenance, provenance_markdown, write_json_atomic
from mdm.experiments.decoding_copy import CopyPreset, run_copy
from mdm.experiments.decoding_kjv import KJVPreset, run_kjv

__all__ = ["PRESETS", "run"]

PRESETS = {
    "quick": (
        CopyPreset(prompt_len=24, answer_len=8, symbols=8, d_model=32, n_layers=1, steps=30, batch=16,
                   lr=3e-3, n_test=16, block=4, tau=0.9),
        KJVPreset(block_sizes=(None, 4, 16), n_samples=2, sample_len=32,
                  overrides=("data.seq_len=32", "data.max_chars=20000", "model.d_model=32", "max_steps=3",
                             "eval_every=3", "eval_batches=1", "eval_samples=1", "batch_size=4")),
    ),
    "full": (
        CopyPreset(prompt_len=240, answer_len=16, symbols=16, d_model=64, n_layers=2, steps=200, batch=32,
                   lr=3e-3, n_test=256, block=4, tau=0.9),
        KJVPreset(block_sizes=(None, 4, 16, 64), n_samples=32, sample_len=128, overrides=()),
    ),
}


def _plot(kjv: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = kjv["rows"]
    labels = [r["model"] for r in rows]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    axes[0].bar(labels, [r["val_bits_per_char"] or 0.0 for r in rows], color="tab:blue")
    axes[0].set_ylabel("val NELBO (bits/char)")
    axes[1].bar(labels, [r["js_3"] for r in rows], color="tab:orange")
    axes[1].set_ylabel("3-gram JS to val (bits)")
    for ax in axes:
        ax.tick_params(axis="x", rotation=20)
    fig.suptitle("KJV: block diffusion vs bidirectional MDM at equal steps")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _report(result: dict) -> str:
    copy, kjv = result["copy"], result["kjv"]
    cp = copy["preset"]
    lines = [
        "# decoding: approximate KV caches and block diffusion\n",
        f"## Copy task (prompt {cp['prompt_len']}, answer {cp['answer_len']}): accuracy per cache mode\n",
        f"Temperature 0, {cp['n_test']} test prompts; model: {copy['train']['parameters']} parameters, "
        f"{cp['steps']} steps.\n",
        markdown_table(["decoder", "cache", "token acc.", "exact match", "agreement w/ no cache",
                        "mean NFE", "tokens/s"],
                       [[r["decoder"], r["mode"], r["token_accuracy"], r["exact_match"],
                         r["agreement_with_no_cache"], r["mean_nfe"], r["tokens_per_second"]]
                        for r in copy["rows"]]),
        "\n## KJV: block diffusion (BD3-LM) vs bidirectional at equal steps\n",
        markdown_table(["model", "steps", "val bits/char", "JS-1", "JS-2", "JS-3", "unigram entropy",
                        "sample"],
                       [[r["model"], r["steps"], r["val_bits_per_char"], r["js_1"], r["js_2"], r["js_3"],
                         r["entropy_1"], "`" + r["sample"][:60].replace("\n", " ").replace("|", "/") + "`"]
                        for r in kjv["rows"]]),
        "\n## Provenance\n",
        provenance_markdown(result["provenance"]),
    ]
    return "\n".join(lines)


def run(preset: str, out_dir: Path, seed: int = 0, progress: bool = False) -> dict:
    torch.set_num_threads(1)
    copy_p, kjv_p = PRESETS[preset]
    result = {
        "copy": run_copy(copy_p, seed, progress=progress),
        "kjv": run_kjv(kjv_p, out_dir, seed, progress=progress),
    }
    result["provenance"] = provenance(f"mdm exp decoding --preset {preset}", seed,
                                      {"copy": result["copy"]["preset"], "kjv": result["kjv"]["preset"]})
    write_json_atomic(out_dir / "result.json", result)
    (out_dir / "report.md").write_text(_report(result))
    _plot(result["kjv"], out_dir / "kjv_block_sizes.png")
    return result
