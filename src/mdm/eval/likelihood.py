"""Validation likelihood of an MDM: NELBO in nats and bits per token, bits per character, perplexity.

The MDM's negative ELBO is an upper bound on ``-log p(x)``, so every number here is a bound: the
true perplexity is at most the one reported.  Two estimators, chosen by the data:

* sequences without padding or prompt (every position eligible): :func:`mdm.elbo`'s discrete
  estimator ``L/k * sum_{l in M} -log p(x_l | rest)`` (``k ~ U{1..L}``, ``M`` a uniform k-subset),
  the lower-variance form (MDLM, Sahoo et al., arXiv 2406.07524, and PAPERS.md "Background");
* otherwise the continuous-time NELBO of :func:`mdm.losses.diffusion_loss` under the model's own
  schedule (``denoiser.schedule``, ``Linear()`` when absent: for a time-independent model the bound
  does not depend on the schedule, and a time-conditioned one is scored at the times it trained
  on), with times stratified over the batch, restricted to the eligible positions.

Each sequence gets ``samples`` draws; the standard error is that of the mean over sequences (data and
Monte-Carlo noise together).  Per token = summed NELBO over all scored tokens / their number; per
character = the same sum in bits / the number of characters those tokens spell (``num_chars``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch

from mdm.errors import ConfigError, DataError

__all__ = ["LikelihoodResult", "validation_nelbo"]

LN2 = math.log(2.0)


@dataclass(frozen=True)
class LikelihoodResult:
    """Validation NELBO (upper bounds on the NLL).  ``*_stderr`` is the Monte-Carlo standard error."""

    nats_per_token: float
    nats_per_token_stderr: float
    num_tokens: int
    num_sequences: int
    samples: int
    estimator: str  # "discrete" (mdm.elbo) or "continuous" (diffusion_loss)
    num_chars: int | None = None

    @property
    def bits_per_token(self) -> float:
        return self.nats_per_token / LN2

    @property
    def perplexity(self) -> float:
        """exp(NELBO per token): an upper bound on the per-token perplexity."""
        return math.exp(self.nats_per_token)

    @property
    def bits_per_char(self) -> float | None:
        if not self.num_chars:
            return None
        return self.nats_per_token * self.num_tokens / LN2 / self.num_chars

    @property
    def bits_per_char_stderr(self) -> float | None:
        if not self.num_chars:
            return None
        return self.nats_per_token_stderr * self.num_tokens / LN2 / self.num_chars

    def to_dict(self) -> dict:
        return {
            "nats_per_token": self.nats_per_token,
            "nats_per_token_stderr": self.nats_per_token_stderr,
            "bits_per_token": self.bits_per_token,
            "bits_per_char": self.bits_per_char,
            "bits_per_char_stderr": self.bits_per_char_stderr,
            "perplexity": self.perplexity,
            "num_tokens": self.num_tokens,
            "num_sequences": self.num_sequences,
            "num_chars": self.num_chars,
            "samples": self.samples,
            "estimator": self.estimator,
        }


def _batches(data, batch_size: int, max_sequences: int | None) -> Iterable[dict[str, torch.Tensor]]:
    """Batches ``{"input_ids", "eligible"[, "attention_mask"]}`` from a tensor or a dataset of items."""
    if isinstance(data, torch.Tensor):
        if data.dtype != torch.long or data.dim() != 2:
            raise DataError(f"data must be a torch.long tensor [N, L] or a dataset, got {tuple(data.shape)}")
        n = data.shape[0] if max_sequences is None else min(max_sequences, data.shape[0])
        for start in range(0, n, batch_size):
            ids = data[start : min(start + batch_size, n)]
            yield {"input_ids": ids, "eligible": torch.ones_like(ids, dtype=torch.bool)}
        return
    from mdm.tasks.base import collate

    n = len(data) if max_sequences is None else min(max_sequences, len(data))
    for start in range(0, n, batch_size):
        yield collate([data[i] for i in range(start, min(start + batch_size, n))])


def _continuous_draws(denoiser, batch: dict[str, torch.Tensor], samples: int, generator) -> torch.Tensor:
    """``[samples, B]`` draws of the continuous NELBO (nats per sequence over eligible positions)."""
    from mdm.losses import diffusion_loss
    from mdm.variance import StratifiedTime

    draws = []
    for _ in range(samples):
        out = diffusion_loss(
            denoiser, batch["input_ids"], eligible=batch["eligible"],
            attention_mask=batch.get("attention_mask"), normalize="tokens", generator=generator,
            time_sampler=StratifiedTime(),
        )
        draws.append(out.per_sample.double())
    return torch.stack(draws)


@torch.no_grad()
def validation_nelbo(
    denoiser,
    data,
    *,
    samples: int = 16,
    batch_size: int = 32,
    max_sequences: int | None = None,
    seed: int = 0,
    num_chars: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> LikelihoodResult:
    """NELBO of ``data`` under ``denoiser``: nats/bits per token, bits per char, perplexity bound.

    ``data``: a LongTensor ``[N, L]`` (all positions scored) or a dataset of items
    (:mod:`mdm.tasks.base`; ``eligible`` / ``attention_mask`` respected).  ``max_sequences`` scores
    only the first that many.  ``num_chars``: characters the scored tokens spell, for bits per char.
    Randomness comes from ``seed`` only; the denoiser is put in eval mode.  ``progress`` shows a
    progress bar (batches, with an ETA) on stderr.
    """
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise ConfigError(f"samples must be an integer >= 1, got {samples!r}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ConfigError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if max_sequences is not None and (not isinstance(max_sequences, int) or max_sequences < 1):
        raise ConfigError(f"max_sequences must be an integer >= 1 or None, got {max_sequences!r}")
    from mdm.losses import elbo_draws

    if hasattr(denoiser, "eval"):
        denoiser.eval()
    if device is None:
        param = next(iter(denoiser.parameters()), None) if hasattr(denoiser, "parameters") else None
        device = param.device if param is not None else torch.device("cpu")
    generator = torch.Generator(device=device).manual_seed(seed)
    per_seq: list[torch.Tensor] = []  # each sequence's mean NELBO over its draws (nats)
    num_tokens, estimators = 0, set()
    from tqdm.auto import tqdm

    total = len(data) if max_sequences is None else min(max_sequences, len(data))
    bar = tqdm(_batches(data, batch_size, max_sequences), total=-(-total // batch_size), unit="batch",
               desc=f"validation NELBO ({samples} draws/seq)", disable=not progress, dynamic_ncols=True)
    for b, batch in enumerate(bar):
        batch = {k: v.to(device) for k, v in batch.items()}
        scored = batch["eligible"] & batch.get("attention_mask", torch.ones_like(batch["eligible"])).bool()
        if bool(scored.all()):
            draws = elbo_draws(denoiser, batch["input_ids"], samples=samples, seed=seed * 1_000_003 + b)
            estimators.add("discrete")
        else:
            draws = _continuous_draws(denoiser, batch, samples, generator)
            estimators.add("continuous")
        per_seq.append(draws.mean(0).cpu())
        num_tokens += int(scored.sum())
    if not per_seq or num_tokens == 0:
        raise DataError("no sequences (or no eligible tokens) to evaluate")
    nelbo = torch.cat(per_seq)
    n = nelbo.numel()
    # The per-token figure is a ratio of sums; its stderr scales the per-sequence stderr of the sum.
    stderr = float(nelbo.std(unbiased=True)) * math.sqrt(n) / num_tokens if n > 1 else float("nan")
    return LikelihoodResult(
        nats_per_token=float(nelbo.sum()) / num_tokens,
        nats_per_token_stderr=stderr,
        num_tokens=num_tokens,
        num_sequences=n,
        samples=samples,
        estimator="+".join(sorted(estimators)),
        num_chars=num_chars,
    )
