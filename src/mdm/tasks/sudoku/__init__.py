"""9×9 Sudoku: a seeded generator of uniquely solvable puzzles, their serialisation and a verifier.

* :mod:`~mdm.tasks.sudoku.solver` -- bitmask search, :func:`count_solutions`, :func:`solve`,
  :func:`is_solution` and the difficulty grader :func:`technique`;
* :mod:`~mdm.tasks.sudoku.generator` -- random full grids, digging to a clue count,
  :func:`make_puzzle` and the seeded, optionally parallel :func:`generate`;
* :mod:`~mdm.tasks.sudoku.dataset` -- the tokenizer, :func:`encode_grid` / :func:`decode_grid`,
  :func:`verify`, :class:`SudokuConfig`, the cached splits of :class:`SudokuDataset` and the
  registered ``sudoku`` task (importing this package registers it).
"""

# The package's names are its submodules' __all__, so the two cannot drift apart.
from mdm.tasks.sudoku import dataset, generator, solver
from mdm.tasks.sudoku.dataset import *  # noqa: F403
from mdm.tasks.sudoku.generator import *  # noqa: F403
from mdm.tasks.sudoku.solver import *  # noqa: F403

__all__ = [*solver.__all__, *generator.__all__, *dataset.__all__]
