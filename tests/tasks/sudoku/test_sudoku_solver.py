import random

import numpy as np
import pytest
from sudoku_oracle import oracle_count, oracle_valid

from mdm.errors import DataError
from mdm.tasks import sudoku
from mdm.tasks.sudoku.solver import _PEERS, TECHNIQUES, _fill_singles, technique


def test_count_solutions_matches_oracle(batch):
    puzzles, solutions = batch
    rng = random.Random(1)
    for p, s in zip(puzzles[:10], solutions[:10]):
        q = p.copy()
        q[rng.sample([i for i in range(81) if q[i]], 4)] = 0  # usually no longer unique
        for limit in (1, 2, 5):
            assert sudoku.count_solutions(q, limit) == oracle_count(q, limit)
        sol = sudoku.solve(q)
        assert oracle_valid(q, sol)
        assert sudoku.count_solutions(s) == 1
    clash = puzzles[0].copy()
    filled = [i for i in range(81) if clash[i]]
    j = next(j for j in sorted(_PEERS[filled[0]]) if clash[j] == 0)
    clash[j] = clash[filled[0]]  # a digit repeated among peers: no completion
    assert sudoku.count_solutions(clash) == 0 and sudoku.solve(clash) is None



def test_bad_solver_arguments_raise():
    with pytest.raises(DataError, match="81"):
        sudoku.count_solutions([0] * 80)


# --- difficulty grading --------------------------------------------------------------------------


def test_hidden_single_found_only_by_the_hidden_rule():
    """Digit 1 is barred from rows 1, 2 and columns 1, 2 of the top-left box, so it can only go
    to cell (0, 0): a hidden single, although (0, 0) still has eight candidates (no naked one)."""
    grid = [0] * 81
    for r, c in ((1, 4), (2, 7), (4, 1), (7, 2)):
        grid[9 * r + c] = 1
    naked = list(grid)
    assert not _fill_singles(naked, hidden=False) and naked == grid  # nothing filled
    hidden = list(grid)
    assert not _fill_singles(hidden, hidden=True)
    assert hidden[0] == 1


def test_technique_grades_generated_puzzles_consistently():
    seen = set()
    for seed, clues in ((0, 40), (1, 30), (2, 30), (3, 26), (4, 26), (5, 24)):
        puzzle, solution = sudoku.make_puzzle(random.Random(seed), clues)
        grade = technique(puzzle)
        seen.add(grade)
        for hidden in (False, True):
            cells = [int(v) for v in puzzle.reshape(-1)]
            done = _fill_singles(cells, hidden)
            # whatever singles fill is right (singles are forced), and "solved" matches the grade
            filled = np.array(cells) > 0
            assert (np.array(cells)[filled] == solution.reshape(-1)[filled]).all()
            assert done == (TECHNIQUES.index(grade) <= int(hidden))
    assert seen == set(TECHNIQUES)  # the grid of clue counts reaches every grade
    assert technique(solution) == "naked singles"  # nothing to fill
    assert technique(np.zeros(81, dtype=int)) == "search"
