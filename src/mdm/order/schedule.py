"""Per-position (multivariate) masking schedules with learnable exponents.

Garg, Kohli, Sarawagi, "Masked Diffusion Models are Secretly Learned-Order Autoregressive Models"
(arXiv 2511.19152): position ``l`` has its own schedule

    alpha_l(t) = 1 - t^{w_l},      w_l = softplus(theta_l) > 0,

so it is masked at time ``t`` with probability ``t^{w_l}`` and its continuous-time NELBO weight is
``-alpha_l'(t) / (1 - alpha_l(t)) = w_l / t``.  Its masking time has CDF ``t^{w_l}``: a larger
``w_l`` masks it later in the forward process, so the reverse process reveals it earlier.

The schedule is a ``torch.nn.Module`` (``theta`` is trained with the denoiser) and an
:class:`mdm.schedules.Schedule` whose ``alpha(t [B]) -> [B, L]``, so it plugs into
:func:`mdm.losses.diffusion_loss` and :mod:`mdm.process` unchanged.  For tables it may be
conditioned on a column id: ``column_ids [L]`` maps each position to one of ``n_columns`` shared
exponents (rows whose layout repeats or permutes columns share one ``w`` per column).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from mdm.errors import ScheduleError
from mdm.schedules import Schedule

__all__ = ["PerPositionSchedule", "check_weights"]


def check_weights(w, length: int | None = None, name: str = "w") -> torch.Tensor:
    """``w`` as a detached float64 ``[L]`` tensor of finite positive weights, else :class:`ScheduleError`."""
    if isinstance(w, PerPositionSchedule):
        w = w.w
    if not isinstance(w, torch.Tensor):
        try:
            w = torch.as_tensor(w, dtype=torch.float64)
        except (TypeError, ValueError):
            raise ScheduleError(f"{name} must be a 1-D tensor of positive weights, got {w!r}") from None
    w = w.detach().to(torch.float64)
    if w.dim() != 1 or w.numel() == 0:
        raise ScheduleError(f"{name} must be a non-empty 1-D tensor [L] of weights, "
                            f"got shape {tuple(w.shape)}")
    if not bool(torch.isfinite(w).all()) or bool((w <= 0).any()):
        raise ScheduleError(f"{name} must be finite and > 0 at every position (w_l = softplus(theta_l)), "
                            f"got min {float(w.min())}")
    if length is not None and w.numel() != length:
        raise ScheduleError(f"{name} has {w.numel()} weights but the sequences have L = {length} positions: "
                            "give one weight per position")
    return w


def _inverse_softplus(w: torch.Tensor) -> torch.Tensor:
    # log(exp(w) - 1), written stably for large w
    return w + torch.log(-torch.expm1(-w))


class PerPositionSchedule(nn.Module, Schedule):
    """``alpha_l(t) = 1 - t^{w_l}`` with ``w = softplus(theta)`` (Garg et al., arXiv 2511.19152).

    ``length``: positions ``L``.  ``init``: the initial ``w`` (a positive number, or one per
    exponent); ``init=1.0`` is the shared linear schedule.  ``column_ids`` (long ``[L]`` in
    ``[0, n_columns)``) ties positions to per-column exponents; default one exponent per position.

    ``alpha(t)``, ``dalpha(t)``, ``weight(t)`` take ``t`` of shape ``[B]`` or ``[B, 1]`` (-> ``[B, L]``)
    or a scalar (-> ``[L]``); ``inverse(a)`` takes ``[..., L]``.  Gradients flow into ``theta``.
    """

    def __init__(self, length: int, init=1.0, *, column_ids: torch.Tensor | None = None,
                 n_columns: int | None = None):
        nn.Module.__init__(self)
        if not isinstance(length, int) or isinstance(length, bool) or length < 1:
            raise ScheduleError(f"PerPositionSchedule(length) must be an int >= 1, got {length!r}")
        if column_ids is None:
            if n_columns is not None and n_columns != length:
                raise ScheduleError("n_columns without column_ids must equal length "
                                    "(one exponent per position)")
            n_columns = length
        else:
            column_ids = torch.as_tensor(column_ids)
            if column_ids.dtype != torch.long or column_ids.shape != (length,):
                raise ScheduleError(f"column_ids must be a long tensor [L = {length}], got "
                                    f"{column_ids.dtype} {tuple(column_ids.shape)}")
            if n_columns is None:
                n_columns = int(column_ids.max()) + 1
            if int(column_ids.min()) < 0 or int(column_ids.max()) >= n_columns:
                raise ScheduleError(f"column_ids must lie in [0, n_columns = {n_columns})")
            self.register_buffer("column_ids", column_ids.clone())
        self.length, self.n_columns = length, n_columns
        w0 = torch.as_tensor(init, dtype=torch.float64)
        if w0.dim() == 0:
            w0 = w0.expand(n_columns)
        w0 = check_weights(w0, n_columns, name="init")
        self.theta = nn.Parameter(_inverse_softplus(w0).to(torch.float32))

    @property
    def w(self) -> torch.Tensor:
        """Positive weights ``[L]`` (differentiable in ``theta``)."""
        w = F.softplus(self.theta)
        return w[self.column_ids] if hasattr(self, "column_ids") else w

    def _time(self, t) -> torch.Tensor:
        if not isinstance(t, torch.Tensor):
            t = torch.as_tensor(t, dtype=torch.float64)
        if t.dim() == 1:
            t = t.unsqueeze(-1)
        elif t.dim() == 2 and t.shape[-1] != 1 or t.dim() > 2:
            raise ScheduleError(f"t must be a scalar, [B] or [B, 1] tensor, got shape {tuple(t.shape)}")
        return t

    def _wt(self, t):
        t = self._time(t)
        dtype = t.dtype if t.is_floating_point() else torch.float32
        return self.w.to(dtype=dtype, device=t.device), t.to(dtype)

    def alpha(self, t):
        w, t = self._wt(t)
        return 1.0 - t**w

    def dalpha(self, t):
        w, t = self._wt(t)
        return -w * t ** (w - 1.0)

    def weight(self, t):
        """``w_l / t``: the NELBO weight in closed form (the generic ratio is 0/0 at ``t^{w} = 0``)."""
        w, t = self._wt(t)
        return w / t

    def inverse(self, a):
        """The ``t`` with ``alpha_l(t) = a_l``: ``(1 - a)^{1 / w_l}`` for ``a [..., L]``."""
        a = a if isinstance(a, torch.Tensor) else torch.as_tensor(a, dtype=torch.float64)
        if a.shape[-1:] != (self.length,):
            raise ScheduleError(f"inverse(a) needs a [..., L = {self.length}] tensor, got {tuple(a.shape)}")
        w = self.w.to(dtype=a.dtype if a.is_floating_point() else torch.float64, device=a.device)
        return (1.0 - a) ** (1.0 / w)

    def extra_repr(self) -> str:
        return f"length={self.length}, n_columns={self.n_columns}"

    __hash__ = nn.Module.__hash__
