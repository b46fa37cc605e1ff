"""The parts of ``mdm exp variance``: ``mdm`` (the shared pretrained MDM, A/B/C at init, P-POTS, SFT
per arm and seed) and ``ar`` (the autoregressive floor), and the result assembled from them.

Each part keeps the per-problem correctness of every run (``correct``: ``{when: {split: [seeds x
problems]}}``) so that :func:`assemble` can pair each arm with the standard one on the same seeds
and problems; the result itself keeps the summaries.
"""

from __future__ import annotations

import copy
import statistics
import time
from dataclasses import asdict
from types import SimpleNamespace

import torch

from mdm.eval.stats import paired_difference_clustered, standard_error
from mdm.eval.verified import decode_verified
from mdm.experiments.common import interval
from mdm.experiments.variance.arms import (
    ARMS,
    ar_accuracy,
    ar_loss_variance,
    make_model,
    pretrain_ar,
    pretrain_mdm,
    sft,
    sft_ar,
)
from mdm.experiments.variance.presets import DECOMP_EPS, Preset
from mdm.experiments.variance.threshold import summarize_curves
from mdm.sampling import TopK
from mdm.tasks.arithmetic import ArithmeticConfig, ArithmeticDataset, make_valid
from mdm.variance import PPOTS, decompose, estimator_variance

__all__ = ["ar_part", "assemble", "mdm_part"]

SPLITS = ("test", "valid")
SEED_STRIDE = 1000  # more than any preset's seeds per arm


def _tensors(ds: ArithmeticDataset):
    items = [ds[i] for i in range(len(ds))]
    return torch.stack([it["input_ids"] for it in items]), torch.stack([it["eligible"] for it in items])


