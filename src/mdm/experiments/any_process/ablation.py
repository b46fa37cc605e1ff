"""The parts of ``mdm exp any-process`` that test where length generalisation comes from (issue 27, 3a, 3c).

* **parity-paper** / **parity-paper-1-5**: the paper's transition set and training windows (7 length-3
  windows, no EOS, :mod:`mdm.tasks.anyprocess.parity_paper`) / the same rules on every input of 1-5
  bits; each trained into a global-attention model of the paper's size (width 4, 1 block, 1 head) and
  into our local model (attention radius 1, 2 layers: each output sees +-2 positions, relative
  positions, evaluated in halo chunks).  A test input counts as exact when the model reproduces every
  solver transition to the answer (:mod:`mdm.tasks.anyprocess.follow`), greedy.
* **brackets** / **brackets-mdm**: delete the unmatched brackets (:mod:`mdm.tasks.anyprocess.brackets`),
  a non-local edit; AP-MDM / a plain MDM writing the answer into a separate region
  (:mod:`mdm.tasks.anyprocess.brackets_mdm`); validity (any valid output accepted) at 1x, 2x, 4x the
  training length.

Several training seeds inside one run (``seed + k``); per length the exact (valid) count of every seed,
the pooled rate with a Wilson 95% CI over all seeds' items, and the seeds' rates with a percentile
bootstrap CI over seeds.
"""

from __future__ import annotations

import time

import torch

from mdm.errors import ModelConfigError
from mdm.eval.stats import summarize, wilson_interval
from mdm.experiments.any_process.parts import _generate, train_model
from mdm.experiments.any_process.presets import (
    BRACKETS_MDM_TRAIN,
    BRACKETS_TRAIN,
    PARITY_PAPER_TRAIN,
    BracketsSetup,
    ParityPaperSetup,
)
from mdm.sampling.anyprocess import apply_transition
from mdm.tasks.anyprocess import brackets, parity_paper
from mdm.tasks.anyprocess.follow import follow, follow_local, greedy_decisions

__all__ = ["parity_paper_part", "brackets_part", "brackets_mdm_part", "pooled"]


def pooled(per_seed: list[list[bool]]) -> dict:
    """Exact counts per seed, the pooled rate with its Wilson CI, the seeds' rates with a bootstrap CI."""
    k = [int(sum(s)) for s in per_seed]
    n = [len(s) for s in per_seed]
    if not sum(n):
        return {"exact_per_seed": k, "n_per_seed": n}
    lo, hi = wilson_interval(sum(k), sum(n))
    rates = [a / b for a, b in zip(k, n) if b]
    est = summarize(rates)
    return {"exact_per_seed": k, "n_per_seed": n, "rate": sum(k) / sum(n), "rate_ci": [lo, hi],
            "ci_method": "Wilson score 95% over all seeds' items", "seed_rates": rates,
            "seed_rates_ci": [est.lo, est.hi], "seed_ci_method": est.method}


def _accept_length(model, n: int) -> None:
    """Let a global model read ``n`` positions: its positions are RoPE (no parameters), so the trained
    weights are unchanged; only the length cap (the training ``seq_len``) and the cached tables go."""
    from mdm.models.anyprocess import AnyProcessModel

    trunk = model.trunk if isinstance(model, AnyProcessModel) else model  # the transformer that has RoPE
    if getattr(model.config, "window", None) is None and model.config.max_len < n:
        if getattr(trunk.config, "learned_positions", False):
            raise ModelConfigError("a model with learned positions cannot read inputs longer than max_len")
        for cfg in {id(model.config): model.config, id(trunk.config): trunk.config}.values():
            cfg.max_len = n
        trunk._rope = None


def _exact_parity(model, local: bool, bits_list, max_cpu_s: float):
    """Per input ``(steps reproduced, exact)`` (None: not finished in ``max_cpu_s`` CPU seconds), the
    solver's step counts, and the CPU seconds it took."""
    tok = parity_paper.tokenizer()
    starts = [parity_paper.start_state(b, tok)[0] for b in bits_list]
    ids = dict(mask_id=tok.mask_id, pad_id=tok.pad_id, prompt_ids=[tok.bos_id])
    t0 = time.process_time()
    if local:
        got = []
        for s in starts:
            left = max_cpu_s - (time.process_time() - t0)
            got.append(follow_local(model, s, parity_paper.solver(tok), **ids, max_cpu_s=left))
    else:
        got = follow(model, starts, parity_paper.solver(tok), **ids, batch_size=16, max_cpu_s=max_cpu_s)
    return got, time.process_time() - t0


@torch.no_grad()
def _windows_fitted(model, tok) -> int:
    """How many of the paper's 7 windows one greedy step of the model takes to the solver's next state."""
    windows = parity_paper.paper_windows(tok)
    x = torch.tensor([list(t.x) for t in windows])
    tokens, remask, insert, delete = greedy_decisions(model(x), x, x == tok.bos_id)
    nxt, m = apply_transition(x, tokens, remask, insert, delete, mask_id=tok.mask_id, pad_id=tok.pad_id)
    step = parity_paper.solver(tok)
    return sum(nxt[i, : int(m[i])].tolist() == step(list(t.x)) for i, t in enumerate(windows))


