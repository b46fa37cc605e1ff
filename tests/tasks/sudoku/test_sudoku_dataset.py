import numpy as np
import pytest
import torch
from sudoku_oracle import oracle_valid

from mdm.errors import DataError, TokenError
from mdm.tasks import sudoku
from mdm.tasks.base import build_task, check_item, collate
from mdm.tokenizers import tokenizer_from_dict

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

    monkeypatch.setattr(sudoku.dataset, "generate", boom)
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



def test_bad_config_raises():
    with pytest.raises(DataError):
        sudoku.SudokuConfig(n_train=-1)


def test_validation_split_is_disjoint_reproducible_and_leaves_train_and_test_alone(tmp_path, monkeypatch):
    config = sudoku.SudokuConfig(n_train=40, n_test=10, n_valid=12, seed=5)
    train, test = sudoku.SudokuDataset.splits(SMALL)
    bundle = build_task("sudoku", seq_len=178, seed=5, n_train=40, n_test=10, n_valid=12, cache_dir=tmp_path)
    assert np.array_equal(bundle.train.puzzles, train.puzzles)
    assert np.array_equal(bundle.val.puzzles, test.puzzles)
    valid = sudoku.SudokuDataset.split("valid", config)
    assert len(valid) == 12 and np.array_equal(bundle.valid.puzzles, valid.puzzles)  # cached or not
    keys = {p.tobytes() for p in (*train.puzzles, *test.puzzles)}
    assert not keys & {p.tobytes() for p in valid.puzzles}
    assert build_task("sudoku", seq_len=178, seed=5, n_train=40, n_test=10).valid is None

    # Streams never collide by chance: make the validation stream replay the train stream, so only
    # the exclusion keeps the validation split off the train puzzles.
    generate = sudoku.dataset.generate
    monkeypatch.setattr(sudoku.dataset, "generate",
                        lambda n, **kw: generate(n, **{**kw, "split": kw["split"].replace("valid", "train")}))
    replayed = sudoku.SudokuDataset.split("valid", config)
    assert not keys & {p.tobytes() for p in replayed.puzzles} and len(replayed) == 12
    assert np.array_equal(replayed.puzzles, sudoku.generate(12, seed=5, start=40)[0])
