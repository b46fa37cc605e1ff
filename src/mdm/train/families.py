"""Model families: one registry from a family name to its config class and model class.

The trainer builds ``model`` from a config's ``model`` section (``model.family``, default
``transformer``; the other keys are that family's), and a checkpoint records the family name as its
model ``kind`` so :func:`mdm.train.checkpoint.load` can rebuild it.  Add a family with::

    MODEL_FAMILIES.register("mine", ModelFamily(MyConfig, MyModel))

``MyConfig`` is a dataclass (``to_dict`` / ``from_dict`` are used when present) whose fields may
include ``vocab_size``, ``mask_id`` and ``max_len`` -- the trainer fills those from the data -- and
``MyModel(config)`` is a Denoiser that keeps ``config``.  A training config's ``model`` section takes
the config class's other fields (``train_config`` overrides that set of keys and their defaults).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any

import torch

from mdm.errors import ConfigError
from mdm.registry import Registry

__all__ = ["ModelFamily", "MODEL_FAMILIES", "DATA_KEYS", "train_config_class", "config_to_dict",
           "config_from_dict", "build_model"]

# Fields of a family's config that the trainer takes from the data, never from the YAML.
DATA_KEYS = ("vocab_size", "mask_id", "max_len", "pad_id")


@dataclass(frozen=True)
class ModelFamily:
    """``config``: the model's config class; ``model``: ``model(config)`` builds it.

    ``train_config``: the dataclass of a training config's ``model`` section (a ``family`` field
    plus the family's keys with the trainer's defaults); derived from ``config`` when None.
    ``loss``: ``loss(model, batch) -> output with loss / per_sample / num_eligible`` for a family
    that does not train on the MDM ELBO (AP-MDM trains on transitions); None = the ELBO.
    """

    config: type
    model: type
    train_config: type | None = None
    loss: Any = None


# The transformer family registers itself where its training keys (ModelConfig) are defined.
MODEL_FAMILIES: Registry[ModelFamily] = Registry("model family", ConfigError,
                                                 lazy={"transformer": "mdm.train.config",
                                                       "anyprocess": "mdm.train.anyprocess"})
_DERIVED: dict[tuple[str, type], type] = {}


def train_config_class(family: str) -> type:
    """The dataclass a training config's ``model`` section is built into for ``family``."""
    entry = MODEL_FAMILIES.get(family)
    if entry.train_config is not None:
        return entry.train_config
    key = (family, entry.config)
    if key not in _DERIVED:
        _DERIVED[key] = _derive(family, entry.config)
    return _DERIVED[key]


def _derive(family: str, config_cls: type) -> type:
    if not dataclasses.is_dataclass(config_cls):
        raise ConfigError(f"model family {family!r}: its config class must be a dataclass "
                          f"(or register the family with train_config=...)")
    hints = typing.get_type_hints(config_cls)
    specs: list[Any] = [("family", str, dataclasses.field(default=family))]
    for f in dataclasses.fields(config_cls):
        if f.name in DATA_KEYS:
            continue
        if f.default is not dataclasses.MISSING:
            specs.append((f.name, hints[f.name], dataclasses.field(default=f.default)))
        elif f.default_factory is not dataclasses.MISSING:
            specs.append((f.name, hints[f.name], dataclasses.field(default_factory=f.default_factory)))
        else:
            raise ConfigError(f"model family {family!r}: config field {f.name!r} needs a default")
    return dataclasses.make_dataclass(f"{config_cls.__name__}TrainKeys", specs)


def config_to_dict(config: Any) -> dict:
    return config.to_dict() if hasattr(config, "to_dict") else dataclasses.asdict(config)


def config_from_dict(cls: type, d: dict) -> Any:
    return cls.from_dict(d) if hasattr(cls, "from_dict") else cls(**d)


def build_model(cfg, tokenizer) -> torch.nn.Module:
    """A fresh model of ``cfg.model.family`` for the tokenizer's vocabulary, seeded by ``cfg.seed``.

    A time-conditioned model carries ``schedule`` (the one it trains with, ``cfg.loss.schedule``), so
    samplers and likelihoods query it at the times training saw (DESIGN.md, Denoiser protocol).
    """
    from mdm.schedules import from_spec

    entry = MODEL_FAMILIES.get(cfg.model.family)
    keys = {k: v for k, v in dataclasses.asdict(cfg.model).items() if k != "family"}
    data = {"vocab_size": tokenizer.vocab_size, "mask_id": tokenizer.mask_id, "max_len": cfg.data.seq_len,
            "pad_id": getattr(tokenizer, "pad_id", None)}
    accepted = {f.name for f in dataclasses.fields(entry.config)} if dataclasses.is_dataclass(entry.config) \
        else set(DATA_KEYS[:3])  # pad_id only for configs that declare it
    config = config_from_dict(entry.config, {**keys, **{k: v for k, v in data.items() if k in accepted}})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = entry.model(config)
    if getattr(model, "time_conditioned", False):
        model.schedule = from_spec(cfg.loss.schedule)
    from mdm.order.train import attach

    attach(model, cfg.loss, cfg.data.seq_len)  # loss.schedule: per-position -> model.order_schedule
    return model
