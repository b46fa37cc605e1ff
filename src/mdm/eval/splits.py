"""A trained task model's evaluation splits, rebuilt from the training config its checkpoint saved.

Settings (a schedule, a sampler's threshold) are chosen on the validation split and reported on the
test split (:func:`task_eval_splits`); both are the task's own seeded splits, disjoint from the data
the model trained on.
"""

from __future__ import annotations

from mdm.errors import ConfigError

__all__ = ["task_test_split", "task_eval_splits"]


def task_test_split(checkpoint_dir: str, task: str | None):
    """The test split of the checkpoint's task, rebuilt from its saved training config."""
    # The test split does not depend on the train size: skip building the train split.
    bundle, task = _checkpoint_task(checkpoint_dir, task, n_train=0)
    return bundle.val, task


def task_eval_splits(checkpoint_dir: str, task: str | None, n_valid: int):
    """``(validation, test, task)`` of the checkpoint's task, rebuilt from its saved training config:
    the test split, and ``n_valid`` validation items disjoint from the train and test splits the
    model was trained and tested with (so the train split is rebuilt too, from the task's cache
    where it keeps one).  Choose settings on the first, report them on the second."""
    if n_valid < 1:
        raise ConfigError(f"n_valid must be >= 1, got {n_valid}")
    bundle, task = _checkpoint_task(checkpoint_dir, task, n_valid=n_valid)
    return bundle.valid, bundle.val, task


def _checkpoint_task(checkpoint_dir: str, task: str | None, **options):
    import importlib

    from mdm.loading import read_config
    from mdm.tasks.base import build_task

    train_cfg = read_config(checkpoint_dir).get("train") or {}
    data = train_cfg.get("data") or {}
    task = task or data.get("task")
    if task not in _VERIFIED_TASKS:
        raise ConfigError(f"task {task!r} has no verifier: pass --task {'|'.join(_VERIFIED_TASKS)}, or use "
                          "--language for a model trained on an exact language")
    importlib.import_module(_VERIFIED_TASKS[task])  # registers the task
    options = {**(data.get("options") or {}), **options}
    bundle = build_task(task, seq_len=data.get("seq_len"), seed=train_cfg.get("seed", 0), **options)
    return bundle, task


_VERIFIED_TASKS = {"sudoku": "mdm.tasks.sudoku", "arithmetic": "mdm.tasks.arithmetic",
                   "copy": "mdm.tasks.copy"}
