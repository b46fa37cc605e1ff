"""Unmaskers: which masked positions get a value at each step.

The loop (:func:`mdm.sampling.sample`) hands an unmasker a :class:`StepState` for the rows still
running: the masked positions of each row's current block (``eligible``, ``[b, w]``) and, after
the forward pass, the sampling :class:`~mdm.sampling.distribution.Distribution` at those
positions (``state.scores(proxy)`` lays a proxy's scores out on the ``[b, w]`` grid).  The
unmasker answers a bool mask ``[b, w]`` of positions to reveal; the loop draws their values from
that same distribution.  Two hooks:

* ``select(state)``  -- after the forward pass (rank by a proxy, count, threshold, ...);
* ``plan(state)``    -- before it, for choices that ignore the model (:class:`Ancestral`, empty
  steps of :class:`Scheduled`): rows that reveal nothing then skip the forward pass (no NFE).

A budgeted unmasker (``steps_per_block`` returns an int) runs that many steps per block and must
have revealed the whole block by its last one; otherwise the loop runs it until each row's
block is done.  A new unmasker is a small class::

    class HalfOfRemaining(Unmasker):
        def __init__(self, proxy="confidence"):
            self.proxy = get_proxy(proxy)

        def select(self, state):
            n = (state.eligible.sum(-1) + 1) // 2
            return take_best(state.scores(self.proxy), state.eligible, n)
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch

from mdm.errors import SamplingError
from mdm.limits import check_steps
from mdm.process import reveal_probability
from mdm.sampling.distribution import Distribution
from mdm.sampling.proxies import Proxy, Random, get_proxy
from mdm.schedules import Linear, Schedule, unmask_counts

__all__ = [
    "Ancestral",
    "EntropyBounded",
    "Scheduled",
    "StepState",
    "Threshold",
    "TopK",
    "Unmasker",
    "best_first",
    "eb_count",
    "take_best",
]

F64_MAX = torch.finfo(torch.float64).max


@dataclass
class StepState:
    """What an unmasker sees at one step, for the ``b`` rows still running.

    ``step`` counts steps within the current block (from 0); ``eligible [b, w]`` marks the masked
    positions of each row's current block inside the loop's window of ``w`` columns.  ``dist`` is
    the sampling distribution at the eligible positions only, flattened in row-major order (``n``
    of them; ``None`` in :meth:`Unmasker.plan`); :meth:`spread` puts per-position numbers back on
    the ``[b, w]`` grid and :meth:`scores` does so for a proxy.  ``lo`` is the sequence column of
    window column 0, ``prompt_len`` / ``length`` the prompt and generated lengths (for unmaskers
    that rank positions by where they are, e.g. :class:`mdm.order.LearnedOrder`).
    """

    step: int
    block_size: int
    n_blocks: int
    eligible: torch.Tensor
    generator: torch.Generator
    dist: Distribution | None = None
    lo: int = 0
    prompt_len: int = 0
    length: int | None = None

    def spread(self, values: torch.Tensor, fill) -> torch.Tensor:
        """``values [n]`` (one per eligible position) as ``[b, w]``, ``fill`` elsewhere."""
        out = torch.full(self.eligible.shape, fill, dtype=values.dtype, device=values.device)
        return out.masked_scatter_(self.eligible, values)

    def scores(self, proxy: Proxy) -> torch.Tensor:
        """``proxy``'s float64 scores ``[b, w]`` (higher = reveal first; -inf where not eligible)."""
        if self.dist is None:
            raise SamplingError("proxy scores need the model's logits: use them in select(), not plan()")
        return self.spread(proxy.score(self.dist, self.generator).to(torch.float64), float("-inf"))


