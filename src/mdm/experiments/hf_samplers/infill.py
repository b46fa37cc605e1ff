"""Part ``infill`` of ``mdm exp hf-samplers`` (``mdm.sample(template=...)``): residues of real
heavy-chain variable domains (trastuzumab, adalimumab, pembrolizumab, nivolumab; public sequences)
are masked at random and filled in with the rest of the chain fixed, at temperature 0.  Per sampler:
the share of masked residues recovered exactly (bootstrap CI over templates, and paired with the
one-shot argmax on the same templates) and NFE, against a one-shot argmax (every masked position
from one forward pass)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mdm.eval.stats import standard_error
from mdm.experiments.common import interval, paired
from mdm.models.hf.antiberty import HEAVY_CHAINS

__all__ = ["InfillSetup", "infill_part", "settings"]


@dataclass(frozen=True)
class InfillSetup:
    """The first ``chains`` of :data:`HEAVY_CHAINS`, ``mask_draws`` random draws of ``fraction`` of
    their residues masked each; samplers TopK at each ``k``, EB at each ``gamma``, Threshold at each
    ``tau``."""

    chains: int
    mask_draws: int
    fraction: float
    k: tuple[int, ...]
    gamma: tuple[float, ...]
    tau: tuple[float, ...]


def settings(*, steps=(), k=(), gamma=(), tau=()) -> list[tuple[str, str, object]]:
    """``(family, label, unmasker)``: Scheduled at each of ``steps``, TopK at each ``k``, EB at each
    ``gamma``, Threshold at each ``tau``, in that order."""
    from mdm.sampling import EntropyBounded, Scheduled, Threshold, TopK

    return [*(("scheduled", f"steps={n}", Scheduled(steps=n)) for n in steps),
            *(("topk", f"k={n}", TopK(k=n)) for n in k),
            *(("eb", f"gamma={g:g}", EntropyBounded(gamma=g)) for g in gamma),
            *(("threshold", f"tau={t:g}", Threshold(tau=t)) for t in tau)]


def _templates(den, s: InfillSetup, seed: int):
    """``[(templates, truth)]`` per chain: its mask draws together (no padding between chains)."""
    tok = den.tokenizer
    batches = []
    for c, (_, chain) in enumerate(list(HEAVY_CHAINS.items())[:s.chains]):
        ids = torch.tensor(tok(chain)["input_ids"])  # [CLS] residues [SEP]
        rows = []
        for d in range(s.mask_draws):
            g = torch.Generator().manual_seed(seed * 1_000_003 + 100 * c + d)
            where = 1 + torch.randperm(len(chain), generator=g)[:round(s.fraction * len(chain))]
            rows.append(ids.clone().index_fill_(0, where, den.mask_id))
        batches.append((torch.stack(rows), ids.expand(len(rows), -1)))
    return batches


def infill_part(setup, seed: int, ctx) -> dict:
    """Each sampler fills the holes of every template (temperature 0); one sampling call per chain."""
    import mdm
    from mdm.models.hf.antiberty import load_antiberty
    from mdm.sampling import TopK

    s: InfillSetup = setup.infill
    den = load_antiberty()
    batches = _templates(den, s, seed)
    most = max(int((t == den.mask_id).sum(dim=1).max()) for t, _ in batches)
    rows, argmax = [], None
    for family, label, unmasker in [("one-shot argmax", "k=all", TopK(k=most)),
                                    *settings(k=s.k, gamma=s.gamma, tau=s.tau)]:
        hits, nfe = [], []
        for template, truth in batches:
            out = mdm.sample(den, template=template, unmasker=unmasker, temperature=0.0, seed=seed)
            hole = template == den.mask_id
            hits.append(((out.tokens == truth) & hole).sum(dim=1).double() / hole.sum(dim=1))
            nfe.append(out.nfe.double())
        hit, nfe = torch.cat(hits), torch.cat(nfe)
        argmax = hit if argmax is None else argmax
        rows.append({"sampler": family, "setting": label, "recovery": float(hit.mean()),
                     "recovery_stderr": standard_error(hit), "recovery_ci": interval(hit),
                     "nfe": float(nfe.mean())})
        if len(rows) > 1:  # paired with the one-shot argmax on the same templates
            rows[-1]["vs_argmax"] = {"diff": float((hit - argmax).mean()), **paired(hit, argmax)}
        ctx.log(f"infill {family:15s} {label:9s} recovery {hit.mean():.3f}  NFE {nfe.mean():5.1f}")
    masked = torch.cat([(t == den.mask_id).sum(dim=1) for t, _ in batches]).double()
    return {"templates": int(masked.numel()), "masked_per_template": float(masked.mean()),
            "chains": list(HEAVY_CHAINS)[:s.chains], "rows": rows}
