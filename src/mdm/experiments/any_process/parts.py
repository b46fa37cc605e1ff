"""The parts of ``mdm exp any-process``: train on solver trajectories, generate, verify.

Every model is trained with ``mdm.train`` (the ``anyprocess`` family on the ``ap-*`` tasks; the
Sudoku baseline is the plain ``transformer`` family on the ``sudoku`` task with the same puzzles);
a training stopped early raises :class:`~mdm.experiments.runner.TrainingInterrupted`, so the part
is not cached.  Each part returns plain data, the traced trajectory it draws included.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch

from mdm.experiments.any_process.presets import (
    PARITY_TRAIN,
    REWRITE_TRAIN,
    SUDOKU_TRAIN,
    ParitySetup,
    RewriteSetup,
    SudokuSetup,
)
from mdm.experiments.common import interval, paired
from mdm.experiments.training import train_to_end
from mdm.sampling.anyprocess import generate
from mdm.sampling.anyprocess_render import trajectory_states
from mdm.tasks.anyprocess import parity, rewrite, sudoku
from mdm.tasks.anyprocess.registered import sudoku_puzzles
from mdm.train import load_config

__all__ = ["train_model", "parity_part", "rewrite_part", "sudoku_part", "mean_se", "rate_se"]

TRAJECTORIES = {"parity": [1, 0, 1, 1, 0, 1, 1, 1], "rewrite": "abcabbac"}  # the inputs drawn step by step


def mean_se(values) -> tuple[float, float]:
    t = torch.as_tensor(values, dtype=torch.float64)
    n = t.numel()
    return float(t.mean()), float(t.std() / math.sqrt(n)) if n > 1 else 0.0


def rate_se(correct) -> tuple[float, float]:
    t = torch.as_tensor(correct, dtype=torch.float64)
    p = float(t.mean())
    return p, math.sqrt(max(p * (1 - p), 0.0) / t.numel())


def train_model(base: dict, overrides, out: Path) -> tuple[torch.nn.Module, object, dict]:
    """Train the config ``base`` changed by the ``key=value`` ``overrides`` into ``out``;
    ``(model, tokenizer, summary)``."""
    from mdm.train.checkpoint import load

    t0 = time.perf_counter()
    config = load_config(base, list(overrides))
    result = train_to_end(config, out)
    model, tok = load(result.checkpoint)
    rows = [r for r in result.metrics if r.get("split") == "train"]
    summary = {"parameters": sum(p.numel() for p in model.parameters()), "steps": result.steps,
               "train_wall_s": time.perf_counter() - t0,
               "final_train_loss": rows[-1]["loss"] if rows else None, "final_val": result.final_val,
               "config": {k: v for k, v in config.to_dict().items() if k != "out_dir"}}
    return model.eval(), tok, summary


def _batch(states) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pad ``[(tokens, editable)]`` into ``(x, editable, lengths)``; pads are 0 and outside lengths."""
    n = max(len(s) for s, _ in states)
    x = torch.zeros(len(states), n, dtype=torch.long)
    e = torch.zeros(len(states), n, dtype=torch.bool)
    for i, (s, m) in enumerate(states):
        x[i, : len(s)], e[i, : len(m)] = torch.tensor(s), torch.tensor(m)
    return x, e, torch.tensor([len(s) for s, _ in states])


def _generate(model, states, *, max_steps: int, batch_size: int, temperature: float = 0.0, seed=None) -> dict:
    """Generate from every start state ``(tokens, editable)`` in batches (the batch from state ``i``
    seeded ``seed + i``): the outputs, transitions and forward passes per state, and why each halted."""
    out = {"outputs": [], "steps": [], "nfe": [], "halted": []}
    for i in range(0, len(states), batch_size):
        x, e, n = _batch(states[i:i + batch_size])
        res = generate(model, x, lengths=n, editable=e, max_steps=max_steps, temperature=temperature,
                       seed=None if seed is None else seed + i)
        out["outputs"] += res.sequences()
        out["steps"] += res.steps.tolist()
        out["nfe"] += res.nfe.tolist()
        out["halted"] += res.halted
    return out


