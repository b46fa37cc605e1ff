import random

import numpy as np
import pytest
import torch

from mdm.errors import DataError, TokenError
from mdm.tasks import sudoku
from mdm.tasks.base import build_task, check_item, collate
from mdm.tokenizers import tokenizer_from_dict

# --- an independent oracle: plain backtracking over Python sets ----------------------------------


def _units():
    rows = [[9 * r + c for c in range(9)] for r in range(9)]
    cols = [[9 * r + c for r in range(9)] for c in range(9)]
    boxes = [
        [9 * (3 * br + i) + 3 * bc + j for i in range(3) for j in range(3)]
        for br in range(3)
        for bc in range(3)
    ]
    return rows + cols + boxes


UNITS = _units()
PEERS = [set().union(*(u for u in UNITS if i in u)) - {i} for i in range(81)]


def oracle_count(grid, limit=2):
    """Number of completions (up to limit) by backtracking on the cell with the fewest options."""
    g = [int(v) for v in grid]
    for i in range(81):
        if g[i] and any(g[j] == g[i] for j in PEERS[i]):
            return 0

    def rec():
        best, options = None, None
        for i in range(81):
            if g[i] == 0:
                opts = set(range(1, 10)) - {g[j] for j in PEERS[i]}
                if options is None or len(opts) < len(options):
                    best, options = i, opts
        if best is None:
            return 1
        total = 0
        for d in sorted(options):
            g[best] = d
            total += rec()
            g[best] = 0
            if total >= limit:
                break
        return total

    return min(rec(), limit)


def oracle_valid(puzzle, solution):
    s = [int(v) for v in solution]
    return all(sorted(s[i] for i in u) == list(range(1, 10)) for u in UNITS) and all(
        p == 0 or p == v for p, v in zip(puzzle, s)
    )


@pytest.fixture(scope="module")
def batch():
    return sudoku.generate(30, min_clues=30, max_clues=35, seed=7)


# --- generator -------------------------------------------------------------------------------------


def test_generated_puzzles_are_unique_valid_and_within_clue_range(batch):
    puzzles, solutions = batch
    assert puzzles.shape == solutions.shape == (30, 81) and puzzles.dtype == np.uint8
    clues = (puzzles > 0).sum(1)
    assert clues.min() >= 30 and clues.max() <= 35 and len(set(clues.tolist())) > 1
    for p, s in zip(puzzles, solutions):
        assert oracle_count(p) == 1
        assert oracle_valid(p, s)
        assert sudoku.is_solution(p, s)


@pytest.mark.parametrize("clues", [24, 28, 40, 81])
def test_exact_clue_count_and_uniqueness(clues):
    puzzles, solutions = sudoku.generate(4, min_clues=clues, max_clues=clues, seed=clues)
    assert ((puzzles > 0).sum(1) == clues).all()
    for p, s in zip(puzzles, solutions):
        assert oracle_count(p) == 1 and oracle_valid(p, s)


