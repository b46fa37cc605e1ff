"""The masking (absorbing-state) forward process and its one-step reverse.

MDLM (Sahoo et al., arXiv 2406.07524) / MD4 (Shi et al., arXiv 2406.04329): every eligible token
stays clean with probability ``alpha(t)`` and otherwise becomes the mask token, independently:

    q(x_t^l | x_0^l) = alpha(t) * [x_t^l = x_0^l] + (1 - alpha(t)) * [x_t^l = MASK].

Reverse step ``t -> s < t``: a masked token becomes clean with probability

    (alpha(s) - alpha(t)) / (1 - alpha(t))          (:func:`reveal_probability`)

and clean tokens are copied.

Everything here works on a per-position ``[B, L]`` masking probability rather than a per-sequence
scalar, so the same code serves one shared schedule (``alpha(t)`` broadcast over positions),
prompt/padding eligibility (probability 0) and per-position learned schedules (``alpha_l(t)``,
:mod:`mdm.order`): a schedule whose ``alpha(t[:, None])`` returns ``[B, L]`` plugs in unchanged.
"""

from __future__ import annotations

import torch

from mdm.errors import ScheduleError, TokenError
from mdm.schedules import Schedule

__all__ = ["mask_probs", "nelbo_weight", "sample_mask", "forward_mask", "reveal_probability"]


