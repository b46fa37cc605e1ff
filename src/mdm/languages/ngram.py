"""n-gram languages: ``p(x_t | x_{t-n+1} .. x_{t-1})``, run as a chain over context states."""

from __future__ import annotations

import torch

from mdm.errors import LanguageError
from mdm.languages.base import (
    EntropyEstimate,
    as_distribution,
    check_sample_args,
    dirichlet_ones,
)
from mdm.languages.chain import ChainLanguage, SparseChain

__all__ = ["NGram"]

# V^(order-1) context states; beyond this the edge lists alone take gigabytes.
MAX_STATES = 1 << 20


def _row_entropy(p: torch.Tensor) -> torch.Tensor:
    return -torch.special.xlogy(p, p).sum(dim=-1)


class NGram(ChainLanguage):
    """An order-``n`` Markov language over ``V`` tokens.

    ``next_probs``: shape ``(V,) * n``; ``next_probs[c_1, .., c_{n-1}, v] = p(x_t = v | previous
    n-1 tokens)`` (for ``n = 1`` a single ``[V]`` distribution: i.i.d. tokens).
    ``initial``: shape ``(V,) * (n-1)``, the joint distribution of the first ``n-1`` tokens
    (default uniform; unused for ``n = 1``).

    Inference runs the shared :class:`~mdm.languages.chain.SparseChain` over *windows*: the state
    at position ``t`` is ``(x_t, .., x_{t+w-1})``, ``w = max(n-1, 1)``, it emits ``x_t``
    deterministically and moves to ``(x_{t+1}, .., x_{t+w})`` with probability
    ``p(x_{t+w} | window)``.  The window's tokens beyond the end of a sequence are simply never
    observed, so the chain's length-``L`` marginal is the n-gram's, for any ``L``.
    """

    def __init__(self, next_probs, initial=None):
        next_probs = as_distribution(next_probs, "next_probs")
        order = next_probs.dim()
        v = next_probs.shape[-1]
        if v < 2 or any(d != v for d in next_probs.shape):
            raise LanguageError(
                f"next_probs must have shape (V,) * order with V >= 2, got {tuple(next_probs.shape)}"
            )
        if v ** max(order - 1, 1) > MAX_STATES:
            raise LanguageError(
                f"V^(order-1) = {v}^{order - 1} context states exceeds {MAX_STATES}; lower V or order"
            )
        if order == 1:
            if initial is not None:
                raise LanguageError("an order-1 NGram has no initial context: pass initial=None")
            initial = next_probs
        elif initial is None:
            initial = torch.full((v,) * (order - 1), 1.0 / v ** (order - 1), dtype=torch.float64)
        else:
            initial = as_distribution(torch.as_tensor(initial, dtype=torch.float64).reshape(-1), "initial")
            if initial.numel() != v ** (order - 1):
                raise LanguageError(
                    f"initial must hold V^(order-1) = {v ** (order - 1)} probabilities, got {initial.numel()}"
                )
            initial = initial.reshape((v,) * (order - 1))
        self.vocab_size = v
        self.order = order
        self.next_probs = next_probs
        self.initial = initial
        self.chain = self._build_chain()

    @classmethod
    def random(cls, vocab_size: int, order: int = 2, branching: int = 2, seed: int = 0) -> NGram:
        """A sparse random n-gram: each context allows exactly ``branching`` next tokens.

        The allowed tokens of each of the ``V^(order-1)`` contexts are drawn uniformly without
        replacement and weighted by Dirichlet(1); every context has successors, so sampling never
        gets stuck.  The first ``order-1`` tokens follow a Dirichlet(1) joint distribution over all
        ``V^(order-1)`` prefixes (full support).  With ``branching < V`` some sequences of length
        ``>= order`` have probability zero.
        """
        for name, val in (("vocab_size", vocab_size), ("order", order), ("branching", branching),
                          ("seed", seed)):
            if not isinstance(val, int) or isinstance(val, bool):
                raise LanguageError(f"{name} must be an int, got {val!r}")
        if vocab_size < 2:
            raise LanguageError(f"vocab_size must be >= 2, got {vocab_size}")
        if order < 1:
            raise LanguageError(f"order must be >= 1 (1 = i.i.d. tokens, 2 = bigram), got {order}")
        if not 1 <= branching <= vocab_size:
            raise LanguageError(f"branching must be in [1, vocab_size={vocab_size}], got {branching}")
        if vocab_size ** max(order - 1, 1) > MAX_STATES:
            raise LanguageError(
                f"vocab_size^(order-1) = {vocab_size}^{order - 1} exceeds {MAX_STATES} states; lower them"
            )
        g = torch.Generator().manual_seed(seed)
        contexts = vocab_size ** (order - 1)
        allowed = torch.rand(contexts, vocab_size, generator=g).argsort(dim=-1)[:, :branching]
        probs = torch.zeros(contexts, vocab_size, dtype=torch.float64)
        probs.scatter_(1, allowed, dirichlet_ones((contexts, branching), g))
        next_probs = probs.reshape((vocab_size,) * order)
        initial = None if order == 1 else dirichlet_ones(contexts, g).reshape((vocab_size,) * (order - 1))
        return cls(next_probs, initial)

    def __repr__(self) -> str:
        return f"NGram(vocab_size={self.vocab_size}, order={self.order})"

    def _build_chain(self) -> SparseChain:
        v, k = self.vocab_size, self.order - 1
        w = max(k, 1)
        n_states = v**w
        states = torch.arange(n_states)
        # Context of a window = its last order-1 tokens = the whole window (or nothing if order 1).
        nxt = self.next_probs.reshape(-1, v)[states if k else torch.zeros_like(states)]  # [S, V]
        src = states.repeat_interleave(v)
        dst = ((states % v ** (w - 1)).unsqueeze(1) * v + torch.arange(v)).reshape(-1)
        log_emit = torch.full((n_states, v), float("-inf"), dtype=torch.float64)
        log_emit[states, states // v ** (w - 1)] = 0.0
        return SparseChain(self.initial.reshape(-1).log(), src, dst, nxt.log().reshape(-1), log_emit)

    def conditional_entropies(self, length: int) -> torch.Tensor:
        """``[length]``: ``H(X_t | X_1..X_{t-1})`` in nats, exactly (their sum is the entropy)."""
        check_sample_args(0, length)
        v, k = self.vocab_size, self.order - 1
        head = min(length, k)
        # First order-1 tokens: successive marginals of the initial joint distribution.
        prefix_h = [_row_entropy(self.initial.reshape(v**j, -1).sum(dim=-1)) for j in range(head + 1)]
        out = [prefix_h[j + 1] - prefix_h[j] for j in range(head)]
        if length > k:
            h_next = _row_entropy(self.next_probs.reshape(-1, v))  # per context
            if k == 0:
                out.extend([h_next[0]] * length)
            else:
                # The context of X_t is the window state at position t - k.
                out.extend(self.chain.state_marginals(length - k) @ h_next)
        return torch.stack(out).clamp_min(0.0)

    def entropy(self, length: int, *, samples: int = 4096, seed: int = 0) -> EntropyEstimate:
        """Exact ``H(X_1..X_L)`` by the chain rule over the chain's marginals (``samples``/``seed``
        are unused, kept for one signature across languages)."""
        return EntropyEstimate(float(self.conditional_entropies(length).sum()), 0.0, True)

    def entropy_rate(self, length: int) -> float:
        """Per-token entropy ``H(X_1..X_L) / L`` in nats."""
        return self.entropy(length).value / length
