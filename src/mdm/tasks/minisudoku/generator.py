"""Uniquely solvable small Sudokus, seeded: a random full grid, then clues removed while unique.

:func:`make_puzzle` removes the clues of a random full grid one by one in a random order, keeping
each removal only if the puzzle still has exactly one solution (:func:`~.grid.count_solutions`), so
it ends at a *minimal* puzzle (no clue can go) unless ``min_clues`` stops it earlier.
:func:`generate_splits` draws distinct puzzles and deals them into disjoint named splits.
"""

from __future__ import annotations

import random

from mdm.errors import DataError
from mdm.tasks.minisudoku.grid import Shape, count_solutions, random_grid

__all__ = ["make_puzzle", "generate_splits"]


def make_puzzle(shape: Shape, rng: random.Random, *, min_clues: int = 0) -> tuple[list[int], list[int]]:
    """``(puzzle, solution)``: a unique puzzle dug from a random full grid (minimal, or ``min_clues``)."""
    solution = random_grid(shape, rng)
    puzzle = list(solution)
    order = list(range(shape.cells))
    rng.shuffle(order)
    clues = shape.cells
    for i in order:
        if clues <= min_clues:
            break
        puzzle[i] = 0
        if count_solutions(shape, puzzle, limit=2) == 1:
            clues -= 1
        else:
            puzzle[i] = solution[i]
    return puzzle, solution


def generate_splits(shape: Shape, sizes: dict[str, int], *, seed: int, min_clues: int = 0
                    ) -> dict[str, tuple[list[list[int]], list[list[int]]]]:
    """``{split: (puzzles, solutions)}`` with ``sizes[split]`` puzzles each, no puzzle twice anywhere.

    Puzzles are drawn from ``random.Random(seed)`` and dealt to the splits in the order of
    ``sizes``.  (A 4x4 Sudoku has only 288 full grids, so splits share solutions; never puzzles.)
    """
    if any(not isinstance(v, int) or v < 0 for v in sizes.values()):
        raise DataError(f"split sizes must be non-negative ints, got {sizes}")
    rng = random.Random(seed)
    seen: set[tuple[int, ...]] = set()
    out = {}
    tries = 0
    for name, size in sizes.items():
        puzzles, sols = [], []
        while len(puzzles) < size:
            tries += 1
            if tries > 20 * sum(sizes.values()) + 1000:
                raise DataError(f"could not draw {sum(sizes.values())} distinct {shape.name} puzzles; ask "
                                "for fewer or lower min_clues")
            p, s = make_puzzle(shape, rng, min_clues=min_clues)
            if tuple(p) in seen:
                continue
            seen.add(tuple(p))
            puzzles.append(p)
            sols.append(s)
        out[name] = (puzzles, sols)
    return out
