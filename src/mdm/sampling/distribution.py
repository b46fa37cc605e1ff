"""The per-position distribution a sampler draws values from, and that its proxies score.

One object holds it so that values, proxy scores and EB-sampler entropies come from the SAME
distribution (a trap named by the EB-sampler paper, Ben-Hamu et al., arXiv 2505.24857):

    p_i(v) = softmax(logits_i / T)(v)  restricted to the top-p nucleus,  p_i(mask) = 0.

At ``T = 0`` values are the argmax; the proxies then read ``softmax(logits)`` (the T -> 0 limit
is a point mass and would score every position alike), which is what LLaDA's low-confidence
remasking does at temperature 0.
"""

from __future__ import annotations

from functools import cached_property

import torch

from mdm.categorical import gumbel_argmax
from mdm.errors import SamplingError

__all__ = ["Distribution", "NonFiniteLogitsError", "checked_row_max", "gumbel_argmax", "top_p_filter"]

NEG_INF = float("-inf")


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Nucleus filtering in place: keep the smallest set of most likely tokens whose probability
    reaches ``top_p`` (the most likely token is always kept); the rest get -inf."""
    if top_p >= 1.0:
        return logits
    sorted_logits, order = logits.sort(dim=-1, descending=True, stable=True)
    probs = sorted_logits.softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs
    drop_sorted = mass_before >= top_p
    drop_sorted[..., 0] = False  # a top_p below the dtype's smallest number would drop every token
    drop = torch.empty_like(drop_sorted).scatter_(-1, order, drop_sorted)
    return logits.masked_fill_(drop, NEG_INF)


class NonFiniteLogitsError(SamplingError):
    """The denoiser returned NaN, +inf, or no finite logit outside the mask token."""


def checked_row_max(logits: torch.Tensor, where=None) -> torch.Tensor:
    """The per-position maximum ``[..., 1]`` of ``logits`` (mask already at -inf), after checking
    that every position has a usable distribution: no NaN, no +inf, at least one finite logit.

    One reduction over the logits and one host sync per step (``amax`` propagates NaN, and +inf or
    an all -inf row make the maximum non-finite), so it is cheap enough for every sampling step;
    the maximum is reused to keep tiny temperatures from overflowing.  ``where``:
    ``(step, lo, positions [b, w])`` to name the step and position (row-major over ``positions``,
    columns from ``lo``), as the sampling loop passes it.
    """
    top = logits.amax(dim=-1, keepdim=True)
    if bool(torch.isfinite(top).all()):
        return top
    flat = logits.reshape(-1, logits.shape[-1])
    k = int((~torch.isfinite(top.reshape(-1))).nonzero()[0])
    row = flat[k]
    why = ("NaN" if bool(row.isnan().any()) else "+inf" if bool((row == float("inf")).any())
           else "-inf for every token except the mask")
    place = f"position {k} of the logits"
    if where is not None:
        step, lo, positions = where
        b, c = (int(i) for i in positions.nonzero()[k])
        place = f"step {step}, sequence {b}, position {lo + c}"
    raise NonFiniteLogitsError(f"the denoiser returned non-finite logits ({why}) at {place}: its weights or "
                               "inputs are damaged (check the checkpoint, the prompt and the model's dtype)")


class Distribution:
    """Sampling distributions for a batch of positions: ``logits [..., V]`` already divided by
    the temperature, nucleus-filtered, with the mask token at -inf (build with :meth:`prepare`).

    ``greedy`` (temperature 0) makes :meth:`draw` take the argmax (lowest id on ties).  Summaries
    (``probs``, ``max_prob``, ``margin``, ``entropy``) are computed once, on first use.
    """

    def __init__(self, logits: torch.Tensor, greedy: bool):
        self.logits = logits
        self.greedy = greedy

    @classmethod
    def prepare(cls, raw: torch.Tensor, *, mask_id: int, temperature: float, top_p: float,
                owned: bool = False, where=None) -> Distribution:
        """From a denoiser's raw logits (float64 is kept, other dtypes become float32).  ``owned``:
        ``raw`` is a scratch tensor of the caller's that may be overwritten (saves a copy).
        Non-finite logits raise :class:`NonFiniteLogitsError` (:func:`checked_row_max`, ``where``
        names the step and position).  A temperature so small that ``logits / T`` overflows is
        applied to ``logits - max`` instead (the same distribution; its limit, the argmax, not the
        lowest id with a positive logit)."""
        dtype = torch.float64 if raw.dtype == torch.float64 else torch.float32
        logits = raw.to(dtype, copy=not (owned and raw.dtype == dtype))
        logits[..., mask_id] = NEG_INF  # SUBS: the mask token is never predicted
        top = checked_row_max(logits, where)
        if temperature > 0:
            if bool(torch.isfinite(top / temperature).all()):
                logits.div_(temperature)
            else:  # overflow (or T below the dtype's range): shift by the max, divide in float64
                logits = ((logits.double() - top.double()) / temperature).to(dtype)
        top_p_filter(logits, top_p)
        return cls(logits, greedy=temperature == 0)

    def __getitem__(self, index) -> Distribution:
        """The distributions at ``index`` (e.g. a bool mask over the leading dims)."""
        return Distribution(self.logits[index], self.greedy)

    @cached_property
    def probs(self) -> torch.Tensor:
        return self.logits.softmax(dim=-1)

    @cached_property
    def max_prob(self) -> torch.Tensor:
        return self.probs.amax(dim=-1)

    @cached_property
    def margin(self) -> torch.Tensor:
        """Top-1 minus top-2 probability."""
        top2 = self.probs.topk(2, dim=-1).values
        return top2[..., 0] - top2[..., 1]

    @cached_property
    def entropy(self) -> torch.Tensor:
        """Shannon entropy in nats (tokens outside the nucleus contribute 0)."""
        return torch.special.entr(self.probs).sum(dim=-1)

    def value_probs(self) -> torch.Tensor:
        """The law of :meth:`draw`: ``probs``, or a one-hot at the argmax when greedy."""
        if not self.greedy:
            return self.probs
        onehot = torch.zeros_like(self.logits)
        return onehot.scatter_(-1, self.logits.argmax(dim=-1, keepdim=True), 1.0)

    def draw(self, generator: torch.Generator | None) -> torch.Tensor:
        """One value per position (LongTensor of the leading shape)."""
        if self.greedy:
            return self.logits.argmax(dim=-1)
        return gumbel_argmax(self.logits, generator)
