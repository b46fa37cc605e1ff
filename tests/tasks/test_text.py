import pytest
import torch

from mdm.errors import DataError
from mdm.losses import diffusion_loss
from mdm.tasks.base import (
    DataBundle,
    TensorItems,
    build_task,
    check_item,
    collate,
    register_task,
    sft_item,
    task_names,
)
from mdm.tasks.text import kjv_text, pack, read_corpus, split_indices, text_dataset
from mdm.tokenizers import ByteTokenizer, CharTokenizer


def test_kjv_text_is_the_bible_without_verse_numbers():
    text = kjv_text()
    assert text.startswith("In the beginning God created the heaven and the earth. And the earth")
    assert text.rstrip().endswith("Amen.")
    assert 4_000_000 < len(text) < 4_300_000
    assert "[" not in text and "1. " not in text[:5000]
    assert kjv_text(clean=False).startswith("1. In the beginning")


def test_pack_and_split_are_deterministic():
    stream = torch.arange(103)
    rows = pack(stream, 10)
    assert rows.shape == (10, 10) and torch.equal(rows.flatten(), torch.arange(100))  # tail dropped
    tr1, va1 = split_indices(50, 0.2, seed=3)
    tr2, va2 = split_indices(50, 0.2, seed=3)
    assert torch.equal(tr1, tr2) and torch.equal(va1, va2)
    assert len(va1) == 10 and sorted(tr1.tolist() + va1.tolist()) == list(range(50))
    _, va3 = split_indices(50, 0.2, seed=4)
    assert not torch.equal(va1, va3)
    with pytest.raises(DataError):
        pack(stream, 200)
    with pytest.raises(DataError):
        split_indices(3, 1.0, seed=0)


def test_text_dataset_from_local_files(tmp_path):
    (tmp_path / "a.txt").write_text("héllo wörld " * 40, encoding="utf-8")
    (tmp_path / "b.txt").write_text("second document " * 40, encoding="utf-8")
    (tmp_path / "skip.md").write_text("not a txt file")
    assert len(read_corpus(str(tmp_path))) == 2
    b1 = text_dataset(seq_len=16, seed=1, corpus=str(tmp_path), tokenizer="byte", val_fraction=0.1)
    b2 = text_dataset(seq_len=16, seed=1, corpus=str(tmp_path), tokenizer="byte", val_fraction=0.1)
    assert isinstance(b1.tokenizer, ByteTokenizer)
    assert torch.equal(b1.train.input_ids, b2.train.input_ids)
    assert torch.equal(b1.val.input_ids, b2.val.input_ids)
    n_chars, n_bytes = 12 * 40 + 16 * 40, len(("héllo wörld " * 40).encode()) + 16 * 40
    assert b1.chars_per_token == pytest.approx(n_chars / n_bytes)
    # every row is a window of the eos-joined stream; all positions eligible, no padding
    stream = torch.cat([b1.train.input_ids, b1.val.input_ids]).flatten()
    assert int((stream == b1.tokenizer.eos_id).sum()) <= 1
    item = b1.train[0]
    check_item(item, b1.tokenizer.vocab_size)
    assert item["eligible"].all() and "attention_mask" not in item
    assert len(b1.train) + len(b1.val) == (n_bytes + 1) // 16


def test_kjv_char_task_via_registry():
    bundle = build_task("text", seq_len=64, seed=0, max_chars=50_000)
    assert isinstance(bundle, DataBundle) and isinstance(bundle.tokenizer, CharTokenizer)
    assert bundle.chars_per_token == 1.0
    text = bundle.tokenizer.decode(bundle.train[0]["input_ids"])
    assert len(text) == 64 and text in kjv_text()[:50_000]
    assert "text" in task_names()
    with pytest.raises(DataError, match="unknown task"):
        build_task("no-such-task", seq_len=8)
    with pytest.raises(DataError, match="bad options"):
        build_task("text", seq_len=8, not_an_option=1)
    with pytest.raises(DataError, match="neither"):
        read_corpus("/no/such/file.txt")


def test_sft_item_never_marks_prompt_eligible():
    item = sft_item([5, 6, 7], [8, 9], 8, pad_id=0, eos_id=1)
    assert item["input_ids"].tolist() == [5, 6, 7, 8, 9, 1, 0, 0]
    assert item["eligible"].tolist() == [False] * 3 + [True] * 3 + [False] * 2
    assert item["attention_mask"].tolist() == [True] * 6 + [False] * 2
    check_item(item, vocab_size=10)
    padded = sft_item([5], [8], 4, pad_id=0, pad_eligible=True)
    assert padded["eligible"].tolist() == [False, True, True, True] and padded["attention_mask"].all()
    with pytest.raises(DataError, match="more than the length"):
        sft_item([1] * 5, [2] * 5, 8, pad_id=0)
    bad = dict(item, eligible=torch.ones(8, dtype=torch.bool))
    with pytest.raises(DataError, match="outside its attention_mask"):
        check_item(bad)


class _Uniform(torch.nn.Module):
    vocab_size, mask_id = 11, 10

    def forward(self, x, attention_mask=None):
        return torch.zeros(*x.shape, self.vocab_size)


def test_sft_batches_never_mask_the_prompt_in_the_loss():
    items = [
        sft_item([2, 3, 4][: 1 + i % 3], [5, 6, 7, 8][: 1 + i % 4], 10, pad_id=0, eos_id=1) for i in range(12)
    ]
    batch = TensorItems.from_items(items)[torch.arange(12)]
    assert batch["input_ids"].shape == (12, 10)
    gen = torch.Generator().manual_seed(0)
    seen = torch.zeros(12, 10, dtype=torch.bool)
    for _ in range(200):
        out = diffusion_loss(_Uniform(), batch["input_ids"], eligible=batch["eligible"],
                             attention_mask=batch["attention_mask"], generator=gen)
        seen |= out.masked
    assert torch.equal(seen, batch["eligible"])  # every response token gets masked, nothing else ever


def test_collate_and_custom_task_registration():
    @register_task("unit-test-toy")
    def _toy(seq_len, seed=0, n=4):
        data = TensorItems(torch.full((n, seq_len), 3, dtype=torch.long))
        return DataBundle(train=data, val=data, tokenizer=ByteTokenizer(), seq_len=seq_len)

    bundle = build_task("unit-test-toy", seq_len=5, n=3)
    assert len(bundle.train) == 3
    mixed = collate([bundle.train[0], sft_item([1], [2], 5, pad_id=0)])
    assert mixed["attention_mask"][0].all() and not mixed["attention_mask"][1, -1]
    with pytest.raises(DataError, match="share a length"):
        collate([bundle.train[0], sft_item([1], [2], 6, pad_id=0)])
