"""A training config's ``model`` section, derived from each model family's own config class, and
:func:`build_model`.

The families themselves (config class, model class) live in :mod:`mdm.models.families`; a section
takes the config class's fields except those that come from the data (``vocab_size``, ``mask_id``,
``max_len``, ``pad_id``), with the family's ``train_defaults``, plus ``family`` naming it.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

import torch

from mdm.errors import ConfigError, MDMError
from mdm.models.families import DATA_KEYS, MODEL_FAMILIES, ModelFamily, config_from_dict

__all__ = ["ModelFamily", "MODEL_FAMILIES", "DATA_KEYS", "train_config_class", "check_model_section",
           "build_model"]

_DERIVED: dict[tuple[str, type, tuple], type] = {}


def train_config_class(family: str) -> type:
    """The dataclass a training config's ``model`` section is built into for ``family``."""
    entry = MODEL_FAMILIES.get(family)
    key = (family, entry.config, tuple(sorted(entry.train_defaults.items())))
    if key not in _DERIVED:
        _DERIVED[key] = _derive(family, entry)
    return _DERIVED[key]


def _derive(family: str, entry: ModelFamily) -> type:
    config_cls = entry.config
    if not dataclasses.is_dataclass(config_cls):
        raise ConfigError(f"model family {family!r}: its config class must be a dataclass")
    hints = typing.get_type_hints(config_cls)
    specs: list[Any] = [("family", str, dataclasses.field(default=family))]
    for f in dataclasses.fields(config_cls):
        if f.name in DATA_KEYS:
            continue
        if f.name in entry.train_defaults:
            specs.append((f.name, hints[f.name], dataclasses.field(default=entry.train_defaults[f.name])))
        elif f.default is not dataclasses.MISSING:
            specs.append((f.name, hints[f.name], dataclasses.field(default=f.default)))
        elif f.default_factory is not dataclasses.MISSING:
            specs.append((f.name, hints[f.name], dataclasses.field(default_factory=f.default_factory)))
        else:
            raise ConfigError(f"model family {family!r}: config field {f.name!r} needs a default")
    return dataclasses.make_dataclass(f"{config_cls.__name__}TrainKeys", specs)


def _family_config(section, tokenizer_keys: dict) -> Any:
    entry = MODEL_FAMILIES.get(section.family)
    keys = {k: v for k, v in dataclasses.asdict(section).items() if k != "family"}
    accepted = {f.name for f in dataclasses.fields(entry.config)}
    return entry, config_from_dict(entry.config, {**keys, **{k: v for k, v in tokenizer_keys.items()
                                                              if k in accepted}})


def check_model_section(section, seq_len: int) -> None:
    """Raise :class:`ConfigError` when the family's config class refuses ``section`` (its own checks,
    with a two-token vocabulary standing in for the data's)."""
    try:
        _family_config(section, {"vocab_size": 2, "mask_id": 1, "max_len": seq_len, "pad_id": None})
    except ConfigError:
        raise
    except (MDMError, TypeError) as e:
        raise ConfigError(f"model: {e}") from None


def build_model(cfg, tokenizer, objective=None) -> torch.nn.Module:
    """A fresh model of ``cfg.model.family`` for the tokenizer's vocabulary, seeded by ``cfg.seed``,
    prepared by its objective (``objective`` or the config's): a time-conditioned model carries the
    schedule it trains with, a learned-order one its per-position schedule."""
    from mdm.train.objective import objective_for

    data = {"vocab_size": tokenizer.vocab_size, "mask_id": tokenizer.mask_id, "max_len": cfg.data.seq_len,
            "pad_id": getattr(tokenizer, "pad_id", None)}
    entry, config = _family_config(cfg.model, data)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        model = entry.model(config)
    (objective or objective_for(cfg)).prepare_model(model, cfg.data.seq_len)
    return model
