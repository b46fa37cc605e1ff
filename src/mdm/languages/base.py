"""What every ground-truth language shares: the exact denoiser, argument checks, draws.

A language is a distribution over fixed-length token sequences ``x in [0, V)^L`` that can
sample, score (``log_prob``) and condition exactly: :meth:`Language.log_conditionals` returns
``log p(x_i = v | all clean positions)`` for every masked position ``i``.  Its
:meth:`Language.denoiser` wraps that as a :class:`mdm.protocol.Denoiser` with one extra
vocabulary entry, the mask token ``mask_id = V``.

Subclasses implement ``_log_joint_masked(x)``: the *unnormalised* ``log p(x_i = v, clean
positions)`` at masked positions.  Normalising it here keeps one rule for evidence of
probability zero (positions conditioned on an impossible context, which parallel samplers can
produce): the conditional is undefined there, and the oracle answers the uniform distribution
over the ``V`` tokens so that samplers stay finite.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch

from mdm.categorical import gumbel_argmax
from mdm.errors import LanguageError, TokenError
from mdm.protocol import check_tokens

__all__ = [
    "EntropyEstimate", "ExactDenoiser", "Language", "as_distribution", "dirichlet_ones", "gumbel_argmax",
]

NEG_INF = float("-inf")
# Probabilities given by a caller may be off by rounding; beyond this they are rejected.
SUM_TOLERANCE = 1e-6


@dataclass(frozen=True)
class EntropyEstimate:
    """Entropy ``H(X_1..X_L)`` in nats; ``stderr`` is 0 when ``exact``."""

    value: float
    stderr: float
    exact: bool


def dirichlet_ones(shape, generator: torch.Generator) -> torch.Tensor:
    """Rows uniform on the simplex (Dirichlet(1, ..., 1)) as normalised Exp(1) draws."""
    e = -torch.log(torch.rand(shape, dtype=torch.float64, generator=generator).clamp_min(1e-300))
    return e / e.sum(dim=-1, keepdim=True)


def as_distribution(p, name: str, dim: int = -1) -> torch.Tensor:
    """``p`` as float64 probabilities along ``dim``: non-negative, finite, summing to 1.

    Sums off by at most ``SUM_TOLERANCE`` (rounding) are renormalised; anything else raises.
    """
    try:
        p = torch.as_tensor(p, dtype=torch.float64).clone()
    except (TypeError, ValueError, RuntimeError) as err:
        raise LanguageError(f"{name} must be a tensor of probabilities: {err}") from None
    if p.numel() == 0:
        raise LanguageError(f"{name} is empty: give at least one probability")
    if not torch.isfinite(p).all() or (p < 0).any():
        raise LanguageError(f"{name} must hold finite, non-negative probabilities, got min {p.min().item()}")
    sums = p.sum(dim=dim, keepdim=True)
    worst = (sums - 1).abs().max().item()
    if worst > SUM_TOLERANCE:
        raise LanguageError(
            f"{name} must sum to 1 along dim {dim} (off by up to {worst:.3g}); normalise it first"
        )
    return p / sums


def check_sample_args(n: int, length: int) -> None:
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise LanguageError(f"n must be an int >= 0 (number of sequences), got {n!r}")
    if not isinstance(length, int) or isinstance(length, bool) or length < 1:
        raise LanguageError(f"length must be an int >= 1, got {length!r}")


class Language(ABC):
    """A distribution over ``[n, L]`` token sequences with exact conditionals."""

    vocab_size: int  # V, without the mask token
    fixed_length: int | None = None  # set when sequences of only one length exist

    @property
    def mask_id(self) -> int:
        """The mask token used by :meth:`denoiser` and :meth:`log_conditionals` (= ``V``)."""
        return self.vocab_size

    @abstractmethod
    def sample(self, n: int, length: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` independent sequences ``[n, length]`` (global RNG when ``generator`` is None)."""

    @abstractmethod
    def _log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x)`` for validated clean tokens ``x [n, L]``."""

    @abstractmethod
    def _log_joint_masked(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x_i = v, clean positions)`` as ``[B, L, V]`` (only masked positions are read)."""

    def _check_length(self, length: int, what: str = "x", err: type[Exception] = TokenError) -> None:
        """Languages of one fixed length (``fixed_length``) reject every other length."""
        if self.fixed_length is not None and length != self.fixed_length:
            raise err(f"{what} has length {length} but this language only has length {self.fixed_length}")

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x)`` in nats per sequence, float64 ``[n]``; ``-inf`` for impossible sequences."""
        check_tokens(x, self.vocab_size, "x")
        self._check_length(x.shape[1])
        return self._log_prob(x)

    def is_valid(self, x: torch.Tensor) -> torch.Tensor:
        """BoolTensor ``[n]``: whether each sequence has nonzero probability."""
        return self.log_prob(x) > NEG_INF

    def log_conditionals(self, x: torch.Tensor) -> torch.Tensor:
        """Exact ``log p(x_i = v | clean positions of x)`` as float64 ``[B, L, V]``.

        ``x`` holds tokens in ``[0, V)`` and the mask ``V``.  Clean positions get a one-hot
        (0 at the observed token, -inf elsewhere); masked positions whose clean context is
        impossible get the uniform distribution (see the module docstring).
        """
        check_tokens(x, self.vocab_size + 1, "x", allow_mask_id=self.mask_id)
        self._check_length(x.shape[1])
        masked = x == self.mask_id
        out = torch.full((*x.shape, self.vocab_size), NEG_INF, dtype=torch.float64, device=x.device)
        clean_ids = torch.where(masked, 0, x).unsqueeze(-1)
        out.scatter_(-1, clean_ids, 0.0)
        if masked.any():
            joint = self._log_joint_masked(x)[masked]  # [M, V]
            log_z = torch.logsumexp(joint, dim=-1, keepdim=True)
            cond = torch.where(torch.isfinite(log_z), joint - log_z, -math.log(self.vocab_size))
            out[masked] = cond
        return out

    def denoiser(self) -> ExactDenoiser:
        """This language's exact conditionals as a Denoiser (``mask_id == vocab_size``)."""
        return ExactDenoiser(self)


class ExactDenoiser:
    """Denoiser protocol around :meth:`Language.log_conditionals`.

    Returns float64 logits ``[B, L, V + 1]``: the exact log conditional at masked positions,
    a one-hot at clean ones, and -inf in the mask column.  ``attention_mask`` is accepted for
    protocol compatibility and ignored: these languages model fixed-length sequences.
    With ``output_mask`` (bool ``[B, L]``) only the selected positions come back, as ``[n, V + 1]``
    in ``x[output_mask]`` order (what :mod:`mdm.sampling` asks of ``supports_output_mask``).
    """

    time_conditioned = False
    supports_output_mask = True

    def __init__(self, language: Language):
        self.language = language
        self.vocab_size = language.vocab_size + 1
        self.mask_id = language.vocab_size

    def __call__(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None,
                 output_mask: torch.Tensor | None = None, **kw) -> torch.Tensor:
        if not isinstance(x, torch.Tensor):
            raise TokenError(f"x must be a torch.long tensor [B, L], got {type(x).__name__}")
        cond = self.language.log_conditionals(x)
        if output_mask is not None:
            cond = cond[output_mask]
        return torch.nn.functional.pad(cond, (0, 1), value=NEG_INF)

    def __repr__(self) -> str:
        return f"ExactDenoiser({self.language!r})"
