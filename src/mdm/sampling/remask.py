"""ReMDM: remasking samplers for masked diffusion (Wang, Schiff, Sahoo & Kuleshov, "Remasking
Discrete Diffusion Models with Inference-Time Scaling", arXiv 2503.00307).

The paper's backward step from ``t`` to ``s < t`` keeps MDLM's marginals ``q(z_t | x)`` but lets a
clean token go back to the mask with probability ``sigma_t``: per position, with ``x`` drawn from
the denoiser at ``z_t``,

    z_t clean :  z_s = z_t  w.p. 1 - sigma_t,   z_s = MASK   w.p. sigma_t
    z_t MASK  :  z_s = x    w.p. (alpha_s - (1 - sigma_t) alpha_t) / (1 - alpha_t),  else MASK

which is a probability only for ``0 <= sigma_t <= sigma_t^max = min(1, (1 - alpha_s) / alpha_t)``
(:func:`sigma_max`); ``sigma_t = 0`` is MDLM's ancestral step (:class:`~mdm.sampling.Ancestral`).
The paper's schedules for ``sigma_t`` (its Sec. 4.1, :data:`STRATEGIES`):

* ``"cap"``     ``sigma_t = min(eta, sigma_t^max)``                           (ReMDM-cap)
* ``"rescale"`` ``sigma_t = eta * sigma_t^max``                               (ReMDM-rescale)
* ``"conf"``    ``sigma_t^(l) = eta_conf^(l) * min(eta, sigma_t^max)``, ``eta_conf = softmax(-psi)``
  over the clean positions, ``psi^(l)`` the probability the denoiser gave token ``l`` when it was
  last revealed (less confident tokens go back first); masked positions have ``psi = inf``, so
  ``sigma^(l) = 0`` and they are revealed with MDLM's probability (ReMDM-conf).

``loop_t=(t_on, t_off)`` is ReMDM-loop (Sec. 4.2): from ``t = 1`` to ``t_on`` MDLM decodes until
``alpha = alpha_on``; on ``[t_off, t_on]`` alpha is held at ``alpha_on`` and the chosen strategy
remasks (with ``alpha_s = alpha_t`` the reveal probability ``sigma alpha / (1 - alpha)`` balances
the remasking in expectation, a corrector loop); from ``t_off`` to 0 MDLM finishes.  Without
``loop_t`` the strategy remasks at every step.  How the schedule is stretched over the two MDLM
phases is ours: ``alpha_on * alpha((t - t_on) / (1 - t_on))`` and
``alpha_on + (1 - alpha_on) * alpha(t / t_off)``.

The choice of positions ignores the model (``psi`` aside), so rows that reveal nothing skip the
forward pass, as with :class:`Ancestral`.  Only the generated positions of the current block are
ever remasked, never the prompt.  More ``steps`` than positions is the point: the extra steps
revise tokens (the paper's inference-time scaling).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from mdm.errors import SamplingError
from mdm.sampling.unmaskers import StepState, Unmasker, _check_schedule, _check_steps, _split_steps
from mdm.schedules import Linear, Schedule

__all__ = ["STRATEGIES", "ReMDM", "Remasker", "sigma_max"]


def sigma_max(alpha_t: float, alpha_s: float) -> float:
    """``min(1, (1 - alpha_s) / alpha_t)``: the largest remasking probability for which the
    reveal probability stays in [0, 1] (1 where ``alpha_t = 0``: nothing is clean yet)."""
    return 1.0 if alpha_t <= 0 else min(1.0, max(0.0, 1.0 - alpha_s) / alpha_t)


def _cap(eta: float, smax: float) -> float:
    return min(eta, smax)


def _rescale(eta: float, smax: float) -> float:
    return eta * smax


# strategy -> (base sigma_t from (eta, sigma_max), per-position confidence weighting?)
STRATEGIES = {"cap": (_cap, False), "rescale": (_rescale, False), "conf": (_cap, True)}


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


@dataclass(frozen=True)
class ReMDM(Unmasker):
    """Remasking sampler (see the module docstring): ``steps`` steps on ``t_i = 1 - i/steps`` (split
    evenly over blocks, the grid restarting in each), remasking strength ``eta`` in [0, 1],
    ``strategy`` one of ``"cap"``, ``"rescale"``, ``"conf"``; ``loop_t=(t_on, t_off)`` with
    ``1 > t_on > t_off > 0`` and ``alpha_on`` in (0, 1) for ReMDM-loop.  ``eta=0`` is
    :class:`Ancestral` (same law; same tokens for the same seed).  Like Ancestral it samples the
    model's law only at ``temperature=1``."""

    steps: int
    eta: float = 0.02
    schedule: Schedule = Linear()
    strategy: str = "cap"
    loop_t: tuple[float, float] | None = None
    alpha_on: float = 0.9

    def __post_init__(self):
        _check_steps("ReMDM", self.steps)
        _check_schedule("ReMDM", self.schedule)
        if not _is_number(self.eta) or not 0.0 <= self.eta <= 1.0:
            raise SamplingError(
                f"ReMDM(eta=...) must be a number in [0, 1] (0 = no remasking), got {self.eta!r}")
        if self.strategy not in STRATEGIES:
            raise SamplingError(
                f"ReMDM(strategy=...) must be one of {sorted(STRATEGIES)}, got {self.strategy!r}")
        if self.loop_t is not None:
            lt = self.loop_t
            if (not isinstance(lt, (tuple, list)) or len(lt) != 2 or not all(_is_number(v) for v in lt)
                    or not 0.0 < lt[1] < lt[0] < 1.0):
                raise SamplingError(
                    f"ReMDM(loop_t=...) must be (t_on, t_off) with 1 > t_on > t_off > 0, got {lt!r}")
            object.__setattr__(self, "loop_t", (float(lt[0]), float(lt[1])))
            if STRATEGIES[self.strategy][1]:
                raise SamplingError(
                    "ReMDM(strategy='conf') cannot loop: its masked positions reveal with MDLM's "
                    "probability, which is 0 while alpha is held; use strategy='cap' or 'rescale' with loop_t"
                )
        if not _is_number(self.alpha_on) or not 0.0 < self.alpha_on < 1.0:
            raise SamplingError(f"ReMDM(alpha_on=...) must be in (0, 1), got {self.alpha_on!r}")

    @property
    def needs_confidence(self) -> bool:
        return STRATEGIES[self.strategy][1]

    def steps_per_block(self, block_size, n_blocks):
        return _split_steps("ReMDM", self.steps, n_blocks)

    def _base(self, t: float) -> float:
        return float(self.schedule.alpha(torch.tensor(t, dtype=torch.float64)))

    def alpha(self, t: float) -> float:
        """``alpha(t)`` of the sampling path: the schedule's, or ReMDM-loop's three phases."""
        if self.loop_t is None:
            return self._base(t)
        t_on, t_off = self.loop_t
        a_on = self.alpha_on
        if t >= t_on:
            return a_on * self._base((t - t_on) / (1.0 - t_on))
        if t >= t_off:
            return a_on
        return a_on + (1.0 - a_on) * self._base(t / t_off)

    def _step(self, step: int, n_blocks: int) -> tuple[float, float, float]:
        """``(alpha_t, alpha_s, sigma_t)`` of step ``step`` of a block (scalar sigma, before conf)."""
        per_block = self.steps // n_blocks
        t, s = 1.0 - step / per_block, 1.0 - (step + 1) / per_block
        a_t, a_s = self.alpha(t), (1.0 if s <= 0 else self.alpha(s))
        remasks = self.loop_t is None or (s >= self.loop_t[1] and t <= self.loop_t[0])
        sigma = STRATEGIES[self.strategy][0](float(self.eta), sigma_max(a_t, a_s)) if remasks else 0.0
        return a_t, a_s, sigma

    def reveal_probability(self, step: int, n_blocks: int) -> float:
        """``(alpha_s - (1 - sigma_t) alpha_t) / (1 - alpha_t)`` for a masked position (sigma 0 for
        conf); 1 at the last step or where ``alpha_t = 1``."""
        a_t, a_s, sigma = self._step(step, n_blocks)
        if self.needs_confidence:
            sigma = 0.0
        if a_s >= 1.0 or a_t >= 1.0:
            return 1.0
        return min(1.0, max(0.0, (a_s - a_t + sigma * a_t) / (1.0 - a_t)))

    def plan(self, state: StepState):
        p = self.reveal_probability(state.step, state.n_blocks)
        if p >= 1.0:
            return state.eligible.clone()
        u = torch.rand(state.eligible.shape, dtype=torch.float64, device=state.eligible.device,
                       generator=state.generator)
        return state.eligible & (u < p)

    def remask(self, state: StepState, clean: torch.Tensor, psi: torch.Tensor | None) -> torch.Tensor | None:
        """Clean generated positions ``[b, w]`` of the window going back to the mask at this step,
        decided from ``z_t`` (``clean``) and, for conf, ``psi [b, w]``; None when none can."""
        _, _, sigma = self._step(state.step, state.n_blocks)
        if sigma <= 0.0:
            return None
        if psi is None:
            prob = torch.full(clean.shape, sigma, dtype=torch.float64, device=clean.device)
        else:  # eta_conf = softmax(-psi) over the clean positions of each row
            prob = torch.softmax((-psi).masked_fill(~clean, float("-inf")), dim=-1).nan_to_num_(0.0) * sigma
        u = torch.rand(clean.shape, dtype=torch.float64, device=clean.device, generator=state.generator)
        return clean & (u < prob)


