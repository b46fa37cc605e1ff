"""``mdm demo``: train a small character-level MDM on the King James Bible, sample it three ways, measure.

What it does, in order (a few minutes on 2 CPU cores; ``quick=True`` takes seconds):

1. trains the packaged ``kjv-char-tiny`` config (``precision: auto``: bf16 autocast where the device
   has native bf16, else fp32) into ``OUT/train/``;
2. prints the validation NELBO in bits per character (:func:`mdm.eval.likelihood.validation_nelbo`);
3. samples with the ancestral sampler, confidence-scheduled unmasking (LLaDA) and the EB-sampler;
4. prints a table -- NFE, time, sample entropy, n-gram JS divergence to held-out text, generative
   perplexity when the reference LM is installed -- with held-out text itself as the last row
   (the floor of every metric at this sample size);
5. writes ``report.md``, ``result.json``, ``training_curve.png`` and ``trace_<sampler>.png``.

The measuring helpers (:func:`measure_sampler`, :func:`heldout_row`, :func:`print_rows`) live in
:mod:`mdm.eval.sample_table` (shared with ``mdm eval`` and the ReMDM experiment) and the training
config in :mod:`mdm.demo_setup`; both are re-exported here.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch

from mdm.demo_setup import DEMO_CONFIG, demo_config
from mdm.eval.sample_table import (
    LEGEND,
    SampleRow,
    format_rows,
    heldout_row,
    measure_sampler,
    print_rows,
    reference_split,
)

__all__ = [
    "SampleRow",
    "reference_split",
    "measure_sampler",
    "heldout_row",
    "format_rows",
    "print_rows",
    "demo_config",
    "demo_samplers",
    "plot_training_curve",
    "run_demo",
]

# --- the demo ---------------------------------------------------------------------------------------


def demo_samplers(length: int) -> list[tuple[str, object]]:
    """The three samplers compared: (label, unmasker), from their specs (:func:`mdm.sampling.from_spec`)."""
    from mdm.sampling import from_spec

    quarter = max(1, length // 4)
    return [
        (f"ancestral ({length} steps)", from_spec("ancestral", length=length)),
        (f"confidence-scheduled ({quarter} steps)", from_spec(f"scheduled:steps={quarter},proxy=confidence")),
        # Text at temperature 1 keeps ~1-2 nats of entropy per character, so the entropy budget that
        # lets several characters out per step is larger than the paper's (code/math at temperature 0).
        ("EB-sampler (gamma=4)", from_spec("eb:gamma=4.0,proxy=entropy")),
    ]


def plot_training_curve(metrics: list[dict], path: Path, chars_per_token: float | None = None,
                        title: str = "Training curve") -> None:
    """Training loss and validation NELBO against step, in bits per char (or per token)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    scale = 1.0 / math.log(2) / (chars_per_token or 1.0)
    unit = "bits/char" if chars_per_token else "bits/token"
    train = [r for r in metrics if r.get("split") == "train"]
    val = [r for r in metrics if r.get("split") == "val"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot([r["step"] for r in train], [r["loss"] * scale for r in train], ".-", ms=3,
            label="train NELBO (minibatch)")
    if val:
        ax.plot([r["step"] for r in val], [r["val_nelbo_nats_per_token"] * scale for r in val], "o-",
                label="validation NELBO")
    ax.set_xlabel("training step")
    ax.set_ylabel(f"NELBO ({unit}; upper bound on the NLL)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _slug(label: str) -> str:
    return label.split(" ")[0].split("-")[0].lower()


def _report(out: Path, summary: dict, rows: list[SampleRow], prov_md: str, traces: list[str]) -> str:
    lik = summary["likelihood"]
    lines = [
        "# mdm demo",
        "",
        f"A {summary['parameters'] / 1e6:.2f}M-parameter character-level masked diffusion model trained for "
        f"{summary['train']['steps']} steps ({summary['train']['tokens_seen']:,} tokens, "
        f"{summary['train']['wall_time_s']:.0f} s) on the King James Bible.",
        "",
        f"**Validation NELBO: {lik['bits_per_char']:.4f} ± {lik['bits_per_char_stderr']:.4f} bits/char** "
        f"(an upper bound on the NLL; {lik['num_sequences']} held-out sequences x {lik['samples']} mask "
        "draws each).",
        "",
        f"## Samplers ({summary['num_samples']} samples of {summary['length']} characters, temperature 1)",
        "",
        format_rows(rows, markdown=True),
        "",
        LEGEND,
        "",
        "![training curve](training_curve.png)",
        "",
        *[f"![{t}]({t})" for t in traces],
        "",
        "## Samples",
        "",
        "The first three of each (line breaks shown as \u23ce).",
        "",
    ]
    for r in rows:  # one sample per line: line breaks inside a sample shown as a return sign
        shown = [t.replace("\n", "\u23ce").replace("```", "'''") for t in r.texts[:3]]
        lines += [f"**{r.label}**", "", "```", *shown, "```", ""]
    lines += ["## Provenance", "", prov_md, f"- total time: {summary['total_seconds']:.0f} s", ""]
    return "\n".join(lines)


def run_demo(out: str | Path, *, quick: bool = False, steps: int | None = None, seed: int = 0,
             genppl: bool = True, log=print) -> dict:
    """Run the demo into ``out`` (overwritten); return every number (also in ``out/result.json``)."""
    from mdm.eval.genppl import load_reference_lm, reference_lm_available
    from mdm.eval.likelihood import validation_nelbo
    from mdm.provenance import provenance, provenance_markdown, write_json_atomic
    from mdm.sampling import plot_trace
    from mdm.train import build_data, checkpoint, resolve_precision, train
    from mdm.train.threads import AUTO

    t_start = time.perf_counter()
    cfg = demo_config(quick, steps, seed)  # validated before anything is written
    out = Path(out)
    num = 4 if quick else 32
    n_val, elbo_samples = (8, 2) if quick else (256, 8)

    device = "cuda" if cfg.device != "cpu" and torch.cuda.is_available() else "cpu"
    precision, _ = resolve_precision(cfg.precision, device)
    # the trainer sets torch's threads to cfg.threads (auto: resolved when it starts, and it says to what)
    threads = (f"{cfg.threads or torch.get_num_threads()} threads" if cfg.threads != AUTO
               else "threads: auto")
    log(f"mdm demo: training a char-level MDM on the King James Bible ({cfg.max_steps} steps, "
        f"{precision} on {device} (precision: {cfg.precision}), {threads}) -> {out / 'train'}")
    res = train(cfg, out_dir=out / "train", progress=True, resume=False)
    if res.interrupted:  # Ctrl-C / SIGTERM: the trainer saved a checkpoint; do not report on it
        log(f"training interrupted at step {res.steps}; checkpoint in {res.checkpoint}")
        raise KeyboardInterrupt
    model, tokenizer = checkpoint.load(res.checkpoint)
    bundle = build_data(cfg)
    val_ids = torch.stack([bundle.val[i]["input_ids"] for i in range(len(bundle.val))])

    n_val = min(n_val, val_ids.shape[0])
    chars = sum(len(tokenizer.decode(row)) for row in val_ids[:n_val])
    lik = validation_nelbo(model, val_ids[:n_val], samples=elbo_samples, seed=seed, num_chars=chars,
                           progress=not quick)
    log(f"validation NELBO: {lik.bits_per_char:.4f} ± {lik.bits_per_char_stderr:.4f} bits/char "
        f"(upper bound on the NLL; {lik.num_sequences} sequences x {lik.samples} mask draws)")

    lm = None
    if genppl:
        if reference_lm_available():
            log("loading the reference LM (SmolLM2-135M) for generative perplexity ...")
            lm = load_reference_lm()
        else:
            log("generative perplexity: skipped (reference LM not installed: `make genppl`)")

    length = cfg.data.seq_len
    heldout, pool = reference_split(val_ids, num)
    out.mkdir(parents=True, exist_ok=True)
    rows, traces = [], []
    for label, unmasker in demo_samplers(length):
        row, sampled = measure_sampler(model, tokenizer, unmasker, label=label, num=num, length=length,
                                       reference=pool, seed=seed, lm=lm, trace=True)
        name = f"trace_{_slug(label)}.png"
        plot_trace(sampled.trace, out / name, rows=(0, 1), sampler=f"{label}, temperature 1")
        rows.append(row)
        traces.append(name)
    if heldout is not None:
        rows.append(heldout_row(heldout, pool, tokenizer, lm))
    log("")
    print_rows(rows)

    plot_training_curve(res.metrics, out / "training_curve.png", bundle.chars_per_token,
                        title=f"Training curve: {DEMO_CONFIG}{' (quick)' if quick else ''}, {precision}, "
                        f"seed {seed}")
    summary = {
        "parameters": sum(p.numel() for p in model.parameters()),
        "train": {"steps": res.steps, "tokens_seen": res.tokens_seen, "wall_time_s": res.wall_time,
                  "threads": res.threads,
                  "final_val": res.final_val, "checkpoint": str(res.checkpoint)},
        "likelihood": lik.to_dict(),
        "num_samples": num,
        "length": length,
        "samplers": [r.to_dict() for r in rows],
        "total_seconds": time.perf_counter() - t_start,
    }
    command = "mdm demo" + (" --quick" if quick else "") + (f" --steps {steps}" if steps else "")
    prov = provenance(command, seed, cfg.to_dict(), precision=precision)
    summary["provenance"] = prov
    write_json_atomic(out / "result.json", summary)
    report = _report(out, summary, rows, provenance_markdown(prov), traces)
    (out / "report.md").write_text(report, encoding="utf-8")
    log("")
    log(f"done in {summary['total_seconds']:.0f} s. Wrote {out / 'report.md'}, {out / 'result.json'}, "
        f"{out / 'training_curve.png'}, {', '.join(str(out / t) for t in traces)}")
    log(f"checkpoint: {res.checkpoint}  (try: mdm sample {res.checkpoint} --show)")
    return summary