def parity_paper_part(s: ParityPaperSetup, seed: int, ctx, data: int = 0) -> dict:
    """The cells of data setting ``data`` (each model of ``s.models``): trained on ``s.seeds`` seeds,
    tested at every length."""
    data_label, data_over = s.data[data]
    tok = parity_paper.tokenizer()
    cells = {}
    for model_label, model_over in s.models:
        local = any(o.startswith("model.window=") and not o.endswith("null") for o in model_over)
        per_len = {str(n): [] for n, _ in s.tests}
        unfinished = {str(n): 0 for n, _ in s.tests}
        reproduced = {str(n): [] for n, _ in s.tests}  # steps reproduced before the first miss
        trains, fit = [], []
        for k in range(s.seeds):
            name = f"pp-{data_label}-{model_label}-{k}".replace(" ", "_")
            model, _, summary = train_model(PARITY_PAPER_TRAIN, [*data_over, *model_over, *s.train,
                                                                 f"seed={seed + k}"],
                                            ctx.out_dir / "models" / name)
            _accept_length(model, max(n for n, _ in s.tests) + 1)
            trains.append({k2: summary[k2] for k2 in ("parameters", "steps", "train_wall_s",
                                                      "final_train_loss")})
            fit.append(_windows_fitted(model, tok))
            for length, n in s.tests:
                bits = parity_paper.random_bits(n, length, seed=3000 + length)
                got, cpu = _exact_parity(model, local, bits, s.max_cpu_s)
                unfinished[str(length)] += sum(g is None for g in got)
                per_len[str(length)].append([g[1] for g in got if g is not None])
                reproduced[str(length)] += [g[0] for g in got if g is not None]
                ctx.log(f"parity-paper {data_label} / {model_label} seed {k}: {length} bits "
                        f"{sum(bool(g and g[1]) for g in got)}/{n} exact, "
                        f"{sum(g is None for g in got)} unfinished ({cpu:.0f} CPU s)")
        cells[f"{data_label} | {model_label}"] = {
            "data": data_label, "model": model_label, "local": local, "train": trains,
            "paper_windows_reproduced": fit,
            "by_length": {L: {**pooled(v), "unfinished": unfinished[L],
                              "steps_reproduced_median": (sorted(reproduced[L])[len(reproduced[L]) // 2]
                                                          if reproduced[L] else None)}
                          for L, v in per_len.items()}}
    return {"seeds": s.seeds, "cells": cells}


def brackets_part(s: BracketsSetup, seed: int, ctx) -> dict:
    """Each model trained on inputs of 1..max_len, validity (greedy) at every test length."""
    tok = brackets.tokenizer()
    out = {}
    for model_label, model_over in s.models:
        per_len = {str(n): [] for n in s.lengths}
        steps = {str(n): [] for n in s.lengths}
        trains = []
        for k in range(s.seeds):
            name = f"br-{model_label}-{k}".replace(" ", "_")
            model, _, summary = train_model(BRACKETS_TRAIN, [*model_over, *s.train, f"seed={seed + k}"],
                                            ctx.out_dir / "models" / name)
            _accept_length(model, max(s.lengths) + 2)
            trains.append({k2: summary[k2] for k2 in ("parameters", "steps", "train_wall_s",
                                                      "final_train_loss")})
            for length in s.lengths:
                texts = brackets.random_inputs(s.n_eval, length, length, seed=4000 + length)
                run = _generate(model, [brackets.start_state(t, tok) for t in texts], max_steps=8,
                                batch_size=100)
                per_len[str(length)].append(brackets.verify(run["outputs"], texts, tok).tolist())
                steps[str(length)] += run["steps"]
        out[model_label] = {"train": trains, "by_length": {
            L: {**pooled(v), "steps_mean": float(torch.tensor(steps[L], dtype=torch.float64).mean())}
            for L, v in per_len.items()}}
    return {"seeds": s.seeds, "train_max_len": s.train_max_len, "models": out}


def brackets_mdm_part(s: BracketsSetup, seed: int, ctx) -> dict:
    """The plain-MDM baseline of :func:`brackets_part`: trained on the same inputs (``brackets-mdm``),
    decoded one most-confident answer position per pass (``TopK(1)``, greedy), the same test inputs."""
    from mdm.eval.verified import decode_verified
    from mdm.sampling import TopK
    from mdm.tasks.anyprocess.brackets_mdm import BracketsMDMDataset

    per_len = {str(n): [] for n in s.lengths}
    trains = []
    for k in range(s.seeds):
        model, _, summary = train_model(BRACKETS_MDM_TRAIN, [*s.train, f"seed={seed + k}"],
                                        ctx.out_dir / "models" / f"br-mdm-{k}")
        _accept_length(model, 2 * max(s.lengths) + 2)
        trains.append({k2: summary[k2] for k2 in ("parameters", "steps", "train_wall_s", "final_train_loss")})
        for length in s.lengths:
            texts = brackets.random_inputs(s.n_eval, length, length, seed=4000 + length)
            out = decode_verified(model, BracketsMDMDataset(texts, length), TopK(1, proxy="confidence"),
                                  batch_size=100, seed=None)
            per_len[str(length)].append(out.correct.tolist())
    return {"seeds": s.seeds, "train_max_len": s.train_max_len, "decoding": "TopK(1, confidence), greedy",
            "train": trains, "by_length": {L: pooled(v) for L, v in per_len.items()}}
