"""Seeded generation of uniquely solvable 9×9 Sudoku puzzles.

:func:`make_puzzle`: a random full grid (random diagonal boxes completed by a randomized depth-first
solver), then clues are blanked in a random order for as long as the solution stays unique, until
the target clue count is reached (a fresh grid is tried if the puzzle turns minimal above the
target).  A removal is checked cheaply: the puzzle had the unique solution S, so after blanking cell
i (value v) it is still unique iff v is forced -- no other digit fits i, or v fits no other cell of
one of i's units (naked / hidden single: no search at all), or else a search for a completion with
``cell i != v`` finds none (one existence search, cheaper than counting solutions up to 2).  Each
puzzle has its own seed derived from ``(seed, split, index)``, so a split is the same on every
machine and the test split does not depend on the train size.  Speed (one busy core): about 250
puzzles/s at 30-35 clues, 40/s at 25, 1/s at 22.

**Difficulty** is the number of clues.  The default, 30 to 35 clues (uniform per puzzle), gives
puzzles a small model can learn; fewer clues are harder.  17 is the fewest any uniquely solvable
9×9 Sudoku has; random digging rarely gets below about 22.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import random
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from tqdm import tqdm

from mdm.errors import DataError
from mdm.tasks.sudoku.solver import _POPCOUNT, _RCB, _UNIT_PEERS, _search

__all__ = ["random_solution", "make_puzzle", "generate"]


def _random_grid(rng: random.Random) -> list[int]:
    # The three diagonal boxes share no row or column: fill them with independent random
    # permutations, then let the randomized search complete the grid (2-3x faster than from empty).
    cells = [0] * 81
    for box in (0, 4, 8):
        digits = list(range(1, 10))
        rng.shuffle(digits)
        for k, d in enumerate(digits):
            cells[(box // 3) * 27 + (k // 3) * 9 + (box % 3) * 3 + k % 3] = d
    return _search(cells, 1, rng=rng)[1]


def random_solution(rng: random.Random) -> np.ndarray:
    """A random completely filled valid grid, uint8 [81]."""
    return np.array(_random_grid(rng), dtype=np.uint8)


def _dig(solution: list[int], clues: int, rng: random.Random) -> list[int] | None:
    """Blank cells of ``solution`` in random order while the solution stays unique.

    Returns a puzzle with exactly ``clues`` clues, or ``None`` if it became minimal above that.
    The puzzle stays unique iff the blanked value v is forced: a naked single (every other digit
    is among the cell's peers), a hidden single (v fits no other empty cell of one of its units),
    or else no completion with ``cell != v`` exists.
    """
    puzzle = list(solution)
    order = list(range(81))
    rng.shuffle(order)
    rows, cols, boxes = [511] * 9, [511] * 9, [511] * 9  # digits present among the clues
    n = 81
    for i in order:
        if n == clues:
            break
        v = puzzle[i]
        bit = 1 << (v - 1)
        r, c, b = _RCB[i]
        puzzle[i] = 0
        rows[r] ^= bit
        cols[c] ^= bit
        boxes[b] ^= bit
        forced = _POPCOUNT[rows[r] | cols[c] | boxes[b]] == 8
        if not forced:
            for unit in _UNIT_PEERS[i]:
                for j in unit:
                    if not puzzle[j] and not (rows[_RCB[j][0]] | cols[_RCB[j][1]] | boxes[_RCB[j][2]]) & bit:
                        break  # v fits cell j: this unit does not force it
                else:
                    forced = True
                    break
        if forced or _search(puzzle, 1, ban_cell=i, ban_bits=bit)[0] == 0:
            n -= 1
        else:
            puzzle[i] = v
            rows[r] |= bit
            cols[c] |= bit
            boxes[b] |= bit
    return puzzle if n == clues else None


def _check_clues(clues: int) -> None:
    if not 17 <= clues <= 81:
        raise DataError(
            f"clues must be in [17, 81], got {clues} (no Sudoku with under 17 clues has a unique solution)"
        )


def make_puzzle(rng: random.Random, clues: int, *, max_attempts: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """A uniquely solvable puzzle with exactly ``clues`` clues: ``(puzzle, solution)``, uint8 [81] each."""
    _check_clues(clues)
    for _ in range(max_attempts):
        solution = _random_grid(rng)
        puzzle = _dig(solution, clues, rng)
        if puzzle is not None:
            return np.array(puzzle, dtype=np.uint8), np.array(solution, dtype=np.uint8)
    raise DataError(
        f"found no uniquely solvable puzzle with {clues} clues in {max_attempts} attempts; "
        "ask for more clues (random digging rarely gets below about 22)"
    )


def _puzzle_rng(seed: int, split: str, index: int) -> random.Random:
    digest = hashlib.sha256(f"mdm.sudoku/{seed}/{split}/{index}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


def generate(
    n: int,
    *,
    min_clues: int = 30,
    max_clues: int = 35,
    seed: int = 0,
    split: str = "train",
    start: int = 0,
    progress: bool = False,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Puzzles ``start .. start+n-1`` of stream ``(seed, split)``: ``(puzzles, solutions)``, uint8 [n, 81].

    Puzzle i uses its own generator seeded from ``(seed, split, i)`` and a clue count drawn uniformly
    from ``[min_clues, max_clues]``, so any index range can be generated on its own -- and
    ``workers > 1`` processes give exactly the same puzzles as one.
    """
    _check_clues(min_clues)
    _check_clues(max_clues)
    if min_clues > max_clues:
        raise DataError(f"min_clues ({min_clues}) must be <= max_clues ({max_clues})")
    if n < 0 or workers < 1:
        raise DataError(f"n must be >= 0 and workers >= 1, got n={n}, workers={workers}")
    if workers > 1 and n > 1:
        return _generate_parallel(
            n, start, workers, progress, min_clues=min_clues, max_clues=max_clues, seed=seed, split=split
        )
    puzzles = np.zeros((n, 81), dtype=np.uint8)
    solutions = np.zeros((n, 81), dtype=np.uint8)
    indices = tqdm(range(start, start + n), desc=f"sudoku {split}", unit="puzzle", disable=not progress)
    for row, index in enumerate(indices):
        rng = _puzzle_rng(seed, split, index)
        puzzles[row], solutions[row] = make_puzzle(rng, rng.randint(min_clues, max_clues))
    return puzzles, solutions


def _generate_parallel(
    n: int, start: int, workers: int, progress: bool, **kw
) -> tuple[np.ndarray, np.ndarray]:
    bounds = np.linspace(start, start + n, min(n, 8 * workers) + 1).astype(int).tolist()
    # spawn, not fork: the parent may hold torch/OpenMP threads that a forked child would inherit.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(generate, b - a, start=a, **kw) for a, b in zip(bounds[:-1], bounds[1:])]
        parts = []
        with tqdm(total=n, desc=f"sudoku {kw['split']}", unit="puzzle", disable=not progress) as bar:
            for f in futures:
                parts.append(f.result())
                bar.update(len(parts[-1][0]))
    return np.concatenate([p for p, _ in parts]), np.concatenate([s for _, s in parts])
