"""The trained-model half of ``mdm exp steps-vs-length``: a small MDM fitted to an exact language.

A :class:`~mdm.models.transformer.TransformerDenoiser` with learned absolute positions (a RoPE-only
bidirectional model cannot tell positions apart on an all-mask input) is trained by
:func:`mdm.train.train` on the packaged ``exact-language`` task at every length of the sweep,
right-padded to the longest (padding never masked, scored or attended to), so one model serves
every length; MDM NELBO, linear schedule, antithetic times, AdamW, fp32, no EMA.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from mdm.experiments.training import SmallModel
from mdm.losses import diffusion_loss
from mdm.tasks.exact import length_counts
from mdm.variance import AntitheticTime

__all__ = ["ModelSetup", "train_on_language"]


@dataclass(frozen=True)
class ModelSetup(SmallModel):
    """The model, its budget and its sweep.  Budget: ``steps`` batches of ``tokens_per_step`` real
    tokens on average, from a training set whose sequences per length are ∝ 1/L (the same tokens
    per length), none seen twice.  ``training_seeds`` models are trained from independent seeds."""

    language: str  # which of the preset's languages it learns (by name)
    lengths: tuple[int, ...]
    steps: int = 1000
    tokens_per_step: int = 4096
    warmup_steps: int = 50
    samples: int = 256  # generated sequences per (sampler, L, N)
    samplers: tuple[str, ...] = ("ancestral", "random", "confidence")
    max_steps_factor: int = 4  # the ancestral sampler runs N up to factor * L
    training_seeds: int = 1

    def batch_size(self) -> int:
        """``tokens_per_step`` over the harmonic mean of ``lengths``, at least 8."""
        return max(8, round(self.tokens_per_step * sum(1 / n for n in self.lengths) / len(self.lengths)))

    def n_train(self) -> int:
        return self.steps * self.batch_size()

    def train_tokens(self) -> int:
        return sum(c * n for c, n in zip(length_counts(self.n_train(), self.lengths), self.lengths))


def _heldout_nelbo(model, language, length: int, seed: int, sequences: int = 256, draws: int = 8) -> float:
    """NELBO in nats per token on fresh samples (``draws`` Monte-Carlo masks): an upper bound on the
    model's cross-entropy, so ``nelbo - entropy rate`` bounds its KL rate."""
    gen = torch.Generator().manual_seed(seed)
    x = language.sample(sequences, length, gen)
    with torch.no_grad():
        return sum(float(diffusion_loss(model, x, time_sampler=AntitheticTime(), generator=gen).loss)
                   for _ in range(draws)) / draws


def train_on_language(spec: str, setup: ModelSetup, out_dir: Path, seed: int = 0):
    """Train a fresh model on the language ``spec`` (its run, checkpoint and ``metrics.jsonl`` in
    ``out_dir``) -> ``(model in eval mode, summary)``: size, budget (real tokens), mean training loss
    of the last 50 steps, wall time, held-out NELBO per token per length, model config.  A training
    stopped early raises :class:`~mdm.experiments.runner.TrainingInterrupted` (never cached)."""
    from mdm.experiments.training import train_to_end
    from mdm.languages import parse_language_spec
    from mdm.train import checkpoint, load_config

    batch = setup.batch_size()
    options = {"spec": spec, "lengths": list(setup.lengths), "n_train": setup.n_train(), "n_val": batch}
    cfg = load_config("exact-language", [
        *setup.model_overrides(), "model.learned_positions=true",
        f"data.seq_len={max(setup.lengths)}", f"data.options={json.dumps(options)}",
        f"optim.warmup_steps={setup.warmup_steps}", f"seed={seed}",
        f"batch_size={batch}", f"max_steps={setup.steps}", "eval_batches=1", "eval_samples=1",
        "log_every=1", "precision=fp32", "threads=1", f"out_dir={out_dir}"])
    res = train_to_end(cfg, out_dir)
    model, _ = checkpoint.load(res.checkpoint)
    model.eval()
    losses = [row["loss"] for row in res.metrics if row.get("split") == "train"][-50:]
    language = parse_language_spec(spec)
    nelbo = {n: _heldout_nelbo(model, language, n, seed + 2 + n) for n in setup.lengths}
    return model, {"parameters": model.num_parameters(), "train_steps": res.steps,
                   "train_tokens": setup.train_tokens(), "train_loss_last50": sum(losses) / len(losses),
                   "train_seconds": res.wall_time, "heldout_nelbo_per_token": nelbo,
                   "model_config": asdict(model.config)}
