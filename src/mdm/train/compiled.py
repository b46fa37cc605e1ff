"""``compile: true`` (``mdm train --compile``): the training step's transformer trunk through
``torch.compile``, compiled once per run.

What is compiled is :meth:`mdm.models.transformer.TransformerDenoiser.trunk` -- the blocks over the
embedded batch -- whose shapes (``[batch_size, seq_len, d_model]``) do not change during a run.  The
rest of the step stays eager: the embedding, the masked-only head (its row count is the number of
masked positions, which changes every step and made a whole-model compile recompile on the second
step) and the loss.  ``dynamic=False``: a shape the run has not seen would compile again rather than
switch the graph to symbolic shapes.  Validation and sampling (eval mode or no gradients) use the
eager trunk, so they never trigger a compile.  The parameters, their names and the checkpoint are
those of the eager model; the compiled trunk is not saved, so resume is unchanged.
"""

from __future__ import annotations

from typing import Any

import torch

from mdm.errors import ConfigError

__all__ = ["compile_for_training"]


def compile_for_training(model: torch.nn.Module, backend: Any = "inductor") -> None:
    """Give ``model`` a compiled :attr:`training_trunk` (``backend``: a ``torch.compile`` backend)."""
    if not hasattr(model, "training_trunk") or not callable(getattr(model, "trunk", None)):
        raise ConfigError(f"compile: true needs a model with a compilable trunk (the transformer); "
                          f"{type(model).__name__} has none: set compile: false")
    model.training_trunk = torch.compile(model.trunk, backend=backend, dynamic=False)
