"""Models the experiments train with :mod:`mdm.train`: trained to the end, or loaded when finished.

A *task setup* (:func:`task_model`; e.g. :class:`mdm.experiments.eb_sampler.TaskSetup`) has
``name``, ``config`` (a packaged training config or a YAML path), ``overrides`` (``key=value``),
``shared_checkpoint`` (train in the config's own ``out_dir``, shared with ``mdm train CONFIG``) and
``n_valid`` (validation items, disjoint from train and test).  A training stopped early raises
:class:`~mdm.experiments.runner.TrainingInterrupted`, so the part is not cached.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from mdm.eval.splits import task_eval_splits
from mdm.experiments.runner import TrainingInterrupted
from mdm.train import checkpoint, load_config
from mdm.train.loop import METRICS_FILE, check_compatible, read_metrics

__all__ = ["SmallModel", "finished_checkpoint", "seeded", "task_kind", "task_model", "train_summary",
           "train_to_end"]


@dataclass(frozen=True, kw_only=True)
class SmallModel:
    """Size and learning rate of a small transformer an experiment trains from a packaged config
    (e.g. ``exact-language``); a setup that trains one derives from it.  :meth:`model_overrides`:
    the ``key=value`` overrides that set them."""

    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    lr: float = 3e-3

    def model_overrides(self) -> list[str]:
        return [f"model.d_model={self.d_model}", f"model.n_layers={self.n_layers}",
                f"model.n_heads={self.n_heads}", f"optim.lr={self.lr!r}"]


def task_kind(setup) -> str:
    """The registered task (``data.task``) the setup's training config trains on."""
    return load_config(setup.config, list(setup.overrides)).data.task


def train_summary(run_dir: Path, checkpoint_dir: Path, model) -> dict:
    """What a finished training in ``run_dir`` gives a report: its checkpoint, size, steps, tokens,
    wall time, final train loss and validation row, and its training config."""
    meta = checkpoint.read_config(checkpoint_dir)
    rows = read_metrics(run_dir / METRICS_FILE)
    train_rows = [r for r in rows if r.get("split") == "train"]
    val_rows = [r for r in rows if r.get("split") == "val"]
    return {
        "checkpoint": str(checkpoint_dir),
        "parameters": sum(p.numel() for p in model.parameters()),
        "steps": meta.get("metadata", {}).get("step"),
        "tokens_seen": meta.get("metadata", {}).get("tokens_seen"),
        "train_wall_s": train_rows[-1]["elapsed_s"] if train_rows else None,
        "final_train_loss": train_rows[-1]["loss"] if train_rows else None,
        "final_val": val_rows[-1] if val_rows else None,
        "train_config": meta.get("train"),
    }


def train_to_end(cfg, run_dir: Path, progress: bool = False, resume: bool | str = False):
    """:func:`mdm.train.train` of ``cfg`` into ``run_dir`` (``resume``: as there, default afresh);
    its ``TrainResult``.  A training stopped
    before ``cfg.max_steps`` raises :class:`~mdm.experiments.runner.TrainingInterrupted`, so the
    part that asked for it is not cached."""
    from mdm.train import train  # looked up at call time (tests replace it)

    res = train(cfg, out_dir=run_dir, progress=progress, resume=resume)
    if res.interrupted:
        raise TrainingInterrupted(f"training in {run_dir} stopped at step {res.steps} of {cfg.max_steps}")
    return res


def finished_checkpoint(cfg, run_dir: Path, progress: bool = False) -> Path:
    """``run_dir/checkpoint`` after ``cfg.max_steps`` steps: loaded as it is when finished, else
    trained (an interrupted run resumed).  A checkpoint of another model, data, loss or seed raises
    :class:`~mdm.errors.ConfigError` (never silently reused); a training stopped early raises
    :class:`~mdm.experiments.runner.TrainingInterrupted` (so the part is not cached)."""
    ckpt_dir = Path(run_dir) / "checkpoint"
    finished = False
    if ckpt_dir.is_dir():
        meta = checkpoint.read_config(ckpt_dir)
        check_compatible(meta.get("train"), cfg, ckpt_dir)
        finished = meta.get("metadata", {}).get("step") == cfg.max_steps
    if not finished:
        train_to_end(cfg, run_dir, progress, resume="auto")
    return ckpt_dir


def seeded(name: str, seed: int) -> str:
    """The folder of a model trained with the experiment's ``seed``: ``name`` for seed 0 (the
    packaged configs' seed, so ``mdm train CONFIG`` and seed 0 share a model), ``name-seedN`` else."""
    return name if seed == 0 else f"{name}-seed{seed}"


def task_model(setup, out_dir: Path, progress: bool = True, seed: int = 0):
    """``(model, validation split, test split, training summary)`` of the setup's model
    (:func:`finished_checkpoint`).  ``seed`` != 0 trains with ``seed=SEED`` in its own folder
    (:func:`seeded`); seed 0 keeps the config's own seed."""
    cfg = load_config(setup.config, [*setup.overrides, *([f"seed={seed}"] if seed else [])])
    run_dir = (Path(seeded(cfg.out_dir, seed)) if setup.shared_checkpoint
               else out_dir / "models" / seeded(setup.name, seed))
    ckpt_dir = finished_checkpoint(cfg, run_dir, progress)
    model, _ = checkpoint.load(ckpt_dir)
    model.eval()
    if torch.cuda.is_available():
        model.cuda()
    valid, test, _ = task_eval_splits(str(ckpt_dir), None, setup.n_valid)  # the checkpoint's own task
    return model, valid, test, train_summary(run_dir, ckpt_dir, model)
