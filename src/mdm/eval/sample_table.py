"""The sample-quality table shared by ``mdm demo``, ``mdm eval`` and the ReMDM experiment: sample
with an unmasker, time it, and measure the samples against reference text
(:mod:`mdm.eval.sample_quality`, generative perplexity from :mod:`mdm.eval.genppl`), with real
held-out text measured the same way as the floor (:func:`heldout_row`)."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field

import torch

from mdm.eval.genppl import GenPPL, generative_perplexity
from mdm.eval.sample_quality import SampleQuality, sample_quality

__all__ = ["LEGEND", "SampleRow", "format_rows", "heldout_row", "measure_sampler", "print_rows",
           "reference_split"]


@dataclass
class SampleRow:
    """One line of the sample-quality table: a sampler's samples, or held-out text (no NFE / time)."""

    label: str
    quality: SampleQuality
    texts: list[str] = field(default_factory=list)
    nfe: float | None = None  # mean forward passes per sequence
    seconds: float | None = None
    genppl: GenPPL | None = None

    def to_dict(self) -> dict:
        return {
            "label": self.label, "nfe": self.nfe, "seconds": self.seconds, "quality": self.quality.to_dict(),
            "genppl": self.genppl.to_dict() if self.genppl else None, "texts": self.texts,
        }


def reference_split(val_ids: torch.Tensor, num: int) -> tuple[torch.Tensor | None, torch.Tensor]:
    """``(heldout, pool)``: ``num`` held-out rows to score like samples, and the rest as reference.

    Samples and ``heldout`` are both compared with ``pool``, so the held-out row is the floor of the
    metrics at this sample size.  With too few rows the whole split is the pool and ``heldout`` None.
    """
    if val_ids.shape[0] <= num:
        return None, val_ids
    return val_ids[:num], val_ids[num:]


def _strip(ids: torch.Tensor, drop: set[int]) -> list[list[int]]:
    return [[t for t in row if t not in drop] for row in ids.tolist()]


def _quality(seqs: list[list[int]], pool: torch.Tensor, tokenizer) -> SampleQuality:
    drop = {tokenizer.pad_id, tokenizer.mask_id}
    return sample_quality(seqs, _strip(pool, drop))


def measure_sampler(model, tokenizer, unmasker, *, label: str, num: int, length: int,
                    reference: torch.Tensor, temperature: float = 1.0, top_p: float = 1.0,
                    block_size: int | None = None, seed: int = 0, lm=None, trace: bool = False):
    """Sample ``num`` sequences, time them, and measure them against ``reference`` token rows.

    Returns ``(SampleRow, SampleOutput)``.  Metrics use the generated tokens (padding dropped);
    generative perplexity (when ``lm`` is given) their decoded text.
    """
    from mdm.sampling import sample

    t0 = time.perf_counter()
    out = sample(model, batch_size=num, length=length, unmasker=unmasker, block_size=block_size,
                     temperature=temperature, top_p=top_p, seed=seed, trace=trace, pad_id=tokenizer.pad_id)
    seconds = time.perf_counter() - t0
    seqs = _strip(out.tokens[:, -length:], {tokenizer.pad_id, tokenizer.mask_id})
    texts = [tokenizer.decode(s) for s in seqs]
    row = SampleRow(label=label, quality=_quality(seqs, reference, tokenizer), texts=texts,
                    nfe=float(out.nfe.double().mean()), seconds=seconds,
                    genppl=generative_perplexity(texts, lm=lm) if lm is not None else None)
    return row, out


def heldout_row(heldout: torch.Tensor, reference: torch.Tensor, tokenizer, lm=None) -> SampleRow:
    """The same metrics for real held-out text (the floor the samplers are compared with)."""
    seqs = _strip(heldout, {tokenizer.pad_id, tokenizer.mask_id})
    texts = [tokenizer.decode(s) for s in seqs]
    return SampleRow(label="held-out text", quality=_quality(seqs, reference, tokenizer), texts=texts,
                     genppl=generative_perplexity(texts, lm=lm) if lm is not None else None)


_HEADER = ["sampler", "NFE", "time (s)", "entropy (bits)", "n-gram JS (bits)", "gen. PPL"]


def _cells(row: SampleRow) -> list[str]:
    q = row.quality
    return [
        row.label,
        "-" if row.nfe is None else f"{row.nfe:.1f}",
        "-" if row.seconds is None else f"{row.seconds:.2f}",
        f"{q.sequence_entropy_bits:.3f}",
        f"{q.mean_js_bits:.3f}",
        "-" if row.genppl is None else f"{row.genppl.perplexity:.1f}",
    ]


def format_rows(rows: list[SampleRow], markdown: bool = False) -> str:
    """The sample table as aligned text (or markdown)."""
    cells = [_HEADER] + [_cells(r) for r in rows]
    if markdown:
        lines = ["| " + " | ".join(c) + " |" for c in cells]
        lines.insert(1, "|" + "---|" * len(_HEADER))
        return "\n".join(lines)
    widths = [max(len(c[i]) for c in cells) for i in range(len(_HEADER))]
    lines = ["  ".join(c[i].ljust(widths[i]) if i == 0 else c[i].rjust(widths[i]) for i in range(len(c)))
             for c in cells]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


LEGEND = (
    "entropy: mean over samples of the entropy of each sample's own character distribution; "
    "n-gram JS: Jensen-Shannon divergence (bits, 0..1) of the samples' n-gram distribution from held-out "
    "text, mean over n = 1..4; gen. PPL: perplexity under SmolLM2-135M (lower = more fluent, but easy to "
    "game with repetitive text -- read it with the entropy). 'held-out text' is real text measured the "
    "same way: the floor at this sample size."
)


def print_rows(rows: list[SampleRow], file=None) -> None:
    file = file or sys.stdout
    print(format_rows(rows), file=file)
    print(LEGEND, file=file)
