"""A planted-order synthetic family: sequences generated in a known order through many-to-one maps.

For the learned-order experiment (Garg et al., arXiv 2511.19152; ``mdm exp learned-order``).  A
random permutation ``pi`` of the ``L`` positions is the generation order, and the tokens are the
windows of a shift register over fresh fair bits ``b_j`` (``V = 2^bits`` tokens):

    x_{pi(0)} = b_0,     x_{pi(j)} = f(x_{pi(j-1)}, b_j) = (2 x_{pi(j-1)} + b_j) mod V,

each token replaced by a uniform one with probability ``noise``.  ``f`` is many-to-one in
``x_{pi(j-1)}`` (it drops the top bit).  In the order ``pi`` every conditional is "shift the
previous token, add one fresh bit" (two values, a function of one visible token) and the entropy
arrives one bit per step; other orders meet conditionals that must reconcile several overlapping
windows, and the reverse order starts with a full ``bits``-bit token.  The exact log-likelihood
is known (:meth:`PlantedOrder.log_prob`), so samples are scored without a NELBO.

(We first tried ``x_{pi(j)} = f_j(x_{pi(j-1)}, x_{pi(j-2)})`` with random ``V x V`` tables: there
the later positions have lower-entropy marginals, and the learned order was not ``pi`` -- Kendall
tau between -0.36 and 0.07 in five probe runs of the trainer.)

Two variants where a position's difficulty does not point to the order (issue 27): ``start="uniform"``
draws ``x_{pi(0)}`` uniformly (a stationary register: both ends of the chain are the hardest
positions, the middle the easiest, yet the chain orders start at an end), and ``circular=True``
starts the register at a uniformly random step ``s`` and wraps around (``pi(s), pi(s+1), ...,
pi(s-1)``): the law is invariant under rotating ``pi``, so every position is equally hard.
:meth:`PlantedOrder.probabilities` gives the exact joint law of any variant (a ``V^L`` table).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from mdm.errors import DataError
from mdm.tasks.base import DataBundle, TensorItems, register_task
from mdm.tasks.exact import language_alphabet
from mdm.tokenizers import CharTokenizer

__all__ = ["PlantedOrder", "planted_order_task"]


@dataclass
class PlantedOrder:
    """``perm[j]``: the position generated ``j``-th; ``vocab = 2^bits`` tokens; ``noise`` in [0, 1);
    ``start``: ``"zero"`` (``x_{pi(0)} = b_0``) or ``"uniform"``; ``circular``: a random start step."""

    vocab: int
    perm: torch.Tensor
    noise: float
    start: str = "zero"
    circular: bool = False

    @classmethod
    def random(cls, vocab: int = 8, length: int = 8, noise: float = 0.05, seed: int = 0,
               start: str = "zero", circular: bool = False) -> PlantedOrder:
        if not isinstance(vocab, int) or vocab < 2 or vocab & (vocab - 1):
            raise DataError(
                f"planted order needs vocab a power of two >= 2 (shift-register windows), got {vocab!r}"
            )
        if not isinstance(length, int) or length < 2:
            raise DataError(f"planted order needs length >= 2, got {length!r}")
        if not 0.0 <= noise < 1.0:
            raise DataError(f"noise must be in [0, 1), got {noise}")
        if start not in ("zero", "uniform"):
            raise DataError(f"planted order start must be 'zero' or 'uniform', got {start!r}")
        perm = torch.randperm(length, generator=torch.Generator().manual_seed(seed))
        return cls(vocab, perm, float(noise), start, bool(circular))

    @property
    def length(self) -> int:
        return self.perm.numel()

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        x = torch.empty(n, self.length, dtype=torch.long)
        prev = torch.zeros(n, dtype=torch.long)
        if self.circular:
            shift = torch.randint(0, self.length, (n, 1), generator=generator)
            order = self.perm[(shift + torch.arange(self.length)) % self.length]  # [n, L]
        for j in range(self.length):
            rule = (2 * prev + torch.randint(0, 2, (n,), generator=generator)) % self.vocab
            if j == 0 and self.start == "uniform":
                rule = torch.randint(0, self.vocab, (n,), generator=generator)
            flip = torch.rand(n, generator=generator) < self.noise
            prev = torch.where(flip, torch.randint(0, self.vocab, (n,), generator=generator), rule)
            if self.circular:
                x[torch.arange(n), order[:, j]] = prev
            else:
                x[:, self.perm[j]] = prev
        return x

    def transition(self) -> torch.Tensor:
        """``T[a, b] = P(x_{pi(j)} = b | x_{pi(j-1)} = a)``, float64 ``[V, V]``: the rule w.p. 1 - noise."""
        v = self.vocab
        rule = torch.zeros(v, v, dtype=torch.float64)
        a = torch.arange(v)
        rule[a, (2 * a) % v] += 0.5
        rule[a, (2 * a + 1) % v] += 0.5
        return (1.0 - self.noise) * rule + self.noise / v

    def probabilities(self) -> torch.Tensor:
        """The exact joint law, float64 of shape ``(V,) * L`` (entry ``x`` is ``p(x)``): a Markov chain
        along ``pi`` (a mixture of its ``L`` rotations when circular).  ``V^L`` entries: for small tasks."""
        v, length = self.vocab, self.length
        trans = self.transition()
        first = trans[0] if self.start == "zero" else torch.full((v,), 1.0 / v, dtype=torch.float64)
        chain = first
        for _ in range(length - 1):  # axes in generation order
            chain = chain.unsqueeze(-1) * trans.view((1,) * (chain.dim() - 1) + (v, v))
        starts = range(length) if self.circular else (0,)
        tables = [chain.permute(*(self.perm.roll(-s).argsort().tolist())) for s in starts]
        return torch.stack(tables).mean(0)

    def follows_rule(self, x: torch.Tensor) -> torch.Tensor:
        """Bool ``[n, L]``: whether each token is one of the two its predecessor in ``pi`` allows
        (the zero-start, non-circular register)."""
        xs = x[:, self.perm].clamp(0, self.vocab - 1)
        prev = torch.cat([torch.zeros_like(xs[:, :1]), xs[:, :-1]], dim=1)
        return (xs // 2 == prev % (self.vocab // 2)) & (x[:, self.perm] < self.vocab)

    def score(self, x: torch.Tensor) -> dict[str, float]:
        """Samples ``x [n, L]`` as the planted generator sees them: mean exact log-likelihood of the valid
        ones (nats), the rate of samples with a token outside ``[0, V)`` and :meth:`follows_rule`'s rate."""
        lp = self.log_prob(x)
        valid = torch.isfinite(lp)
        return {"log_lik": float(lp[valid].mean()) if valid.any() else float("-inf"),
                "invalid_token_rate": float(1 - valid.double().mean()),
                "rule_rate": float(self.follows_rule(x).double().mean())}

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact ``log p(x)`` in nats, float64 ``[n]`` (``-inf`` for tokens outside ``[0, V)``)."""
        ok = ((x >= 0) & (x < self.vocab)).all(1)
        if self.start != "zero" or self.circular:  # from the joint table
            lp = self.probabilities()[tuple(x.clamp(0, self.vocab - 1).T)].log()
            return torch.where(ok, lp, torch.full_like(lp, -math.inf))
        hit = self.follows_rule(x)
        p_hit = math.log((1.0 - self.noise) / 2 + self.noise / self.vocab)
        p_miss = math.log(self.noise / self.vocab) if self.noise > 0 else -math.inf
        lp = torch.where(
            hit,
            torch.full(hit.shape, p_hit, dtype=torch.float64),
            torch.full(hit.shape, p_miss, dtype=torch.float64),
        ).sum(1)
        return torch.where(ok, lp, torch.full_like(lp, -math.inf))

    def entropy(self) -> float:
        """``H(x)`` in nats per sequence (every conditional given its predecessor has one entropy)."""
        if self.start != "zero" or self.circular:
            p = self.probabilities()
            return float(-(p * p.clamp_min(1e-300).log()).sum())
        v, e = self.vocab, self.noise
        hit = (1.0 - e) / 2 + e / v
        return -self.length * (
            2 * hit * math.log(hit) + ((v - 2) * (e / v) * math.log(e / v) if e > 0 else 0.0)
        )


@register_task("planted-order")
def planted_order_task(
    *,
    seq_len: int,
    seed: int = 0,
    vocab: int = 8,
    noise: float = 0.05,
    n_train: int = 4096,
    n_val: int = 512,
    structure_seed: int | None = None,
    start: str = "zero",
    circular: bool = False,
) -> DataBundle:
    """Train/val sequences of :class:`PlantedOrder` (``structure_seed`` draws ``pi``; default ``seed``)."""
    planted = PlantedOrder.random(vocab, seq_len, noise, seed if structure_seed is None else structure_seed,
                                  start=start, circular=circular)
    g = torch.Generator().manual_seed(seed + 1)
    return DataBundle(
        train=TensorItems(planted.sample(n_train, g)),
        val=TensorItems(planted.sample(n_val, g)),
        tokenizer=CharTokenizer(language_alphabet(vocab)),
        seq_len=seq_len,
    )