class Remasker:
    """The loop's side of a remasking unmasker for one ``sample`` call: keeps ``psi [b, N]`` (the
    probability of each clean token when it was last revealed; conf only) as rows leave."""

    def __init__(self, unmasker: ReMDM, x: torch.Tensor):
        self.unmasker = unmasker
        self.psi = None
        if unmasker.needs_confidence:
            self.psi = torch.full(x.shape, math.inf, dtype=torch.float64, device=x.device)

    def choose(self, state: StepState, lo: int, hi: int) -> torch.Tensor | None:
        """Decided on ``z_t``, before this step's reveals (all window columns are generated ones)."""
        psi = None if self.psi is None else self.psi[:, lo:hi]
        return self.unmasker.remask(state, ~state.eligible, psi)

    def record(self, lo: int, hi: int, reveal: torch.Tensor, dist, values: torch.Tensor) -> None:
        if self.psi is not None:
            p = dist.probs.gather(-1, values.unsqueeze(-1)).squeeze(-1).to(torch.float64)
            self.psi[:, lo:hi].masked_scatter_(reveal, p)

    def apply(self, x: torch.Tensor, lo: int, hi: int, remask: torch.Tensor | None, mask_id: int) -> None:
        if remask is None:
            return
        x[:, lo:hi].masked_fill_(remask, mask_id)
        if self.psi is not None:
            self.psi[:, lo:hi].masked_fill_(remask, math.inf)

    def keep(self, idx: torch.Tensor) -> None:
        if self.psi is not None:
            self.psi = self.psi[idx]
