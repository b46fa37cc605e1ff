"""Shared toys for the learned-order tests: an exact language and an inconsistent denoiser."""

from __future__ import annotations

import pytest
import torch

from mdm.languages import Enumerated
from mdm.sampling.exact import all_sequences


class TableDenoiser:
    """Arbitrary (inconsistent) conditionals: logits are a random table of the whole partial
    sequence, so different orders give different chain-rule losses.  Time-independent."""

    def __init__(self, vocab: int, length: int, seed: int = 0, scale: float = 2.0):
        g = torch.Generator().manual_seed(seed)
        self.vocab_size, self.mask_id, self.length = vocab + 1, vocab, length
        self.table = scale * torch.randn((vocab + 1) ** length, length, vocab + 1, generator=g)
        self.powers = (vocab + 1) ** torch.arange(length - 1, -1, -1)

    def __call__(self, x, attention_mask=None):
        return self.table[x @ self.powers]


@pytest.fixture
def language():
    """A correlated language over {0, 1}^4 (parallel decoding of it is visibly wrong)."""
    seqs = all_sequences(2, 4)
    g = torch.Generator().manual_seed(3)
    logits = 2.0 * torch.randn(seqs.shape[0], generator=g, dtype=torch.float64)
    logits[(seqs.sum(1) % 2) == 1] -= 3.0  # favour even parity: strong long-range correlation
    return Enumerated(seqs, logits.softmax(0))


@pytest.fixture
def table():
    return TableDenoiser(vocab=2, length=3, seed=1)


@pytest.fixture
def make_table():
    return TableDenoiser
