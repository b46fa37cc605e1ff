"""The exact output law of a sampler whose choice of positions ignores the model, by enumeration.

For :class:`~mdm.sampling.Ancestral` and for :class:`~mdm.sampling.Scheduled` /
:class:`~mdm.sampling.TopK` with ``proxy="random"``, each step reveals a uniformly random subset
of the eligible positions whose size has a known law (:meth:`Unmasker.size_law`), and the values
of the revealed positions are drawn independently from the denoiser's per-position
distributions given the current partial sequence.  So the distribution over partial sequences
evolves by an exact sparse transition, step by step:

    P_{i+1}(y) = sum_x P_i(x) * R_i(|S|; m(x)) / C(m(x), |S|) * prod_{j in S} p(y_j | x)

where ``S`` is the set of positions masked in ``x`` and clean in ``y`` (``y`` agrees with ``x``
elsewhere and ``S`` lies in the step's block), ``m(x)`` the number of eligible masked positions
and ``R_i`` the size law.  Partial sequences are enumerated (``V^L`` of them, ``V`` counting the
mask), so this is for toys: the theory paper's step sweeps and the energy-schedule toy (Chen et
al., arXiv 2509.13866: 5 tokens over {a, b}) at small ``L``.

A :class:`~mdm.sampling.Scheduled` unmasker with a deterministic proxy (confidence, margin,
entropy) picks its positions from the model instead; :func:`ranked_output_law` follows each
reachable partial sequence through its one deterministic choice per step, and
:func:`output_law` sends such unmaskers there, so one function answers for every fixed-budget
sampler of the toys.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from dataclasses import dataclass

import torch

from mdm.errors import SamplingError
from mdm.protocol import is_time_conditioned
from mdm.sampling.distribution import Distribution
from mdm.sampling.proxies import Random, get_proxy
from mdm.sampling.unmaskers import Scheduled, Unmasker, take_best
from mdm.schedules import unmask_counts

__all__ = ["OutputLaw", "all_sequences", "kl_divergence", "output_law", "ranked_output_law", "sequence_codes"]


@dataclass
class OutputLaw:
    """A distribution over sequences: ``sequences [K, L]`` (long) with ``probs [K]`` (float64 > 0)."""

    sequences: torch.Tensor
    probs: torch.Tensor

    def prob_of(self, x: torch.Tensor) -> torch.Tensor:
        """Probability of each row of ``x [n, L]`` (0 for sequences not in the law)."""
        match = (x.unsqueeze(1) == self.sequences.unsqueeze(0)).all(dim=-1)  # [n, K]
        return (match.to(torch.float64) * self.probs).sum(dim=-1)


def kl_divergence(p: OutputLaw, q: OutputLaw) -> float:
    """``KL(p || q) = sum_x p(x) log(p(x) / q(x))`` in nats; ``inf`` if q misses p's support."""
    qx = q.prob_of(p.sequences)
    if (qx <= 0).any():
        return math.inf
    return float((p.probs * (p.probs.log() - qx.log())).sum())


