"""Small Sudokus (4x4, 6x6; any box shape) that a CPU can train on, for AP-MDM vs MDM vs AR.

* :mod:`~mdm.tasks.minisudoku.grid` -- :class:`Shape`, the exact solver (:func:`count_solutions`),
  :func:`is_solution`;
* :mod:`~mdm.tasks.minisudoku.generator` -- unique (minimal) puzzles and disjoint splits;
* :mod:`~mdm.tasks.minisudoku.traces` -- AP-MDM solver traces: assign / guess / contradiction
  (remask) / halt transitions (Yang et al., arXiv 2510.06190);
* :mod:`~mdm.tasks.minisudoku.plain` -- ``puzzle + solution`` sequences for a plain MDM or an AR model.
"""

from mdm.tasks.minisudoku import generator, grid, plain, traces
from mdm.tasks.minisudoku.generator import generate_splits, make_puzzle
from mdm.tasks.minisudoku.grid import SHAPES, Shape, count_solutions, is_solution, solve

__all__ = ["SHAPES", "Shape", "count_solutions", "is_solution", "solve", "make_puzzle", "generate_splits",
           "generator", "grid", "plain", "traces"]
