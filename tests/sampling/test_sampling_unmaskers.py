"""Each unmasker's rule, checked step by step on denoisers whose per-position distributions are known."""

import math

import pytest
import torch

import mdm
from mdm.sampling import (
    Ancestral,
    EntropyBounded,
    Proxy,
    Scheduled,
    Threshold,
    TopK,
    Unmasker,
    best_first,
    take_best,
)
from mdm.schedules import BetaEnergy, Cosine, Linear, unmask_counts


class FixedDenoiser:
    """The same distribution ``probs[i]`` at position i whatever the context (vocab V + mask)."""

    time_conditioned = False

    def __init__(self, probs: torch.Tensor):
        self.probs = probs.double()
        self.vocab_size = probs.shape[1] + 1
        self.mask_id = probs.shape[1]
        self.calls = []

    def __call__(self, x, attention_mask=None, **kw):
        self.calls.append(dict(batch=x.shape[0], **kw))
        logits = torch.cat([self.probs.log(), torch.full((self.probs.shape[0], 1), -math.inf)], dim=1)
        return logits.expand(x.shape[0], -1, -1)


def peaked(tops, v=4) -> torch.Tensor:
    """Position i puts ``tops[i]`` on token 0 and spreads the rest evenly."""
    tops = torch.tensor(tops, dtype=torch.float64)
    probs = ((1 - tops) / (v - 1)).unsqueeze(1).repeat(1, v)
    probs[:, 0] = tops
    return probs


def entropy(p):
    return float(-(p * p.log()).sum())


def eb_expected(scores, entropies, gamma):
    """Counts per step by the EB rule, written out plainly: rank by score (ties: lower position),
    take the largest prefix with sum(H) - max(H) <= gamma."""
    remaining, counts = list(range(len(scores))), []
    while remaining:
        ranked = sorted(remaining, key=lambda i: (-scores[i], i))
        k = 1
        while k < len(ranked):
            h = [entropies[i] for i in ranked[: k + 1]]
            if sum(h) - max(h) > gamma:
                break
            k += 1
        counts.append(k)
        remaining = ranked[k:]
    return counts


TOPS = [0.9, 0.5, 0.7, 0.3, 0.95, 0.6, 0.8, 0.4]


@pytest.mark.parametrize("gamma", [0.0, 0.3, 1.0, 2.5, 100.0])
@pytest.mark.parametrize("proxy", ["entropy", "confidence"])
def test_entropy_bounded_reveals_the_largest_prefix_under_gamma(gamma, proxy):
    probs = peaked(TOPS)
    h = [entropy(p) for p in probs]
    scores = [-x for x in h] if proxy == "entropy" else TOPS
    expected = eb_expected(scores, h, gamma)
    den = FixedDenoiser(probs)
    out = mdm.sample(den, length=len(TOPS), unmasker=EntropyBounded(gamma, proxy=proxy), trace=True)
    assert out.trace.counts()[:, 0].tolist() == expected
    assert int(out.nfe) == len(expected) == len(den.calls)
    if gamma == 0.0:
        assert expected == [1] * len(TOPS)


def test_entropy_bounded_uses_the_distribution_values_are_drawn_from():
    # At temperature 2 the entropies grow; the sampler must use those, not the raw ones.
    probs = peaked(TOPS)
    hot = torch.softmax(probs.log() / 2.0, dim=1)
    expected = eb_expected([-entropy(p) for p in hot], [entropy(p) for p in hot], 1.0)
    assert expected != eb_expected([-entropy(p) for p in probs], [entropy(p) for p in probs], 1.0)
    out = mdm.sample(FixedDenoiser(probs), length=len(TOPS), unmasker=EntropyBounded(1.0),
                     temperature=2.0, seed=0, trace=True)
    assert out.trace.counts()[:, 0].tolist() == expected


