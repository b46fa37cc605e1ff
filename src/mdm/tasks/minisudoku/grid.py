"""Small Sudoku grids of any box shape and an exact solver (for AP-MDM, Yang et al., arXiv 2510.06190).

A :class:`Shape` ``(box_rows, box_cols)`` is an ``n x n`` grid, ``n = box_rows * box_cols``, split into
``n`` boxes of ``box_rows`` rows by ``box_cols`` columns: ``Shape(2, 2)`` the 4x4 Sudoku,
``Shape(2, 3)`` the 6x6 one, ``Shape(3, 3)`` the classic 9x9.  A grid is a flat list of ``n * n``
cells row by row, 0 for an empty cell, digits ``1..n``.  A grid is solved when every row, column and
box holds each digit once.

:func:`count_solutions` is an exact depth-first search (fewest-candidate cell first) that stops at
``limit`` solutions, so ``count_solutions(p, limit=2) == 1`` decides uniqueness.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass

from mdm.errors import DataError

__all__ = ["Shape", "SHAPES", "count_solutions", "solutions", "solve", "is_solution", "candidates",
           "conflicts", "random_grid"]


@dataclass(frozen=True)
class Shape:
    """The box shape of a Sudoku: ``box_rows x box_cols`` boxes on an ``n x n`` grid."""

    box_rows: int
    box_cols: int

    def __post_init__(self):
        for v in (self.box_rows, self.box_cols):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise DataError(f"a Sudoku box has a positive int number of rows and columns, got "
                                f"({self.box_rows!r}, {self.box_cols!r})")
        if self.n > 9:
            raise DataError(f"digits run 1..9 at most; a {self.box_rows}x{self.box_cols} box needs {self.n}")

    @property
    def n(self) -> int:
        return self.box_rows * self.box_cols

    @property
    def cells(self) -> int:
        return self.n * self.n

    @property
    def name(self) -> str:
        return f"{self.n}x{self.n}"

    @property
    def units(self) -> tuple[tuple[int, ...], ...]:
        """The ``3n`` units: rows, then columns, then boxes (cell indices)."""
        return _units(self.box_rows, self.box_cols)

    @property
    def peers(self) -> tuple[frozenset[int], ...]:
        """Per cell, the other cells that share a unit with it."""
        return _peers(self.box_rows, self.box_cols)

    def check(self, grid) -> list[int]:
        """``grid`` as a list of ``n * n`` ints in ``0..n``; raises :class:`DataError` otherwise."""
        cells = [int(v) for v in grid]
        if len(cells) != self.cells or any(not 0 <= v <= self.n for v in cells):
            raise DataError(f"a {self.name} grid is {self.cells} cells holding 0 (empty) or 1..{self.n}; "
                            f"got {len(cells)} cells")
        return cells


SHAPES = {"4x4": Shape(2, 2), "6x6": Shape(2, 3), "9x9": Shape(3, 3)}


@functools.cache
def _units(br: int, bc: int) -> tuple[tuple[int, ...], ...]:
    n = br * bc
    rows = [tuple(r * n + c for c in range(n)) for r in range(n)]
    cols = [tuple(r * n + c for r in range(n)) for c in range(n)]
    boxes = [tuple((R + r) * n + C + c for r in range(br) for c in range(bc))
             for R in range(0, n, br) for C in range(0, n, bc)]
    return tuple(rows + cols + boxes)


@functools.cache
def _peers(br: int, bc: int) -> tuple[frozenset[int], ...]:
    n = br * bc
    peers = [set() for _ in range(n * n)]
    for unit in _units(br, bc):
        for i in unit:
            peers[i].update(unit)
    return tuple(frozenset(p - {i}) for i, p in enumerate(peers))


def candidates(shape: Shape, grid: list[int], i: int) -> set[int]:
    """The digits cell ``i`` may take given its peers (its own value ignored)."""
    return set(range(1, shape.n + 1)) - {grid[j] for j in shape.peers[i]}


def conflicts(shape: Shape, grid: list[int]) -> bool:
    """Whether some unit holds a digit twice."""
    for unit in shape.units:
        digits = [grid[i] for i in unit if grid[i]]
        if len(digits) != len(set(digits)):
            return True
    return False


def _search(shape: Shape, grid: list[int], limit: int, out: list[list[int]], rng) -> None:
    best = None
    for i, v in enumerate(grid):
        if v:
            continue
        c = candidates(shape, grid, i)
        if not c:
            return
        if best is None or len(c) < len(best[1]):
            best = (i, c)
            if len(c) == 1:
                break
    if best is None:
        out.append(list(grid))
        return
    i, c = best
    order = sorted(c)
    if rng is not None:
        rng.shuffle(order)
    for d in order:
        grid[i] = d
        _search(shape, grid, limit, out, rng)
        grid[i] = 0
        if len(out) >= limit:
            return


def solutions(shape: Shape, grid, *, limit: int | None = None, rng: random.Random | None = None
              ) -> list[list[int]]:
    """Every completion of ``grid`` (at most ``limit``), in the search's order (``rng``: shuffled)."""
    cells = shape.check(grid)
    if conflicts(shape, cells):
        return []
    out: list[list[int]] = []
    _search(shape, cells, limit if limit is not None else float("inf"), out, rng)
    return out


def count_solutions(shape: Shape, grid, *, limit: int = 2) -> int:
    """How many solutions ``grid`` has, counting up to ``limit`` (exact below it)."""
    if not isinstance(limit, int) or limit < 1:
        raise DataError(f"limit must be a positive int, got {limit!r}")
    return len(solutions(shape, grid, limit=limit))


def solve(shape: Shape, grid) -> list[int]:
    """The solution of a uniquely solvable ``grid``; raises :class:`DataError` otherwise."""
    found = solutions(shape, grid, limit=2)
    if len(found) != 1:
        raise DataError(f"the {shape.name} grid has {'no' if not found else 'more than one'} solution")
    return found[0]


def is_solution(shape: Shape, puzzle, grid) -> bool:
    """Whether ``grid`` is full, valid and keeps every clue of ``puzzle``."""
    p, g = shape.check(puzzle), shape.check(grid)
    return all(g) and not conflicts(shape, g) and all(a in (0, b) for a, b in zip(p, g))


def random_grid(shape: Shape, rng: random.Random) -> list[int]:
    """A full valid grid drawn by the search with shuffled digit orders."""
    return solutions(shape, [0] * shape.cells, limit=1, rng=rng)[0]
