"""mdm's samplers on a real pretrained masked LM: AntiBERTy (antibody sequences) through from_hf.

The EB-sampler (Ben-Hamu et al., arXiv 2505.24857), confidence Threshold and the LLaDA-style
Scheduled sampler each generate the rest of a human VH3 heavy chain after its framework-1 prefix
``[CLS] EVQLVESGGGLVQPGGSLRLSCAAS``.  Per setting:

* temperature 1 (samples of the model): NFE per sequence, the NELBO per token of the samples
  under the same model (``mdm.elbo``, prefix never masked: an upper bound on their -log p per
  residue; the model ships no held-out data, so the reference is the one-token-per-step
  sampler), and the share of residues in the 20-letter amino-acid alphabet;
* temperature 0: NFE and agreement (share of positions equal) with one-token-per-step greedy
  decoding (``Scheduled(steps=L)``, i.e. ``TopK(1)``).

Part ``infill`` (``mdm.sample(template=...)``): residues of real heavy-chain variable domains
(trastuzumab, adalimumab, pembrolizumab, nivolumab; public sequences) are masked at random and
filled in with the rest of the chain fixed, at temperature 0.  Per sampler: the share of masked
residues recovered exactly and NFE, against a one-shot argmax (every masked position from one
forward pass).  ``continue`` is the part above.

Needs the antiberty 0.1.3 wheel (``pip install 'mdm-lab[protein]'`` or ``$MDM_ANTIBERTY_WHEEL``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import torch

from mdm.experiments.common import markdown_table, provenance, provenance_markdown, write_json_atomic

PREFIX = "EVQLVESGGGLVQPGGSLRLSCAAS"  # human VH3 framework 1 (as in trastuzumab)

PRESETS = {
    "quick": {"length": 16, "num": 2, "elbo_samples": 2, "steps_div": [1, 4], "gamma": [1.0], "tau": [0.5]},
    # Sized for one CPU thread (~1 s per forward of 8 x 74 tokens through the 26M-parameter model).
    "full": {"length": 48, "num": 8, "elbo_samples": 4, "steps_div": [1, 2, 4, 8],
             "gamma": [0.1, 0.5, 1.0, 2.0], "tau": [0.99, 0.9, 0.7, 0.5]},
}


# Public heavy-chain variable domains (INN sequences), used as held-out text for infilling.
HEAVY_CHAINS = {
    "trastuzumab": "EVQLVESGGGLVQPGGSLRLSCAASGFNIKDTYIHWVRQAPGKGLEWVARIYPTNGYTRYADSVKGRFTISADTSKNTA"
                   "YLQMNSLRAEDTAVYYCSRWGGDGFYAMDYWGQGTLVTVSS",
    "adalimumab": "EVQLVESGGGLVQPGRSLRLSCAASGFTFDDYAMHWVRQAPGKGLEWVSAITWNSGHIDYADSVEGRFTISRDNAKNSLY"
                  "LQMNSLRAEDTAVYYCAKVSYLSTASSLDYWGQGTLVTVSS",
    "pembrolizumab": "QVQLVQSGVEVKKPGASVKVSCKASGYTFTNYYMYWVRQAPGQGLEWMGGINPSNGGTNFNEKFKNRVTLTTDSSTTT"
                     "AYMELKSLQFDDTAVYYCARRDYRFDMGFDYWGQGTTVTVSS",
    "nivolumab": "QVQLVESGGGVVQPGRSLRLDCKASGITFSNSGMHWVRQAPGKGLEWVAVIWYDGSKRYYADSVKGRFTISRDNSKNTLF"
                 "LQMNSLRAEDTAVYYCATNDDYWGQGTLVTVSS",
}
INFILL = {
    "quick": {"chains": 2, "mask_draws": 1, "fraction": 0.15, "k": [1, 4], "gamma": [1.0], "tau": [0.5]},
    "full": {"chains": 4, "mask_draws": 3, "fraction": 0.15, "k": [1, 2, 4], "gamma": [0.1, 1.0],
             "tau": [0.9, 0.5]},
}


def parts(preset: str) -> tuple[str, ...]:
    return ("continue", "infill")


def _settings(cfg):
    from mdm.sampling import EntropyBounded, Scheduled, Threshold

    n = cfg["length"]
    out = [("scheduled", f"steps={n // d}", Scheduled(steps=n // d)) for d in cfg["steps_div"]]
    out += [("eb", f"gamma={g:g}", EntropyBounded(gamma=g)) for g in cfg["gamma"]]
    out += [("threshold", f"tau={t:g}", Threshold(tau=t)) for t in cfg["tau"]]
    return out


def _cache_dir() -> Path:
    return Path(os.environ.get("MDM_CACHE", "~/.cache/mdm")).expanduser() / "antiberty-0.1.3-hf"


def run(preset: str, out_dir: Path, seed: int = 0, parts=None) -> dict:
    from mdm.models.hf import from_hf
    from mdm.models.hf.antiberty import antiberty_folder

    torch.set_num_threads(1)
    cfg = PRESETS[preset]
    den = from_hf(antiberty_folder(_cache_dir()), kind="masked-lm", verbose=False)
    chosen = parts if parts is not None else ("continue", "infill")
    rows = _continue(den, cfg, seed) if "continue" in chosen else []
    infill = _infill(den, INFILL[preset], seed) if "infill" in chosen else None

    import transformers

    command = f"mdm exp hf-samplers --preset {preset}" + (f" --parts {','.join(parts)}" if parts else "")
    prov = provenance(command, seed,
                      {**cfg, "prefix": PREFIX, "infill": INFILL[preset], "parts": list(chosen)})
    prov["versions"]["transformers"] = transformers.__version__
    result = {"experiment": "hf-samplers", "preset": preset, "model": "AntiBERTy (antiberty 0.1.3)",
              "length": cfg["length"], "rows": rows, "provenance": prov}
    if infill is not None:
        result["infill"] = infill
    write_json_atomic(out_dir / "result.json", result)
    _report(result, out_dir)
    if rows:
        _plot(rows, out_dir)
    return result


def _infill(den, cfg: dict, seed: int) -> dict:
    """Masked residues of real heavy chains filled in by each sampler (temperature 0) vs one-shot
    argmax; one sampling call per chain (its mask draws together: no padding between chains)."""
    import mdm
    from mdm.sampling import EntropyBounded, Threshold, TopK

    tok = den.tokenizer
    chains = list(HEAVY_CHAINS.items())[:cfg["chains"]]
    batches = []
    for c, (_, chain) in enumerate(chains):
        ids = torch.tensor(tok(chain)["input_ids"])  # [CLS] residues [SEP]
        rows = []
        for d in range(cfg["mask_draws"]):
            g = torch.Generator().manual_seed(seed * 1_000_003 + 100 * c + d)
            where = 1 + torch.randperm(len(chain), generator=g)[:round(cfg["fraction"] * len(chain))]
            rows.append(ids.clone().index_fill_(0, where, den.mask_id))
        batches.append((torch.stack(rows), ids.expand(len(rows), -1)))
    most = max(int((t == den.mask_id).sum(dim=1).max()) for t, _ in batches)
    settings = [("one-shot argmax", "k=all", TopK(k=most))]
    settings += [("topk", f"k={k}", TopK(k=k)) for k in cfg["k"]]
    settings += [("eb", f"gamma={g:g}", EntropyBounded(gamma=g)) for g in cfg["gamma"]]
    settings += [("threshold", f"tau={t:g}", Threshold(tau=t)) for t in cfg["tau"]]
    rows = []
    for family, label, unmasker in settings:
        hits, nfe = [], []
        for template, truth in batches:
            out = mdm.sample(den, template=template, unmasker=unmasker, temperature=0.0, seed=seed)
            hole = template == den.mask_id
            hits.append(((out.tokens == truth) & hole).sum(dim=1).double() / hole.sum(dim=1))
            nfe.append(out.nfe.double())
        hit, nfe = torch.cat(hits), torch.cat(nfe)
        se = float(hit.std() / hit.numel() ** 0.5) if hit.numel() > 1 else float("nan")
        rows.append({"sampler": family, "setting": label, "recovery": float(hit.mean()),
                     "recovery_stderr": se, "nfe": float(nfe.mean())})
        print(f"infill {family:15s} {label:9s} recovery {hit.mean():.3f}  NFE {nfe.mean():5.1f}", flush=True)
    masked = torch.cat([(t == den.mask_id).sum(dim=1) for t, _ in batches]).double()
    return {"templates": int(masked.numel()), "masked_per_template": float(masked.mean()),
            "chains": [name for name, _ in chains], "rows": rows}


def _continue(den, cfg: dict, seed: int) -> list[dict]:
    import mdm
    from mdm.models.hf.antiberty import AMINO_ACIDS

    tok, n = den.tokenizer, cfg["length"]
    prompt = torch.tensor([tok.cls_token_id] + tok(PREFIX, add_special_tokens=False)["input_ids"])
    p = prompt.numel()
    amino = torch.tensor(tok.convert_tokens_to_ids(list(AMINO_ACIDS)))

    reference = None
    rows = []
    for family, label, unmasker in _settings(cfg):
        t0 = time.perf_counter()
        hot = mdm.sample(den, batch_size=cfg["num"], length=n, prompt=prompt, unmasker=unmasker,
                         temperature=1.0, seed=seed)
        seconds = time.perf_counter() - t0
        nelbo = mdm.elbo(den, hot.tokens, samples=cfg["elbo_samples"], prompt_len=p, seed=seed) / n
        greedy = mdm.sample(den, length=n, prompt=prompt, unmasker=unmasker, temperature=0.0, seed=seed)
        if reference is None:  # the first setting is Scheduled(steps=L): one token per step
            reference = greedy.tokens[0, p:]
        gen = hot.tokens[:, p:]
        rows.append({
            "sampler": family, "setting": label, "nfe": float(hot.nfe.double().mean()),
            "nelbo_per_token": float(nelbo.mean()),
            "nelbo_stderr": float(nelbo.std() / nelbo.numel() ** 0.5) if nelbo.numel() > 1 else float("nan"),
            "valid_fraction": float(torch.isin(gen, amino).double().mean()),
            "greedy_nfe": int(greedy.nfe[0]),
            "greedy_agreement": float((greedy.tokens[0, p:] == reference).double().mean()),
            "seconds": seconds,
            "example": tok.decode(hot.tokens[0, p:].tolist(), skip_special_tokens=True),
        })
        r = rows[-1]
        print(f"{family:9s} {label:11s} NFE {r['nfe']:6.1f}  NELBO/token {r['nelbo_per_token']:.3f}"
              f"  greedy NFE {r['greedy_nfe']:3d} agreement {r['greedy_agreement']:.3f}", flush=True)
    return rows


def _report(result: dict, out_dir: Path) -> None:
    header = ["sampler", "setting", "NFE (T=1)", "NELBO/token (T=1)", "valid", "NFE (T=0)",
              "agreement with 1-per-step (T=0)"]
    table = [[r["sampler"], r["setting"], r["nfe"], f"{r['nelbo_per_token']:.3f} ± {r['nelbo_stderr']:.3f}",
              r["valid_fraction"], r["greedy_nfe"], r["greedy_agreement"]] for r in result["rows"]]
    title = (f"# hf-samplers ({result['preset']}): {result['model']}, {result['length']} residues "
             f"after `{PREFIX}`")
    text = title + ("\n\n" + markdown_table(header, table) if table else "")
    if "infill" in result:
        inf = result["infill"]
        table = [[r["sampler"], r["setting"], f"{r['recovery']:.3f} ± {r['recovery_stderr']:.3f}", r["nfe"]]
                 for r in inf["rows"]]
        text += (f"\n\n## Infilling: {inf['templates']} heavy chains ({', '.join(inf['chains'])}) with "
                 f"{inf['masked_per_template']:.1f} random residues masked, temperature 0\n\n"
                 + markdown_table(["sampler", "setting", "recovery of masked residues", "NFE"], table))
    text += "\n\n" + provenance_markdown(result["provenance"])
    (out_dir / "report.md").write_text(text + "\n", encoding="utf-8")


def _plot(rows: list[dict], out_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    panels = (("nfe", "nelbo_per_token", "NFE per sequence (T=1)", "NELBO per residue of samples (nats)"),
              ("greedy_nfe", "greedy_agreement", "NFE (T=0)", "agreement with 1-per-step greedy"))
    for ax, (x, y, xlabel, ylabel) in zip(axes, panels):
        for family, marker in (("scheduled", "o"), ("eb", "s"), ("threshold", "^")):
            rs = [r for r in rows if r["sampler"] == family]  # in setting order, not NFE order
            ax.plot([r[x] for r in rs], [r[y] for r in rs], marker=marker, label=family)
            for r in rs:
                ax.annotate(r["setting"].split("=")[1], (r[x], r[y]), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")
        ax.set(xlabel=xlabel, ylabel=ylabel, xscale="log")
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.legend()
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_dir / "nfe_vs_quality.png", dpi=120)
    plt.close(fig)
