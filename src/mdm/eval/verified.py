"""Accuracy on a task with a verifier: decode every prompt, check every answer.

A *verified task dataset* (Sudoku, arithmetic, the copy and planted tasks of :mod:`mdm.tasks`) has
``prompts() -> LongTensor [n, P]``, ``answer_len`` and ``verify(tokens [n, P + answer_len]) ->
BoolTensor [n]``.  :func:`decode_and_verify` decodes the prompts in batches with one unmasker at
temperature 0 and returns each item's correctness and NFE, so callers can pair two samplers (or
two models) on the same items.
"""

from __future__ import annotations

import torch

from mdm.sampling import Unmasker, sample

__all__ = ["decode_and_verify"]


def decode_and_verify(model, dataset, unmasker: Unmasker, *, batch_size: int = 256, stop=None,
                      pad_id: int | None = None, seed: int | None = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``(correct BoolTensor [n], nfe LongTensor [n])`` of greedy decoding of every prompt of
    ``dataset``.  ``stop`` / ``pad_id`` as in :func:`mdm.sample`; the batch starting at item ``i``
    samples with seed ``seed + i`` (``seed=None``: unseeded)."""
    prompts = dataset.prompts()
    correct, nfe = [], []
    for start in range(0, len(prompts), batch_size):
        out = sample(model, prompt=prompts[start:start + batch_size], length=dataset.answer_len,
                     unmasker=unmasker, temperature=0.0, stop=stop, pad_id=pad_id,
                     seed=None if seed is None else seed + start)
        correct.append(dataset.verify(out.tokens))
        nfe.append(out.nfe)
    return torch.cat(correct), torch.cat(nfe)
