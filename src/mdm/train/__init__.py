"""Training: typed config, the trainer (AMP, EMA, accumulation, torchrun DDP/FSDP2), checkpoints.

API (stable; the CLI and experiments build on it)::

    from mdm.train import TrainConfig, load_config, train, build_data, build_model
    cfg = load_config("kjv-char-tiny", ["optim.lr=3e-4", "max_steps=200"])  # YAML path, packaged
    res = train(cfg, out_dir="runs/x", progress=True, resume="auto")         # name, dict or None
    res.checkpoint     # Path of the checkpoint directory (out_dir/checkpoint)
    res.metrics        # list of dict rows, as in out_dir/metrics.jsonl (train and val rows)
    res.wall_time, res.tokens_seen, res.steps, res.interrupted, res.final_val, res.threads

    from mdm.train import checkpoint
    model, tokenizer = checkpoint.load(path)            # == mdm.load(path) (mdm.loading); EMA if present
    checkpoint.save(path, model, tokenizer, train_config=cfg.to_dict())
    checkpoint.read_config(path)                        # config.json: model, tokenizer, train, metadata

* :mod:`mdm.train.config` -- ``TrainConfig`` (sections ``model``, ``data``, ``optim``, ``loss``);
  ``load_config(source, overrides)`` with ``key=value`` overrides (``ConfigError`` lists valid keys);
  ``packaged_configs()`` names the YAML files in ``mdm/configs/``.
* :mod:`mdm.train.objective` -- ``Objective`` and ``OBJECTIVES``: ``loss.kind`` names the training
  objective (``nelbo``, ``bd3lm``, ``learned-order``, ``ap-mdm``, or yours); the rest of the ``loss``
  section is that objective's own keys.  :mod:`mdm.train.nelbo` -- the NELBO objectives and the
  registries ``TIME_SAMPLERS``, ``MASK_SAMPLERS``.
* :mod:`mdm.train.loop` -- ``train``, the step loop, which asks the objective for everything.
* :mod:`mdm.train.families` -- a config's ``model`` section, derived from the config class of a family of
  :data:`mdm.models.families.MODEL_FAMILIES` (``model.family``); ``build_model``.
* :mod:`mdm.train.precision` -- ``resolve_precision``: ``precision: auto`` is bf16 only where native.
* :mod:`mdm.train.threads` -- ``threads: auto``: one intra-op thread per idle core, chosen when a run starts.
* :mod:`mdm.train.checkpoint` -- atomic, checksummed checkpoint directories (``CheckpointError``).
* :mod:`mdm.train.data`, :mod:`mdm.train.validate`, :mod:`mdm.train.metrics`, :mod:`mdm.train.resume`,
  :mod:`mdm.train.distributed`, :mod:`mdm.train.ema`, :mod:`mdm.train.optim` -- the pieces.

Metrics rows: ``{"step", "split": "train", "loss", "lr", "grad_norm", "tokens_seen", "tokens_per_s",
"elapsed_s", "precision", "threads", "nonfinite_skipped"}`` (``loss`` null when every step of the window was
skipped as non-finite; each skip also writes a ``"split": "nonfinite"`` row, see
:mod:`mdm.train.nonfinite`) and ``{"step", "split": "val", "val_nelbo_nats_per_token",
"val_bits_per_token", "val_bits_per_char" (text tasks), "val_sequences", "val_weights", "precision"}``
(``precision``: the resolved ``fp32`` / ``bf16``; ``threads``: torch's intra-op threads the run used).

Under torchrun: ``torchrun --nproc_per_node=N -m mdm.train CONFIG [--set k=v ...] [--out DIR]``.
"""

from mdm.train import checkpoint
from mdm.train.config import (
    DataConfig,
    LossConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
    load_config,
    packaged_configs,
    valid_keys,
)
from mdm.train.families import MODEL_FAMILIES, ModelFamily
from mdm.train.loop import TrainResult, build_data, build_model, train
from mdm.train.objective import OBJECTIVES, Objective
from mdm.train.precision import resolve_precision

__all__ = [
    "TrainConfig",
    "ModelConfig",
    "DataConfig",
    "OptimConfig",
    "LossConfig",
    "load_config",
    "valid_keys",
    "packaged_configs",
    "train",
    "TrainResult",
    "build_data",
    "build_model",
    "checkpoint",
    "MODEL_FAMILIES",
    "ModelFamily",
    "Objective",
    "OBJECTIVES",
    "resolve_precision",
]