def _per_position(schedule_fn, t: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Evaluate a schedule method at ``t [B]`` broadcast to ``shape = [B, L]``."""
    if not isinstance(t, torch.Tensor) or t.dim() != 1 or t.shape[0] != shape[0]:
        raise TokenError(
            f"t must be a 1-D tensor with one time per row ({shape[0]}), got "
            f"{type(t).__name__} {tuple(getattr(t, 'shape', ()))}"
        )
    if not t.is_floating_point():
        raise TokenError(f"t must be a floating-point tensor, got dtype {t.dtype}")
    value = torch.as_tensor(schedule_fn(t.unsqueeze(-1)))
    try:
        return value.expand(shape)
    except RuntimeError:
        raise ScheduleError(
            f"a schedule evaluated at t [B, 1] must give one value per row ([B, 1]) or per position "
            f"([B, L] = {tuple(shape)}), got {tuple(value.shape)}"
        ) from None


def _check_eligible(eligible: torch.Tensor) -> None:
    if not isinstance(eligible, torch.Tensor) or eligible.dtype != torch.bool or eligible.dim() != 2:
        got = f"{type(eligible).__name__} {getattr(eligible, 'dtype', '')} "
        got += str(tuple(getattr(eligible, "shape", ())))
        raise TokenError(f"eligible must be a bool tensor of shape [B, L], got {got}")


def mask_probs(schedule: Schedule, t: torch.Tensor, eligible: torch.Tensor) -> torch.Tensor:
    """Per-position masking probabilities ``1 - alpha(t)`` at ``t [B]``: ``[B, L]``, 0 where ineligible.

    ``eligible`` (bool ``[B, L]``) is False for prompt and padding positions, which are never masked.
    """
    _check_eligible(eligible)
    alpha = _per_position(schedule.alpha, t, eligible.shape)
    return torch.where(eligible, 1.0 - alpha, torch.zeros((), dtype=alpha.dtype, device=alpha.device))


def nelbo_weight(schedule: Schedule, t: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """The continuous-time NELBO weight ``-alpha'(t) / (1 - alpha(t))`` per position, ``[B, L]``.

    Only meaningful where a position can be masked (``1 - alpha > 0``); elsewhere it may be inf.
    """
    return _per_position(schedule.weight, t, torch.Size(shape))


def sample_mask(
    mask_prob: torch.Tensor,
    *,
    generator: torch.Generator | None = None,
    uniforms: torch.Tensor | None = None,
) -> torch.Tensor:
    """Independent Bernoulli draws: ``masked = U < mask_prob`` with ``U ~ U[0, 1)`` per position.

    ``uniforms`` supplies ``U`` (same shape) instead of drawing it, so correlated samplers (antithetic,
    MIRROR's ``U < t`` / ``U > 1 - t`` pair) can share one draw.  ``U`` is float64 so probabilities
    are resolved to 2^-53 rather than float32's 2^-24.  A probability of 0 never masks; 1 always does.
    """
    if not isinstance(mask_prob, torch.Tensor) or not mask_prob.is_floating_point():
        raise TokenError(f"mask_prob must be a floating-point tensor, got {type(mask_prob).__name__}")
    if uniforms is None:
        # Drawn on the generator's device, then moved: a CPU generator drives a CUDA run reproducibly.
        gen_device = generator.device if generator is not None else mask_prob.device
        uniforms = torch.rand(mask_prob.shape, generator=generator, dtype=torch.float64, device=gen_device)
        uniforms = uniforms.to(mask_prob.device)
    elif uniforms.shape != mask_prob.shape:
        raise TokenError(
            f"uniforms must have the shape of mask_prob {tuple(mask_prob.shape)}, got {tuple(uniforms.shape)}"
        )
    return uniforms < mask_prob.to(uniforms.dtype)


def forward_mask(
    x0: torch.Tensor,
    mask_prob: torch.Tensor,
    mask_id: int,
    *,
    generator: torch.Generator | None = None,
    uniforms: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``x_t ~ q(x_t | x_0)``: returns ``(x_t, masked)`` with ``masked = U < mask_prob``.

    ``x0`` is a long ``[B, L]`` tensor, ``mask_prob`` a ``[B, L]`` tensor (see :func:`mask_probs`;
    zero at positions that must stay clean).  See :func:`sample_mask` for ``uniforms``.
    """
    if not isinstance(x0, torch.Tensor) or x0.dtype != torch.long or x0.dim() != 2:
        raise TokenError(f"x0 must be a torch.long tensor [B, L], got {getattr(x0, 'dtype', type(x0))}")
    if mask_prob.shape != x0.shape:
        raise TokenError(
            f"mask_prob must have the shape of x0 {tuple(x0.shape)}, got {tuple(mask_prob.shape)}"
        )
    masked = sample_mask(mask_prob, generator=generator, uniforms=uniforms)
    return x0.masked_fill(masked, mask_id), masked


def reveal_probability(schedule: Schedule, t, s):
    """Probability that a token masked at time ``t`` is clean at ``s <= t``.

    ``(alpha(s) - alpha(t)) / (1 - alpha(t))`` (MDLM eq. 4 / MD4 eq. 6, posterior of the absorbing
    process).  Floats or broadcastable tensors.  At ``s = 0`` the answer is exactly 1 (the process
    ends clean even when a schedule's ``alpha(0)`` rounds to 1 - 1e-16), and where ``alpha(t) = 1``
    (nothing can be masked) it is defined as 1.  Clamped to [0, 1] against rounding.
    """
    is_tensor = isinstance(t, torch.Tensor) or isinstance(s, torch.Tensor)
    tt = torch.as_tensor(t, dtype=torch.float64) if not isinstance(t, torch.Tensor) else t
    ss = torch.as_tensor(s, dtype=torch.float64) if not isinstance(s, torch.Tensor) else s
    if bool((ss > tt).any()):
        raise TokenError("reveal_probability needs s <= t (the reverse process runs from t = 1 to t = 0)")
    a_t = torch.as_tensor(schedule.alpha(tt))
    a_s = torch.as_tensor(schedule.alpha(ss))
    denom = 1.0 - a_t
    p = ((a_s - a_t) / torch.where(denom > 0, denom, torch.ones_like(denom))).clamp(0.0, 1.0)
    p = torch.where((denom > 0) & (ss > 0), p, torch.ones_like(p))
    return p if is_tensor else p.item()
