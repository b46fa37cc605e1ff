"""The 9×9 Sudoku solver: bitmask search, solution counting and the technique grader.

Grids are bitmask-encoded (one 9-bit mask per row, column and box) and the search branches on the
cell with the fewest candidates.  :func:`technique` grades a puzzle by the simplest human technique
that solves it (naked singles, hidden singles, or search).
"""

from __future__ import annotations

import random

import numpy as np
import torch

from mdm.errors import DataError

__all__ = ["count_solutions", "solve", "is_solution", "TECHNIQUES", "technique"]

_RCB = tuple((i // 9, i % 9, (i // 27) * 3 + (i % 9) // 3) for i in range(81))
_PEERS = tuple(
    tuple(j for j in range(81) if j != i and any(a == b for a, b in zip(_RCB[i], _RCB[j]))) for i in range(81)
)
# The other cells of each of the 3 units (row, column, box) of a cell.
_UNIT_PEERS = tuple(
    tuple(tuple(j for j in range(81) if j != i and _RCB[j][u] == _RCB[i][u]) for u in range(3))
    for i in range(81)
)
# Cell indices of the 27 units (rows, columns, boxes), for the vectorized verifier.
_UNIT_CELLS = torch.tensor([[j for j in range(81) if _RCB[j][u] == k] for u in range(3) for k in range(9)])
_POPCOUNT = tuple(bin(m).count("1") for m in range(512))
_BITS = tuple(tuple(1 << d for d in range(9) if m >> d & 1) for m in range(512))  # the set bits of a mask


def _as_cells(grid, name: str = "grid") -> list[int]:
    cells = np.asarray(grid).reshape(-1)
    if cells.shape != (81,) or not np.issubdtype(cells.dtype, np.integer):
        raise DataError(f"{name} must hold 81 integers (0 = blank, 1-9 = digits), got shape {np.shape(grid)}")
    if cells.min() < 0 or cells.max() > 9:
        raise DataError(f"{name} cells must be 0 (blank) or a digit 1-9")
    return [int(v) for v in cells]


def _search(
    cells: list[int], limit: int, ban_cell: int = -1, ban_bits: int = 0, rng: random.Random | None = None
) -> tuple[int, list[int] | None]:
    """Count completions of ``cells`` up to ``limit``; return ``(count, first completion)``.

    ``ban_bits`` removes candidates from ``ban_cell`` (the uniqueness check); ``rng`` tries
    candidates in random order (random full grids).  Clues that already clash give ``(0, None)``.
    """
    rows, cols, boxes = [0] * 9, [0] * 9, [0] * 9
    empties = []
    for i, v in enumerate(cells):
        if not v:
            empties.append(i)
            continue
        bit = 1 << (v - 1)
        r, c, b = _RCB[i]
        if (rows[r] | cols[c] | boxes[b]) & bit:
            return 0, None
        rows[r] |= bit
        cols[c] |= bit
        boxes[b] |= bit
    grid = list(cells)
    n = len(empties)
    first: list[list[int]] = []

    def rec(k: int) -> int:
        if k == n:
            if not first:
                first.append(grid.copy())
            return 1
        # Branch on the empty cell with the fewest candidates (empties[k:] are the unfilled cells).
        best, best_n, best_mask = k, 10, 0
        for j in range(k, n):
            i = empties[j]
            r, c, b = _RCB[i]
            m = ~(rows[r] | cols[c] | boxes[b]) & 511
            if i == ban_cell:
                m &= ~ban_bits
            cnt = _POPCOUNT[m]
            if cnt < best_n:
                best, best_n, best_mask = j, cnt, m
                if cnt <= 1:
                    break
        if best_n == 0:
            return 0
        empties[k], empties[best] = empties[best], empties[k]
        i = empties[k]
        r, c, b = _RCB[i]
        bits = _BITS[best_mask]
        if rng is not None and len(bits) > 1:
            bits = list(bits)
            rng.shuffle(bits)
        total = 0
        for bit in bits:
            rows[r] |= bit
            cols[c] |= bit
            boxes[b] |= bit
            grid[i] = bit.bit_length()
            total += rec(k + 1)
            rows[r] ^= bit
            cols[c] ^= bit
            boxes[b] ^= bit
            if total >= limit:
                break
        grid[i] = 0
        return total

    return rec(0), (first[0] if first else None)


def count_solutions(grid, limit: int = 2) -> int:
    """Number of completions of ``grid`` (81 cells, 0 = blank), counted up to ``limit``."""
    if limit < 1:
        raise DataError(f"limit must be >= 1, got {limit}")
    return min(_search(_as_cells(grid), limit)[0], limit)


def solve(grid) -> np.ndarray | None:
    """One completion of ``grid`` as a uint8 array [81], or ``None`` when it has none."""
    sol = _search(_as_cells(grid), 1)[1]
    return None if sol is None else np.array(sol, dtype=np.uint8)


# --- difficulty: which human technique suffices --------------------------------------------------

TECHNIQUES = ("naked singles", "hidden singles", "search")
_UNITS = tuple(tuple(int(j) for j in row) for row in _UNIT_CELLS.tolist())


def _fill_singles(cells: list[int], hidden: bool) -> bool:
    """Fill ``cells`` in place with singles only; True when the grid gets completed.

    A *naked single* is a blank with one candidate digit left by its 20 peers; a *hidden single*
    is a digit that fits only one blank of some row, column or box.  Each pass fills every
    single it finds against the grid as it was at the start of the pass.
    """
    while True:
        blanks = [i for i in range(81) if not cells[i]]
        if not blanks:
            return True
        cand = {i: 511 & ~sum({1 << (cells[j] - 1) for j in _PEERS[i] if cells[j]}) for i in blanks}
        found = {i: m.bit_length() for i, m in cand.items() if _POPCOUNT[m] == 1}
        if hidden:
            for unit in _UNITS:
                for d in range(9):
                    spots = [i for i in unit if not cells[i] and cand[i] >> d & 1]
                    if len(spots) == 1:
                        found.setdefault(spots[0], d + 1)
        if not found:
            return False
        for i, v in found.items():
            cells[i] = v


def technique(puzzle) -> str:
    """The simplest technique that solves ``puzzle`` (81 cells, 0 = blank), one of
    :data:`TECHNIQUES`: ``"naked singles"`` alone, ``"hidden singles"`` (with naked ones), or
    ``"search"`` (singles get stuck: pairs, chains or guessing are needed).

    A model that reveals one cell per step must find a forced cell every step; how often it can
    do so with which technique is the difficulty a Sudoku model's accuracy depends on.
    """
    cells = _as_cells(puzzle, "puzzle")
    if _fill_singles(list(cells), hidden=False):
        return TECHNIQUES[0]
    return TECHNIQUES[1] if _fill_singles(list(cells), hidden=True) else TECHNIQUES[2]


def is_solution(puzzle, solution) -> bool:
    """True iff ``solution`` is a completely filled valid grid that agrees with every clue of ``puzzle``."""
    p = np.asarray(puzzle).reshape(-1)
    s = np.asarray(solution).reshape(-1)
    if p.shape != (81,) or s.shape != (81,):
        return False
    grid = s.reshape(9, 9)
    units = [*grid, *grid.T, *grid.reshape(3, 3, 3, 3).transpose(0, 2, 1, 3).reshape(9, 9)]
    digits = set(range(1, 10))
    return all(set(u.tolist()) == digits for u in units) and bool(np.all((p == 0) | (p == s)))