def _data(p: Preset, seed: int) -> SimpleNamespace:
    """Splits, tensors and the model shape shared by both parts.

    Answers least-significant digit first: the order carries propagate (learnable in our budget).
    The probes that fixed the shared settings saw the task's "test" draw, so here it is validation;
    the held-out test split is the task's n_valid draw (after both, disjoint from both), which leaves
    train and validation exactly as the probes had them."""
    acfg = ArithmeticConfig(max_digits=2, ops=("+",), n_train=p.n_train, n_test=p.n_valid, n_valid=p.n_test,
                            seed=seed, reverse=True)
    train_ds, valid_ds = ArithmeticDataset.splits(acfg)
    test_ds = ArithmeticDataset(make_valid(acfg, train_ds.problems, valid_ds.problems), acfg)
    x_train, el_train = _tensors(train_ds)
    x_valid, el_valid = _tensors(valid_ds)  # A/B/C on the same problems as before the split fix
    return SimpleNamespace(
        acfg=acfg, evals={"test": test_ds, "valid": valid_ds}, tok=train_ds.tokenizer,
        fit_ds=ArithmeticDataset(train_ds.problems[:p.n_valid], acfg),  # accuracy on seen problems
        x_train=x_train, el_train=el_train, x_valid=x_valid, el_valid=el_valid, rows=slice(0, p.decomp_rows),
        shape=dict(seq_len=acfg.seq_len, d_model=p.d_model, n_layers=p.n_layers, n_heads=p.n_heads),
        pre=dict(steps=p.pretrain_steps, batch=p.pretrain_batch, lr=p.pretrain_lr, seed=seed),
        half=p.sft_steps // 2, full=p.sft_steps,
        loop=dict(steps=p.sft_steps, batch=p.sft_batch, lr=p.sft_lr,
                  checkpoints=(p.sft_steps // 2, p.sft_steps)))


def mdm_part(p: Preset, seed: int, ctx) -> dict:
    d = _data(p, seed)
    t0 = time.perf_counter()
    base = pretrain_mdm(make_model(d.tok, **d.shape, seed=seed), d.x_train, **d.pre)
    dkw = dict(n_t=p.decomp_n_t, n_masks=p.decomp_masks, replicates=p.decomp_reps, eps=DECOMP_EPS)

    def abc(model, s):
        return decompose(model, d.x_valid[d.rows], eligible=d.el_valid[d.rows], seed=s, **dkw).as_dict()

    init_abc = abc(base, seed)
    ppots = PPOTS(eps=1e-3).calibrate(base, d.x_train, eligible=d.el_train, grid=p.ppots_grid,
                                      n_examples=p.ppots_examples, n_masks=p.ppots_masks,
                                      restarts=p.ppots_restarts, seed=seed)
    pretrain_s = time.perf_counter() - t0
    fixed = slice(0, 64)
    arms, correct = {}, {}

    def accuracy(m, ds):  # greedy, one most-confident position per step, stop at eos; exact match
        return decode_verified(m, ds, TopK(1), stop=d.tok.eos_id, pad_id=d.tok.pad_id).correct.tolist()

    for arm in ARMS:
        runs, acc_by_seed = [], []
        for s in _sft_seeds(p, seed):
            model, acc = copy.deepcopy(base), {}
            t1 = time.perf_counter()
            stats = sft(model, d.x_train, d.el_train, arm, ppots, seed=s, **d.loop,
                        on_checkpoint=_recorder(acc, d.evals, accuracy))
            stats.update(seed=s, **_checkpoint_acc(acc, d.evals, d.half, d.full),
                         wall_s=time.perf_counter() - t1,
                         train_acc=statistics.fmean(accuracy(model, d.fit_ds)))
            if s - _sft_seeds(p, seed)[0] < p.decomp_end_seeds:
                stats["end_abc"] = abc(model, s)
            runs.append(stats)
            acc_by_seed.append(acc)
        est = estimator_variance(base, d.x_train[fixed], eligible=d.el_train[fixed],
                                 time_sampler=arm.time(ppots), mask_sampler=arm.mask(), draws=p.est_draws,
                                 seed=seed)
        arms[arm.name] = _arm_summary(runs, arm.copies, est)
        correct[arm.name] = _correct(acc_by_seed, d, arm.copies)
        acc_of = {split: arms[arm.name][split]["equal_steps"]["mean"] for split in SPLITS}
        ctx.log(f"[variance] {arm.name}: test acc {acc_of['test']:.3f}, valid {acc_of['valid']:.3f} "
                f"({time.perf_counter() - t0:.0f} s)")
    return {"init_abc": init_abc, "ppots": ppots.state_dict(), "ppots_fit_kl": ppots.fit_kl, "arms": arms,
            "correct": correct, "splits": {name: _composition(ds) for name, ds in d.evals.items()},
            "pretrain_s": pretrain_s, "task": asdict(d.acfg) | {"seq_len": d.acfg.seq_len}}


def ar_part(p: Preset, seed: int, ctx) -> dict:
    d = _data(p, seed)
    base_ar = pretrain_ar(make_model(d.tok, **d.shape, causal=True, seed=seed), d.x_train, **d.pre)
    runs, acc_by_seed = [], []
    for s in _sft_seeds(p, seed):
        model, acc = copy.deepcopy(base_ar), {}
        stats = sft_ar(model, d.x_train, d.el_train, seed=s, **d.loop,
                       on_checkpoint=_recorder(acc, d.evals, ar_accuracy))
        stats.update(seed=s, **_checkpoint_acc(acc, d.evals, d.half, d.full),
                     train_acc=statistics.fmean(ar_accuracy(model, d.fit_ds)),
                     end_C=ar_loss_variance(model, d.x_valid[d.rows], d.el_valid[d.rows]))
        runs.append(stats)
        acc_by_seed.append(acc)
    ar = _arm_summary(runs, 1, None)
    ar["end_C_mean"] = statistics.fmean(r["end_C"] for r in runs)
    ar["init_C"] = ar_loss_variance(base_ar, d.x_valid[d.rows], d.el_valid[d.rows])
    return {"ar": ar, "correct": _correct(acc_by_seed, d, 1)}


def assemble(p: Preset, results: dict, seed: int) -> dict:
    """The result: the parts' summaries (their per-problem ``correct`` left in the part cache) with
    every arm (and AR) minus the standard arm, paired on seeds and problems."""
    mdm, ar = results.get("mdm"), results.get("ar")
    out = {"config": {"ppots_eps": 1e-3, "decompose_eps": DECOMP_EPS,
                      "eval": "exact match, greedy TopK(1) decoding, stop at eos",
                      "splits": {"valid": "the task's test draw: the setting probes saw it",
                                 "test": "the task's n_valid draw: held out from every choice",
                                 "abc_rows": "validation"}}}
    if mdm is not None:
        out.update({k: v for k, v in mdm.items() if k not in ("correct", "pretrain_s", "task")})
        out["config"]["task"] = mdm["task"]
        out["wall_s"] = {"pretrain": mdm["pretrain_s"]}
        standard = mdm["correct"]["standard"]
        groups = [(name, mdm["arms"][name], c) for name, c in mdm["correct"].items()]
        if ar is not None:
            groups.append(("AR", ar["ar"], ar["correct"]))
        for name, summary, c in groups:
            if name == "standard":
                continue
            summary["vs_standard"] = {split: {when: _paired(c[when][split], standard["equal_steps"][split])
                                              for when in ("equal_steps", "equal_compute")}
                                       for split in SPLITS}
    if ar is not None:
        out["ar"] = ar["ar"]
    curves = summarize_curves(p, results)
    if curves is not None:
        out["curves"] = curves
    if results.get("long") is not None:
        out["long"] = results["long"]
    return out


def _sft_seeds(p: Preset, seed: int) -> range:
    """The SFT seeds of runner seed ``seed`` (which also seeds the data split and the pretraining):
    ``seed * SEED_STRIDE + 0 .. p.seeds - 1``, so the runs of different seeds share no SFT seed."""
    return range(SEED_STRIDE * seed, SEED_STRIDE * seed + p.seeds)


def _paired(a: list, b: list) -> dict:
    """``a - b`` over ``[seeds, problems]`` correctness (:func:`paired_difference_clustered`)."""
    est = paired_difference_clustered(torch.tensor(a, dtype=torch.float64).numpy(),
                                      torch.tensor(b, dtype=torch.float64).numpy())
    return {"diff": est.mean, "ci": [est.lo, est.hi], "p": est.p_value}


def _correct(acc_by_seed: list[dict], d, copies: int) -> dict:
    """Per-problem correctness ``[seeds][problems]`` at equal steps and at equal compute."""
    at_compute = d.full if copies == 1 else d.half
    return {when: {split: [acc[step][split] for acc in acc_by_seed] for split in SPLITS}
            for when, step in (("equal_steps", d.full), ("equal_compute", at_compute))}


def _summary(acc: list[float]) -> dict:
    n = len(acc)
    return {"mean": statistics.fmean(acc), "min": min(acc), "max": max(acc),
            "se": standard_error(acc) if n > 1 else 0.0, "per_seed": acc,
            "ci": interval(acc)}


def _recorder(acc: dict, evals: dict, accuracy):
    """``on_checkpoint`` that stores ``{split: per-problem correctness}`` at each checkpoint step."""
    return lambda step, model: acc.update({step: {name: accuracy(model, ds) for name, ds in evals.items()}})


def _digits(ds: ArithmeticDataset) -> list[str]:
    return [f"{len(str(q.a))}+{len(str(q.b))}" for q in ds.problems]


def _checkpoint_acc(acc: dict, evals: dict, half: int, full: int) -> dict:
    """``{split}_acc_{half,full}`` and, at the last step, ``{split}_acc_by_digits`` (operand digits)."""
    out = {f"{name}_acc_{when}": statistics.fmean(acc[step][name]) for name in evals
           for when, step in (("half", half), ("full", full))}
    for name, ds in evals.items():
        by: dict[str, list[bool]] = {}
        for key, ok in zip(_digits(ds), acc[full][name]):
            by.setdefault(key, []).append(ok)
        out[f"{name}_acc_by_digits"] = {k: statistics.fmean(v) for k, v in sorted(by.items())}
    return out


def _composition(ds: ArithmeticDataset) -> dict:
    """Size and operand digit counts: the held-out split is drawn from what train and validation left,
    so its mix of short and long operands can differ from theirs."""
    counts: dict[str, int] = {}
    for key in _digits(ds):
        counts[key] = counts.get(key, 0) + 1
    return {"n": len(ds), "digits": dict(sorted(counts.items()))}


def _mean_by_digits(per_run: list[dict]) -> dict:
    return {k: statistics.fmean(d[k] for d in per_run) for k in per_run[0]}


def _arm_summary(runs: list[dict], copies: int, est_var: float | None) -> dict:
    """Accuracy at equal steps (all arms at the last step) and at equal compute (forward passes:
    an arm with ``copies`` masks per row is read at ``1/copies`` of the steps)."""
    keys = ("loss_var", "grad_norm_var", "grad_norm_mean")
    at_compute = "full" if copies == 1 else "half"
    out = {"runs": runs, "copies": copies,
           **{split: {"equal_steps": _summary([r[f"{split}_acc_full"] for r in runs]),
                      "equal_compute": _summary([r[f"{split}_acc_{at_compute}"] for r in runs]),
                      "equal_steps_by_digits": _mean_by_digits([r[f"{split}_acc_by_digits"] for r in runs])}
              for split in SPLITS},
           "train_acc": _summary([r["train_acc"] for r in runs]),
           **{k: statistics.fmean(r[k] for r in runs) for k in keys}}
    if est_var is not None:
        out["estimator_var_init"] = est_var
    measured = [r["end_abc"] for r in runs if "end_abc" in r]
    if measured:
        out["end_abc"] = {k: statistics.fmean(d[k] for d in measured) for k in ("A", "B", "C", "total")}
    return out