def _digits(codes: torch.Tensor, base: int, length: int) -> torch.Tensor:
    """Base-``base`` digits of ``codes``, most significant first: ``[n, length]``."""
    powers = base ** torch.arange(length - 1, -1, -1, dtype=torch.long)
    return (codes.unsqueeze(1) // powers) % base


def all_sequences(vocab: int, length: int) -> torch.Tensor:
    """Every sequence of ``{0..vocab-1}^length`` as ``[vocab**length, length]``, position 0 most
    significant (row ``k`` has :func:`sequence_codes` ``k``)."""
    return _digits(torch.arange(vocab**length), vocab, length)


def sequence_codes(x: torch.Tensor, vocab: int) -> torch.Tensor:
    """Index of each row of ``x [n, L]`` in :func:`all_sequences` order."""
    return x.long() @ (vocab ** torch.arange(x.shape[1] - 1, -1, -1, dtype=torch.long))


def ranked_output_law(denoiser, length: int, counts, *, proxy="confidence", temperature: float = 1.0,
                      top_p: float = 1.0) -> OutputLaw:
    """Exact law of a sampler that reveals, at step ``i``, the ``counts[i]`` best-ranked masked
    positions (``take_best``: highest ``proxy`` score first, ties to the lower position) and draws
    their values independently from ``softmax(logits / temperature)`` given the clean positions.

    Zero-count steps are skipped.  ``proxy`` must be deterministic (not ``"random"``: that law is
    :func:`output_law`'s) and the mask the last id; ``vocab**length`` at most 1e6.
    """
    proxy = get_proxy(proxy)
    if isinstance(proxy, Random):
        raise SamplingError("random order ignores the model: use mdm.sampling.exact.output_law for it")
    if is_time_conditioned(denoiser):
        raise SamplingError("exact enumeration assumes a time-independent denoiser (an exact oracle)")
    mask = denoiser.mask_id
    if mask != denoiser.vocab_size - 1:
        raise SamplingError(f"exact enumeration needs mask_id == vocab_size - 1, got mask_id={mask}")
    vocab = denoiser.vocab_size - 1
    if not isinstance(length, int) or length < 1 or vocab**length > 1_000_000:
        raise SamplingError(f"length must be an int >= 1 with vocab**length <= 1e6, got {length!r}")
    counts = [int(k) for k in counts]
    if any(k < 0 for k in counts) or sum(counts) != length:
        raise SamplingError(f"counts must be >= 0 and sum to length={length}, got {counts}")

    states: dict[tuple[int, ...], float] = {(mask,) * length: 1.0}
    for k in counts:
        if k == 0:
            continue
        keys = list(states)
        x = torch.tensor(keys, dtype=torch.long)
        with torch.no_grad():
            dist = Distribution.prepare(denoiser(x), mask_id=mask, temperature=temperature, top_p=top_p)
        reveal = take_best(proxy.score(dist, None), x == mask, k)
        probs = dist.value_probs().double().numpy()
        nxt: dict[tuple[int, ...], float] = defaultdict(float)
        for s, state in enumerate(keys):
            subset = reveal[s].nonzero().flatten().tolist()
            for values in itertools.product(range(vocab), repeat=len(subset)):
                w = states[state] * math.prod(probs[s, i, v] for i, v in zip(subset, values))
                if w == 0.0:
                    continue
                new = list(state)
                for i, v in zip(subset, values):
                    new[i] = v
                nxt[tuple(new)] += w
        states = nxt
    return OutputLaw(torch.tensor(list(states), dtype=torch.long),
                     torch.tensor(list(states.values()), dtype=torch.float64))


def output_law(denoiser, unmasker: Unmasker, length: int, *, block_size: int | None = None,
               temperature: float = 1.0, top_p: float = 1.0, max_states: int = 200_000) -> OutputLaw:
    """Exact law of ``mdm.sample(denoiser, length=length, unmasker=unmasker, block_size=...,
    temperature=..., top_p=...)`` (no prompt), for a time-independent ``denoiser``.

    ``unmasker`` must have a size law (see the module docstring) or be a ``Scheduled`` with a
    deterministic proxy and no blocks (then :func:`ranked_output_law`).  Raises ``SamplingError``
    when the ``(2V - 1)^L`` transitions exceed ``max_states``.
    """
    vocab, mask = denoiser.vocab_size, denoiser.mask_id
    if (isinstance(unmasker, Scheduled) and not isinstance(unmasker.proxy, Random)
            and block_size in (None, length) and isinstance(length, int) and length >= 1):
        counts = unmask_counts(unmasker.schedule, length, unmasker.steps)
        return ranked_output_law(denoiser, length, counts, proxy=unmasker.proxy, temperature=temperature,
                                 top_p=top_p)
    if is_time_conditioned(denoiser):
        raise SamplingError("output_law needs a time-independent denoiser (time_conditioned is set)")
    if not isinstance(length, int) or length < 1:
        raise SamplingError(f"length must be an int >= 1, got {length!r}")
    bs = length if block_size is None else block_size
    if not isinstance(bs, int) or bs < 1 or length % bs:
        raise SamplingError(
            f"block_size must be an int >= 1 that divides length={length}, got {block_size!r}"
        )
    n_blocks = length // bs
    steps_per_block = unmasker.steps_per_block(bs, n_blocks)
    if steps_per_block is None or unmasker.size_law(0, bs, n_blocks, bs) is None:
        raise SamplingError(
            f"{unmasker!r} chooses positions from the model; output_law handles Ancestral and "
            "Scheduled / TopK with proxy='random'"
        )
    n_pairs = (2 * vocab - 1) ** length
    if n_pairs > max_states:
        raise SamplingError(
            f"enumerating {n_pairs} transitions ((2V-1)^L with V={vocab}, L={length}) exceeds "
            f"max_states={max_states}: use a smaller toy or raise max_states"
        )

    # Value laws p(. | x) at every partial sequence x (codes in base V, the mask a digit too).
    states = all_sequences(vocab, length)
    with torch.no_grad():
        raw = torch.cat([denoiser(chunk) for chunk in states.split(4096)])
    value_probs = Distribution.prepare(
        raw, mask_id=mask, temperature=temperature, top_p=top_p
    ).value_probs().to(torch.float64)

    # Every transition x -> y, position by position: keep a token, stay masked, or reveal a token.
    tokens = [v for v in range(vocab) if v != mask]
    options = torch.tensor([(v, v) for v in tokens] + [(mask, mask)] + [(mask, v) for v in tokens])
    choice = _digits(torch.arange(n_pairs), len(options), length)
    src, dst = options[choice, 0], options[choice, 1]  # [n_pairs, L]
    powers = vocab ** torch.arange(length - 1, -1, -1, dtype=torch.long)
    src_code, dst_code = src @ powers, dst @ powers
    revealed = (src == mask) & (dst != mask)
    picked = value_probs[src_code.unsqueeze(1), torch.arange(length), dst]  # [n_pairs, L]
    base = torch.where(revealed, picked, 1.0).prod(dim=1)
    size = revealed.sum(dim=1)

    mass = torch.zeros(vocab**length, dtype=torch.float64)
    mass[int(torch.full((length,), mask) @ powers)] = 1.0
    for block in range(n_blocks):
        in_block = torch.zeros(length, dtype=torch.bool)
        in_block[block * bs:(block + 1) * bs] = True
        valid = ~(revealed & ~in_block).any(dim=1)
        eligible = ((src == mask) & in_block).sum(dim=1)
        for step in range(steps_per_block):
            # R[m, k] / C(m, k): probability of one particular k-subset of m eligible positions
            table = torch.zeros(bs + 1, length + 1, dtype=torch.float64)  # sizes beyond the block: 0
            for m in range(bs + 1):
                law = unmasker.size_law(step, bs, n_blocks, m)
                table[m, : m + 1] = law / torch.tensor([math.comb(m, k) for k in range(m + 1)])
            weight = base * table[eligible, size] * valid  # valid: nothing revealed outside the block
            mass = torch.zeros_like(mass).index_add_(0, dst_code, mass[src_code] * weight)

    clean = ~(states == mask).any(dim=1)
    if abs(float(mass[clean].sum()) - 1.0) > 1e-9:
        raise SamplingError(f"{unmasker!r} leaves positions masked after its last step")
    keep = clean & (mass > 0)
    return OutputLaw(states[keep], mass[keep])
