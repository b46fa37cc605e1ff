"""The sorting task: generator (splits, determinism) and the exact checker, against enumeration."""

import itertools

import pytest
import torch

from mdm.errors import MDMError
from mdm.tasks.sorting import SortingConfig, SortingDataset, encode, make_splits, tokenizer, verify


def test_splits_are_deterministic_disjoint_and_in_range():
    cfg = SortingConfig(length=32, n_symbols=10, n_train=300, n_test=50, seed=3)
    train, test = make_splits(cfg)
    assert (train, test) == make_splits(cfg)  # same seed, same splits
    assert make_splits(SortingConfig(length=32, n_train=300, n_test=50, seed=4)) != (train, test)
    assert len(train) == 300 and len(test) == 50
    assert len(set(train)) == 300 and len(set(test)) == 50 and not set(train) & set(test)
    assert all(len(s) == 32 and all(0 <= d < 10 for d in s) for s in (*train, *test))
    # the test split does not change with n_train
    assert make_splits(SortingConfig(length=32, n_train=10, n_test=50, seed=3))[1] == test


def test_every_split_of_a_tiny_space_is_filled_without_repeats():
    cfg = SortingConfig(length=3, n_symbols=2, n_train=6, n_test=2, seed=0)  # all 8 sequences
    train, test = make_splits(cfg)
    assert sorted(train + test) == sorted(itertools.product(range(2), repeat=3))


def test_encode_writes_the_sorted_prompt_after_the_separator():
    tok = tokenizer()
    row = encode((3, 1, 4, 1, 5))
    assert tok.decode(row.tolist()) == "31415=11345"
    ds = SortingDataset([(3, 1, 4, 1, 5)], SortingConfig(length=5, n_train=0, n_test=1))
    item = ds[0]
    assert item["eligible"].tolist() == [False] * 6 + [True] * 5
    assert ds.prompts().tolist() == [[3, 1, 4, 1, 5, tok.encode("=")[0]]] and ds.answer_len == 5


def test_verify_agrees_with_enumeration_of_every_answer():
    # every prompt of length 3 over 3 symbols x every answer over the digits 0-2 and the mask id:
    # the checker accepts exactly the sorted prompt (27 x 64 = 1,728 cases)
    tok = tokenizer()
    eq, mask = tok.encode("=")[0], tok.mask_id
    rows, want = [], []
    for seq in itertools.product(range(3), repeat=3):
        for ans in itertools.product([0, 1, 2, mask], repeat=3):
            rows.append([*seq, eq, *ans])
            want.append(list(ans) == sorted(seq))
    got = verify(torch.tensor(rows), length=3)
    assert got.tolist() == want and sum(want) == 27


def test_verify_rejects_a_malformed_prompt_and_a_wrong_shape():
    tok = tokenizer()
    good = encode((2, 0, 1))
    bad_sep = good.clone()
    bad_sep[3] = 0  # no '=' after the prompt
    bad_prompt = good.clone()
    bad_prompt[0] = tok.mask_id
    assert verify(torch.stack([good, bad_sep, bad_prompt]), length=3).tolist() == [True, False, False]
    with pytest.raises(MDMError, match="shape"):
        verify(good[None, :-1], length=3)


@pytest.mark.parametrize("kw", [dict(length=0), dict(n_symbols=11), dict(n_symbols=1),
                                dict(length=2, n_symbols=2, n_train=4, n_test=1)])
def test_bad_configs_raise_with_a_fix(kw):
    with pytest.raises(MDMError):
        SortingConfig(**kw)
