"""Generated small Sudokus: unique (checked by the exact solver, and for 4x4 by enumeration), minimal,
seeded, and no puzzle in two splits."""

import itertools

import pytest

from mdm.errors import DataError
from mdm.tasks.minisudoku import SHAPES, count_solutions, generate_splits, is_solution

S4, S6 = SHAPES["4x4"], SHAPES["6x6"]


@pytest.mark.parametrize("shape,n", [(S4, 60), (S6, 12)])
def test_puzzles_are_unique_minimal_and_match_their_solution(shape, n):
    split = generate_splits(shape, {"train": n}, seed=1)
    for p, s in zip(*split["train"]):
        assert count_solutions(shape, p, limit=2) == 1 and is_solution(shape, p, s)
        for i in (i for i, v in enumerate(p) if v):  # minimal: no clue can go
            q = list(p)
            q[i] = 0
            assert count_solutions(shape, q, limit=2) == 2


def test_4x4_puzzles_have_one_completion_among_all_grids():
    rows = list(itertools.permutations(range(1, 5)))  # brute force, as in test_minisudoku_grid
    grids = [tuple(v for r in g for v in r) for g in itertools.product(rows, repeat=4)
             if all(len({g[i][c] for i in range(4)}) == 4 for c in range(4))
             and all(len({g[R + i][C + j] for i in range(2) for j in range(2)}) == 4
                     for R in (0, 2) for C in (0, 2))]
    assert len(grids) == 288
    for p, s in zip(*generate_splits(S4, {"t": 40}, seed=2)["t"]):
        fits = [g for g in grids if all(a in (0, b) for a, b in zip(p, g))]
        assert fits == [tuple(s)]


def test_splits_are_disjoint_seeded_and_sized():
    a = generate_splits(S4, {"train": 50, "valid": 10, "test": 20}, seed=3)
    b = generate_splits(S4, {"train": 50, "valid": 10, "test": 20}, seed=3)
    assert a == b and {k: len(v[0]) for k, v in a.items()} == {"train": 50, "valid": 10, "test": 20}
    sets = [set(map(tuple, v[0])) for v in a.values()]
    assert sum(map(len, sets)) == 80 and len(set.union(*sets)) == 80
    assert generate_splits(S4, {"train": 50}, seed=4) != a


def test_bad_sizes_raise():
    with pytest.raises(DataError, match="non-negative ints"):
        generate_splits(S4, {"train": -1}, seed=0)
