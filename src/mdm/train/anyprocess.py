"""Registers the ``anyprocess`` model family (AP-MDM, arXiv 2510.06190) with its transition loss.

A training config selects it with ``model: {family: anyprocess, ...}`` and a task whose items are
transitions (``targets`` / ``remask`` / ``insert`` / ``delete`` beside ``input_ids``), e.g. the
``ap-parity``, ``ap-sudoku`` and ``ap-rewrite`` tasks of :mod:`mdm.tasks.anyprocess`.
"""

from mdm.models.anyprocess import AnyProcessConfig, AnyProcessModel, anyprocess_loss
from mdm.train.families import MODEL_FAMILIES, ModelFamily

MODEL_FAMILIES.register("anyprocess", ModelFamily(AnyProcessConfig, AnyProcessModel, loss=anyprocess_loss))
