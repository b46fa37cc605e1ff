"""The run's data: the dataset from ``cfg.data``, and the deterministic stream of training examples.

Epoch ``e`` is a permutation seeded by ``(seed, e)`` and a step consumes the next global batch of the
stream, so the examples of a step depend only on the config and the step (see :mod:`mdm.train.loop`).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from mdm.errors import ConfigError
from mdm.loading import training_data
from mdm.tasks.base import DataBundle, collate

__all__ = ["build_data", "mix_seed", "Stream"]


def build_data(cfg) -> DataBundle:
    """The run's dataset (train/val splits + tokenizer) from ``cfg.data`` (as a checkpoint's is
    rebuilt, :func:`mdm.loading.training_data`)."""
    return training_data({"data": dataclasses.asdict(cfg.data), "seed": cfg.seed})


def mix_seed(*ints: int) -> int:
    """A well-spread 63-bit seed from integers (numpy's SeedSequence hashing)."""
    seq = np.random.SeedSequence([int(i) & 0xFFFFFFFFFFFFFFFF for i in ints])
    return int(seq.generate_state(1, np.uint64)[0] >> 1)


class Stream:
    """Example ``p`` of the endless stream is ``perm(p // n)[p % n]``; ``perm(e)`` is seeded by (seed, e)."""

    def __init__(self, dataset, seed: int):
        self.dataset, self.seed, self.n = dataset, seed, len(dataset)
        if self.n == 0:
            raise ConfigError("the training split is empty: use more data or a shorter seq_len")
        self._perms: dict[int, torch.Tensor] = {}

    def _perm(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perms:
            self._perms = {e: p for e, p in self._perms.items() if e >= epoch - 1}
            g = torch.Generator().manual_seed(mix_seed(self.seed, 7, epoch))
            self._perms[epoch] = torch.randperm(self.n, generator=g)
        return self._perms[epoch]

    def batch(self, start: int, size: int) -> dict[str, torch.Tensor]:
        idx = [int(self._perm(p // self.n)[p % self.n]) for p in range(start, start + size)]
        return collate([self.dataset[i] for i in idx])
