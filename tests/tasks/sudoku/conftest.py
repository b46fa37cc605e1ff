import pytest

from mdm.tasks import sudoku


@pytest.fixture(scope="module")
def batch():
    """30 generated puzzles with their solutions, shared by the Sudoku tests of a module."""
    return sudoku.generate(30, min_clues=30, max_clues=35, seed=7)
