"""The masked-diffusion negative ELBO: the training loss and the likelihood estimate.

Continuous-time NELBO (MDLM, Sahoo et al., arXiv 2406.07524, eq. 10; MD4, Shi et al.,
arXiv 2406.04329, eq. 5), per sequence, summed over the eligible (non-prompt, non-padding) positions:

    NELBO(x0) = int_0^1 w(t) * E_{x_t ~ q(.|x0)} [ sum_{l masked in x_t} -log p_theta(x0_l | x_t) ] dt,
    w(t) = -alpha'(t) / (1 - alpha(t))          (= 1/t for alpha = 1 - t)

estimated by :func:`diffusion_loss` with one ``t`` and one mask per sample.  For the linear schedule
the weight is ``1/t`` and the per-sample SFT loss with ``normalize="sequence"`` is exactly
``1/(P t) * sum CE`` (LLaDA's SFT loss; StableDLLM's ``ell``, Jia et al., arXiv 2511.18159), P the
number of eligible (response) tokens.

Discrete form (:func:`elbo`): the integral does not depend on the schedule's shape, and integrating
out ``t`` for a time-independent denoiser gives ``sum_k 1/k * E_{|M| = k}[sum_{l in M} -log p(x0_l |
x0 outside M)]``; drawing ``k ~ U{1..L}`` turns that into the lower-variance estimator

    L/k * sum_{l in M} -log p_theta(x0_l | x0 outside M),    M a uniform k-subset,

whose expectation is the any-order autoregressive NLL, i.e. exactly ``-log p(x0)`` for an exact
denoiser (chain rule along a uniformly random order).  SUBS parameterization throughout: the mask
token is never predicted (its logit is set to -inf before the softmax).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from mdm.errors import ConfigError, DataError, ModelConfigError, TokenError
from mdm.process import mask_probs, nelbo_weight
from mdm.protocol import (
    block_size_of,
    check_tokens,
    denoiser_schedule,
    is_time_conditioned,
    model_time,
    subs_logits,
)
from mdm.schedules import Schedule
from mdm.variance import BernoulliMask, MaskSampler, TimeSampler, UniformTime

__all__ = ["LossOutput", "diffusion_loss", "masked_logits", "elbo", "elbo_draws"]

_NORMALIZE = ("tokens", "sequence")
# Default cap on rows per denoiser call in `elbo`: rows * L * V logits of 4 bytes stay below ~128 MiB.
_LOGIT_BUDGET = 1 << 25


@dataclass
class LossOutput:
    """What :func:`diffusion_loss` returns.

    ``loss``: scalar to backpropagate.  ``per_sample`` ``[B]``: each row's term of that loss --
    its NELBO estimate in nats (``normalize="tokens"``) or that divided by its own number of
    eligible tokens (``"sequence"``); importance weights included, averaged over the row's masks
    when the mask sampler draws several.  ``t`` ``[B]``: the sampled times.  ``masked`` bool
    ``[B, L]`` (``[K, B, L]`` for a sampler that draws ``K`` masks per row).  ``num_masked`` /
    ``num_eligible``: 0-dim long totals over the batch (``num_masked`` over every mask drawn).
    ``mask_log_prob`` (with ``mask_log_prob=True``): ``log q(masked)`` of each drawn mask under
    the masking probabilities that drew it, ``[B]`` (``[K, B]``), differentiable in the schedule's
    parameters -- what a score-function (REINFORCE / RLOO) gradient needs.
    """

    loss: torch.Tensor
    per_sample: torch.Tensor
    t: torch.Tensor
    masked: torch.Tensor
    num_masked: torch.Tensor
    num_eligible: torch.Tensor
    mask_log_prob: torch.Tensor | None = None


def _denoiser_ids(model) -> tuple[int, int]:
    vocab_size, mask_id = getattr(model, "vocab_size", None), getattr(model, "mask_id", None)
    if not isinstance(vocab_size, int) or not isinstance(mask_id, int) or not 0 <= mask_id < vocab_size + 1:
        raise ModelConfigError(
            "the denoiser must have integer attributes vocab_size and mask_id (the Denoiser protocol), got "
            f"vocab_size={vocab_size!r}, mask_id={mask_id!r}"
        )
    return vocab_size, mask_id


def _check_clean(x0: torch.Tensor, vocab_size: int, mask_id: int, where: torch.Tensor | None = None):
    check_tokens(x0, max(vocab_size, mask_id + 1), name="x0")
    is_mask = x0 == mask_id
    if where is not None:
        is_mask &= where
    if bool(is_mask.any()):
        raise TokenError(
            f"x0 contains the mask token (id {mask_id}) where a clean token is expected: "
            "the loss scores clean data; mark such positions ineligible or remove the mask ids"
        )


def masked_logits(
    model,
    xt: torch.Tensor,
    masked: torch.Tensor,
    *,
    attention_mask: torch.Tensor | None = None,
    t: torch.Tensor | None = None,
    masked_only: bool = True,
    clean: torch.Tensor | None = None,
) -> torch.Tensor:
    """Logits ``[N, V]`` at the ``N`` masked positions of ``xt``, in row-major (``xt[masked]``) order.

    ``clean``: the clean ``x_0`` that a block diffusion denoiser (``block_size`` set) conditions its
    blocks on (BD3-LM's two-stream pass, :mod:`mdm.models.block_causal`); passed only to such models.

    Uses the model's cheap path ``model(..., output_mask=masked)`` when ``masked_only`` and the model
    sets ``supports_output_mask = True``; otherwise runs the full ``[B, L, V]`` forward and gathers.
    ``t`` is passed only to models with ``time_conditioned = True``.
    """
    kwargs = {"attention_mask": attention_mask}
    if clean is not None and block_size_of(model) is not None:
        kwargs["clean"] = clean
    if is_time_conditioned(model):
        if t is None:
            raise TokenError("this denoiser is time conditioned: pass t= (a [B] tensor of times)")
        kwargs["t"] = t
    if masked_only and getattr(model, "supports_output_mask", False):
        logits = model(xt, output_mask=masked, **kwargs)
        n = int(masked.sum())
        if logits.dim() != 2 or logits.shape[0] != n:
            raise ModelConfigError(
                f"model(..., output_mask=m) must return logits [m.sum()={n}, V], got {tuple(logits.shape)}"
            )
        return logits
    logits = model(xt, **kwargs)
    if logits.dim() != 3 or logits.shape[:2] != xt.shape:
        raise ModelConfigError(f"denoiser must return logits [B, L, V] = {tuple(xt.shape)} + [V], "
                               f"got {tuple(logits.shape)}")
    return logits[masked]


def _log_prob_of(logits: torch.Tensor, targets: torch.Tensor, mask_id: int) -> torch.Tensor:
    """``log p(target)`` under SUBS (mask logit -inf), in at least float32."""
    if logits.shape[-1] <= mask_id:
        raise ModelConfigError(f"logits have width {logits.shape[-1]} but mask_id is {mask_id}")
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    return -F.cross_entropy(subs_logits(logits, mask_id), targets, reduction="none")


def diffusion_loss(
    model,
    x0: torch.Tensor,
    *,
    schedule: Schedule | None = None,
    eligible: torch.Tensor | None = None,
    attention_mask: torch.Tensor | None = None,
    time_sampler: TimeSampler | None = None,
    mask_sampler: MaskSampler | None = None,
    normalize: str = "tokens",
    generator: torch.Generator | None = None,
    masked_logits_only: bool = True,
    mask_log_prob: bool = False,
) -> LossOutput:
    """One-sample Monte-Carlo estimate of the continuous-time NELBO (module docstring), per batch.

    ``x0`` long ``[B, L]`` clean tokens.  ``schedule`` defaults to the model's own
    (``model.schedule``, :func:`mdm.protocol.denoiser_schedule`; ``Linear()`` when absent); it may
    be per-position (``alpha(t [B, 1]) -> [B, L]``, :mod:`mdm.order`): position ``l`` is then masked
    with probability ``1 - alpha_l(t)`` and weighted by its own ``-alpha_l'(t) / (1 - alpha_l(t))``,
    both taken from the same schedule call, so a per-position masking rule stays an unbiased
    estimate of its NELBO.  ``eligible`` (bool ``[B, L]``, default all) marks positions that may
    be masked and are scored: False for prompt tokens; padding (``attention_mask == 0``) is excluded
    automatically.  ``time_sampler`` defaults to :class:`~mdm.variance.UniformTime`,
    ``mask_sampler`` to :class:`~mdm.variance.BernoulliMask`.  A mask sampler may return ``K``
    masks per row (``[K, B, L]``, e.g. a mirrored pair drawn from one shared uniform per token):
    each copy is scored in the same forward pass and the row's loss is their mean.

    ``normalize="tokens"``: the batch's summed NELBO divided by its total number of eligible tokens
    (nats per token, MDLM).  ``normalize="sequence"``: each sample's sum divided by its own number
    of eligible tokens P, averaged over the samples that have any (SFT form, LLaDA / StableDLLM).
    ``mask_log_prob=True`` also returns ``log q(mask)`` (see :class:`LossOutput`).

    Rows in which nothing got masked contribute 0 (a valid draw of the estimator); the model is still
    called, so every parameter sees a (zero) gradient under DDP.  For a block diffusion denoiser
    (``block_size`` set) the model also gets ``clean=x0``, which makes this the block diffusion
    NELBO of BD3-LM (its equation is in :mod:`mdm.models.block_causal`).
    """
    vocab_size, mask_id = _denoiser_ids(model)
    if normalize not in _NORMALIZE:
        raise ConfigError(f"normalize must be one of {_NORMALIZE}, got {normalize!r}")
    schedule = denoiser_schedule(model) if schedule is None else schedule
    time_sampler = UniformTime() if time_sampler is None else time_sampler
    mask_sampler = BernoulliMask() if mask_sampler is None else mask_sampler

    eligible = _eligible(model, x0, eligible, attention_mask, vocab_size, mask_id)
    batch, length = x0.shape
    num_eligible_row = eligible.sum(1)
    num_eligible = num_eligible_row.sum()
    if int(num_eligible) == 0:
        raise DataError("no eligible positions in the batch (all prompt or padding): nothing to learn from")

    t, importance = time_sampler(batch, generator=generator, device=x0.device)
    probs = mask_probs(schedule, t, eligible)
    masked = _draw_masks(mask_sampler, probs, eligible, generator)  # [K, B, L]
    copies = masked.shape[0]
    flat = masked.reshape(copies * batch, length)

    def rep(z):  # one row per (copy, example); no copy at all for the usual single mask
        return z if z is None or copies == 1 else z.repeat(copies, *([1] * (z.dim() - 1)))

    x_rep = rep(x0)
    logits = masked_logits(
        model, x_rep.masked_fill(flat, mask_id), flat, attention_mask=rep(attention_mask), t=rep(t),
        masked_only=masked_logits_only, clean=x_rep,
    )
    nll = -_log_prob_of(logits, x_rep[flat], mask_id)  # [N]
    # masked implies 1 - alpha > 0, so the weights gathered here are finite (no inf * 0 in backward).
    weight = rep(nelbo_weight(schedule, t, masked.shape[1:]) * importance.unsqueeze(1))[flat]
    rows = torch.arange(copies * batch, device=x0.device).unsqueeze(1).expand_as(flat)[flat]
    total = torch.zeros(copies * batch, dtype=nll.dtype, device=nll.device).index_add(
        0, rows, weight.to(nll.dtype) * nll
    ).view(copies, batch).mean(0)

    if normalize == "tokens":
        per_sample = total
        loss = total.sum() / num_eligible
    else:
        has_any = num_eligible_row > 0
        per_sample = total / num_eligible_row.clamp(min=1)
        loss = per_sample.sum() / has_any.sum()
    log_q = _mask_log_prob(probs, masked, eligible) if mask_log_prob else None
    return LossOutput(
        loss=loss, per_sample=per_sample, t=t, masked=masked if copies > 1 else masked[0],
        num_masked=masked.sum(), num_eligible=num_eligible,
        mask_log_prob=None if log_q is None else (log_q if copies > 1 else log_q[0]),
    )


def _eligible(model, x0, eligible, attention_mask, vocab_size: int, mask_id: int) -> torch.Tensor:
    """The positions that may be masked and are scored: ``eligible`` minus padding, validated."""
    check_tokens(x0, max(vocab_size, mask_id + 1), name="x0")
    if eligible is None:
        eligible = torch.ones_like(x0, dtype=torch.bool)
    elif not isinstance(eligible, torch.Tensor) or eligible.dtype != torch.bool or eligible.shape != x0.shape:
        raise TokenError(f"eligible must be a bool tensor of the shape of x0 {tuple(x0.shape)}")
    if attention_mask is not None:
        if attention_mask.shape != x0.shape:
            raise TokenError(
                f"attention_mask must have the shape of x0 {tuple(x0.shape)}, "
                f"got {tuple(attention_mask.shape)}"
            )
        eligible = eligible & attention_mask.bool()
    _check_clean(x0, vocab_size, mask_id, where=eligible)
    return eligible


def _draw_masks(mask_sampler, probs: torch.Tensor, eligible: torch.Tensor, generator) -> torch.Tensor:
    """The sampler's mask(s) as bool ``[K, B, L]``, restricted to eligible positions."""
    masked = mask_sampler(probs, generator=generator)
    if not isinstance(masked, torch.Tensor) or masked.dtype != torch.bool or masked.dim() not in (2, 3) \
            or masked.shape[-2:] != eligible.shape:
        raise ConfigError(
            f"a mask sampler must return a bool tensor [B, L] = {tuple(eligible.shape)} or [K, B, L] "
            f"(K masks per row), got {getattr(masked, 'dtype', type(masked))} "
            f"{tuple(getattr(masked, 'shape', ()))}"
        )
    return (masked if masked.dim() == 3 else masked.unsqueeze(0)) & eligible


def _mask_log_prob(probs: torch.Tensor, masked: torch.Tensor, eligible: torch.Tensor) -> torch.Tensor:
    """``sum_l log q(masked_l)`` over eligible positions, Bernoulli(``probs``) per position: ``[K, B]``."""
    p = probs.unsqueeze(0).expand_as(masked)
    one = torch.ones((), dtype=p.dtype, device=p.device)
    # log(p) where masked, log(1 - p) where not; positions that cannot be otherwise contribute 0.
    log_q = torch.where(masked, torch.where(p > 0, p, one).log(), torch.where(p < 1, 1 - p, one).log())
    return (log_q * eligible).sum(-1)


def _subset_masks(batch: int, length: int, prompt_len: int, generator: torch.Generator):
    """One draw per row: ``k ~ U{1..L'}`` and a uniform k-subset of the ``L' = L - prompt_len``
    response positions.  Returns ``(masked bool [B, L], k long [B])`` on the CPU."""
    resp = length - prompt_len
    k = torch.randint(1, resp + 1, (batch,), generator=generator)
    keys = torch.rand(batch, resp, generator=generator, dtype=torch.float64)
    ranks = keys.argsort(dim=1).argsort(dim=1)  # a uniform random permutation per row
    masked = torch.zeros(batch, length, dtype=torch.bool)
    masked[:, prompt_len:] = ranks < k.unsqueeze(1)
    return masked, k


def _check_predictable(denoiser, scored: torch.Tensor) -> None:
    """A denoiser that never predicts some tokens (``forbidden_ids``: an HF adapter's [UNK], [SEP],
    ...) gives them probability 0, so a NELBO that scores one would be +inf: name it instead."""
    forbidden = getattr(denoiser, "forbidden_ids", None)
    if not isinstance(forbidden, torch.Tensor) or not forbidden.numel():
        return
    bad = torch.isin(scored, forbidden.to(scored.device))
    if bool(bad.any()):
        ids = sorted(set(scored[bad].tolist()))
        name = getattr(denoiser, "token_name", None)
        names = ", ".join(f"{name(i)!r} (id {i})" if callable(name) else f"id {i}" for i in ids[:5])
        raise TokenError(
            f"x0 holds tokens the denoiser never predicts at scored positions ({names}): their "
            "probability is 0 and the NELBO would be infinite; drop them or keep them in the prompt")


@torch.no_grad()
def elbo_draws(
    denoiser,
    x0: torch.Tensor,
    *,
    samples: int = 64,
    prompt_len: int = 0,
    seed: int | None = None,
    max_rows: int | None = None,
) -> torch.Tensor:
    """Independent draws of the discrete NELBO estimator (module docstring): float64 ``[samples, B]``.

    Each draw scores ``-log p(x0[:, prompt_len:] | x0[:, :prompt_len])``; the prompt is never masked.
    Draws are stacked into batches of at most ``max_rows`` rows per denoiser call (default: keep
    ``rows * L * V`` logits under 2^25); the result does not depend on ``max_rows``.  Randomness
    comes from a CPU generator seeded with ``seed`` (the global RNG when None), so a seed gives the
    same numbers on any device.  The caller puts the model in eval mode.
    """
    vocab_size, mask_id = _denoiser_ids(denoiser)
    _check_clean(x0, vocab_size, mask_id)
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise ConfigError(f"samples must be an integer >= 1, got {samples!r}")
    batch, length = x0.shape
    if not isinstance(prompt_len, int) or isinstance(prompt_len, bool) or not 0 <= prompt_len < length:
        raise TokenError(
            f"prompt_len must be an integer in [0, L) with L = {length} (at least one position to score), "
            f"got {prompt_len!r}"
        )
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise ConfigError(f"seed must be an integer or None, got {seed!r}")
    _check_predictable(denoiser, x0[:, prompt_len:])
    if max_rows is None:
        max_rows = max(1, _LOGIT_BUDGET // max(1, length * vocab_size))
    elif not isinstance(max_rows, int) or isinstance(max_rows, bool) or max_rows < 1:
        raise ConfigError(f"max_rows must be an integer >= 1, got {max_rows!r}")

    generator = torch.Generator()
    generator.manual_seed(seed if seed is not None else int(torch.randint(0, 2**62, ()).item()))
    draws = [_subset_masks(batch, length, prompt_len, generator) for _ in range(samples)]
    masked = torch.cat([m for m, _ in draws]).to(x0.device)  # row s * B + b is draw s of sequence b
    k = torch.cat([kk for _, kk in draws]).to(x0.device)
    resp = length - prompt_len

    x_all = x0.repeat(samples, 1)
    out = torch.empty(samples * batch, dtype=torch.float64, device=x0.device)
    for start in range(0, samples * batch, max_rows):
        rows = slice(start, start + max_rows)
        x, m, kk = x_all[rows], masked[rows], k[rows]
        t = model_time(denoiser, kk.double() / resp) if is_time_conditioned(denoiser) else None
        logits = masked_logits(denoiser, x.masked_fill(m, mask_id), m, t=t, clean=x)  # clean: block models
        nll = -_log_prob_of(logits, x[m], mask_id).double()
        row_of = torch.arange(x.shape[0], device=x.device).unsqueeze(1).expand_as(m)[m]
        per_row = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device).index_add(0, row_of, nll)
        out[rows] = per_row * (resp / kk.double())
    return out.view(samples, batch)


def elbo(
    denoiser,
    x0: torch.Tensor,
    *,
    samples: int = 64,
    prompt_len: int = 0,
    seed: int | None = None,
    max_rows: int | None = None,
) -> torch.Tensor:
    """Monte-Carlo negative ELBO in nats per sequence, float64 ``[B]`` (an upper bound on -log p).

    The mean of ``samples`` draws of the discrete estimator ``L'/k * sum_{l in M} -log p(x0_l | rest)``
    (``k ~ U{1..L'}``, ``M`` a uniform k-subset of the ``L' = L - prompt_len`` scored positions).  With
    an exact denoiser its expectation is exactly ``-log p(x0[:, prompt_len:] | prompt)``.  See
    :func:`elbo_draws` for the per-draw values (standard errors) and ``max_rows``.
    """
    return elbo_draws(
        denoiser, x0, samples=samples, prompt_len=prompt_len, seed=seed, max_rows=max_rows
    ).mean(0)
