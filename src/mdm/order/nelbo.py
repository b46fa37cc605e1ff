"""The multivariate NELBO as an expected autoregressive loss along Plackett--Luce orders.

Garg et al. (arXiv 2511.19152), per-position schedules ``alpha_l(t) = 1 - t^{w_l}``:

    NELBO_w(x0) = int_0^1 sum_l (w_l / t) E[ 1[l masked at t] (-log p_theta(x0_l | x_t)) ] dt.

The reverse process is a jump process whose reveal of a masked ``l`` has intensity ``w_l / t``
(the hazard of ``T_l``, CDF ``t^{w_l}``), so the integrand is the compensator of the sum over
its jumps.  For a denoiser that depends on ``x_t`` only (not on ``t``) the NELBO is therefore
the expected chain-rule (autoregressive) loss along the reveal order:

    NELBO_w(x0) = E_{sigma ~ PL(w)} sum_j -log p_theta(x0_{sigma_j} | x0_{sigma_<j}),    (eq. AO)

each term conditioned on the positions revealed before it.  Every order's chain rule is exact for
an exact denoiser, so then every draw equals ``-log p(x0)`` for every ``w``.  Estimating (eq. AO)
by whole orders avoids the continuous-time form's weight ``w_l / t``, whose variance is unbounded
near ``t = 0`` when ``w_l <= 1``.
"""

from __future__ import annotations

import itertools

import torch

from mdm.errors import ConfigError, TokenError
from mdm.losses import check_clean, log_prob_of, masked_logits
from mdm.order.plackett_luce import decode_ranks, order_log_prob, sample_order
from mdm.order.schedule import PerPositionSchedule, check_weights
from mdm.protocol import denoiser_ids, is_time_conditioned, model_time

__all__ = ["multivariate_nelbo", "model_nelbo", "order_losses", "expected_order_loss"]

_LOGIT_BUDGET = 1 << 25


@torch.no_grad()
def order_losses(denoiser, x0: torch.Tensor, orders: torch.Tensor, *,
                 max_rows: int | None = None) -> torch.Tensor:
    """Chain-rule loss ``sum_j -log p(x0_{sigma_j} | x0_{sigma_<j})`` of each sequence along its order.

    ``x0 [B, L]``, ``orders [B, L]`` (row ``b`` is the order of ``x0[b]``): float64 ``[B]`` nats.
    Runs ``B * L`` rows (one per chain-rule step) through the denoiser, ``max_rows`` at a time.
    A time-conditioned denoiser gets the time of each step's masking level (:func:`model_time`).
    """
    vocab_size, mask_id = denoiser_ids(denoiser)
    batch, length = x0.shape
    ranks = decode_ranks(orders.to(x0.device))  # [B, L]
    steps = torch.arange(length, device=x0.device)
    # row (b, j): positions decoded at step >= j are masked, the one decoded at step j is scored
    masked = ranks.unsqueeze(1) >= steps.view(1, length, 1)  # [B, L(step), L(pos)]
    target = ranks.unsqueeze(1) == steps.view(1, length, 1)
    xs = x0.unsqueeze(1).expand(batch, length, length).reshape(-1, length)
    masked, target = masked.reshape(-1, length), target.reshape(-1, length)
    if max_rows is None:
        max_rows = max(1, _LOGIT_BUDGET // max(1, length * vocab_size))
    nll = torch.empty(xs.shape[0], dtype=torch.float64, device=x0.device)
    for start in range(0, xs.shape[0], max_rows):
        rows = slice(start, start + max_rows)
        x, m, tg = xs[rows], masked[rows], target[rows]
        t = model_time(denoiser, m.double().mean(1)) if is_time_conditioned(denoiser) else None
        logits = masked_logits(denoiser, x.masked_fill(m, mask_id), tg, t=t)
        nll[rows] = -log_prob_of(logits, x[tg], mask_id).double()
    return nll.view(batch, length).sum(1)


def _check(denoiser, x0, w, name="w"):
    vocab_size, mask_id = denoiser_ids(denoiser)
    if not isinstance(x0, torch.Tensor) or x0.dtype != torch.long or x0.dim() != 2:
        raise TokenError(f"x0 must be a torch.long tensor [B, L], got {getattr(x0, 'dtype', type(x0))}")
    check_clean(x0, vocab_size, mask_id)
    return check_weights(w, x0.shape[1], name=name)


def multivariate_nelbo(denoiser, x0: torch.Tensor, w, *, samples: int = 64, seed: int | None = None,
                       max_rows: int | None = None) -> torch.Tensor:
    """Monte-Carlo negative ELBO in nats per sequence under per-position schedules ``w``: float64 ``[B]``.

    The mean over ``samples`` orders ``sigma ~ PL(w)`` per sequence of the chain-rule loss along
    ``sigma`` (eq. AO in the module docstring).  ``w``: positive ``[L]`` weights or a
    :class:`~mdm.order.PerPositionSchedule`; ``w = 1`` everywhere is the shared linear schedule
    (uniform orders: the same quantity as :func:`mdm.elbo`).  For an exact denoiser every draw is
    ``-log p(x0)``.  Randomness from a CPU generator seeded with ``seed``; cost ``samples * B * L``
    denoiser rows.  The caller puts the model in eval mode.
    """
    w = _check(denoiser, x0, w)
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise ConfigError(f"samples must be an integer >= 1, got {samples!r}")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ConfigError(f"seed must be an integer or None, got {seed!r}")
    gen = torch.Generator().manual_seed(seed if seed is not None else int(torch.randint(0, 2**62, ())))
    batch = x0.shape[0]
    orders = sample_order(w, samples * batch, generator=gen).to(x0.device)  # row s * B + b
    losses = order_losses(denoiser, x0.repeat(samples, 1), orders, max_rows=max_rows)
    return losses.view(samples, batch).mean(0)


def model_nelbo(model, x0: torch.Tensor, *, samples: int, seed: int) -> float:
    """Mean :func:`multivariate_nelbo` in nats per sequence under the model's own schedule: its
    learned ``order_schedule`` if it has one, else ``w = 1`` (the shared linear schedule)."""
    sched = getattr(model, "order_schedule", None)
    w = torch.ones(x0.shape[1], dtype=torch.float64) if sched is None else sched.w.detach().double()
    with torch.no_grad():
        return float(multivariate_nelbo(model, x0, w, samples=samples, seed=seed).mean())


def expected_order_loss(denoiser, x0: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """(eq. AO) exactly, by enumerating all ``L!`` orders: ``[B]``, differentiable in ``w``.

    For tests and toys (``L <= 7``).  ``w`` may require grad (its gradient is that of the exact
    expected loss, the quantity the RLOO estimator targets).
    """
    _check(denoiser, x0, w)
    w = w.w if isinstance(w, PerPositionSchedule) else torch.as_tensor(w, dtype=torch.float64)
    batch, length = x0.shape
    if length > 7:
        raise ConfigError(f"expected_order_loss enumerates L! orders; L = {length} is too many (at most 7)")
    orders = torch.tensor(list(itertools.permutations(range(length))), dtype=torch.long)
    n = orders.shape[0]
    losses = order_losses(denoiser, x0.repeat_interleave(n, 0), orders.repeat(batch, 1)).view(batch, n)
    probs = order_log_prob(w, orders).exp()  # [n]
    return (losses.to(probs.dtype) * probs).sum(-1)
