"""ReMDM's inference-time scaling on the demo-size text model: ``mdm exp remdm``.

Wang et al., "Remasking Discrete Diffusion Models with Inference-Time Scaling" (arXiv 2503.00307):
with more steps than positions, MDLM's ancestral sampler stops improving (NFE <= L), while ReMDM
keeps revising tokens.  On the KJV model of ``mdm demo`` (trained here): sample entropy, n-gram JS
to held-out text and generative perplexity (SmolLM2-135M, when installed) against steps T = L/4 ..
4L for Ancestral, ReMDM-cap and ReMDM-loop, with measured NFE.  ReMDM-cap's ``eta`` is chosen at
T = 2L on one half of the validation rows (lowest n-gram JS); every number is reported on the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mdm.experiments.plotting import figure, label_axes
from mdm.experiments.report import table
from mdm.experiments.runner import Experiment, Part

__all__ = ["EXPERIMENT", "PRESETS", "Setup", "samplers"]



@dataclass(frozen=True)
class Setup:
    """``quick``: the demo's quick model; steps ``multiples`` of L; the ``etas`` the selection tries;
    ``num`` samples per sampler; ``genppl``: generative perplexity (when SmolLM2 is installed)."""

    quick: bool
    multiples: tuple[float, ...]
    etas: tuple[float, ...]
    num: int
    genppl: bool


PRESETS = {"quick": Setup(quick=True, multiples=(0.5, 1, 2), etas=(0.02, 0.1), num=8, genppl=False),
           "full": Setup(quick=False, multiples=(0.25, 0.5, 1, 2, 4), etas=(0.02, 0.05), num=64, genppl=True)}
TOP_P = 0.9
LOOP = dict(loop_t=(0.55, 0.05), alpha_on=0.9)  # the paper's ReMDM-loop setting for text
FAMILIES = ("ancestral", "remdm-cap", "remdm-loop")


def _trained(cfg, run_dir: Path, log):
    """Train ``cfg`` into ``run_dir``, or reuse a finished run there with the same config."""
    import yaml

    from mdm.experiments.training import train_to_end
    from mdm.train import checkpoint

    def without_out_dir(config: dict) -> dict:
        return {k: v for k, v in config.items() if k != "out_dir"}

    ckpt, saved = run_dir / "checkpoint", run_dir / "config.yaml"
    if (ckpt.exists() and saved.exists()
            and without_out_dir(yaml.safe_load(saved.read_text())) == without_out_dir(cfg.to_dict())):
        log(f"reusing the trained model in {run_dir} (same config)")
        return checkpoint.load(ckpt), None
    res = train_to_end(cfg, run_dir)
    return checkpoint.load(res.checkpoint), {"steps": res.steps, "wall_time_s": res.wall_time,
                                              "final_val": res.final_val}


def samplers(length: int, multiples, eta: float) -> list[tuple[str, str, int, object]]:
    """``(family, label, T, unmasker)`` for every compared run."""
    from mdm.sampling import Ancestral, ReMDM

    rows = []
    for m in multiples:
        steps = max(1, int(round(m * length)))
        rows.append(("ancestral", f"ancestral T={steps}", steps, Ancestral(steps)))
        rows.append(("remdm-cap", f"ReMDM-cap eta={eta} T={steps}", steps, ReMDM(steps, eta=eta)))
        if m >= 1:
            loop = ReMDM(steps, eta=eta, **LOOP)
            rows.append(("remdm-loop", f"ReMDM-loop eta={eta} T={steps}", steps, loop))
    return rows


def scaling(p: Setup, seed: int, ctx) -> dict:
    """Train (or reuse) the model, choose ``eta`` on the selection half, sweep on the other half."""
    import torch

    from mdm.demo_setup import demo_config
    from mdm.eval.genppl import load_reference_lm, reference_lm_available
    from mdm.eval.sample_table import heldout_row, measure_sampler, reference_split
    from mdm.experiments.training import seeded
    from mdm.sampling import ReMDM
    from mdm.train import build_data, load_config

    log = ctx.log
    cfg = load_config(demo_config(quick=p.quick, seed=seed), ["threads=1"])  # as published; the demo's: auto
    (model, tokenizer), trained = _trained(cfg, ctx.out_dir / seeded("train", seed), log)
    bundle = build_data(cfg)
    val = torch.stack([bundle.val[i]["input_ids"] for i in range(len(bundle.val))])
    half = val.shape[0] // 2
    select_rows, report_rows = val[:half], val[half:]  # choose on one half, report on the other
    num, length = p.num, cfg.data.seq_len
    lm = load_reference_lm() if p.genppl and reference_lm_available() else None

    def measure(label, unmasker, reference, run_seed):
        return measure_sampler(model, tokenizer, unmasker, label=label, num=num, length=length,
                               reference=reference, temperature=1.0, top_p=TOP_P, seed=run_seed, lm=lm)[0]

    # 1. choose eta on the selection half (different sampling seed from the report)
    sel_steps = 2 * length
    selection = {}
    for eta in p.etas:
        row = measure(f"ReMDM-cap eta={eta}", ReMDM(sel_steps, eta=eta), select_rows, seed + 1000)
        selection[eta] = row.quality.mean_js_bits
        log(f"select: ReMDM-cap eta={eta} T={sel_steps}: mean n-gram JS {selection[eta]:.4f} bits")
    eta = min(selection, key=selection.get)

    # 2. the sweep, reported on the other half
    heldout, pool = reference_split(report_rows, num)
    rows = []
    for family, label, steps, unmasker in samplers(length, p.multiples, eta):
        row = measure(label, unmasker, pool, seed)
        rows.append({"family": family, "steps": steps, **row.to_dict()})
        log(f"{label:<32} NFE {row.nfe:6.1f}  JS {row.quality.mean_js_bits:.4f}")
    floor = heldout_row(heldout, pool, tokenizer, lm).to_dict() if heldout is not None else None

    return {"length": length, "num_samples": num, "top_p": TOP_P, "temperature": 1.0,
            "selection": {"steps": sel_steps, "mean_js_bits": {str(k): v for k, v in selection.items()},
                          "eta": eta},
            "loop": {"loop_t": list(LOOP["loop_t"]), "alpha_on": LOOP["alpha_on"]},
            "rows": rows, "heldout": floor, "trained": trained, "genppl": lm is not None,
            "train_config": cfg.to_dict()}


def _plots(result: dict, out_dir: Path) -> list[str]:
    metrics = [("mean n-gram JS (bits)", lambda r: r["quality"]["mean_js_bits"]),
               ("sample entropy (bits)", lambda r: r["quality"]["sequence_entropy_bits"])]
    if result["genppl"]:
        metrics.append(("gen. PPL", lambda r: r["genppl"]["perplexity"]))
    with figure(out_dir / "remdm_scaling.png", ncols=len(metrics), size=(4.2 * len(metrics), 3.4), dpi=120,
                squeeze=False, title="ReMDM vs ancestral: sample quality vs steps") as (fig, axes):
        for ax, (name, get) in zip(axes[0], metrics):
            for family in FAMILIES:
                rs = [r for r in result["rows"] if r["family"] == family]
                if rs:
                    ax.plot([r["steps"] for r in rs], [get(r) for r in rs], "o-", label=family)
            if result["heldout"] is not None:
                ax.axhline(get(result["heldout"]), color="gray", ls="--", label="held-out text")
            ax.axvline(result["length"], color="k", lw=0.5)
            label_axes(ax, xlabel="steps T (vertical line: T = L)", ylabel=name, title=name, log2x=True,
                       legend=8 if ax is axes[0][0] else None)
    return ["remdm_scaling.png"]


def _report(result: dict, p: Setup) -> str:
    sel = result["selection"]
    rows = list(result["rows"])
    if result["heldout"]:
        rows.append({"label": "held-out text", "steps": None, "nfe": None, **result["heldout"]})
    rows_table = table(rows, {
        "sampler": "label", "T": lambda r: r["steps"] or "-",
        "NFE": lambda r: "-" if r["nfe"] is None else f"{r['nfe']:.1f}",
        "entropy (bits)": "{quality[sequence_entropy_bits]:.3f}",
        "n-gram JS (bits)": "{quality[mean_js_bits]:.4f}",
        "gen. PPL": lambda r: f"{r['genppl']['perplexity']:.1f}" if r.get("genppl") else "-"})
    return "\n".join([
        f"# ReMDM inference-time scaling ({result['preset']} preset)", "",
        f"Character-level KJV model, L = {result['length']}, {result['num_samples']} samples per row, "
        f"temperature 1, top-p {result['top_p']}. eta chosen on the selection half of the validation rows "
        f"at T = {sel['steps']}: " + ", ".join(f"eta={k}: JS {v:.4f}" for k, v in sel["mean_js_bits"].items())
        + f" -> eta = {sel['eta']}. Rows below: the other half.", "",
        rows_table, "",
        "![scaling](remdm_scaling.png)", ""])


def _evidence(result: dict, p: Setup) -> dict:
    return {"n_test": p.num, "method": "point estimates of sample quality (no CI)", "setting": "our proxy"}


def _headline(result: dict) -> dict:
    js = {(r["family"], r["steps"]): r["quality"]["mean_js_bits"] for r in result["rows"]}
    out = {f"n-gram JS bits, {f} T={t}": v for (f, t), v in js.items()}
    out.update({f"n-gram JS bits, {f} minus ancestral, T={t}": (v, js[("ancestral", t)])
                for (f, t), v in js.items() if f != "ancestral" and ("ancestral", t) in js})
    return out


EXPERIMENT = Experiment(name="remdm", presets=PRESETS, parts=lambda p: [Part("scaling", scaling)],
                        assemble=lambda p, results, seed: dict(results["scaling"]), report=_report,
                        plots=_plots, evidence=_evidence, headline=_headline)
