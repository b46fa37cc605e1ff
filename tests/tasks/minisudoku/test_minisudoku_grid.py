"""The small-Sudoku solver against brute force: all 288 4x4 grids enumerated row permutation by row
permutation (24^4 = 331,776 candidates, no search), and uniqueness of partial grids checked by
filtering that list."""

import itertools
import random

import pytest

from mdm.errors import DataError
from mdm.tasks.minisudoku import SHAPES, Shape, count_solutions, is_solution, solve
from mdm.tasks.minisudoku.grid import random_grid, solutions

S4, S6 = SHAPES["4x4"], SHAPES["6x6"]


@pytest.fixture(scope="module")
def all_4x4():
    """Every valid 4x4 grid by brute force: rows are permutations; keep columns and 2x2 boxes distinct."""
    rows = list(itertools.permutations(range(1, 5)))
    grids = []
    for r in itertools.product(rows, repeat=4):
        if any(len({r[i][c] for i in range(4)}) != 4 for c in range(4)):
            continue
        boxes = ({r[R + i][C + j] for i in range(2) for j in range(2)} for R in (0, 2) for C in (0, 2))
        if any(len(b) != 4 for b in boxes):
            continue
        grids.append(tuple(v for row in r for v in row))
    return grids


def test_the_solver_finds_exactly_the_288_grids(all_4x4):
    assert len(all_4x4) == 288  # the known count of 4x4 Sudokus
    found = solutions(S4, [0] * 16)
    assert len(found) == 288 and set(map(tuple, found)) == set(all_4x4)
    assert count_solutions(S4, [0] * 16, limit=1000) == 288
    assert all(is_solution(S4, [0] * 16, g) for g in all_4x4)


def test_solution_counts_of_random_partial_grids_match_enumeration(all_4x4):
    rng = random.Random(0)
    seen = {0: 0, 1: 0, "many": 0}
    for _ in range(300):
        g = list(rng.choice(all_4x4))
        keep = rng.randint(0, 10)
        for i in rng.sample(range(16), 16 - keep):
            g[i] = 0
        if rng.random() < 0.3:  # sometimes a wrong clue: maybe no solution at all
            g[rng.randrange(16)] = rng.randint(1, 4)
        truth = sum(all(a in (0, b) for a, b in zip(g, full)) for full in all_4x4)
        assert count_solutions(S4, g, limit=300) == truth
        assert count_solutions(S4, g, limit=2) == min(truth, 2)
        seen[truth if truth < 2 else "many"] += 1
        if truth == 1:
            assert tuple(solve(S4, g)) in all_4x4
    assert min(seen.values()) > 10  # the draws cover none, one and several solutions


def test_6x6_geometry_and_random_grids():
    assert S6.n == 6 and S6.cells == 36 and len(S6.units) == 18
    assert all(len(u) == 6 for u in S6.units) and all(len(p) == 5 + 5 + 5 - 2 - 1 for p in S6.peers)
    assert S6.units[12] == (0, 1, 2, 6, 7, 8)  # the first box: 2 rows by 3 columns
    for seed in range(5):
        g = random_grid(S6, random.Random(seed))
        assert is_solution(S6, [0] * 36, g) and count_solutions(S6, g) == 1


def test_is_solution_rejects_broken_grids(all_4x4):
    g = list(all_4x4[0])
    assert is_solution(S4, [0] * 16, g)
    assert not is_solution(S4, [g[0] % 4 + 1] + [0] * 15, g)  # a clue not kept
    h = g[:]
    h[0], h[1] = h[1], h[0]  # rows still fine, columns broken
    assert not is_solution(S4, [0] * 16, h)
    assert not is_solution(S4, [0] * 16, [0] + g[1:])  # not full


def test_bad_input_raises():
    with pytest.raises(DataError, match="16 cells"):
        count_solutions(S4, [0] * 15)
    with pytest.raises(DataError, match="0 \\(empty\\) or 1..4"):
        count_solutions(S4, [5] + [0] * 15)
    with pytest.raises(DataError, match="more than one"):
        solve(S4, [0] * 16)
    with pytest.raises(DataError, match="no solution"):
        solve(S4, [1, 1] + [0] * 14)
    with pytest.raises(DataError, match="positive int"):
        Shape(0, 2)
    with pytest.raises(DataError, match="1..9 at most"):
        Shape(2, 5)
