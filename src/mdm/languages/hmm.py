"""Hidden Markov languages: hidden states follow a Markov chain, each emits one token."""

from __future__ import annotations

import math

import torch

from mdm.errors import LanguageError
from mdm.languages.base import (
    EntropyEstimate,
    as_distribution,
    check_sample_args,
    dirichlet_ones,
)
from mdm.languages.chain import ChainLanguage, SparseChain

__all__ = ["HMM"]


def _sparse_rows(rows: int, cols: int, keep: int, generator) -> torch.Tensor:
    """``[rows, cols]`` probabilities, each row Dirichlet(1) on ``keep`` random columns."""
    chosen = torch.rand(rows, cols, generator=generator).argsort(dim=-1)[:, :keep]
    out = torch.zeros(rows, cols, dtype=torch.float64)
    return out.scatter_(1, chosen, dirichlet_ones((rows, keep), generator))


class HMM(ChainLanguage):
    """``p(x) = sum_s initial[s_0] prod_t transition[s_{t-1}, s_t] prod_t emission[s_t, x_t]``.

    ``initial [S]``, ``transition [S, S]`` (rows sum to 1) and ``emission [S, V]`` (rows sum to
    1), given as probabilities.  Exact conditionals come from the shared
    :class:`~mdm.languages.chain.SparseChain` (forward-backward in log space).
    """

    def __init__(self, initial, transition, emission):
        initial = as_distribution(initial, "initial")
        transition = as_distribution(transition, "transition")
        emission = as_distribution(emission, "emission")
        s = initial.numel()
        if initial.dim() != 1 or transition.shape != (s, s) or emission.dim() != 2 or emission.shape[0] != s:
            raise LanguageError(
                f"need initial [S], transition [S, S], emission [S, V]; got {tuple(initial.shape)}, "
                f"{tuple(transition.shape)}, {tuple(emission.shape)}"
            )
        if emission.shape[1] < 2:
            raise LanguageError(f"vocab_size must be >= 2, got emission width {emission.shape[1]}")
        self.vocab_size = emission.shape[1]
        self.n_states = s
        self.end_tokens: tuple[int, ...] = ()  # (eos, pad) after :meth:`with_end`
        self.initial, self.transition, self.emission = initial, transition, emission
        src, dst = torch.meshgrid(torch.arange(s), torch.arange(s), indexing="ij")
        self.chain = SparseChain(initial.log(), src.reshape(-1), dst.reshape(-1),
                                 transition.log().reshape(-1), emission.log())

    @classmethod
    def random(cls, n_states: int, vocab_size: int, seed: int = 0, *, successors: int = 2,
               emitted: int | None = None, end: int | None = None) -> HMM:
        """A sparse random HMM, so that some token sequences have probability zero.

        Initial distribution: Dirichlet(1) over all states.  Each state moves to ``successors``
        random states (default 2, capped at ``n_states``) and emits ``emitted`` random tokens
        (default ``max(1, vocab_size // 2)``), both weighted by Dirichlet(1).  Every state has a
        successor and a token, so sampling never gets stuck.

        ``end=K`` adds end-of-text (:meth:`with_end`): answers of mean length K, then ``eos`` and
        ``pad`` to the sequence length -- the padding regime of LLaDA-style generation.
        """
        for name, val in (("n_states", n_states), ("vocab_size", vocab_size), ("seed", seed),
                          ("successors", successors)):
            if not isinstance(val, int) or isinstance(val, bool):
                raise LanguageError(f"{name} must be an int, got {val!r}")
        if n_states < 1:
            raise LanguageError(f"n_states must be >= 1, got {n_states}")
        if vocab_size < 2:
            raise LanguageError(f"vocab_size must be >= 2, got {vocab_size}")
        if successors < 1:
            raise LanguageError(f"successors must be >= 1, got {successors}")
        emitted = max(1, vocab_size // 2) if emitted is None else emitted
        if not isinstance(emitted, int) or not 1 <= emitted <= vocab_size:
            raise LanguageError(f"emitted must be an int in [1, vocab_size={vocab_size}], got {emitted!r}")
        g = torch.Generator().manual_seed(seed)
        initial = dirichlet_ones(n_states, g)
        transition = _sparse_rows(n_states, n_states, min(successors, n_states), g)
        emission = _sparse_rows(n_states, vocab_size, emitted, g)
        hmm = cls(initial, transition, emission)
        return hmm if end is None else hmm.with_end(end)

    def with_end(self, mean_length: int) -> HMM:
        """This HMM's sequences ended by end-of-text: after each emitted token the answer ends with
        probability ``1 / mean_length`` (a geometric length >= 1 with that mean); then the token
        ``eos`` (id ``vocab_size``) and ``pad`` (id ``vocab_size + 1``) to the end of the sequence.
        Two states more (one emitting ``eos``, one ``pad`` forever), two tokens more; still an HMM,
        so every conditional stays exact.  A sequence that has not ended by its last position is
        valid too (an answer that fills the generation length)."""
        if not isinstance(mean_length, int) or isinstance(mean_length, bool) or mean_length < 1:
            raise LanguageError(f"end (the mean answer length) must be an int >= 1, got {mean_length!r}")
        s, v, q = self.n_states, self.vocab_size, 1.0 / mean_length
        end_state, pad_state = s, s + 1
        transition = torch.zeros(s + 2, s + 2, dtype=self.transition.dtype)
        transition[:s, :s] = (1 - q) * self.transition
        transition[:s, end_state] = q
        transition[end_state, pad_state] = transition[pad_state, pad_state] = 1.0
        emission = torch.zeros(s + 2, v + 2, dtype=self.emission.dtype)
        emission[:s, :v] = self.emission
        emission[end_state, v] = emission[pad_state, v + 1] = 1.0
        initial = torch.cat([self.initial, torch.zeros(2, dtype=self.initial.dtype)])
        out = type(self)(initial, transition, emission)
        out.end_tokens = (v, v + 1)
        return out

    def __repr__(self) -> str:
        return f"HMM(n_states={self.n_states}, vocab_size={self.vocab_size})"

    def entropy(self, length: int, *, samples: int = 4096, seed: int = 0) -> EntropyEstimate:
        """Monte-Carlo ``H(X_1..X_L) = E[-log p(X)]`` over ``samples`` draws (seeded), with the
        standard error of the mean; ``exact=False`` (an HMM's entropy has no closed form)."""
        check_sample_args(samples, length)
        if samples < 2:
            raise LanguageError(f"samples must be >= 2 to estimate a standard error, got {samples}")
        nll = -self.log_prob(self.sample(samples, length, torch.Generator().manual_seed(seed)))
        return EntropyEstimate(float(nll.mean()), float(nll.std()) / math.sqrt(samples), False)

    def entropy_rate(self, length: int, *, samples: int = 4096, seed: int = 0) -> float:
        """Per-token entropy estimate ``H(X_1..X_L) / L`` in nats."""
        return self.entropy(length, samples=samples, seed=seed).value / length
