"""The copy task: answers are the prompt's first symbols, splits disjoint and seeded, prompt never masked."""

import pytest
import torch

from mdm.errors import DataError
from mdm.tasks.base import build_task
from mdm.tasks.copy import CopyConfig, verify


def _bundle(**kw):
    opts = {"prompt_len": 12, "answer_len": 4, "n_symbols": 3, "n_train": 200, "n_test": 30, **kw}
    return build_task("copy", seq_len=opts["prompt_len"] + opts["answer_len"], seed=0, **opts)


def test_every_item_answers_with_the_first_symbols_of_its_prompt_and_only_the_answer_is_eligible():
    b = _bundle()
    for split in (b.train, b.val):
        for i in range(len(split)):
            item = split[i]
            x = item["input_ids"]
            assert torch.equal(x[12:], x[:4]) and (x < 3).all()
            assert item["eligible"].tolist() == [False] * 12 + [True] * 4
        assert split.verify(torch.stack([split[i]["input_ids"] for i in range(len(split))])).all()
    assert b.val.prompts().shape == (30, 12) and b.val.answer_len == 4


def test_splits_are_disjoint_seeded_and_the_test_split_ignores_the_train_size():
    other = build_task("copy", seq_len=None, seed=1, prompt_len=12, answer_len=4, n_symbols=3, n_train=200,
                       n_test=30)
    a, again = _bundle(), _bundle()
    rows = lambda split: {tuple(split[i]["input_ids"].tolist()) for i in range(len(split))}  # noqa: E731
    assert not rows(a.train) & rows(a.val) and len(rows(a.train)) == 200 and len(rows(a.val)) == 30
    assert rows(a.train) == rows(again.train) and rows(a.val) != rows(other.val)
    assert rows(_bundle(n_train=0).val) == rows(a.val)  # what an evaluation rebuilds


def test_verify_rejects_a_wrong_copy_a_mask_and_a_wrong_shape():
    x = torch.tensor([[0, 1, 2, 0, 1, 2, 0, 1]])  # prompt 0 1 2 0 1 2, answer 0 1
    kw = {"prompt_len": 6, "answer_len": 2, "n_symbols": 3}
    assert verify(x, **kw).tolist() == [True]
    assert verify(torch.tensor([[0, 1, 2, 0, 1, 2, 1, 1]]), **kw).tolist() == [False]
    assert verify(torch.tensor([[0, 1, 2, 0, 1, 7, 0, 1]]), **kw).tolist() == [False]  # 7: not a symbol
    with pytest.raises(DataError):
        verify(x[:, :7], **kw)


@pytest.mark.parametrize("bad", [{"answer_len": 13}, {"n_symbols": 1}, {"prompt_len": 0},
                                 {"n_train": 10 ** 9, "prompt_len": 3, "answer_len": 1}])
def test_impossible_configs_are_refused(bad):
    with pytest.raises(DataError):
        CopyConfig(**{"prompt_len": 12, "answer_len": 4, "n_symbols": 3, **bad})


def test_seq_len_must_fit_exactly():
    with pytest.raises(DataError, match="seq_len"):
        build_task("copy", seq_len=17, prompt_len=12, answer_len=4, n_symbols=3, n_train=1, n_test=1)


def test_the_packaged_config_trains_on_it():
    from mdm.train import load_config

    cfg = load_config("copy")
    assert cfg.data.task == "copy" and cfg.data.seq_len == 256 and cfg.model.learned_positions
