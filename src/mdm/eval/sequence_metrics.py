"""Token error and sequence error of generated samples under the TRUE language.

Feng et al., "Theoretical Benefit and Limitation of Diffusion Language Model" (arXiv 2502.09622)
measure a sampler by

* **token error (TER)**: the perplexity of generated sequences under the true distribution,
  ``exp(NLL per token)`` with ``NLL = -log p_true(x) / L`` -- never the model's own likelihood,
  which does not depend on the number of sampling steps; we also report its gap to the
  language's per-token entropy ``H(X_1..X_L) / L``, the value an exact sampler reaches in
  expectation;
* **sequence error rate (SER)**: the fraction of generated sequences with probability zero
  under the true distribution.

Both work for any object with ``log_prob(x) -> [n]`` and ``is_valid(x) -> [n]`` (the languages
of :mod:`mdm.languages`, or a task's language); the entropy needs ``entropy(length)`` or an
explicit ``entropy=``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from mdm.errors import TokenError

__all__ = ["TokenErrorResult", "sequence_error_rate", "token_error"]


@dataclass(frozen=True)
class TokenErrorResult:
    """Token error of ``n`` samples of length ``L`` under the true language (nats).

    Impossible samples (probability 0, NLL = +inf) are handled explicitly:

    * ``nll_per_token`` / ``perplexity`` / ``gap``: over the *valid* samples only (NaN if none)
      -- the quantity that stays finite and comparable across step budgets; the invalid ones
      are counted by ``invalid_fraction`` (= SER);
    * ``nll_per_token_all``: over *all* samples, ``+inf`` as soon as one is invalid.
    """

    nll_per_token: float
    nll_per_token_all: float
    perplexity: float
    entropy_per_token: float  # H(X_1..X_L) / L; NaN when the language gives no entropy
    entropy_stderr: float  # standard error of entropy_per_token (0 when exact)
    gap: float  # nll_per_token - entropy_per_token
    n_samples: int
    n_valid: int
    # standard error of ``gap``: the spread of per-sequence NLL over the valid samples (ddof=1)
    # and the entropy's own stderr, added in quadrature; NaN with fewer than 2 valid samples
    gap_stderr: float = math.nan

    @property
    def invalid_fraction(self) -> float:
        return 1.0 - self.n_valid / self.n_samples


def _tokens(samples) -> torch.Tensor:
    x = getattr(samples, "tokens", samples)  # also accept a sampler's output object
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.dtype != torch.long:
        got = f"{type(x).__name__} {getattr(x, 'dtype', '')} {tuple(getattr(x, 'shape', ()))}"
        raise TokenError(f"samples must be a torch.long tensor [n, L], got {got}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise TokenError(f"samples is empty (shape {tuple(x.shape)}): pass at least one sequence")
    return x


def _entropy(language, length: int, entropy):
    """(H per token, its stderr) from ``entropy=`` (a float or an EntropyEstimate-like object of
    the whole sequence) or ``language.entropy(length)``; NaNs when neither is available."""
    if entropy is None:
        if not hasattr(language, "entropy"):
            return math.nan, math.nan
        entropy = language.entropy(length)
    value = getattr(entropy, "value", entropy)
    stderr = getattr(entropy, "stderr", 0.0)
    return float(value) / length, float(stderr) / length


def token_error(language, samples, *, entropy=None) -> TokenErrorResult:
    """Per-token NLL of ``samples [n, L]`` under the true ``language``, its perplexity and its gap
    to the per-token entropy (see :class:`TokenErrorResult` for how -inf is handled).

    ``entropy``: ``H(X_1..X_L)`` of the whole sequence in nats (float or ``EntropyEstimate``);
    by default ``language.entropy(L)`` (a Monte-Carlo estimate for an HMM: pass it in to reuse
    one estimate across many calls).
    """
    x = _tokens(samples)
    n, length = x.shape
    log_p = language.log_prob(x).to(torch.float64)
    valid = log_p > float("-inf")
    n_valid = int(valid.sum())
    nll = -log_p / length
    nll_valid = float(nll[valid].mean()) if n_valid else math.nan
    h, h_err = _entropy(language, length, entropy)
    spread = float(nll[valid].std()) / math.sqrt(n_valid) if n_valid > 1 else math.nan
    return TokenErrorResult(
        nll_per_token=nll_valid,
        nll_per_token_all=float(nll.mean()),
        perplexity=math.exp(nll_valid) if n_valid else math.nan,
        entropy_per_token=h,
        entropy_stderr=h_err,
        gap=nll_valid - h,
        n_samples=n,
        n_valid=n_valid,
        gap_stderr=math.hypot(spread, h_err),
    )


def sequence_error_rate(language, samples) -> float:
    """Fraction of ``samples [n, L]`` with probability zero under ``language`` (not ``is_valid``)."""
    x = _tokens(samples)
    return 1.0 - float(language.is_valid(x).to(torch.float64).mean())
