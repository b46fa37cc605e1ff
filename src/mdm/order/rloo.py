"""Gradients of the per-position NELBO in the schedule: pathwise + RLOO score function.

Garg et al. (arXiv 2511.19152): with ``alpha_l(t) = 1 - t^{w_l}`` the masks are drawn from
``q_w(m | t)`` (position ``l`` masked w.p. ``t^{w_l}``), so

    d/dw E_t E_{m ~ q_w}[ f_w(m, t) ] = E[ d f_w / dw ]                 (pathwise: the weights w_l / t)
                                      + E[ f_w(m, t) d log q_w(m | t) / dw ]   (score function).

The score term is estimated with REINFORCE leave-one-out (RLOO; Kool et al. 2019): ``K`` draws
``(t_k, m_k)`` per example, each one's baseline the mean of the other ``K - 1`` losses,

    g = 1/K sum_k [ d f_k / dw + (f_k - mean_{j != k} f_j) d log q_k / dw ].     (eq. RLOO)

The baseline does not depend on draw ``k``, so the estimate stays unbiased.  The pathwise part
alone is biased: it ignores that moving ``w`` moves which positions get masked.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mdm.errors import ConfigError
from mdm.losses import LossOutput, diffusion_loss

__all__ = ["ESTIMATORS", "loss_draws", "rloo_advantage", "order_loss", "GradientStats", "gradient_stats"]

ESTIMATORS = ("rloo", "pathwise")


def _check_draws(draws) -> None:
    if not isinstance(draws, int) or isinstance(draws, bool) or draws < 2:
        raise ConfigError(f"RLOO needs draws >= 2 mask draws per example (leave-one-out), got {draws!r}")


def loss_draws(model, x0: torch.Tensor, schedule, *, draws: int = 4, normalize: str = "tokens",
               eligible=None, attention_mask=None,
               **loss_kwargs) -> tuple[LossOutput, torch.Tensor, torch.Tensor]:
    """``K = draws`` independent ``(t, mask)`` draws per example in one forward pass.

    Returns ``(out, f, log_q)``: ``out`` the :func:`mdm.losses.diffusion_loss` output on the batch
    repeated ``K`` times (its ``loss`` the mean over draws), ``f [K, B]`` each draw's per-example
    loss term and ``log_q [K, B]`` its mask log-probability, both differentiable in the schedule.
    """
    _check_draws(draws)

    def rep(z):
        return None if z is None else z.repeat(draws, *([1] * (z.dim() - 1)))

    out = diffusion_loss(model, rep(x0), schedule=schedule, eligible=rep(eligible),
                         attention_mask=rep(attention_mask), normalize=normalize, mask_log_prob=True,
                         **loss_kwargs)
    batch = x0.shape[0]
    return out, out.per_sample.view(draws, batch), out.mask_log_prob.view(draws, batch)


def rloo_advantage(f: torch.Tensor) -> torch.Tensor:
    """``f_k - mean_{j != k} f_j`` over dim 0 (detached): the RLOO weight of each draw's score."""
    f = f.detach()
    k = f.shape[0]
    return f - (f.sum(0, keepdim=True) - f) / (k - 1)


def order_loss(model, x0: torch.Tensor, schedule, *, draws: int = 4, estimator: str = "rloo",
               normalize: str = "tokens", **loss_kwargs) -> LossOutput:
    """The training loss under a learnable per-position schedule, as a :class:`LossOutput`.

    Its value is the NELBO estimate averaged over ``draws`` per example; its gradient is
    (eq. RLOO) for ``estimator="rloo"``, the pathwise part only for ``"pathwise"``.  The score
    term enters as ``adv * (log_q - log_q.detach())``: zero in value, the score in gradient.
    """
    if estimator not in ESTIMATORS:
        raise ConfigError(f"order estimator must be one of {ESTIMATORS}, got {estimator!r}")
    out, f, log_q = loss_draws(model, x0, schedule, draws=draws, normalize=normalize, **loss_kwargs)
    if estimator == "rloo":
        # out.loss = scale * f.sum() with the normaliser of diffusion_loss (tokens or sequences)
        scale = out.loss.detach() / f.detach().sum() if float(f.detach().sum()) != 0 else 0.0
        out.loss = out.loss + scale * (rloo_advantage(f) * (log_q - log_q.detach())).sum()
    out.per_sample = f.detach().mean(0)
    return out


@dataclass
class GradientStats:
    """Mean and variance over ``repeats`` independent batch estimates of ``dNELBO/dtheta`` ``[L]``."""

    rloo_mean: torch.Tensor
    rloo_var: torch.Tensor
    pathwise_mean: torch.Tensor
    pathwise_var: torch.Tensor
    repeats: int

    def summary(self) -> dict:
        """Plain numbers: both means, their total variances and the cosine between the means."""
        a, b = self.rloo_mean, self.pathwise_mean
        return {
            "repeats": self.repeats,
            "rloo_mean": a.tolist(), "pathwise_mean": b.tolist(),
            "rloo_total_var": float(self.rloo_var.sum()),
            "pathwise_total_var": float(self.pathwise_var.sum()),
            "cosine_rloo_pathwise": float((a @ b) / (a.norm() * b.norm()).clamp_min(1e-30)),
        }


def gradient_stats(model, x0: torch.Tensor, schedule, *, draws: int = 4, repeats: int = 32,
                   generator: torch.Generator | None = None, **loss_kwargs) -> GradientStats:
    """Both estimators of ``d (sum_b NELBO_b) / d theta`` on the same draws, ``repeats`` times.

    Each repeat draws ``draws`` masks per row of ``x0``; the RLOO and pathwise gradients are
    taken from the same draws, so their difference is the score term.  The model's parameters get
    no gradient (only ``schedule.theta`` is differentiated).
    """
    _check_draws(draws)
    theta = schedule.theta
    rloo, path = [], []
    for _ in range(repeats):
        _, f, log_q = loss_draws(model, x0, schedule, draws=draws, generator=generator, **loss_kwargs)
        pathwise = f.mean(0).sum()
        score = (rloo_advantage(f) * log_q).mean(0).sum()
        gp = torch.autograd.grad(pathwise, theta, retain_graph=True)[0].detach().double()
        gs = torch.autograd.grad(score, theta)[0].detach().double()
        path.append(gp)
        rloo.append(gp + gs)
    r, p = torch.stack(rloo), torch.stack(path)
    return GradientStats(r.mean(0), r.var(0), p.mean(0), p.var(0), repeats)