def _scored(name: str, ok, costs, halted=None) -> dict:
    """``name`` (the rate of ``ok``) with its SE and bootstrap CI, the mean cost and the halt reasons."""
    rate, rate_err = rate_se(ok)
    s, s_se = mean_se(costs)
    out = {name: rate, f"{name}_se": rate_err, f"{name}_ci": interval(ok), "steps_mean": s, "steps_se": s_se}
    return out if halted is None else {**out, "halted": {h: halted.count(h) for h in set(halted)}}


def parity_eval(model, tests, *, batch_size: int = 64) -> dict:
    """Accuracy and steps at each ``(length, n)`` of ``tests`` (random bits, seeded by the length)."""
    tok = parity.tokenizer()
    rows = {}
    for length, n in tests:
        bits = parity.random_bits(n, length, seed=1000 + length)
        t0 = time.perf_counter()
        run = _generate(model, [parity.start_state(b, tok) for b in bits], max_steps=4 * length + 16,
                        batch_size=batch_size)
        ok = parity.verify(run["outputs"], bits, tok)
        solver = [len(parity.trajectory(b, tok)) - 1 for b in bits] if length <= 1000 else None
        rows[str(length)] = {"n": n, **_scored("accuracy", ok, run["steps"], run["halted"]),
                             "solver_steps_mean": mean_se(solver)[0] if solver else None,
                             "wall_s": time.perf_counter() - t0}
    return {"accuracy": {k: r["accuracy"] for k, r in rows.items()}, "by_length": rows}


def rewrite_eval(model, lengths, n: int, *, batch_size: int = 100) -> dict:
    tok = rewrite.tokenizer()
    rows = {}
    for length in lengths:
        texts = rewrite.random_inputs(n, length, length, seed=2000 + length)
        run = _generate(model, [rewrite.start_state(t, tok) for t in texts], max_steps=16,
                        batch_size=batch_size)
        ok = rewrite.verify(run["outputs"], texts, tok)
        rows[str(length)] = {"n": n, **_scored("validity", ok, run["steps"], run["halted"])}
    return {"validity": {k: r["validity"] for k, r in rows.items()}, "by_length": rows}


def sudoku_ap_eval(model, puzzles, *, temperature: float, max_steps: int, seed: int, batch_size: int = 100):
    tok = sudoku.tokenizer()
    states = [(s, [t == tok.mask_id for t in s]) for s in (sudoku.start_state(p, tok) for p in puzzles)]
    run = _generate(model, states, max_steps=max_steps, batch_size=batch_size, temperature=temperature,
                    seed=seed)
    ok = sudoku.verify(run["outputs"], puzzles, tok)
    scored = _scored("solve_rate", ok, run["nfe"], run["halted"])
    return {"n": len(puzzles), **scored, "steps_ci": interval(run["nfe"]), "temperature": temperature}, ok


def sudoku_mdm_eval(model, puzzles, solutions, *, batch_size: int = 100):
    """The baseline: a plain MDM, one most-confident cell per step (TopK(1), greedy)."""
    from mdm.eval.verified import decode_verified
    from mdm.sampling import TopK
    from mdm.tasks.sudoku import SudokuDataset

    out = decode_verified(model, SudokuDataset(puzzles, solutions), TopK(1, proxy="confidence"),
                          batch_size=batch_size, seed=None)
    ok, nfe = out.correct, out.nfe.long()
    return {"n": len(ok), **_scored("solve_rate", ok, nfe), "steps_ci": interval(nfe),
            "decoding": "TopK(1, confidence), temperature 0"}, ok


def _trajectory(model, task, text) -> dict:
    """The traced run of one input: ``[(tokens, edits)]`` per state (see
    :func:`mdm.sampling.anyprocess_render.trajectory_states`), plain data for the plot."""
    tok = task.tokenizer()
    s, e = task.start_state(text, tok)
    res = generate(model, torch.tensor([s]), editable=torch.tensor([e]), trace=True,
                   max_steps=64 if task is parity else 16)
    return {"input": "".join(map(str, text)), "states": trajectory_states(res, mask_id=tok.mask_id)}


