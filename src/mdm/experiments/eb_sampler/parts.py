"""The parts of ``mdm exp eb-sampler``: a task (train or load its model, sweep its samplers on the
validation and test prompts) and the bound check on an exact HMM."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

from tqdm import tqdm

from mdm.experiments.common import interval
from mdm.experiments.eb_sampler.selection import speedup
from mdm.experiments.eb_sampler.sweep import accuracy_by_group, evaluate, prompt_groups, sampler_specs
from mdm.experiments.training import task_kind, task_model

__all__ = ["bound_part", "part_config", "task_part"]


def part_config(setup, preset, seed: int) -> dict:
    """What a task part's result depends on.  It holds the training config itself (not just its
    name), so editing the packaged YAML invalidates a cached part."""
    from mdm.train import load_config

    train_cfg = load_config(setup.config, list(setup.overrides)).to_dict()
    return {"task": asdict(setup), "train": train_cfg, "grid": asdict(preset.grid),
            "precision": preset.precision, "seed": seed}


def task_part(setup, preset, out_dir: Path, seed: int = 0, progress: bool = True) -> dict:
    """Train or load the task model, sweep every sampler on the validation and the test prompts,
    choose each family's equal-accuracy setting on validation and report it on test."""
    model, valid, dataset, summary = task_model(setup, out_dir, progress, seed)
    kind = task_kind(setup)
    tok = dataset.tokenizer
    eos = tok.eos_id if kind == "arithmetic" else None  # answers of fixed length have no stop rule
    specs = sampler_specs(preset.grid, setup, dataset.answer_len)
    rows, valid_rows = [], []
    bar = tqdm(specs, desc=f"eb-sampler {setup.name}", unit="sampler", disable=not progress)
    for spec in bar:
        bar.set_postfix_str(f"{spec.curve} {spec.label}")
        stop = eos if spec.stop else None
        pad = tok.pad_id if stop is not None else None
        for split, n, out in ((valid, setup.n_valid, valid_rows), (dataset, setup.n_eval, rows)):
            out.append(evaluate(model, split, spec, n_eval=min(n, len(split)), batch_size=setup.batch_size,
                                seed=seed, stop=stop, pad_id=pad, precision=preset.precision))
    groups = prompt_groups(kind, dataset, rows[0]["n"]) if rows else None
    if groups is not None:
        for r in rows:
            r["accuracy_by_group"] = accuracy_by_group(r["correct"], groups)
    prefixes = ["EB", *sorted({r["family"] for r in rows if r["family"].startswith("EB (")}),
                "top-k", "threshold", "scheduled"]
    speedups = [s for stop in setup.stop_rule for block in setup.blocks for p in prefixes
                if (s := speedup(valid_rows, p, block_size=block, test_rows=rows, stop=stop)) is not None]
    for r in rows:  # the test rows' 95% bootstrap CI over prompts (validation rows only choose)
        r["accuracy_ci"] = interval(r["correct"])
    for r in (*rows, *valid_rows):
        del r["correct"]
    return {"train": summary, "task": kind, "answer_len": dataset.answer_len, "n_test": len(dataset),
            "rows": rows,
            "n_valid": len(valid), "valid_rows": valid_rows, "selection": "validation",
            "speedups": speedups, "groups": None if groups is None else dict(Counter(groups))}


def bound_part(setup, seed: int) -> dict:
    from mdm.experiments.eb_sampler import bound as eb_bound
    from mdm.languages import HMM

    language = HMM.random(setup.n_hidden, setup.vocab_size, seed=seed, successors=setup.successors,
                          emitted=setup.emitted)
    t0 = time.perf_counter()
    result = eb_bound.check_bound(language, length=setup.length, n_trials=setup.n_trials, seed=seed)
    result["wall_s"] = time.perf_counter() - t0
    return result
