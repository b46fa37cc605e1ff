"""Small Sudokus for a plain MDM or an autoregressive model: ``puzzle + solution`` as one sequence.

Tokens ``.123456789``: id 0 an empty cell, id d the digit d (then pad, bos, eos, unk, mask).  An item
is the ``n * n`` puzzle cells followed by the ``n * n`` solution cells; only the solution half is
masked or predicted, so a model learns p(solution | puzzle).  :class:`PlainSudoku` is a verified
task dataset (:func:`mdm.eval.verified.decode_verified`: ``prompts()``, ``answer_len``, ``verify``).
"""

from __future__ import annotations

import torch

from mdm.errors import TokenError
from mdm.tasks.minisudoku.grid import Shape, is_solution
from mdm.tokenizers import CharTokenizer

__all__ = ["tokenizer", "PlainSudoku"]


def tokenizer(shape: Shape) -> CharTokenizer:
    return CharTokenizer(".123456789"[: shape.n + 1])


class PlainSudoku(torch.utils.data.Dataset):
    """``input_ids`` = puzzle + solution, ``eligible`` = the solution half (the training items)."""

    def __init__(self, shape: Shape, puzzles, solutions):
        self.shape, self.puzzles = shape, [shape.check(p) for p in puzzles]
        self.tokens = torch.tensor([p + shape.check(s) for p, s in zip(self.puzzles, solutions)],
                                   dtype=torch.long).reshape(len(self.puzzles), 2 * shape.cells)
        self.eligible = torch.zeros_like(self.tokens, dtype=torch.bool)
        self.eligible[:, shape.cells:] = True

    @property
    def answer_len(self) -> int:
        return self.shape.cells

    def __len__(self) -> int:
        return len(self.puzzles)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.tokens[i], "eligible": self.eligible[i]}

    def prompts(self) -> torch.Tensor:
        return self.tokens[:, : self.shape.cells].clone()

    def verify(self, tokens: torch.Tensor) -> torch.Tensor:
        """Which rows ``[B, 2 n^2]`` (prompt + answer, in this dataset's order) solve their puzzle."""
        C = self.shape.cells
        if not isinstance(tokens, torch.Tensor) or tokens.dim() != 2 or tokens.shape[1] != 2 * C:
            raise TokenError(f"verify takes a tensor [B, {2 * C}] (puzzle + answer), got "
                             f"{tuple(getattr(tokens, 'shape', ()))}")
        ok = []
        for row, p in zip(tokens.tolist(), self.puzzles):
            a = row[C:]
            digits = all(1 <= v <= self.shape.n for v in a)
            ok.append(row[:C] == p and digits and is_solution(self.shape, p, a))
        return torch.tensor(ok, dtype=torch.bool)