@pytest.mark.parametrize(
    ("schedule", "length", "steps", "block_size"),
    [(Linear(), 8, 8, None), (Cosine(), 16, 5, None), (BetaEnergy(0.9, 0.3), 16, 24, None),
     (Linear(), 16, 8, 4), (BetaEnergy(1.0, 1.0), 24, 12, 8)],
)
def test_scheduled_reveals_exactly_the_schedule_counts(schedule, length, steps, block_size):
    n_blocks = 1 if block_size is None else length // block_size
    per_block = unmask_counts(schedule, block_size or length, steps // n_blocks)
    expected = per_block * n_blocks
    den = FixedDenoiser(peaked(torch.linspace(0.3, 0.9, length).tolist()))
    out = mdm.sample(den, batch_size=3, length=length, unmasker=Scheduled(steps, schedule), trace=True,
                     block_size=block_size)
    counts = out.trace.counts()
    assert (counts == torch.tensor(expected).unsqueeze(1)).all()
    nonzero = sum(c > 0 for c in expected)
    assert (out.nfe == nonzero).all() and len(den.calls) == nonzero  # empty steps cost nothing
    if block_size is not None:  # block by block: step i only touches block i // (steps / n_blocks)
        for step in range(steps):
            cols = out.trace.unmasked(step)[0].nonzero().squeeze(1)
            assert ((cols // block_size) == step // (steps // n_blocks)).all()


def test_scheduled_with_confidence_takes_the_most_confident_first():
    den = FixedDenoiser(peaked(TOPS))
    out = mdm.sample(den, length=8, unmasker=Scheduled(4), trace=True)
    order = sorted(range(8), key=lambda i: -TOPS[i])
    for step in range(4):
        revealed = out.trace.unmasked(step)[0].nonzero().squeeze(1).tolist()
        assert revealed == sorted(order[2 * step:2 * step + 2])


@pytest.mark.parametrize(("k", "block_size", "expected"), [(3, None, [3, 3, 2]), (3, 4, [3, 1, 3, 1]),
                                                           (1, None, [1] * 8), (8, None, [8])])
def test_topk_reveals_k_per_step(k, block_size, expected):
    out = mdm.sample(FixedDenoiser(peaked(TOPS)), length=8, unmasker=TopK(k), block_size=block_size,
                     trace=True)
    assert out.trace.counts()[:, 0].tolist() == expected
    assert int(out.nfe) == len(expected)


@pytest.mark.parametrize(("proxy", "key"), [
    ("confidence", lambda p: -p.max()),
    ("margin", lambda p: -(p.topk(2).values[0] - p.topk(2).values[1])),
    ("entropy", lambda p: entropy(p)),
])
def test_proxies_rank_positions(proxy, key):
    g = torch.Generator().manual_seed(3)
    probs = torch.softmax(3 * torch.randn(6, 5, generator=g, dtype=torch.float64), dim=1)
    out = mdm.sample(FixedDenoiser(probs), length=6, unmasker=TopK(1, proxy=proxy), trace=True)
    order = out.trace.reveal_step[0].argsort().tolist()
    assert order == sorted(range(6), key=lambda i: float(key(probs[i])))
    # the proxies disagree on this example, so each ordering is really checked
    assert len({tuple(sorted(range(6), key=lambda i, f=f: float(f(probs[i])))) for f in (
        lambda p: -p.max(), lambda p: entropy(p))}) == 2


def test_ties_go_to_the_lower_position():
    out = mdm.sample(FixedDenoiser(torch.full((7, 3), 1 / 3)), length=7, unmasker=TopK(2), trace=True)
    assert out.trace.reveal_step[0].tolist() == [0, 0, 1, 1, 2, 2, 3]


def test_random_proxy_orders_uniformly():
    out = mdm.sample(FixedDenoiser(peaked(TOPS[:4])), batch_size=4000, length=4,
                     unmasker=TopK(1, proxy="random"), seed=0, trace=True)
    first = (out.trace.reveal_step == 0).double().mean(dim=0)
    assert torch.allclose(first, torch.full((4,), 0.25, dtype=torch.float64), atol=0.03)


@pytest.mark.parametrize("tau", [0.55, 0.85, 1.0])
def test_threshold_reveals_every_position_above_tau_and_at_least_one(tau):
    out = mdm.sample(FixedDenoiser(peaked(TOPS)), length=8, unmasker=Threshold(tau), trace=True)
    remaining, expected = list(range(8)), []
    while remaining:
        above = [i for i in remaining if TOPS[i] > tau] or [max(remaining, key=lambda i: TOPS[i])]
        expected.append(len(above))
        remaining = [i for i in remaining if i not in above]
    assert out.trace.counts()[:, 0].tolist() == expected


class TimeDenoiser(FixedDenoiser):
    time_conditioned = True


def test_time_conditioned_denoisers_get_t():
    den = TimeDenoiser(peaked([0.5] * 4))
    mdm.sample(den, length=4, unmasker=TopK(1))
    assert [float(c["t"][0]) for c in den.calls] == [1.0, 0.75, 0.5, 0.25]  # fraction still masked
    den = TimeDenoiser(peaked([0.5] * 4))
    mdm.sample(den, batch_size=64, length=4, unmasker=Ancestral(steps=8), seed=0)
    times = {round(float(t), 6) for c in den.calls for t in c["t"]}
    # Ancestral too: the fraction actually masked (the Linear time of that level), not its grid time
    assert times <= {1.0, 0.75, 0.5, 0.25} and len(times) > 2


def test_ancestral_reveal_rate_follows_the_schedule():
    # Linear, 4 steps: a masked position is revealed with probability 1/4, 1/3, 1/2, 1 at steps 0..3,
    # so each step reveals 1/4 of the positions in expectation.
    out = mdm.sample(FixedDenoiser(peaked([0.5] * 8)), batch_size=2000, length=8,
                     unmasker=Ancestral(steps=4), seed=0, trace=True)
    frac = out.trace.counts().double().sum(dim=1) / (2000 * 8)
    assert torch.allclose(frac, torch.full((4,), 0.25, dtype=torch.float64), atol=0.01)


def test_a_new_unmasker_and_proxy_are_small_classes():
    class LeastLikelyFirst(Proxy):
        def score(self, dist, generator):
            return -dist.max_prob.double()

    class HalfOfRemaining(Unmasker):
        proxy = LeastLikelyFirst()

        def select(self, state):
            return take_best(state.scores(self.proxy), state.eligible, (state.eligible.sum(-1) + 1) // 2)

    out = mdm.sample(FixedDenoiser(peaked(TOPS)), length=8, unmasker=HalfOfRemaining(), trace=True)
    assert out.trace.counts()[:, 0].tolist() == [4, 2, 1, 1]
    # TOPS = [0.9, 0.5, 0.7, 0.3, 0.95, 0.6, 0.8, 0.4]: the least confident half goes first
    assert out.trace.reveal_step[0].tolist() == [2, 0, 1, 0, 3, 0, 1, 0]


def test_a_registered_proxy_is_usable_by_name_and_unknown_names_say_which_exist(monkeypatch):
    from mdm.errors import SamplingError
    from mdm.registry import Registry
    from mdm.sampling import proxies

    class LeastLikelyFirst(Proxy):
        def score(self, dist, generator):
            return -dist.max_prob.double()

    registry = Registry("proxy", SamplingError, entries=dict(proxies.PROXIES.items()))
    registry.register("least-likely", LeastLikelyFirst)
    monkeypatch.setattr(proxies, "PROXIES", registry)
    unmasker = TopK(1, proxy="least-likely")
    out = mdm.sample(FixedDenoiser(peaked(TOPS)), length=8, unmasker=unmasker, trace=True)
    assert out.trace.reveal_step[0].tolist() == [6, 2, 4, 0, 7, 3, 5, 1]  # least confident first
    with pytest.raises(SamplingError, match=r"unknown proxy 'nope': use one of \[.*'least-likely'"):
        TopK(1, proxy="nope")


def _take_best_by_sort(scores, eligible, count):
    """take_best before the one-per-row argmax (issue 32): the stable float64 sort for every count."""
    _, rank = best_first(scores, eligible)
    if isinstance(count, torch.Tensor):
        count = count.unsqueeze(-1)
    return eligible & (rank < count)


@pytest.mark.parametrize("seed", range(6))
def test_take_best_of_at_most_one_per_row_selects_what_the_sort_selects(seed):
    """Many ties (scores on a grid of 3 values), NaN / inf scores, empty rows, counts 0 and 1 as
    ints and tensors: exactly the positions of the full stable sort (lower position wins ties)."""
    g = torch.Generator().manual_seed(seed)
    b, w = 40, 9
    scores = torch.randint(0, 3, (b, w), generator=g).double()
    special = torch.rand(b, w, generator=g)
    scores[special < 0.05] = float("nan")
    scores[(special >= 0.05) & (special < 0.1)] = float("inf")
    scores[(special >= 0.1) & (special < 0.15)] = float("-inf")
    eligible = torch.rand(b, w, generator=g) < 0.6
    eligible[0] = False
    for count in (0, 1, torch.randint(0, 2, (b,), generator=g), torch.ones(b, dtype=torch.long),
                  torch.tensor([2] + [1] * (b - 1))):
        got = take_best(scores, eligible, count)
        assert torch.equal(got, _take_best_by_sort(scores, eligible, count)), count
    assert take_best(scores.float(), eligible, 1).sum() == eligible.any(-1).sum()
