"""Per-sample SFT losses at given times, for the estimators (decompose, P-POTS's grid estimate)."""

from __future__ import annotations

import torch

from mdm.errors import ConfigError, TokenError
from mdm.losses import diffusion_loss


class FixedTimes:
    """A time sampler that returns the times it was given (importance weight 1)."""

    def __init__(self, t: torch.Tensor):
        self.t = t

    def __call__(self, batch_size: int, *, generator=None, device=None):
        if batch_size != self.t.shape[0]:
            raise ConfigError(f"FixedTimes holds {self.t.shape[0]} times, asked for {batch_size}")
        t = self.t.to(device) if device is not None else self.t
        return t, torch.ones_like(t)


def check_data(x0, eligible) -> None:
    if not isinstance(x0, torch.Tensor) or x0.dtype != torch.long or x0.dim() != 2 or x0.shape[0] < 1:
        raise TokenError(f"x0 must be a non-empty torch.long tensor [N, L], got "
                         f"{getattr(x0, 'dtype', type(x0).__name__)} {tuple(getattr(x0, 'shape', ()))}")
    if eligible is not None and (not isinstance(eligible, torch.Tensor) or eligible.shape != x0.shape
                                 or eligible.dtype != torch.bool):
        raise TokenError(f"eligible must be a bool tensor of the shape of x0 {tuple(x0.shape)}")


def positive_int(name: str, value, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


@torch.no_grad()
def per_sample_losses(model, x0, t, *, schedule=None, eligible=None, generator=None,
                      max_rows: int = 4096) -> torch.Tensor:
    """``l = (1/P) sum_{masked eligible} w(t) CE`` for row ``i`` of ``x0`` at time ``t[i]``, float64 ``[R]``.

    One fresh Bernoulli mask per row (:class:`~mdm.masking.BernoulliMask`); the SFT loss of
    :func:`mdm.losses.diffusion_loss` with ``normalize="sequence"`` (``1/(P t) sum CE`` for the linear
    schedule, the paper's per-sample loss).  Rows are scored ``max_rows`` at a time.
    """
    out = torch.empty(x0.shape[0], dtype=torch.float64)
    for s in range(0, x0.shape[0], max_rows):
        rows = slice(s, s + max_rows)
        el = None if eligible is None else eligible[rows]
        res = diffusion_loss(model, x0[rows], schedule=schedule, eligible=el,
                             time_sampler=FixedTimes(t[rows]), normalize="sequence", generator=generator)
        out[rows] = res.per_sample.double().cpu()
    return out
