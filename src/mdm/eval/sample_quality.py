"""Sample diversity and closeness to real text: entropies and n-gram Jensen-Shannon divergence.

Generative perplexity alone is easy to game (a model that repeats "the the the" scores well), so mdm
always reports it next to the two numbers defined here, computed on token sequences (any hashable
tokens: ids of the checkpoint's tokenizer, characters, words):

* **sample entropy** -- :func:`sequence_entropy_bits`: for each sample, the Shannon entropy (bits) of
  the empirical distribution of its own tokens, averaged over the samples (the per-sequence unigram
  entropy of MDLM / ReMDM-style evaluations).  Repetitive, low-diversity samples score low.
  :func:`ngram_entropy_bits` is the corpus-level variant: entropy of the n-gram distribution pooled
  over all samples (low when every sample says the same thing).
* **n-gram divergence** -- :func:`ngram_js_bits`: the Jensen-Shannon divergence, in bits (so in
  [0, 1]: 0 for identical distributions, 1 for disjoint supports), between the empirical n-gram
  distributions of the samples and of held-out reference text.  n-grams never cross sequence ends.

The empirical divergence is biased upward by finite samples: two disjoint halves of the same corpus
do not score 0.  Compare models on equal numbers of tokens, and report the divergence of held-out
text against held-out text of the same size as the floor (``mdm demo`` does).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field

import torch

from mdm.errors import DataError

__all__ = [
    "ngram_counts",
    "entropy_bits",
    "js_divergence_bits",
    "sequence_entropy_bits",
    "ngram_entropy_bits",
    "ngram_js_bits",
    "SampleQuality",
    "sample_quality",
]

Sequences = Iterable[Sequence[Hashable]] | torch.Tensor


def _as_lists(sequences: Sequences, name: str) -> list[list[Hashable]]:
    if isinstance(sequences, torch.Tensor):
        if sequences.dim() != 2:
            raise DataError(f"{name} as a tensor must be [N, L], got shape {tuple(sequences.shape)}")
        return [list(map(int, row)) for row in sequences.tolist()]
    if isinstance(sequences, str):
        raise DataError(f"{name} must be a list of sequences (e.g. a list of strings), not one string")
    # 1-D tensors become lists of ints (0-dim tensors would hash by identity)
    out = [s.tolist() if isinstance(s, torch.Tensor) else list(s) for s in sequences]
    if not out:
        raise DataError(f"{name} is empty: pass at least one sequence")
    return out


def _check_n(n: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise DataError(f"n-gram order must be an integer >= 1, got {n!r}")


def ngram_counts(sequences: Sequences, n: int) -> Counter:
    """Counts of the n-grams (tuples) inside each sequence, pooled; none cross a sequence's end."""
    _check_n(n)
    counts: Counter = Counter()
    for seq in _as_lists(sequences, "sequences"):
        counts.update(tuple(seq[i : i + n]) for i in range(len(seq) - n + 1))
    return counts


def entropy_bits(counts: Counter | dict) -> float:
    """Shannon entropy, in bits, of the distribution ``counts / sum(counts)`` (0 for one outcome)."""
    total = sum(counts.values())
    if total <= 0:
        raise DataError("cannot take the entropy of an empty distribution (no counts)")
    return -sum(c / total * math.log2(c / total) for c in counts.values() if c > 0)


def js_divergence_bits(p: Counter | dict, q: Counter | dict) -> float:
    """Jensen-Shannon divergence in bits of two count tables, each normalised to a distribution.

    JS(P, Q) = H(M) - (H(P) + H(Q)) / 2 with M = (P + Q) / 2; in [0, 1] with log base 2.
    """
    tp, tq = sum(p.values()), sum(q.values())
    if tp <= 0 or tq <= 0:
        raise DataError("cannot compare an empty n-gram distribution (a side has no n-grams)")
    js = 0.0
    for key in set(p) | set(q):
        pi, qi = p.get(key, 0) / tp, q.get(key, 0) / tq
        mi = 0.5 * (pi + qi)
        if pi > 0:
            js += 0.5 * pi * math.log2(pi / mi)
        if qi > 0:
            js += 0.5 * qi * math.log2(qi / mi)
    return min(max(js, 0.0), 1.0)  # clip float round-off


def sequence_entropy_bits(sequences: Sequences) -> float:
    """Mean over sequences of the entropy (bits) of each sequence's own unigram distribution.

    Empty sequences are skipped; raises :class:`DataError` when every sequence is empty.
    """
    ents = [entropy_bits(Counter(seq)) for seq in _as_lists(sequences, "sequences") if len(seq)]
    if not ents:
        raise DataError("every sequence is empty: no tokens to take the entropy of")
    return sum(ents) / len(ents)


def ngram_entropy_bits(sequences: Sequences, n: int = 1) -> float:
    """Entropy (bits) of the n-gram distribution pooled over all sequences."""
    counts = ngram_counts(sequences, n)
    if not counts:
        raise DataError(f"the sequences are all shorter than n = {n}: no {n}-grams")
    return entropy_bits(counts)


def ngram_js_bits(samples: Sequences, reference: Sequences, n: int = 1) -> float:
    """Jensen-Shannon divergence (bits) between the n-gram distributions of samples and reference."""
    return js_divergence_bits(ngram_counts(samples, n), ngram_counts(reference, n))


@dataclass(frozen=True)
class SampleQuality:
    """Diversity and distributional closeness of a set of samples (see the module docstring)."""

    sequence_entropy_bits: float
    ngram_entropy_bits: dict[int, float] = field(default_factory=dict)
    ngram_js_bits: dict[int, float] = field(default_factory=dict)
    num_sequences: int = 0
    num_tokens: int = 0

    @property
    def mean_js_bits(self) -> float:
        """Mean of the n-gram JS divergences over the orders computed."""
        return sum(self.ngram_js_bits.values()) / len(self.ngram_js_bits)

    def to_dict(self) -> dict:
        return {
            "sequence_entropy_bits": self.sequence_entropy_bits,
            "ngram_entropy_bits": {str(n): v for n, v in self.ngram_entropy_bits.items()},
            "ngram_js_bits": {str(n): v for n, v in self.ngram_js_bits.items()},
            "mean_js_bits": self.mean_js_bits,
            "num_sequences": self.num_sequences,
            "num_tokens": self.num_tokens,
        }


def sample_quality(
    samples: Sequences, reference: Sequences, orders: Sequence[int] = (1, 2, 3, 4)
) -> SampleQuality:
    """Sample entropy, corpus n-gram entropies and n-gram JS divergence vs ``reference``, n in ``orders``."""
    if not orders:
        raise DataError("orders is empty: pass at least one n-gram order, e.g. (1, 2, 3, 4)")
    samples, reference = _as_lists(samples, "samples"), _as_lists(reference, "reference")
    ent = {n: ngram_entropy_bits(samples, n) for n in orders}
    js = {n: ngram_js_bits(samples, reference, n) for n in orders}
    return SampleQuality(
        sequence_entropy_bits=sequence_entropy_bits(samples),
        ngram_entropy_bits=ent,
        ngram_js_bits=js,
        num_sequences=len(samples),
        num_tokens=sum(len(s) for s in samples),
    )