def test_generation_is_deterministic_per_seed_and_index():
    a = sudoku.generate(6, seed=3)
    b = sudoku.generate(6, seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    c = sudoku.generate(6, seed=4)
    assert not np.array_equal(a[0], c[0])
    tail = sudoku.generate(2, seed=3, start=4)  # any index range reproduces on its own
    assert np.array_equal(tail[0], a[0][4:]) and np.array_equal(tail[1], a[1][4:])
    assert not np.array_equal(sudoku.generate(2, seed=3, split="test")[0], a[0][:2])


def test_random_solution_is_a_valid_grid():
    rng = random.Random(0)
    for _ in range(5):
        s = sudoku.random_solution(rng)
        assert oracle_valid([0] * 81, s)


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
    j = next(j for j in sorted(sudoku._PEERS[filled[0]]) if clash[j] == 0)
    clash[j] = clash[filled[0]]  # a digit repeated among peers: no completion
    assert sudoku.count_solutions(clash) == 0 and sudoku.solve(clash) is None


def test_bad_generator_arguments_raise():
    with pytest.raises(DataError, match="17"):
        sudoku.generate(1, min_clues=16, max_clues=20)
    with pytest.raises(DataError, match="min_clues"):
        sudoku.generate(1, min_clues=35, max_clues=30)
    with pytest.raises(DataError, match="81"):
        sudoku.count_solutions([0] * 80)
    with pytest.raises(DataError):
        sudoku.SudokuConfig(n_train=-1)


# --- serialisation and verifier ------------------------------------------------------------------


def test_serialisation_round_trips_and_matches_paper_layout(batch):
    puzzles, solutions = batch
    tok = sudoku.tokenizer()
    ids = sudoku.encode_grid(puzzles[0])
    assert ids.shape == (89,) and ids.dtype == torch.long
    assert np.array_equal(sudoku.decode_grid(ids), puzzles[0])
    text = tok.decode(ids)
    rows = text.split("|")
    assert len(rows) == 9 and all(len(r) == 9 for r in rows)
    assert rows[0] == "".join("." if v == 0 else str(v) for v in puzzles[0][:9])
    assert tok.encode(text) == ids.tolist()
    assert tokenizer_from_dict(tok.to_dict()) == tok and tok.mask_id not in ids.tolist()
    bad = ids.clone()
    bad[9] = 5  # separator replaced
    with pytest.raises(TokenError):
        sudoku.decode_grid(bad)
    bad = ids.clone()
    bad[0] = tok.mask_id
    with pytest.raises(TokenError):
        sudoku.decode_grid(bad)


def _sequence(p, s):
    return torch.cat([sudoku.encode_grid(p), sudoku.encode_grid(s)])


def test_verifier_accepts_true_answers_and_rejects_corruptions(batch):
    puzzles, solutions = batch
    tok = sudoku.tokenizer()
    good = torch.stack([_sequence(p, s) for p, s in zip(puzzles, solutions)])
    assert sudoku.verify(good).all() and sudoku.verify(good[0]).item()

    p, s = puzzles[0], solutions[0]
    base = _sequence(p, s)
    cell = 89 + 10 * 4 + 3  # answer row 4, col 3
    cases = {}
    x = base.clone()
    x[cell] = x[cell] % 9 + 1  # one wrong digit
    cases["wrong cell"] = x
    x = base.clone()
    x[cell] = tok.mask_id
    cases["mask"] = x
    x = base.clone()
    x[cell] = 0
    cases["blank"] = x
    x = base.clone()
    x[cell] = tok.pad_id
    cases["pad"] = x
    x = base.clone()
    a, b = 89 + 10 * 1 + 2, 89 + 10 * 5 + 2  # same column, two rows: both rows now repeat a digit
    x[a], x[b] = base[b], base[a]
    cases["swap"] = x
    x = base.clone()
    x[89 + 9], x[89 + 10] = base[89 + 10], base[89 + 9]  # separator moved by one
    cases["separator"] = x
    x = base.clone()
    x[89:] = sudoku.encode_grid((s % 9) + 1)  # a valid grid, but it breaks the clues
    assert sudoku.is_solution(np.zeros(81, dtype=np.uint8), (s % 9) + 1)
    cases["other grid"] = x
    x = base.clone()
    x[10 * 4 + 3] = tok.mask_id  # malformed puzzle half
    cases["bad prompt"] = x
    batch_bad = torch.stack(list(cases.values()))
    got = sudoku.verify(batch_bad)
    assert not got.any(), {k: bool(v) for k, v in zip(cases, got)}

    with pytest.raises(TokenError):
        sudoku.verify(good[:, :-1])
    with pytest.raises(TokenError):
        sudoku.verify(good.int())


def test_verifier_agrees_with_oracle_on_random_corruptions(batch):
    puzzles, solutions = batch
    gen = torch.Generator().manual_seed(0)
    rows, expect = [], []
    for k in range(200):
        p, s = puzzles[k % 30], solutions[k % 30].copy()
        n_changes = int(torch.randint(0, 3, (1,), generator=gen))
        for _ in range(n_changes):
            i = int(torch.randint(0, 81, (1,), generator=gen))
            s[i] = int(torch.randint(1, 10, (1,), generator=gen))
        rows.append(_sequence(p, s))
        expect.append(oracle_valid(p, s))
    assert sum(expect) > 20 and sum(expect) < 180  # both outcomes are exercised
    assert sudoku.verify(torch.stack(rows)).tolist() == expect


# --- dataset ---------------------------------------------------------------------------------------

SMALL = sudoku.SudokuConfig(n_train=40, n_test=10, seed=5)


def test_dataset_items_shapes_and_eligibility():
    train, test = sudoku.SudokuDataset.splits(SMALL)
    assert len(train) == 40 and len(test) == 10
    item = train[3]
    check_item(item, train.tokenizer.vocab_size)
    assert item["input_ids"].shape == (178,) and item["input_ids"].dtype == torch.long
    assert not item["eligible"][:89].any() and item["eligible"][89:].all()
    assert torch.equal(item["input_ids"][:89], train.prompts()[3])
    assert np.array_equal(sudoku.decode_grid(item["input_ids"][89:]), train.solutions[3])
    batch = collate([train[i] for i in range(8)])
    assert batch["input_ids"].shape == (8, 178) and train.verify(batch["input_ids"]).all()
    assert ((train.clues() >= 30) & (train.clues() <= 35)).all()
    # disjoint splits; the test split does not depend on n_train
    assert not {p.tobytes() for p in train.puzzles} & {p.tobytes() for p in test.puzzles}
    other = sudoku.SudokuDataset.split("test", sudoku.SudokuConfig(n_train=7, n_test=10, seed=5))
    assert np.array_equal(other.puzzles, test.puzzles)
    again = sudoku.SudokuDataset.split("train", SMALL)
    assert np.array_equal(again.puzzles, train.puzzles)


def test_dataset_constructor_rejects_wrong_solutions(batch):
    puzzles, solutions = batch
    bad = solutions.copy()
    bad[2, 0], bad[2, 1] = bad[2, 1], bad[2, 0]
    with pytest.raises(DataError, match="rows \\[2\\]"):
        sudoku.SudokuDataset(puzzles, bad)
    with pytest.raises(DataError):
        sudoku.SudokuDataset(puzzles[:, :80], solutions[:, :80])
    with pytest.raises(DataError):
        sudoku.SudokuDataset.split("validation", SMALL)


def test_cache_is_written_atomically_and_reused(tmp_path, monkeypatch):
    train, test = sudoku.SudokuDataset.splits(SMALL, cache_dir=tmp_path)
    files = sorted(f.name for f in tmp_path.iterdir())
    assert len(files) == 2 and all(f.endswith(".npz") and not f.startswith(".") for f in files)

    def boom(*args, **kwargs):
        raise AssertionError("generation must not run when the cache holds the split")

    monkeypatch.setattr(sudoku, "generate", boom)
    train2, test2 = sudoku.SudokuDataset.splits(SMALL, cache_dir=tmp_path)
    assert np.array_equal(train2.puzzles, train.puzzles) and np.array_equal(test2.solutions, test.solutions)
    monkeypatch.undo()

    for f in tmp_path.iterdir():  # a corrupted cache is regenerated, not trusted
        f.write_bytes(b"garbage")
    train3 = sudoku.SudokuDataset.split("train", SMALL, cache_dir=tmp_path)
    assert np.array_equal(train3.puzzles, train.puzzles)
    other = sudoku.SudokuConfig(n_train=40, n_test=10, seed=6)  # another config: another file
    sudoku.SudokuDataset.split("test", other, cache_dir=tmp_path)
    assert len(list(tmp_path.iterdir())) == 3


def test_registered_task_builds_bundle():
    bundle = build_task("sudoku", seq_len=178, seed=2, n_train=6, n_test=3)
    assert len(bundle.train) == 6 and len(bundle.val) == 3 and bundle.seq_len == 178
    assert bundle.tokenizer.vocab_size == 16 and bundle.tokenizer.mask_id == 15
    with pytest.raises(DataError, match="178"):
        build_task("sudoku", seq_len=100, n_train=1, n_test=1)


@pytest.mark.slow  # spawning workers that import torch takes seconds
def test_parallel_generation_gives_the_same_puzzles():
    one = sudoku.generate(5, seed=9, split="test")
    two = sudoku.generate(5, seed=9, split="test", workers=2)
    assert np.array_equal(one[0], two[0]) and np.array_equal(one[1], two[1])


# --- difficulty grading --------------------------------------------------------------------------


def test_hidden_single_found_only_by_the_hidden_rule():
    """Digit 1 is barred from rows 1, 2 and columns 1, 2 of the top-left box, so it can only go
    to cell (0, 0): a hidden single, although (0, 0) still has eight candidates (no naked one)."""
    from mdm.tasks.sudoku import _fill_singles

    grid = [0] * 81
    for r, c in ((1, 4), (2, 7), (4, 1), (7, 2)):
        grid[9 * r + c] = 1
    naked = list(grid)
    assert not _fill_singles(naked, hidden=False) and naked == grid  # nothing filled
    hidden = list(grid)
    assert not _fill_singles(hidden, hidden=True)
    assert hidden[0] == 1


def test_technique_grades_generated_puzzles_consistently():
    from mdm.tasks.sudoku import TECHNIQUES, _fill_singles, technique

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