def parity_part(setups: tuple[ParitySetup, ...], seed: int, ctx) -> dict:
    """Each parity setup trained, then tested at every length; the last model's trajectory traced."""
    runs = {}
    for setup in setups:
        lengths = load_config(PARITY_TRAIN, list(setup.train)).data.options["lengths"]
        name = "parity-" + "-".join(map(str, lengths))
        model, _, summary = train_model(PARITY_TRAIN, [*setup.train, f"seed={seed}"],
                                        ctx.out_dir / "models" / name)
        runs[setup.label] = {"train_lengths": list(lengths), "train": summary,
                             **parity_eval(model, setup.tests)}
    trajectory = _trajectory(model, parity, TRAJECTORIES["parity"])  # the last setup's model
    paper = runs[setups[0].label]
    return {"accuracy": paper["accuracy"], "setting": setups[0].label, "runs": runs,
            "trajectory": {**trajectory, "model": setups[-1].label}}


def rewrite_part(s: RewriteSetup, seed: int, ctx) -> dict:
    model, _, summary = train_model(REWRITE_TRAIN, [*s.train, f"seed={seed}"],
                                    ctx.out_dir / "models" / "rewrite")
    return {"train_max_len": summary["config"]["data"]["options"]["max_len"], "train": summary,
            **rewrite_eval(model, s.lengths, s.n_eval),
            "trajectory": _trajectory(model, rewrite, TRAJECTORIES["rewrite"])}


def sudoku_part(setup: SudokuSetup, seed: int, ctx) -> dict:
    """AP-MDM vs the MDM baseline at equal training puzzles; the AP temperature chosen on validation,
    both reported on the same test puzzles (with their paired difference)."""
    out = ctx.out_dir
    # the task builders take the run's seed; the baseline's sudoku task and ap-sudoku see the same puzzles
    opts = dict(n_train=setup.n_train, n_test=setup.n_test, min_clues=setup.min_clues,
                max_clues=setup.max_clues)
    overrides = [*setup.train, f"seed={seed}"]
    ap_data = {"task": "ap-sudoku", "seq_len": 81, "options": {**opts, "n_val": 8, "traces": setup.traces}}
    ap_model = {**SUDOKU_TRAIN["model"], "family": "anyprocess"}
    ap, _, ap_summary = train_model({**SUDOKU_TRAIN, "model": ap_model, "data": ap_data}, overrides,
                                    out / "models" / "sudoku-ap")
    mdm_data = {"task": "sudoku", "seq_len": 178, "options": opts}
    mdm, _, mdm_summary = train_model({**SUDOKU_TRAIN, "data": mdm_data}, overrides,
                                      out / "models" / "sudoku-mdm")
    valid_p, _ = sudoku_puzzles("valid", **opts, seed=seed, n_valid=setup.n_valid)
    test_p, test_s = sudoku_puzzles("test", **opts, seed=seed)
    test_p, test_s = test_p[: setup.n_eval], test_s[: setup.n_eval]
    valid = {str(t): sudoku_ap_eval(ap, valid_p, temperature=t, max_steps=setup.generate_steps, seed=seed)[0]
             for t in setup.temperatures}
    best = max(setup.temperatures, key=lambda t: (valid[str(t)]["solve_rate"], -t))
    ap_test = {str(t): sudoku_ap_eval(ap, test_p, temperature=t, max_steps=setup.generate_steps,
                                      seed=seed + 1)
               for t in setup.temperatures}
    mdm_test, mdm_ok = sudoku_mdm_eval(mdm, test_p, test_s)
    ap_row, ap_ok = ap_test[str(best)]
    diff = float(ap_ok.double().mean() - mdm_ok.double().mean())
    return {"n_train_puzzles": setup.n_train, "n_eval": len(test_p),
            "clues": [setup.min_clues, setup.max_clues],
            "ap_mdm": {**ap_row, "chosen_temperature": best,
                       "by_temperature": {t: row for t, (row, _) in ap_test.items()},
                       "valid": valid, "train": ap_summary},
            "mdm": {**mdm_test, "train": mdm_summary},
            "ap_minus_mdm": {"diff": diff, **paired(ap_ok, mdm_ok)}}
