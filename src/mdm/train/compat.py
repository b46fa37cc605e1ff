"""May a checkpoint continue under this config and this data?  One check, run before a resume writes.

A resume restores the model, the optimizer moments *and its hyper-parameters* (AdamW's param groups,
the LR scheduler's base rates) from the checkpoint, and rebuilds the data and the tokenizer from the
config and the files it names.  So a changed ``optim.*`` value would have no effect (yet be recorded
in ``config.yaml``), and a changed corpus would silently give the trained embeddings another
alphabet or other batches.  :func:`check_resume` compares, and refuses with one
:class:`~mdm.errors.ConfigError` that lists every difference:

* refused (:data:`FIXED`): ``model.*``, ``data.*``, ``loss.*``, ``optim.*``, ``seed``,
  ``batch_size``, ``grad_accum`` -- and the *data fingerprint*: the tokenizer the data builds now
  (alphabet / vocabulary, compared with the one the checkpoint stores) and the SHA-256 of the
  training split's token ids (recorded at each save by checkpoints written since this check);
* applied: everything else (``max_steps`` -- the LR schedule's horizon follows it --, ``stop_after``,
  ``ema`` decay, the eval / log / save cadence, ``max_nonfinite_steps``, ``precision``, ``device``,
  ``threads`` -- ``auto`` keeps the count the checkpoint's run used --, ``distributed``, ``out_dir``).
  What is refused is never written to ``config.yaml``.

To change a refused value, start a new run (another ``--out``), e.g. from the weights of this one.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from mdm.errors import CheckpointError, ConfigError, MDMError

__all__ = ["FIXED", "TRAINED_BY", "check_resume", "data_fingerprint", "differences", "model_identity"]

FIXED = ("model", "data", "loss", "optim", "seed", "batch_size", "grad_accum")
# what the trained weights depend on: FIXED, how long, the EMA that is saved, and the arithmetic
TRAINED_BY = (*FIXED, "max_steps", "ema", "precision", "compile")


def model_identity(config: dict) -> dict:
    """The fields of a training config (``TrainConfig.to_dict()``) that the finished model depends on
    (:data:`TRAINED_BY`), without those that only say how the run is carried out (threads, device,
    cadence of logs, evals and saves, ``out_dir``): what a cached result computed from the model is
    keyed by, so changing ``threads`` or ``log_every`` does not recompute it.  (The loop re-seeds its
    noise from ``(seed, step, micro-batch)``, so evaluating or logging more often changes nothing.)"""
    return {k: config[k] for k in TRAINED_BY if k in config}


def _sha256_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def data_fingerprint(bundle) -> dict[str, str | None]:
    """``{"tokenizer_sha256", "train_sha256"}`` of a :class:`~mdm.tasks.base.DataBundle`: the
    tokenizer's serialised form and the training split's token ids (None for a split that is not
    held as one tensor)."""
    ids = getattr(bundle.train, "input_ids", None)
    train = None
    if ids is not None and hasattr(ids, "numpy"):
        train = hashlib.sha256(ids.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
    return {"tokenizer_sha256": _sha256_json(bundle.tokenizer.to_dict()), "train_sha256": train}


def _normalised(d: dict) -> dict:
    """A training config dict with every default filled in and old spellings upgraded (no
    ``model.family``, ``loss.schedule: per-position`` without ``loss.kind``, fewer keys), so a config
    written by an older trainer compares equal to the same config now; as written if this trainer
    cannot build it."""
    from mdm.train.config import load_config

    try:
        return load_config(d).to_dict()
    except MDMError:
        return d


def _flat(d: Any, prefix: str) -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}.{k}"))
    return out or {prefix: {}}


def differences(saved: dict, now: dict) -> list[str]:
    """``"key: saved -> now"`` for every :data:`FIXED` key that differs."""
    out = []
    saved, now = _normalised(saved), _normalised(now)
    for key in FIXED:
        was, is_ = _flat(saved.get(key), key), _flat(now.get(key), key)
        for k in sorted(set(was) | set(is_)):
            if was.get(k, "<unset>") != is_.get(k, "<unset>"):
                out.append(f"{k}: {was.get(k, '<unset>')!r} -> {is_.get(k, '<unset>')!r}")
    return out


def check_resume(saved: dict | None, cfg, path: str | Path, *, checkpoint: dict | None = None,
                 fingerprint: dict | None = None) -> None:
    """Raise unless the checkpoint at ``path`` (its training config ``saved``; its whole
    ``config.json`` as ``checkpoint`` when at hand) can continue as ``cfg`` on data whose
    :func:`data_fingerprint` is ``fingerprint``.  The message lists every difference."""
    if not saved:
        raise CheckpointError(f"checkpoint {path} has no training config; it cannot be resumed")
    diffs = differences(saved, cfg.to_dict())
    if checkpoint is not None and fingerprint is not None:
        stored_tok = checkpoint.get("tokenizer")
        if stored_tok is not None and _sha256_json(stored_tok) != fingerprint["tokenizer_sha256"]:
            diffs.append("the tokenizer the data builds now (its alphabet / vocabulary changed: was the "
                         "corpus edited?)")
        stored = (checkpoint.get("metadata") or {}).get("data") or {}
        was, now = stored.get("train_sha256"), fingerprint.get("train_sha256")
        if was is not None and now is not None and was != now:
            diffs.append(f"the training data's content (sha256 {was[:12]}... -> {now[:12]}...)")
    if diffs:
        parts = list(dict.fromkeys(d.split(".")[0].split(":")[0] for d in diffs if not d.startswith("the ")))
        what = f"its {', '.join(parts)} config differs from this run's" if parts else "its data differs"
        raise ConfigError(
            f"cannot resume from {path}: {what}: {'; '.join(diffs)}. These cannot "
            "change mid-run (the optimizer and the data come from the checkpoint): start a new run "
            "with another --out, or resume without the change"
        )
