"""A language given by listing its sequences and their probabilities (toys with known answers)."""

from __future__ import annotations

import torch

from mdm.errors import LanguageError
from mdm.languages.base import (
    EntropyEstimate,
    Language,
    as_distribution,
    check_sample_args,
    gumbel_argmax,
)

__all__ = ["Enumerated"]


class Enumerated(Language):
    """``p(sequences[k]) = probs[k]``; every other sequence has probability 0.

    ``sequences``: ``[K, L]`` ints (tensor or equal-length lists); ``probs``: ``[K]``
    non-negative, summing to 1 (rounding up to 1e-6 is renormalised).  Repeated sequences add
    up.  ``vocab_size`` defaults to the largest token + 1 (at least 2).  The exact conditional
    sums the probabilities of the listed sequences consistent with the clean positions.
    """

    def __init__(self, sequences, probs, vocab_size: int | None = None):
        seqs = self._as_sequences(sequences)
        p = as_distribution(probs, "probs")
        if p.dim() != 1 or p.numel() != seqs.shape[0]:
            raise LanguageError(
                f"probs must be a [K] vector with one probability per sequence: got shape "
                f"{tuple(p.shape)} for {seqs.shape[0]} sequences"
            )
        if int(seqs.min()) < 0:
            raise LanguageError(f"sequences must hold token ids >= 0, found {int(seqs.min())}")
        needed = int(seqs.max()) + 1
        if vocab_size is None:
            vocab_size = max(2, needed)
        if not isinstance(vocab_size, int) or vocab_size < 2:
            raise LanguageError(f"vocab_size must be an int >= 2, got {vocab_size!r}")
        if vocab_size < needed:
            raise LanguageError(f"vocab_size={vocab_size} but the sequences use token {needed - 1}")
        self.vocab_size = vocab_size
        self.sequences = seqs
        self.probs = p
        self.length = self.fixed_length = seqs.shape[1]

    @staticmethod
    def _as_sequences(sequences) -> torch.Tensor:
        if not isinstance(sequences, torch.Tensor):
            rows = [list(r) for r in sequences]
            if not rows:
                raise LanguageError("sequences is empty: list at least one sequence")
            lengths = {len(r) for r in rows}
            if len(lengths) != 1:
                raise LanguageError(
                    f"all sequences must have the same length, got lengths {sorted(lengths)}"
                )
            sequences = torch.tensor(rows)
        if sequences.dim() != 2 or sequences.shape[0] == 0 or sequences.shape[1] == 0:
            raise LanguageError(
                f"sequences must be a non-empty [K, L] array, got shape {tuple(sequences.shape)}"
            )
        if sequences.is_floating_point() or sequences.is_complex() or sequences.dtype == torch.bool:
            raise LanguageError(f"sequences must hold integer token ids, got dtype {sequences.dtype}")
        return sequences.to(torch.long).cpu()

    def __repr__(self) -> str:
        return f"Enumerated(K={self.sequences.shape[0]}, L={self.length}, vocab_size={self.vocab_size})"

    def sample(self, n: int, length: int, generator: torch.Generator | None = None) -> torch.Tensor:
        check_sample_args(n, length)
        self._check_length(length, "the requested length", LanguageError)
        logits = self.probs.log().expand(n, -1)
        return self.sequences[gumbel_argmax(logits, generator)]

    def _consistent(self, x: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        """``[B, K]`` whether listed sequence k agrees with row b at every clean position."""
        seqs = self.sequences.to(x.device)
        agree = (x.unsqueeze(1) == seqs.unsqueeze(0)) | ~clean.unsqueeze(1)  # [B, K, L]
        return agree.all(dim=-1)

    def _log_prob(self, x: torch.Tensor) -> torch.Tensor:
        w = self._consistent(x, torch.ones_like(x, dtype=torch.bool)) * self.probs.to(x.device)
        return w.sum(dim=-1).log()

    def _log_joint_masked(self, x: torch.Tensor) -> torch.Tensor:
        w = self._consistent(x, x != self.mask_id) * self.probs.to(x.device)  # [B, K]
        onehot = torch.nn.functional.one_hot(self.sequences.to(x.device), self.vocab_size)
        # Sums of non-negative terms: linear space in float64 is exact enough, no cancellation.
        return torch.einsum("bk,klv->blv", w, onehot.to(torch.float64)).log()

    def entropy(self, length: int | None = None, *, samples: int = 4096, seed: int = 0) -> EntropyEstimate:
        """Exact ``H(X_1..X_L) = -sum_k p_k log p_k`` (repeats merged); ``samples``/``seed`` unused."""
        if length is not None:
            self._check_length(length, "the requested length", LanguageError)
        uniq, inv = torch.unique(self.sequences, dim=0, return_inverse=True)
        p = torch.zeros(uniq.shape[0], dtype=torch.float64).index_add_(0, inv, self.probs)
        h = -torch.special.xlogy(p, p).sum().item()
        return EntropyEstimate(value=max(h, 0.0), stderr=0.0, exact=True)

