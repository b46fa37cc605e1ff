"""The trained-model half of ``mdm exp steps-vs-length``: a small MDM fitted to an exact language.

The oracle sweeps isolate the error of the step budget; a trained network adds its own error.
Here a small :class:`~mdm.models.transformer.TransformerDenoiser` is trained by the project's
trainer (:func:`mdm.train.train`) on the ``exact-language`` task with ``lengths``: samples of the
language at every length of the sweep, right-padded to the longest, padding neither masked,
scored nor attended to.  One model serves every length, so differences between lengths in the
sweep come from the sampler, not from models trained differently.  The loss is the MDM NELBO
(:func:`mdm.losses.diffusion_loss`, linear schedule, antithetic times), AdamW with warmup and
cosine decay, fp32, no EMA.  Its ids ``0 .. V-1`` are the language's tokens (a character
tokenizer over ``V`` letters), so :class:`mdm.tuning.LanguageView` makes it a Denoiser directly
comparable with ``language.denoiser()``.

The model has learned absolute positions (``learned_positions=True``): a RoPE-only bidirectional
model cannot tell positions apart on an all-mask input, so it cannot fit the position-dependent
marginals of a fixed-length language.  With right padding a position's index is the same as in
the unpadded sequence, so one set of learned positions serves every length.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from mdm.experiments.runner import TrainingInterrupted
from mdm.losses import diffusion_loss
from mdm.tasks.exact import length_counts
from mdm.variance import AntitheticTime

__all__ = ["ModelSetup", "heldout_nelbo", "train_config", "train_on_language", "train_overrides"]


@dataclass(frozen=True)
class ModelSetup:
    """The small model, its training budget and its sweep.

    Budget: ``steps`` optimizer steps of ``tokens_per_step`` real tokens on average.  Each step
    is one batch of :meth:`batch_size` sequences drawn (without replacement, never repeated) from
    a training set whose sequences per length are proportional to ``1/L``: every length gets the
    same tokens, as when cycling one length per step with ``tokens_per_step // L`` sequences.
    """

    language: str  # which of the preset's languages it learns (by name)
    lengths: tuple[int, ...]
    steps: int = 1000
    tokens_per_step: int = 4096
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    lr: float = 3e-3
    warmup_steps: int = 50
    samples: int = 256  # generated sequences per (sampler, L, N)
    samplers: tuple[str, ...] = ("ancestral", "random", "confidence")
    max_steps_factor: int = 4  # the ancestral sampler runs N up to factor * L
    training_seeds: int = 1  # models trained from independent seeds, each swept

    def batch_size(self) -> int:
        """Sequences per step: ``tokens_per_step`` over the mean length of the training mix (the
        harmonic mean of ``lengths``), at least 8."""
        return max(8, round(self.tokens_per_step * sum(1 / n for n in self.lengths) / len(self.lengths)))

    def n_train(self) -> int:
        """Training sequences: exactly what ``steps`` batches consume, so none is seen twice."""
        return self.steps * self.batch_size()

    def train_tokens(self) -> int:
        """Real (non-pad) tokens in the training set, i.e. seen in training."""
        return sum(c * n for c, n in zip(length_counts(self.n_train(), self.lengths), self.lengths))


def heldout_nelbo(model, language, length: int, *, sequences: int = 256, draws: int = 8,
                  seed: int = 0) -> float:
    """The model's negative ELBO in nats per token on fresh samples (``draws`` Monte-Carlo masks):
    an upper bound on its cross-entropy, so ``nelbo - entropy rate`` bounds its KL rate."""
    gen = torch.Generator().manual_seed(seed)
    x = language.sample(sequences, length, gen)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        losses = [float(diffusion_loss(model, x, time_sampler=AntitheticTime(), generator=gen).loss)
                  for _ in range(draws)]
    model.train(was_training)
    return sum(losses) / len(losses)


def train_overrides(spec: str, setup: ModelSetup, out_dir: Path, seed: int = 0) -> list[str]:
    """``key=value`` overrides of the packaged ``exact-language`` config: the model, the language at
    every length of the setup, the budget; a metrics row per step (for the last-50 training loss),
    one small validation at the end."""
    batch = setup.batch_size()
    options = {"spec": spec, "lengths": list(setup.lengths), "n_train": setup.n_train(), "n_val": batch}
    return [f"model.d_model={setup.d_model}", f"model.n_layers={setup.n_layers}",
            f"model.n_heads={setup.n_heads}", "model.learned_positions=true",
            f"data.seq_len={max(setup.lengths)}", f"data.options={json.dumps(options)}",
            f"optim.lr={setup.lr!r}", f"optim.warmup_steps={setup.warmup_steps}", f"seed={seed}",
            f"batch_size={batch}", f"max_steps={setup.steps}", "eval_batches=1", "eval_samples=1",
            "log_every=1", "precision=fp32", f"out_dir={out_dir}"]


def train_config(spec: str, setup: ModelSetup, out_dir: Path, seed: int = 0):
    """The :class:`mdm.train.TrainConfig` of the model: ``exact-language`` with
    :func:`train_overrides` (CPU, fp32, one thread)."""
    from mdm.train import load_config

    return load_config("exact-language", train_overrides(spec, setup, out_dir, seed))


def train_on_language(spec: str, setup: ModelSetup, out_dir: Path, seed: int = 0):
    """Train a fresh model on samples of the language ``spec`` at every length of ``setup.lengths``
    with :func:`mdm.train.train`, its run (checkpoint, ``metrics.jsonl``) in ``out_dir``.

    Returns ``(model, summary)``: the trained checkpoint's model in eval mode and a dict with its
    size, the training budget (``train_tokens``: real tokens, padding not counted), the mean
    training loss of the last 50 steps, the trainer's wall time (data, training, checkpoint), the
    held-out NELBO per token per length and the model config.
    """
    from mdm.languages import parse_language_spec
    from mdm.train import checkpoint, train

    cfg = train_config(spec, setup, out_dir, seed)
    res = train(cfg, out_dir=out_dir, progress=False, resume=False)
    if res.interrupted:
        raise TrainingInterrupted(f"training in {out_dir} stopped at step {res.steps} of {setup.steps}")
    model, _ = checkpoint.load(res.checkpoint)
    model.eval()
    losses = [row["loss"] for row in res.metrics if row.get("split") == "train"][-50:]
    language = parse_language_spec(spec)
    summary = {
        "parameters": model.num_parameters(),
        "train_steps": res.steps,
        "train_tokens": setup.train_tokens(),
        "train_loss_last50": sum(losses) / len(losses),
        "train_seconds": res.wall_time,
        "heldout_nelbo_per_token": {
            length: heldout_nelbo(model, language, length, seed=seed + 2 + length) for length in setup.lengths
        },
        "model_config": asdict(model.config),
    }
    return model, summary
