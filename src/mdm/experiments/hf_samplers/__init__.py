"""mdm's samplers on a real pretrained masked LM: AntiBERTy (antibody sequences) through from_hf.

Part ``continue``: the EB-sampler (Ben-Hamu et al., arXiv 2505.24857), confidence Threshold and the
LLaDA-style Scheduled sampler each generate the rest of a human VH3 heavy chain after its framework-1
prefix.  At temperature 1: NFE, the NELBO per residue of the samples under the same model
(``mdm.elbo`` with the prefix never masked: an upper bound on their -log p; the model ships no
held-out data) and the share of residues in the amino-acid alphabet; at temperature 0: NFE and
agreement with one-token-per-step greedy decoding.  Part ``infill``: :mod:`.infill`.

Nothing is trained (the runner's seed is the sampling seed).  Needs the antiberty 0.1.3 wheel
(``pip install 'mdm-lab[protein]'`` or ``$MDM_ANTIBERTY_WHEEL``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from mdm.eval.stats import standard_error
from mdm.experiments.common import interval, with_ci, with_p
from mdm.experiments.hf_samplers.infill import InfillSetup, infill_part, settings
from mdm.experiments.plotting import figure
from mdm.experiments.report import table
from mdm.experiments.runner import Experiment, Part

__all__ = ["EXPERIMENT", "PREFIX", "PRESETS", "Setup"]

PREFIX = "EVQLVESGGGLVQPGGSLRLSCAAS"  # human VH3 framework 1 (as in trastuzumab)
FAMILIES = (("scheduled", "o", "steps"), ("eb", "s", "gamma"), ("threshold", "^", "tau"))


@dataclass(frozen=True)
class Setup:
    """``length`` residues generated, ``num`` sequences per setting at T = 1, ``elbo_samples`` draws
    per sequence; the settings: Scheduled at ``length // d`` steps, EB at each ``gamma``, Threshold
    at each ``tau``; ``infill``: part ``infill``."""

    length: int
    num: int
    elbo_samples: int
    steps_div: tuple[int, ...]
    gamma: tuple[float, ...]
    tau: tuple[float, ...]
    infill: InfillSetup


PRESETS = {
    "quick": Setup(length=16, num=2, elbo_samples=2, steps_div=(1, 4), gamma=(1.0,), tau=(0.5,),
                   infill=InfillSetup(chains=2, mask_draws=1, fraction=0.15, k=(1, 4), gamma=(1.0,),
                                      tau=(0.5,))),
    # Sized for one CPU thread (~1 s per forward of 8 x 74 tokens through the 26M-parameter model).
    "full": Setup(length=48, num=8, elbo_samples=4, steps_div=(1, 2, 4, 8), gamma=(0.1, 0.5, 1.0, 2.0),
                  tau=(0.99, 0.9, 0.7, 0.5),
                  infill=InfillSetup(chains=4, mask_draws=3, fraction=0.15, k=(1, 2, 4), gamma=(0.1, 1.0),
                                     tau=(0.9, 0.5))),
}


def _settings(s: Setup):
    return settings(steps=[s.length // d for d in s.steps_div], gamma=s.gamma, tau=s.tau)


def continue_part(s: Setup, seed: int, ctx) -> dict:
    """Every setting at T = 1 (``num`` samples) and T = 0 (one greedy sequence)."""
    import mdm
    from mdm.models.hf.antiberty import AMINO_ACIDS, load_antiberty

    den = load_antiberty()
    tok, n = den.tokenizer, s.length
    prompt = torch.tensor([tok.cls_token_id] + tok(PREFIX, add_special_tokens=False)["input_ids"])
    p = prompt.numel()
    amino = torch.tensor(tok.convert_tokens_to_ids(list(AMINO_ACIDS)))
    reference, rows = None, []
    for family, label, unmasker in _settings(s):
        t0 = time.perf_counter()
        hot = mdm.sample(den, batch_size=s.num, length=n, prompt=prompt, unmasker=unmasker,
                         temperature=1.0, seed=seed)
        seconds = time.perf_counter() - t0
        nelbo = mdm.elbo(den, hot.tokens, samples=s.elbo_samples, prompt_len=p, seed=seed) / n
        greedy = mdm.sample(den, length=n, prompt=prompt, unmasker=unmasker, temperature=0.0, seed=seed)
        if reference is None:  # the first setting is Scheduled(steps=L): one token per step
            reference = greedy.tokens[0, p:]
        gen = hot.tokens[:, p:]
        rows.append({
            "sampler": family, "setting": label, "nfe": float(hot.nfe.double().mean()),
            "nelbo_per_token": float(nelbo.mean()),
            "nelbo_stderr": standard_error(nelbo),
            "nelbo_ci": interval(nelbo),
            "valid_fraction": float(torch.isin(gen, amino).double().mean()),
            "greedy_nfe": int(greedy.nfe[0]),
            "greedy_agreement": float((greedy.tokens[0, p:] == reference).double().mean()),
            "seconds": seconds,
            "example": tok.decode(hot.tokens[0, p:].tolist(), skip_special_tokens=True),
        })
        ctx.log(f"{family:9s} {label:11s} NFE {rows[-1]['nfe']:6.1f}  "
                f"NELBO/token {rows[-1]['nelbo_per_token']:.3f}")
    return {"rows": rows}


def _assemble(s: Setup, results: dict, seed: int) -> dict:
    import transformers

    infill = {"infill": results["infill"]} if "infill" in results else {}
    return {"experiment": "hf-samplers", "model": "AntiBERTy (antiberty 0.1.3)", "length": s.length,
            "prefix": PREFIX, "rows": results.get("continue", {}).get("rows", []),
            "transformers": transformers.__version__, **infill}


def _report(result: dict, s: Setup) -> str:
    rows = table(result["rows"], {
        "sampler": "sampler", "setting": "setting", "NFE (T=1)": "nfe",
        "NELBO/token (T=1) [95% CI]": lambda r: with_ci(r["nelbo_per_token"], r["nelbo_ci"], digits=3),
        "valid": "valid_fraction", "NFE (T=0)": "greedy_nfe",
        "agreement with 1-per-step (T=0)": "greedy_agreement"})
    infill = _infill_lines(result["infill"]) if "infill" in result else []
    if not result["rows"]:
        return "\n".join([f"# hf-samplers ({result['preset']}): {result['model']}", "", *infill])
    return "\n".join([
        f"# hf-samplers ({result['preset']}): {result['model']}, {result['length']} residues after "
        f"`{PREFIX}`",
        "", f"{s.num} sequences per setting at T = 1 (NELBO: {s.elbo_samples} draws per sequence; 95% "
        "percentile bootstrap CI over the sequences), one greedy sequence at T = 0; transformers "
        f"{result['transformers']}.", "", rows, "",
        "![NFE vs quality](nfe_vs_quality.png)", "", *infill])


def _infill_lines(inf: dict) -> list[str]:
    rows = table(inf["rows"], {
        "sampler": "sampler", "setting": "setting",
        "recovery [95% CI]": lambda r: with_ci(r["recovery"], r.get("recovery_ci"), digits=3),
        "minus one-shot argmax": lambda r: with_p(r.get("vs_argmax"), digits=3), "NFE": "nfe"})
    return [f"## Infilling: {inf['templates']} heavy-chain templates ({', '.join(inf['chains'])}) with "
            f"{inf['masked_per_template']:.1f} random residues masked, temperature 0", "",
            "Recovery of the masked residues [95% percentile bootstrap CI over templates]; minus the "
            "one-shot argmax paired on the same templates (sign-flip p).", "",
            rows, ""]


def _plots(result: dict, out_dir: Path) -> list[str]:
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    rows = result["rows"]
    if not rows:
        return []
    panels = (("nfe", "nelbo_per_token", "NFE per sequence (T=1)", "NELBO per residue of samples (nats)"),
              ("greedy_nfe", "greedy_agreement", "NFE per sequence (T=0, greedy)",
               "agreement with 1-per-step greedy (fraction)"))
    title = (f"AntiBERTy, {result['length']} residues: Scheduled / EB / Threshold samplers; "
             "point labels: the setting (steps, gamma or tau)")
    with figure(out_dir / "nfe_vs_quality.png", title=title, ncols=2, size=(11, 4.4), dpi=120) as (fig, axes):
        for ax, (x, y, xlabel, ylabel) in zip(axes, panels):
            for family, marker, knob in FAMILIES:
                rs = [r for r in rows if r["sampler"] == family]  # in setting order, not NFE order
                ax.plot([r[x] for r in rs], [r[y] for r in rs], marker=marker,
                        label=f"{family} (label: {knob})")
                for r in rs:
                    ax.annotate(r["setting"].split("=")[1], (r[x], r[y]), fontsize=7, xytext=(3, 3),
                                textcoords="offset points")
            ax.set(xlabel=xlabel, ylabel=ylabel, xscale="log",
                   title="samples at T = 1" if x == "nfe" else "greedy decoding at T = 0")
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
    return ["nfe_vs_quality.png"]


def _evidence(result: dict, s: Setup) -> dict:
    return {"n_test": s.num, "method": "percentile bootstrap CI over sequences (NELBO); agreement: one "
            "greedy sequence", "level": 0.95, "setting": "our proxy"}


def _headline(result: dict) -> dict:
    rows, infill = result.get("rows", []), result.get("infill", {}).get("rows", [])
    return {**{f"NELBO/token, {r['sampler']} {r['setting']}": r["nelbo_per_token"] for r in rows},
            **{f"greedy agreement, {r['sampler']} {r['setting']}": r["greedy_agreement"] for r in rows},
            **{f"infill recovery, {r['sampler']} {r['setting']} vs one-shot argmax":
               (r["recovery"], infill[0]["recovery"]) for r in infill[1:]}}


EXPERIMENT = Experiment(name="hf-samplers", presets=PRESETS,
                        parts=lambda s: [Part("continue", continue_part), Part("infill", infill_part)],
                        assemble=_assemble,
                        report=_report, plots=_plots, evidence=_evidence, headline=_headline)
