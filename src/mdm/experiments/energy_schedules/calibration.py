"""Parts ``calibration`` and ``calibration-trained`` (issue 28): where does "convex Beta beats linear"
(Chen et al., arXiv 2509.13866) hold, and where is it reversed?

The paper measured LLaDA-8B: semi-autoregressive blocks, greedy decoding, confidence-ordered
unmasking (LLaDA's low-confidence remasking), an answer region mostly end-of-text padding, and an LLM
whose end-of-text confidence is not an exact denoiser's.  Here each of those is a knob on a language
with end-of-text (:meth:`mdm.languages.HMM.with_end`): the number of blocks, the temperature (0 =
greedy) and a calibration factor ``c`` (:class:`mdm.languages.Miscalibrated`: end-of-text
probability reweighted by ``c``, renormalised).  An instance is a prompt drawn from the language;
it passes (pass@1) when prompt + continuation has nonzero probability (1 - SER); since an answer
may end at once, the mean answer length is reported beside it.  Every schedule
decodes the same instances with the same random numbers, so the Beta - linear difference is paired
per instance (and per training seed for trained models: :func:`mdm.eval.stats.paired_difference_clustered`).
Nothing is tuned: the schedules are the paper's fixed ones, so no choice needs a validation split.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

from mdm.errors import ConfigError
from mdm.eval.stats import paired_difference, paired_difference_clustered
from mdm.experiments.common import interval
from mdm.experiments.energy_schedules.presets import CalibrationSetup
from mdm.languages import LanguageView, Miscalibrated, parse_language_spec
from mdm.sampling import Scheduled
from mdm.schedules import from_spec
from mdm.tuning import sample_in_batches


def draw_prompts(language, n: int, prompt_len: int, seed: int) -> torch.Tensor:
    """``n`` prompts ``[n, prompt_len]``: prefixes of the language's sequences with no end-of-text."""
    x = language.sample(4 * n, prompt_len, torch.Generator().manual_seed(seed))
    x = x[~torch.isin(x, torch.tensor(language.end_tokens)).any(dim=1)][:n]
    if len(x) < n:
        raise ConfigError(f"only {len(x)} of {4 * n} prefixes of length {prompt_len} have no end-of-text; "
                          "use a shorter prompt_len")
    return x


def _models(setup: CalibrationSetup, language, seed: int, ctx) -> tuple[list, list]:
    """The exact oracle, or one model per training seed (trained, or loaded when finished)."""
    if setup.train is None:
        return [language.denoiser()], []
    from mdm.experiments.training import finished_checkpoint
    from mdm.train import checkpoint, load_config
    from mdm.train.loop import METRICS_FILE, read_metrics

    models, summaries = [], []
    for s in setup.train_seeds:
        run_dir = ctx.out_dir / "models" / f"{setup.name}-seed{seed * 1000 + s}"
        cfg = load_config("exact-language", setup.train.overrides(setup.prompt_len + setup.length, run_dir,
                                                                  seed * 1000 + s))
        model, _ = checkpoint.load(finished_checkpoint(cfg, run_dir))
        models.append(LanguageView(model.eval(), language.vocab_size))
        val = [r for r in read_metrics(run_dir / METRICS_FILE) if r.get("split") == "val"]
        summaries.append({"seed": seed * 1000 + s, "steps": cfg.max_steps,
                          "val_nelbo_nats_per_token": val[-1]["val_nelbo_nats_per_token"] if val else None})
    return models, summaries


def _decode(language, denoiser, setup: CalibrationSetup, prompts, spec: str, steps: int, blocks: int,
            temperature: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per instance: pass (1.0 if prompt + continuation is possible under the language, else 0.0)
    and the answer's length (generated tokens before end-of-text)."""
    x = sample_in_batches(denoiser, len(prompts), 512, seed, prompts=prompts, length=setup.length,
                          unmasker=Scheduled(steps, from_spec(spec), "confidence"),
                          block_size=setup.length // blocks, temperature=temperature)
    answer = ~torch.isin(x[:, prompts.shape[1]:], torch.tensor(language.end_tokens))
    return language.is_valid(x).double().numpy(), answer.cumprod(dim=1).sum(dim=1).double().numpy()


def sweep(language, models: list, setup: CalibrationSetup, prompts: torch.Tensor, seed: int) -> list[dict]:
    """pass@1 per (blocks, temperature, factor, N, schedule), and each Beta minus linear, paired."""
    rows = []
    for blocks, temperature, factor, n in itertools.product(setup.blocks, setup.temperatures, setup.factors,
                                                            setup.steps):
        dens = [den if factor == 1 else Miscalibrated(den, language.end_tokens, factor) for den in models]
        passed = {}
        for spec in setup.schedules:  # the same instances and random numbers for every schedule
            out = [_decode(language, den, setup, prompts, spec, n, blocks, temperature, seed * 1000 + n)
                   for den in dens]
            passed[spec] = np.stack([ok for ok, _ in out])  # [models, instances]
            row = {"blocks": blocks, "temperature": temperature, "factor": factor, "steps": n,
                   "schedule": spec, "pass": float(passed[spec].mean()),
                   "pass_ci": interval(passed[spec].mean(axis=0)),
                   "answer_tokens": float(np.mean([length.mean() for _, length in out]))}
            if spec != setup.schedules[0]:  # minus the first schedule (linear)
                a, b = passed[spec], passed[setup.schedules[0]]
                d = paired_difference(a[0], b[0]) if len(models) == 1 else paired_difference_clustered(a, b)
                row.update(vs_linear=d.mean, vs_linear_ci=[d.lo, d.hi], vs_linear_p=d.p_value,
                           sign="+" if d.lo > 0 else "-" if d.hi < 0 else "0")
            rows.append(row)
    return rows


def calibration_part(setup: CalibrationSetup, seed: int, ctx) -> dict:
    """One calibration setup (the preset's ``calibration[i]``) as a part: decode its instances with
    every schedule and setting of its grid."""
    language = parse_language_spec(setup.spec)
    models, summaries = _models(setup, language, seed, ctx)
    prompts = draw_prompts(language, setup.instances, setup.prompt_len, seed * 1000 + 7)
    return {"rows": sweep(language, models, setup, prompts, seed), "train": summaries,
            "distinct_prompts": len(torch.unique(prompts, dim=0))}
