"""The Sudoku split cache carries a SHA-256: a truncated, byte-flipped or altered file is rebuilt."""

import io
import json
import random

import numpy as np
import pytest

from mdm.tasks import sudoku

CFG = sudoku.SudokuConfig(n_train=12, n_test=4, seed=3)


@pytest.fixture
def cached(tmp_path):
    split = sudoku.SudokuDataset.split("test", CFG, cache_dir=tmp_path)
    (path,) = tmp_path.iterdir()
    return path, split.puzzles.copy(), split.solutions.copy()


def _generations(monkeypatch):
    calls, real = [], sudoku.dataset.generate

    def counting(*args, **kw):
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(sudoku.dataset, "generate", counting)
    return calls


def _altered(path, edit):
    """The cache rewritten as a valid .npz whose arrays were edited but whose meta and hash were kept."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    edit(arrays)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _drop_hash(arrays):
    del arrays["sha256"]


def _change_a_clue(arrays):
    p = arrays["puzzles"].copy()
    p[0, p[0].argmax()] = 0
    arrays["puzzles"] = p


def _reorder_solutions(arrays):
    arrays["solutions"] = arrays["solutions"][::-1].copy()


@pytest.mark.parametrize("damage", ["truncate", "altered-puzzle", "altered-solutions", "no-hash", "garbage"])
def test_a_damaged_cache_is_detected_and_rebuilt(cached, monkeypatch, damage):
    path, puzzles, solutions = cached
    data = path.read_bytes()
    damaged = {
        "truncate": lambda: data[: len(data) // 2],
        "altered-puzzle": lambda: _altered(path, _change_a_clue),
        "altered-solutions": lambda: _altered(path, _reorder_solutions),
        "no-hash": lambda: _altered(path, _drop_hash),
        "garbage": lambda: b"PK\x03\x04" + bytes(200),
    }[damage]()
    path.write_bytes(damaged)
    calls = _generations(monkeypatch)
    again = sudoku.SudokuDataset.split("test", CFG, cache_dir=path.parent)
    assert calls, "a damaged cache must be regenerated, not used"
    assert np.array_equal(again.puzzles, puzzles) and np.array_equal(again.solutions, solutions)
    with np.load(path) as z:  # and the file was rewritten whole
        assert np.array_equal(z["puzzles"], puzzles) and json.loads(str(z["meta"]))["split"] == "test"


def test_byte_flips_anywhere_never_yield_wrong_data(cached, monkeypatch):
    path, puzzles, solutions = cached
    data = path.read_bytes()
    rng = random.Random(0)
    calls = _generations(monkeypatch)
    for _ in range(30):  # n = 30 seeded offsets over the whole file
        i = rng.randrange(len(data))
        path.write_bytes(data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1:])
        got = sudoku.SudokuDataset.split("test", CFG, cache_dir=path.parent)
        assert np.array_equal(got.puzzles, puzzles) and np.array_equal(got.solutions, solutions)
    assert len(calls) >= 20  # most flips land in the array data or headers and are caught
    calls.clear()
    sudoku.SudokuDataset.split("test", CFG, cache_dir=path.parent)
    assert not calls  # an intact cache is used
