"""The loss-variance decomposition Var l = A + B + C (Jia et al., arXiv 2511.18159, Sec. 3).

For the per-sample SFT loss ``l(x, t, M) = (1/P) sum_{l in M} w(t) CE_l`` (``1/(P t) sum CE`` for the
linear schedule), with ``x`` uniform over the rows of ``x0``, ``t ~ U[eps, 1 - eps]`` and the mask
``M ~ q(. | t)``, the law of total variance splits

    Var l = E_x E_t Var_M l   +   E_x Var_t E_M l   +   Var_x E_{t,M} l
          =        A          +         B           +         C
      (masking-pattern noise)    (masking-rate noise)      (data noise)

Autoregressive training has only C.  :func:`decompose` estimates each term without bias from a grid
of ``n_t`` times per row and ``n_masks`` masks per time: with ``s2_k`` the variance over masks,
``m_j`` the mean over masks at time ``j`` and ``m`` the mean over times of a row,

    A = mean_{x,j} s2_k,    B = mean_x [ var_j(m_j) - mean_j s2_k / K ],
    C = popvar_x(m) - (N-1)/N^2 * sum_x var_j(m_j) / J,

(the subtractions remove the Monte-Carlo noise of the inner means; the data distribution is the N
rows themselves, so one row gives C = 0 exactly).  ``total`` is estimated independently from fresh
single draws of (t, M), ``n_t * n_masks`` per row.  Standard errors come from ``replicates`` independent
repetitions of the whole estimate (the reported value is their mean).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch

from mdm.errors import ConfigError
from mdm.losses import diffusion_loss
from mdm.variance._score import check_data, per_sample_losses, positive_int

__all__ = ["VarianceDecomposition", "decompose", "estimator_variance"]


@dataclass(frozen=True)
class VarianceDecomposition:
    """``A``, ``B``, ``C``, ``total`` (float) and their standard errors ``*_se``; ``sum_se`` is the
    standard error of ``A + B + C`` (the terms are correlated, so it is not a root-sum-of-squares)."""

    A: float
    B: float
    C: float
    total: float
    A_se: float
    B_se: float
    C_se: float
    total_se: float
    sum_se: float

    def __iter__(self):  # ``A, B, C, total = decompose(...)`` (DESIGN.md's contract)
        return iter((self.A, self.B, self.C, self.total))

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _terms(loss: torch.Tensor) -> torch.Tensor:
    """``[A, B, C]`` from losses ``[N, J, K]`` (module docstring)."""
    n, j, k = loss.shape
    s2 = loss.var(2)  # [N, J]
    m_j = loss.mean(2)  # [N, J]
    a = s2.mean()
    var_j = m_j.var(1)  # [N]
    b = (var_j - s2.mean(1) / k).mean()
    m = m_j.mean(1)
    c = m.var(unbiased=False) - (n - 1) / n ** 2 * (var_j / j).sum()
    return torch.stack([a, b, c])


def _total(loss: torch.Tensor) -> torch.Tensor:
    """Unbiased ``Var l`` from ``[N, R]`` iid (t, M) draws per row, x uniform over the rows."""
    n, r = loss.shape
    v = loss.var(1)
    return v.mean() + loss.mean(1).var(unbiased=False) - (n - 1) / n ** 2 * (v / r).sum()


@torch.no_grad()
def decompose(model, x0: torch.Tensor, *, schedule=None, eligible: torch.Tensor | None = None,
              n_t: int = 16, n_masks: int = 8, replicates: int = 8, eps: float = 1e-3,
              seed: int | None = None, max_rows: int = 4096) -> VarianceDecomposition:
    """Estimate ``A, B, C`` and ``total`` for ``model`` on the rows of ``x0`` (module docstring).

    ``eligible`` (bool ``[N, L]``): the scored (response) positions, as in the SFT loss.  Cost:
    ``2 * replicates * N * n_t * n_masks`` rows scored, ``max_rows`` per denoiser call.  The
    caller puts the model in eval mode.
    """
    check_data(x0, eligible)
    n_t, n_masks = positive_int("n_t", n_t, 2), positive_int("n_masks", n_masks, 2)
    replicates = positive_int("replicates", replicates, 2)
    if not (isinstance(eps, (int, float)) and 0.0 <= eps < 0.5):
        raise ConfigError(f"eps must satisfy 0 <= eps < 0.5, got {eps!r}")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ConfigError(f"seed must be an integer or None, got {seed!r}")
    gen = torch.Generator(device=x0.device)
    gen.manual_seed(seed if seed is not None else int(torch.randint(0, 2**62, ()).item()))
    n = x0.shape[0]
    g_rows = n * n_t * n_masks  # the grid, then as many fresh single (t, M) draws for `total`
    x = x0.repeat_interleave(n_t * n_masks, 0).repeat(2, 1)
    el = None if eligible is None else eligible.repeat_interleave(n_t * n_masks, 0).repeat(2, 1)
    reps = []
    for _ in range(replicates):
        u = torch.rand(n * n_t + g_rows, generator=gen, dtype=torch.float64, device=x0.device).cpu()
        u = eps + (1 - 2 * eps) * u
        t = torch.cat([u[: n * n_t].repeat_interleave(n_masks), u[n * n_t:]]).to(x0.device)
        loss = per_sample_losses(model, x, t, schedule=schedule, eligible=el, generator=gen,
                                 max_rows=max_rows)
        grid = loss[:g_rows].view(n, n_t, n_masks)
        single = loss[g_rows:].view(n, n_t * n_masks)
        terms = _terms(grid)
        reps.append(torch.cat([terms, _total(single).view(1), terms.sum().view(1)]))
    r = torch.stack(reps)  # [replicates, 5]: A, B, C, total, A+B+C
    mean, se = r.mean(0), r.std(0) / replicates ** 0.5
    return VarianceDecomposition(*(float(v) for v in mean[:4]), *(float(v) for v in se))


@torch.no_grad()
def estimator_variance(model, x0: torch.Tensor, *, time_sampler=None, mask_sampler=None, draws: int,
                       eligible: torch.Tensor | None = None, seed: int = 0) -> float:
    """Variance over ``draws`` noise draws of the batch loss (the mean per-sample SFT loss,
    ``normalize="sequence"``) on the fixed batch ``x0``: the noise a (time sampler, mask sampler)
    pair leaves in one training step's loss, without the data noise C.  Samplers that couple the
    rows of a batch (antithetic or stratified times, MIRROR's paired masks) lower it below the
    ``(A + B) / batch`` of independent draws."""
    positive_int("draws", draws, minimum=2)
    gen = torch.Generator().manual_seed(seed)
    losses = [float(diffusion_loss(model, x0, eligible=eligible, time_sampler=time_sampler,
                                   mask_sampler=mask_sampler, normalize="sequence", generator=gen).loss)
              for _ in range(draws)]
    return statistics.variance(losses)
