"""9×9 Sudoku: a seeded generator of uniquely solvable puzzles, their serialisation and a verifier.

* :mod:`~mdm.tasks.sudoku.solver` -- bitmask search, :func:`count_solutions`, :func:`solve`,
  :func:`is_solution` and the difficulty grader :func:`technique`;
* :mod:`~mdm.tasks.sudoku.generator` -- random full grids, digging to a clue count,
  :func:`make_puzzle` and the seeded, optionally parallel :func:`generate`;
* :mod:`~mdm.tasks.sudoku.dataset` -- the tokenizer, :func:`encode_grid` / :func:`decode_grid`,
  :func:`verify`, :class:`SudokuConfig`, the cached splits of :class:`SudokuDataset` and the
  registered ``sudoku`` task (importing this package registers it).
"""

from mdm.tasks.sudoku.dataset import (
    ALPHABET,
    GRID_TOKENS,
    SEQ_LEN,
    SudokuConfig,
    SudokuDataset,
    decode_grid,
    encode_grid,
    sudoku_task,
    tokenizer,
    verify,
)
from mdm.tasks.sudoku.generator import generate, make_puzzle, random_solution
from mdm.tasks.sudoku.solver import TECHNIQUES, count_solutions, is_solution, solve, technique

__all__ = [
    "ALPHABET",
    "GRID_TOKENS",
    "SEQ_LEN",
    "tokenizer",
    "count_solutions",
    "TECHNIQUES",
    "technique",
    "solve",
    "random_solution",
    "make_puzzle",
    "generate",
    "is_solution",
    "encode_grid",
    "decode_grid",
    "verify",
    "SudokuConfig",
    "SudokuDataset",
    "sudoku_task",
]