def best_first(scores: torch.Tensor, eligible: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rank the eligible positions of each row by descending score, ties to the lower position.

    Returns ``(order, rank)``: ``order[r, j]`` is the column ranked ``j`` (eligible columns first)
    and ``rank`` its inverse.  Non-finite scores of eligible positions rank last among them.
    """
    s = scores.to(torch.float64).nan_to_num(nan=-F64_MAX, posinf=F64_MAX, neginf=-F64_MAX)
    s = s.masked_fill(~eligible, float("-inf"))
    order = s.argsort(dim=-1, descending=True, stable=True)
    ar = torch.arange(order.shape[-1], device=order.device).expand_as(order)
    return order, torch.empty_like(order).scatter_(-1, order, ar)


def take_best(scores: torch.Tensor, eligible: torch.Tensor, count) -> torch.Tensor:
    """The ``count`` best eligible positions of each row (``count``: int or LongTensor ``[b]``).

    At most one per row (``count <= 1``, the common case of many-step sampling) is an ``argmax``
    instead of a full sort: ``argmax`` returns the first maximal column, the same tie rule (lower
    position wins) as :func:`best_first`'s stable sort, so the same positions."""
    if isinstance(count, torch.Tensor):  # a host sync on an accelerator: there the sort stays
        one = (count.device.type == "cpu" and count.numel() > 0 and not count.is_floating_point()
               and int(count.max()) <= 1)
    else:
        one = isinstance(count, int) and count <= 1
    if one:
        return _take_one(scores, eligible, count)
    _, rank = best_first(scores, eligible)
    if isinstance(count, torch.Tensor):
        count = count.unsqueeze(-1)
    return eligible & (rank < count)


def _take_one(scores: torch.Tensor, eligible: torch.Tensor, count) -> torch.Tensor:
    s = scores.to(torch.float64).nan_to_num(nan=-F64_MAX, posinf=F64_MAX, neginf=-F64_MAX)
    best = s.masked_fill(~eligible, float("-inf")).argmax(dim=-1, keepdim=True)
    pick = torch.zeros_like(eligible).scatter_(-1, best, True) & eligible
    wanted = count >= 1 if isinstance(count, int) else (count >= 1).unsqueeze(-1)
    return pick & wanted


def _check_steps(name: str, steps) -> None:
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise SamplingError(f"{name}(steps=...) must be an int >= 1, got {steps!r}")
    check_steps(f"{name}(steps=...)", steps, SamplingError)  # mdm.limits.MAX_STEPS


def _check_schedule(name: str, schedule) -> None:
    if not isinstance(schedule, Schedule):
        raise SamplingError(
            f"{name}(schedule=...) must be an mdm.schedules.Schedule such as Linear(), got {schedule!r}"
        )


def _split_steps(name: str, steps: int, n_blocks: int) -> int:
    if steps % n_blocks:
        raise SamplingError(
            f"{name}(steps={steps}) must split evenly over the {n_blocks} blocks (length / block_size): "
            f"use a multiple of {n_blocks} steps or another block_size"
        )
    return steps // n_blocks


class Unmasker:
    """Base class; see the module docstring for the contract."""

    proxy: Proxy | None = None

    def steps_per_block(self, block_size: int, n_blocks: int) -> int | None:
        """Steps per block for a fixed budget (validate it here), or None to run until done."""
        return None

    def plan(self, state: StepState) -> torch.Tensor | None:
        """A model-free choice ``[b, w]`` made before the forward pass, or None to use select()."""
        return None

    def select(self, state: StepState) -> torch.Tensor:
        """Positions to reveal ``[b, w]`` given ``state.dist``."""
        raise NotImplementedError(f"{type(self).__name__} must implement select() or plan()")

    def size_law(self, step: int, block_size: int, n_blocks: int, n_eligible: int) -> torch.Tensor | None:
        """For model-free unmaskers that reveal a uniformly random subset of the eligible positions
        given its size: float64 ``[n_eligible + 1]``, P(size = k).  None otherwise.  Used by
        :mod:`mdm.sampling.exact` to enumerate the sampler's output law."""
        return None


@dataclass(frozen=True)
class Ancestral(Unmasker):
    """The exact reverse process (MDLM, Sahoo et al. 2024; MD4, Shi et al. 2024) on the grid
    ``t_i = 1 - i/steps``: each masked position is revealed independently with probability
    ``(alpha(s) - alpha(t)) / (1 - alpha(t))`` (:func:`mdm.process.reveal_probability`), its value
    drawn from the denoiser; the last step reveals everything left.  The choice ignores the model,
    so a step that reveals nothing in a row costs that row no forward pass (for any denoiser;
    NFE <= length).  With blocks the steps split evenly over them and the grid restarts in each
    block.

    It is the exact reverse process only at ``temperature=1``: pass ``mdm.sample(...,
    temperature=1.0)``; the sampler's default ``temperature=0`` takes each position's argmax value.
    """

    steps: int
    schedule: Schedule = Linear()

    def __post_init__(self):
        _check_steps("Ancestral", self.steps)
        _check_schedule("Ancestral", self.schedule)

    def steps_per_block(self, block_size, n_blocks):
        return _split_steps("Ancestral", self.steps, n_blocks)

    def _p(self, step: int, steps_per_block: int) -> float:
        """Reveal probability of step ``step`` of ``steps_per_block``: ``t -> s`` on the grid."""
        t, s = 1.0 - step / steps_per_block, 1.0 - (step + 1) / steps_per_block
        return reveal_probability(self.schedule, t, s)

    def plan(self, state):
        p = self._p(state.step, self.steps // state.n_blocks)
        if p >= 1.0:
            return state.eligible.clone()
        u = torch.rand(state.eligible.shape, dtype=torch.float64, device=state.eligible.device,
                       generator=state.generator)
        return state.eligible & (u < p)

    def size_law(self, step, block_size, n_blocks, n_eligible):
        p = self._p(step, self.steps // n_blocks)
        k = torch.arange(n_eligible + 1, dtype=torch.float64)
        binom = torch.tensor([math.comb(n_eligible, i) for i in range(n_eligible + 1)], dtype=torch.float64)
        return binom * p**k * (1.0 - p) ** (n_eligible - k)


@dataclass(frozen=True)
class _Ranked(Unmasker):
    """Shared by unmaskers that rank positions by a proxy (resolved to a Proxy object)."""

    def __post_init__(self):
        object.__setattr__(self, "proxy", get_proxy(self.proxy))

    def _delta(self, count: int, n_eligible: int) -> torch.Tensor | None:
        if not isinstance(self.proxy, Random):
            return None
        law = torch.zeros(n_eligible + 1, dtype=torch.float64)
        law[min(count, n_eligible)] = 1.0
        return law


@functools.lru_cache(maxsize=64)
def _cached_counts(schedule: Schedule, block_size: int, steps: int) -> tuple[int, ...]:
    return tuple(unmask_counts(schedule, block_size, steps))


def _block_counts(schedule: Schedule, block_size: int, steps: int) -> tuple[int, ...]:
    """``unmask_counts`` per block, cached for hashable (frozen) schedules; a user's plain dataclass
    schedule is unhashable and is recomputed instead."""
    try:
        hash(schedule)
    except TypeError:
        return tuple(unmask_counts(schedule, block_size, steps))
    return _cached_counts(schedule, block_size, steps)


@dataclass(frozen=True)
class Scheduled(_Ranked):
    """Exactly ``unmask_counts(schedule, block_size, steps_per_block)`` positions per step, best
    ranked first: LLaDA's low-confidence remasking (Nie et al. 2025) with the confidence proxy,
    and the Beta energy schedules (Chen et al., arXiv 2509.13866) with ``BetaEnergy(a, b)``.
    Steps split evenly over blocks; zero-count steps cost no forward pass."""

    steps: int
    schedule: Schedule = Linear()
    proxy: str | Proxy = "confidence"

    def __post_init__(self):
        _check_steps("Scheduled", self.steps)
        _check_schedule("Scheduled", self.schedule)
        super().__post_init__()

    def steps_per_block(self, block_size, n_blocks):
        return _split_steps("Scheduled", self.steps, n_blocks)

    def _count(self, step: int, block_size: int, steps_per_block: int) -> int:
        return _block_counts(self.schedule, block_size, steps_per_block)[step]

    def plan(self, state):
        if self._count(state.step, state.block_size, self.steps // state.n_blocks) == 0:
            return torch.zeros_like(state.eligible)
        return None

    def select(self, state):
        count = self._count(state.step, state.block_size, self.steps // state.n_blocks)
        return take_best(state.scores(self.proxy), state.eligible, count)

    def size_law(self, step, block_size, n_blocks, n_eligible):
        return self._delta(self._count(step, block_size, self.steps // n_blocks), n_eligible)


@dataclass(frozen=True)
class TopK(_Ranked):
    """``k`` best-ranked positions per step (fewer at the end of a block)."""

    k: int = 1
    proxy: str | Proxy = "confidence"

    def __post_init__(self):
        if not isinstance(self.k, int) or isinstance(self.k, bool) or self.k < 1:
            raise SamplingError(f"TopK(k=...) must be an int >= 1, got {self.k!r}")
        super().__post_init__()

    def steps_per_block(self, block_size, n_blocks):
        return -(-block_size // self.k)

    def select(self, state):
        return take_best(state.scores(self.proxy), state.eligible, self.k)

    def size_law(self, step, block_size, n_blocks, n_eligible):
        return self._delta(self.k, n_eligible)


def eb_count(entropies_ranked: torch.Tensor, valid: torch.Tensor, gamma: float) -> torch.Tensor:
    """EB-sampler rule (Ben-Hamu et al., arXiv 2505.24857): over the entropies of the ranked
    positions take the largest k with  sum_{j<=k} H_j - max_{j<=k} H_j <= gamma  (at least 1).

    ``entropies_ranked [b, w]`` in rank order, ``valid [b, w]`` marks real (eligible) entries,
    which come first.  The left side never decreases in k, so the count of entries meeting the
    bound is that largest k.
    """
    h = entropies_ranked.to(torch.float64).masked_fill(~valid, 0.0)
    bound = h.cumsum(dim=-1) - h.cummax(dim=-1).values
    return ((bound <= gamma) & valid).sum(dim=-1).clamp_min(1)


@dataclass(frozen=True)
class EntropyBounded(_Ranked):
    """EB-sampler: rank by ``proxy`` and reveal the largest prefix whose entropies satisfy
    ``sum H - max H <= gamma`` (see :func:`eb_count`); ``gamma = 0`` reveals one per step unless
    several positions are certain."""

    gamma: float
    proxy: str | Proxy = "entropy"

    def __post_init__(self):
        g = self.gamma
        if isinstance(g, bool) or not isinstance(g, (int, float)) or not math.isfinite(g) or g < 0:
            raise SamplingError(f"EntropyBounded(gamma=...) must be a finite number >= 0, got {g!r}")
        super().__post_init__()

    def select(self, state):
        order, rank = best_first(state.scores(self.proxy), state.eligible)
        ranked_h = state.spread(state.dist.entropy, 0.0).gather(-1, order)
        k = eb_count(ranked_h, state.eligible.gather(-1, order), float(self.gamma))
        return state.eligible & (rank < k.unsqueeze(-1))


@dataclass(frozen=True)
class Threshold(_Ranked):
    """Every eligible position whose proxy score exceeds ``tau`` (in ``(0, 1]``), and at least the
    best-ranked one (Fast-dLLM-style parallel decoding with the confidence proxy)."""

    tau: float
    proxy: str | Proxy = "confidence"

    def __post_init__(self):
        t = self.tau
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not (0.0 < t <= 1.0):
            raise SamplingError(f"Threshold(tau=...) must be in (0, 1], got {t!r}")
        super().__post_init__()

    def select(self, state):
        scores = state.scores(self.proxy)
        _, rank = best_first(scores, state.eligible)
        return state.eligible & ((scores > self.tau) | (rank == 0))
