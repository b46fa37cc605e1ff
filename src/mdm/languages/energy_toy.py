"""The energy paper's exact toy targets (Chen et al., "Masked Diffusion Models as Energy
Minimization", arXiv 2509.13866): 5-token strings over {a, b} (token 0 is ``a``, 1 is ``b``).

* target A: uniform on {aaaaa, bbbbb} (perfectly correlated tokens);
* target B: uniform on the 20 strings with two or three a's.
"""

from __future__ import annotations

import torch

from mdm.errors import LanguageError
from mdm.languages.enumerated import Enumerated

__all__ = ["TOY_LENGTH", "energy_toy_target"]

TOY_LENGTH = 5


def energy_toy_target(name: str) -> Enumerated:
    """Target ``"A"`` or ``"B"`` as an :class:`Enumerated` language (its denoiser is exact)."""
    if name == "A":
        seqs = torch.tensor([[0] * TOY_LENGTH, [1] * TOY_LENGTH])
    elif name == "B":
        strings = torch.cartesian_prod(*[torch.arange(2)] * TOY_LENGTH)  # position 0 most significant
        n_a = (strings == 0).sum(-1)
        seqs = strings[(n_a == 2) | (n_a == 3)]
    else:
        raise LanguageError(f"the energy toy has targets 'A' and 'B', got {name!r}")
    return Enumerated(seqs, torch.full((len(seqs),), 1.0 / len(seqs), dtype=torch.float64), vocab_size=2)
