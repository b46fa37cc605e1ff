"""Rollouts: a group of ``G`` completions per prompt through :func:`mdm.sampling.sample` (any
unmasker spec, semi-autoregressive blocks, KV caches, a stop rule, batched prompts), recording what
the RL objectives need -- tokens, prompt mask, scored positions, NFE -- and the sampler generator's
state before sampling, so a rollout can be replayed exactly (``replay``).

Row ``p * G + g`` is completion ``g`` of prompt ``p`` (:func:`mdm.rl.surrogates.group_advantages`
reads groups in that layout).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from mdm.errors import ConfigError
from mdm.sampling import from_spec, sample
from mdm.sampling.unmaskers import Unmasker

__all__ = ["Rollout", "RolloutSettings", "rollout", "replay"]


@dataclass(frozen=True)
class RolloutSettings:
    """How completions are drawn: ``unmasker`` (a spec, :func:`mdm.sampling.from_spec`), ``length``
    generated tokens, ``block_size``, ``temperature``, ``top_p``, ``cache`` (None / prefix / dual),
    ``cache_refresh``, ``stop`` (token ids ending a completion; None = run to the end), ``pad_id`` (what
    follows a stop; default the denoiser's)."""

    length: int
    unmasker: str = "topk:k=1"
    block_size: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    cache: str | None = None
    cache_refresh: int | None = None
    stop: tuple[int, ...] | None = None
    pad_id: int | None = None


@dataclass
class Rollout:
    """``tokens [N, P + length]`` (``N`` = prompts x ``group_size``), ``prompt_len``, ``eligible``
    (bool ``[N, P + length]``: the generated positions, the ones the objectives score), ``prompt_mask``
    (``[N, P]`` or None), ``nfe [N]``, ``generator_state`` (the sampler generator before sampling),
    ``seconds`` (wall time of the sampling)."""

    tokens: torch.Tensor
    prompt_len: int
    group_size: int
    eligible: torch.Tensor
    nfe: torch.Tensor
    generator_state: torch.Tensor
    seconds: float
    prompt_mask: torch.Tensor | None = None

    def state_dict(self) -> dict:
        return {
            k: getattr(self, k)
            for k in (
                "tokens",
                "prompt_len",
                "group_size",
                "eligible",
                "nfe",
                "generator_state",
                "seconds",
                "prompt_mask",
            )
        }

    @classmethod
    def from_state_dict(cls, d: dict) -> Rollout:
        return cls(**d)


def _unmasker(settings: RolloutSettings) -> Unmasker:
    return from_spec(settings.unmasker, length=settings.length)


def rollout(
    model,
    prompts: torch.Tensor,
    group_size: int,
    settings: RolloutSettings,
    generator: torch.Generator,
    *,
    prompt_mask: torch.Tensor | None = None,
) -> Rollout:
    """Sample ``group_size`` completions of each row of ``prompts [B, P]`` (module docstring).  The
    caller puts the model in eval mode."""
    if not isinstance(group_size, int) or group_size < 1:
        raise ConfigError(f"group_size must be an integer >= 1, got {group_size!r}")
    if prompts.dim() != 2 or prompts.shape[1] < 1:
        raise ConfigError(f"prompts must be a [B, P] tensor with P >= 1, got {tuple(prompts.shape)}")
    rep = prompts.repeat_interleave(group_size, 0)
    pm = None if prompt_mask is None else prompt_mask.repeat_interleave(group_size, 0)
    state = generator.get_state()
    start = time.perf_counter()
    out = sample(
        model,
        prompt=rep,
        length=settings.length,
        unmasker=_unmasker(settings),
        block_size=settings.block_size,
        temperature=settings.temperature,
        top_p=settings.top_p,
        stop=list(settings.stop) if settings.stop else None,
        generator=generator,
        prompt_mask=pm,
        pad_id=settings.pad_id,
        cache=settings.cache,
        cache_refresh=settings.cache_refresh,
    )
    seconds = time.perf_counter() - start
    p = prompts.shape[1]
    eligible = torch.zeros_like(out.tokens, dtype=torch.bool)
    eligible[:, p:] = True
    return Rollout(out.tokens, p, group_size, eligible, out.nfe, state, seconds, pm)


def replay(
    model,
    prompts: torch.Tensor,
    group_size: int,
    settings: RolloutSettings,
    recorded: Rollout,
    *,
    prompt_mask: torch.Tensor | None = None,
) -> Rollout:
    """Run the rollout again from its recorded generator state (same tokens for the same weights)."""
    g = torch.Generator(device=recorded.tokens.device)
    g.set_state(recorded.generator_state)
    return rollout(model, prompts, group_size, settings, g, prompt_mask=prompt_mask)
