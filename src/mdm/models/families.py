"""Model families: one registry from a family name to its config class and model class.

A checkpoint records the family name as its model ``kind`` so :func:`mdm.loading.load` can rebuild
it, and a training config names one in ``model.family``.  Each family registers itself beside its
model class (:mod:`mdm.models.anyprocess`) -- except the transformer, registered at the end of this
module because :mod:`mdm.models.transformer` is copied into exported models and may not import mdm.
Add your own the same way::

    MODEL_FAMILIES.register("mine", ModelFamily(MyConfig, MyModel))

``MyConfig`` is a dataclass (``to_dict`` / ``from_dict`` are used when present) whose fields may
include ``vocab_size``, ``mask_id``, ``max_len`` and ``pad_id`` -- the trainer fills those from the
data -- and ``MyModel(config)`` is a Denoiser that keeps ``config``.  A training config's ``model``
section takes the config class's other fields (:mod:`mdm.train.families`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import torch

from mdm.errors import ConfigError
from mdm.models.transformer import TransformerConfig, TransformerDenoiser
from mdm.registry import Registry

__all__ = ["ModelFamily", "MODEL_FAMILIES", "DATA_KEYS", "config_to_dict", "config_from_dict", "build",
           "kind_of"]

# Fields of a family's config that come from the data (tokenizer, sequence length), never from a YAML.
DATA_KEYS = ("vocab_size", "mask_id", "max_len", "pad_id")


@dataclass(frozen=True)
class ModelFamily:
    """``config``: the model's config class; ``model``: ``model(config)`` builds it.

    ``train_defaults``: defaults of a training config's ``model`` section where they differ from the
    config class's own (a small model to start from).  ``objective``: the training objective a
    config of this family gets when its ``loss`` section names none (:mod:`mdm.train.objective`).
    """

    config: type
    model: type
    train_defaults: dict[str, Any] = field(default_factory=dict)
    objective: str = "nelbo"


MODEL_FAMILIES: Registry[ModelFamily] = Registry("model family", ConfigError,
                                                 lazy={"anyprocess": "mdm.models.anyprocess"})


def config_to_dict(config: Any) -> dict:
    return config.to_dict() if hasattr(config, "to_dict") else dataclasses.asdict(config)


def config_from_dict(cls: type, d: dict) -> Any:
    return cls.from_dict(d) if hasattr(cls, "from_dict") else cls(**d)


def build(kind: str, config: dict) -> torch.nn.Module:
    """A freshly initialised model of family ``kind`` from its config dict."""
    family = MODEL_FAMILIES.get(kind)
    return family.model(config_from_dict(family.config, config))


def kind_of(model: torch.nn.Module) -> str | None:
    """The family ``model`` belongs to (its most derived registered class), or None."""
    best, depth = None, -1
    for kind, family in MODEL_FAMILIES.items():
        if isinstance(model, family.model):  # FSDP2 subclasses the model's class in place
            d = len(family.model.__mro__)
            if d > depth:
                best, depth = kind, d
    return best


# A training config starts from a small transformer (the trainer's defaults).
MODEL_FAMILIES.register("transformer", ModelFamily(
    TransformerConfig, TransformerDenoiser, train_defaults={"d_model": 128, "n_layers": 4, "n_heads": 4}))
