"""The ``ap-mdm`` objective: AP-MDM's loss on solver transitions (Yang et al., arXiv 2510.06190),
:func:`mdm.models.anyprocess.anyprocess_loss` -- cross-entropy on the positions that receive a token
plus a binary cross-entropy per remask / insert / delete bit.

A training config selects it with ``model: {family: anyprocess, ...}`` (the family's objective) and a
task whose items are transitions (``targets`` / ``remask`` / ``insert`` / ``delete`` beside
``input_ids``), e.g. the ``ap-parity``, ``ap-sudoku`` and ``ap-rewrite`` tasks of
:mod:`mdm.tasks.anyprocess`.  It has no options; validation reports the loss per real position.
"""

from __future__ import annotations

from dataclasses import dataclass

from mdm.errors import ConfigError
from mdm.models.anyprocess import AnyProcessModel, anyprocess_loss
from mdm.models.families import MODEL_FAMILIES
from mdm.train.objective import OBJECTIVES, Objective

__all__ = ["APMDM"]


@dataclass
class APMDMOptions:
    """No options: the loss is the paper's."""


class APMDM(Objective):
    Config = APMDMOptions

    @classmethod
    def check(cls, config, train_config) -> None:
        if not issubclass(MODEL_FAMILIES.get(train_config.model.family).model, AnyProcessModel):
            raise ConfigError("loss.kind: ap-mdm trains an any-process model: set model.family: anyprocess")

    def loss(self, model, batch, generator):
        return anyprocess_loss(model, batch)

    def val_summary(self, row) -> str:
        return f"loss {row['val_loss_per_position']:.4f} per position"


OBJECTIVES.register("ap-mdm", APMDM)
