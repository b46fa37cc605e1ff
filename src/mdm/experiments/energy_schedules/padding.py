"""Parts ``padding``, ``padding-control``, ``padding-unaligned`` (issue 17): the padding regime with
a trained arithmetic model (Chen et al., arXiv 2509.13866 measured LLaDA-8B there).

Answers are padded with end-of-text to a fixed length; decoding is LLaDA-style: confidence-ordered
:class:`mdm.sampling.Scheduled`, semi-AR blocks, ``stop=eos``, argmax values.  Per (schedule, N):
test accuracy (paired with linear on the same problems), one block's unmask counts, and how many
end-of-text positions the schedule reveals in the first half of each block's steps
(:meth:`mdm.sampling.trace.Trace.first_half_reveals`).  The tuned Beta is chosen on a validation
split and scored on test.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from mdm.errors import ConfigError
from mdm.experiments.common import interval, paired
from mdm.schedules import BetaEnergy, Cosine, Linear, Schedule, unmask_counts
from mdm.tuning import TuneConfig, tune_schedule

PADDING_SCHEDULES: dict[str, Schedule] = {"linear": Linear(), "cosine": Cosine(),
                                          "Beta(0.9,0.3)": BetaEnergy(0.9, 0.3),
                                          "Beta(1,0.2)": BetaEnergy(1.0, 0.2)}


@dataclass(frozen=True)
class PaddingSetup:
    """Model, decoding and tuning of the padding part.

    The model is the packaged training config ``config`` (with ``overrides``, ``key=value``): with
    ``shared_checkpoint`` its own ``out_dir`` (so ``mdm train CONFIG`` and this part share one model),
    else ``out_dir/models/NAME``; trained there when its checkpoint is missing.  Its task must be
    ``arithmetic`` with an answer region that is a multiple of ``block_size``.
    """

    name: str = "padding"  # the part's name: its model folder, tuner cache and plot
    title: str = "4. The padding regime (arithmetic, answers padded with end-of-text)"  # report heading
    config: str = "arithmetic-padded"
    overrides: tuple[str, ...] = ()
    shared_checkpoint: bool = True
    block_size: int = 16
    steps: tuple[int, ...] = (8, 16, 32, 64)
    n_valid: int = 500  # validation problems (disjoint from train and test): the tuner's data
    test_items: int = 1000
    tune_steps: int = 8
    tune_grid: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7, 0.9, 1.0)
    tune_samples: int = 128
    tune_refine_top: int = 3
    tune_refine_samples: int = 400
    decode_batch: int = 500
    checkpoint: str | None = None  # a finished arithmetic checkpoint to use instead of training one


def decode(model, dataset, schedule: Schedule, steps: int, setup: PaddingSetup, items, seed: int):
    """LLaDA-style decoding of ``items`` (indices into ``dataset``): confidence-ordered
    :class:`~mdm.sampling.Scheduled`, blocks of ``setup.block_size``, stop at ``eos``, argmax values.
    Returns ``(correct [n] bool, padding reveals [n], first-half reveals [n], nfe [n])``."""
    from mdm.sampling import Scheduled, sample

    tok = dataset.tokenizer
    prompts = dataset.prompts()[items]
    gen = torch.Generator().manual_seed(seed)
    out = {"ok": [], "pad": [], "early": [], "nfe": []}
    n_blocks = dataset.answer_len // setup.block_size
    for start in range(0, len(items), setup.decode_batch):
        res = sample(model, prompt=prompts[start:start + setup.decode_batch], length=dataset.answer_len,
                     unmasker=Scheduled(steps, schedule, "confidence"), block_size=setup.block_size,
                     temperature=0.0, stop=tok.eos_id, pad_id=tok.pad_id, generator=gen, trace=True)
        pad, early = res.trace.first_half_reveals((tok.eos_id, tok.pad_id), steps // n_blocks)
        for key, v in (("ok", dataset.verify(res.tokens)), ("pad", pad), ("early", early), ("nfe", res.nfe)):
            out[key].append(v.cpu())
    return tuple(torch.cat(out[k]) for k in ("ok", "pad", "early", "nfe"))


def padding_model(setup: PaddingSetup, out_dir: Path, seed: int = 0):
    """``(model, validation split, test split, training summary)``: loaded when finished, else trained
    (the same path as ``mdm exp eb-sampler``'s tasks, whose :class:`TaskSetup` it uses)."""
    from mdm.experiments.eb_sampler import TaskSetup
    from mdm.experiments.training import task_kind, task_model

    task = TaskSetup(setup.name, setup.config, setup.overrides, shared_checkpoint=setup.shared_checkpoint,
                     n_valid=setup.n_valid)
    if task_kind(task) != "arithmetic":
        raise ConfigError(f"the padding part needs an arithmetic config, {setup.config!r} trains "
                          f"{task_kind(task)!r}")
    return task_model(task, out_dir, progress=False, seed=seed)


def _tune(model, valid, setup: PaddingSetup, seed: int, cache: Path):
    """:func:`mdm.tuning.tune_schedule` on validation accuracy at ``setup.tune_steps``."""
    def objective(schedule: BetaEnergy, n: int, s: int) -> float:
        idx = torch.randperm(len(valid), generator=torch.Generator().manual_seed(s))[: min(n, len(valid))]
        return float(decode(model, valid, schedule, setup.tune_steps, setup, idx, s)[0].double().mean())

    config = TuneConfig(steps=setup.tune_steps, grid_a=setup.tune_grid, grid_b=setup.tune_grid,
                        samples=setup.tune_samples, refine_top=setup.tune_refine_top,
                        refine_samples=setup.tune_refine_samples, maximize=True, seed=seed)
    return tune_schedule(objective, config, cache=cache, name="padding/accuracy", progress=False)


def _answer_lengths(dataset) -> dict:
    lengths = torch.tensor([len(p.answer(dataset.config.reverse)) + 1 for p in dataset.problems]).double()
    return {"mean_answer_tokens_with_eos": float(lengths.mean()),
            "max_answer_tokens_with_eos": int(lengths.max()),
            "padding_share": float(1 - lengths.mean() / dataset.answer_len)}


def run_padding(setup: PaddingSetup, out_dir: Path, seed: int, checkpoint_dir: str | None = None) -> dict:
    """Train or load the setup's model (or load ``checkpoint_dir``), tune on validation, sweep on test."""
    from mdm.eval.splits import task_eval_splits
    from mdm.train import checkpoint

    t0 = time.perf_counter()
    if checkpoint_dir is None:
        model, valid, test, summary = padding_model(setup, out_dir, seed)
        checkpoint_dir = summary["checkpoint"]
    else:
        model, _ = checkpoint.load(checkpoint_dir)
        model.eval()
        valid, test, _ = task_eval_splits(checkpoint_dir, "arithmetic", setup.n_valid)
        summary = None
    if test.answer_len % setup.block_size:
        raise ConfigError(f"answer_len {test.answer_len} is not a multiple of block_size {setup.block_size}")
    tuned = _tune(model, valid, setup, seed, out_dir / "cache" / f"tune-{setup.name}.json")
    schedules = {**PADDING_SCHEDULES, f"tuned=Beta({tuned.a:g},{tuned.b:g})": tuned.schedule()}
    items = torch.arange(min(setup.test_items, len(test)))
    n_blocks = test.answer_len // setup.block_size
    rows, correct = [], {}
    for label, schedule in schedules.items():
        for n in setup.steps:
            ok, pad, early, nfe = decode(model, test, schedule, n, setup, items, seed * 1000 + n)
            correct[label, n] = ok
            acc = float(ok.double().mean())
            rows.append({"order": "confidence", "schedule": label.split("=")[0], "label": label, "steps": n,
                         "accuracy": acc, "accuracy_se": math.sqrt(max(acc * (1 - acc), 1e-12) / len(ok)),
                         "n": len(ok),
                         "counts_per_block": unmask_counts(schedule, setup.block_size, n // n_blocks),
                         "padding_first_half": float(pad.double().mean()),
                         "revealed_first_half": float(early.double().mean()),
                         "nfe": float(nfe.double().mean())})
    for r in rows:  # paired on the same test problems: the SE of the mean per-problem difference
        diff = correct[r["label"], r["steps"]].double() - correct["linear", r["steps"]].double()
        r["vs_linear"] = float(diff.mean())
        r["vs_linear_se"] = float(diff.std() / math.sqrt(len(diff))) if len(diff) > 1 else 0.0
        r["accuracy_ci"] = interval(correct[r["label"], r["steps"]])
        if r["schedule"] != "linear" and len(diff) > 1:  # bootstrap CI and sign-flip p of the pairs
            pair = paired(correct[r["label"], r["steps"]], correct["linear", r["steps"]])
            r["vs_linear_ci"], r["vs_linear_p"] = pair["ci"], pair["p"]
    return {"setup": asdict(setup), "checkpoint": checkpoint_dir, "train": summary, "rows": rows,
            "tuned": {"a": tuned.a, "b": tuned.b, "valid_accuracy": tuned.score,
                      **{k: v for k, v in tuned.to_dict().items() if k in ("grid", "refined")}},
            "task": {"answer_len": test.answer_len, "prompt_len": test.prompt_len, **_answer_lengths(test)},
            "plot": f"sweep_{setup.name}.png", "wall_s": time.perf_counter() - t0}

