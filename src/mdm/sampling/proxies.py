"""Error proxies: how sure the model is at each masked position; samplers reveal the best first.

A proxy maps a :class:`~mdm.sampling.distribution.Distribution` over positions to float64 scores
of the same leading shape, **higher = reveal first**.  Every built-in score is a certainty in
``[0, 1]`` so that :class:`~mdm.sampling.Threshold` can compare any of them to ``tau``.

Adding one is a small class::

    class TopTwoMass(Proxy):
        def score(self, dist, generator):
            return dist.probs.topk(2, dim=-1).values.sum(-1).double()

and passing an instance (``Scheduled(16, proxy=TopTwoMass())``); registering it in :data:`PROXIES`
(``PROXIES.register("top2", TopTwoMass)``) makes it available as a string too.
"""

from __future__ import annotations

import torch

from mdm.errors import SamplingError
from mdm.registry import Registry
from mdm.sampling.distribution import Distribution

__all__ = ["PROXIES", "Confidence", "Entropy", "Margin", "Proxy", "Random", "get_proxy"]


class Proxy:
    """Base class: ``score(dist, generator) -> float64 tensor``, higher = reveal first."""

    def score(self, dist: Distribution, generator: torch.Generator | None) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other) -> bool:  # so that equal unmasker settings compare equal
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self) -> int:
        return hash(type(self))


class Confidence(Proxy):
    """max_v p(v): LLaDA's low-confidence remasking keeps the most confident predictions."""

    def score(self, dist, generator):
        return dist.max_prob.to(torch.float64)


class Margin(Proxy):
    """p(top-1) - p(top-2)."""

    def score(self, dist, generator):
        return dist.margin.to(torch.float64)


class Entropy(Proxy):
    """Lower entropy first; the score is ``exp(-H)`` (in ``(0, 1]``, 1 for a point mass)."""

    def score(self, dist, generator):
        return torch.exp(-dist.entropy.to(torch.float64))


class Random(Proxy):
    """Uniform random order (the theory's any-order sampler); ignores the model."""

    def score(self, dist, generator):
        return torch.rand(dist.logits.shape[:-1], dtype=torch.float64, device=dist.logits.device,
                          generator=generator)


# name -> Proxy class; add one with ``PROXIES.register("name", MyProxy)``.
PROXIES: Registry[type[Proxy]] = Registry("proxy", SamplingError, entries={
    "confidence": Confidence,
    "margin": Margin,
    "entropy": Entropy,
    "random": Random,
})


def get_proxy(proxy: str | Proxy) -> Proxy:
    """A :class:`Proxy` from an instance or one of the names in :data:`PROXIES`."""
    if isinstance(proxy, Proxy):
        return proxy
    if isinstance(proxy, str) and proxy in PROXIES:
        return PROXIES.get(proxy)()
    raise SamplingError(
        f"unknown proxy {proxy!r}: use one of {PROXIES.names()} or an mdm.sampling.Proxy instance"
    )
