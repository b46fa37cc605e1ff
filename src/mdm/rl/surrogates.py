"""The RL surrogates, in one place (what each objective maximises; the trainer minimises minus it).

Group-normalised advantages (GRPO, Shao et al., arXiv 2402.03300, Sec. 4.1.2; used by d1): for the
``G`` completions ``o_1..o_G`` of one prompt with rewards ``r_1..r_G``,

    A_i = (r_i - mean_g r_g) / (std_g r_g + eps)            (scale="std": unbiased std, eps = 1e-4)
    A_i =  r_i - mean_g r_g                                  (scale="none": Dr. GRPO, arXiv 2503.20783)

diffu-GRPO (d1, Zhao et al., arXiv 2504.12216, eq. 3), per inner update with the prompt mask ``m``
drawn for that update and shared by the current, old and reference policies (``l_k`` a per-token
log-likelihood estimate, :class:`mdm.rl.likelihood.OneStep` in d1):

    rho_ik = exp(l_k^theta(o_i) - l_k^old(o_i))
    J = 1/N sum_i 1/|o_i| sum_k [ min(rho_ik A_i, clip(rho_ik, 1 - eps_c, 1 + eps_c) A_i) - beta KL_ik ]
    KL_ik = exp(l^ref - l^theta) - (l^ref - l^theta) - 1    (Schulman's k3 estimator, >= 0)

Sandwiched policy gradient (SPG, Wang et al., arXiv 2510.09541): with a lower bound ``L`` (the ELBO)
and an upper bound ``U`` (:class:`mdm.rl.likelihood.RenyiUpper`) of ``log pi(o_i | q)``,

    S = 1/N sum_i A_i * (L_i if A_i >= 0 else U_i) / n_i         (n_i: scored tokens of o_i)

Since ``A_i L_i <= A_i log pi`` for ``A_i >= 0`` and ``A_i U_i <= A_i log pi`` for ``A_i < 0``, ``S``
lower-bounds the policy-gradient surrogate ``1/N sum_i A_i log pi(o_i) / n_i`` -- the sandwich.
"""

from __future__ import annotations

import torch

from mdm.errors import ConfigError

__all__ = ["group_advantages", "k3_kl", "grpo_objective", "sandwich_objective", "ADVANTAGE_SCALES"]

ADVANTAGE_SCALES = ("std", "none")


def group_advantages(
    rewards: torch.Tensor, group_size: int, scale: str = "std", eps: float = 1e-4
) -> torch.Tensor:
    """``A [N]`` from rewards ``[N]`` laid out as groups (row ``p * G + g``)."""
    if scale not in ADVANTAGE_SCALES:
        raise ConfigError(f"advantage scale must be one of {list(ADVANTAGE_SCALES)}, got {scale!r}")
    if rewards.dim() != 1 or rewards.numel() % group_size:
        raise ConfigError(
            f"rewards [N] with N a multiple of the group size {group_size}, got {tuple(rewards.shape)}"
        )
    r = rewards.double().view(-1, group_size)
    centred = r - r.mean(1, keepdim=True)
    if scale == "std":
        std = r.std(1, keepdim=True) if group_size > 1 else torch.zeros_like(centred[:, :1])
        centred = centred / (std + eps)
    return centred.reshape(-1)


def k3_kl(ref: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
    """``exp(ref - logp) - (ref - logp) - 1``, elementwise."""
    d = ref - logp
    return d.exp() - d - 1


def grpo_objective(
    logp: torch.Tensor,
    old: torch.Tensor,
    adv: torch.Tensor,
    mask: torch.Tensor,
    *,
    clip_eps: float,
    ref: torch.Tensor | None = None,
    kl_beta: float = 0.0,
):
    """diffu-GRPO's ``J`` (module docstring) from ``[N, T]`` log-likelihood estimates; returns
    ``(J, per_sequence [N], kl)`` with ``kl`` the mean ``KL_ik`` over scored tokens (None without ``ref``)."""
    ratio = (logp - old).exp()
    a = adv.to(logp.dtype).unsqueeze(1)
    term = torch.minimum(ratio * a, ratio.clamp(1 - clip_eps, 1 + clip_eps) * a)
    kl = None
    if ref is not None and kl_beta > 0:
        kl_tok = k3_kl(ref, logp)
        term = term - kl_beta * kl_tok
        kl = (kl_tok * mask).sum() / mask.sum().clamp(min=1)
    m = mask.to(term.dtype)
    per_seq = (term * m).sum(1) / m.sum(1).clamp(min=1)
    return per_seq.mean(), per_seq, kl


def sandwich_objective(lower: torch.Tensor, upper: torch.Tensor, adv: torch.Tensor, n_tokens: torch.Tensor):
    """SPG's ``S`` (module docstring) from bounds ``[N]`` (each used only where its sign of ``A`` picks
    it); returns ``(S, per_sequence [N])``."""
    a = adv.to(lower.dtype)
    bound = torch.where(a >= 0, lower, upper)
    per_seq = a * bound / n_tokens.to(lower.dtype).clamp(min=1)
    return per_seq.mean(), per_seq
