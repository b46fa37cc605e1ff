"""The ``exact-language`` task: samples of an exact language whose ids are the language's tokens."""

import pytest
import torch

from mdm.errors import ConfigError, DataError
from mdm.languages import parse_language_spec
from mdm.losses import diffusion_loss
from mdm.models.transformer import TransformerConfig, TransformerDenoiser
from mdm.tasks.base import build_task, check_item, collate
from mdm.tasks.exact import language_alphabet, length_counts

SPEC = "ngram:vocab=4,order=2,branching=2,seed=1"


def test_exact_language_task_feeds_the_trainer():
    bundle = build_task("exact-language", seq_len=12, seed=3, spec=SPEC, n_train=50, n_val=10)
    assert len(bundle.train) == 50 and len(bundle.val) == 10
    x = torch.stack([bundle.train[i]["input_ids"] for i in range(50)])
    assert bool(parse_language_spec(SPEC).is_valid(x).all())  # token ids coincide with the language's
    assert bundle.tokenizer.vocab_size > 4 and bundle.tokenizer.mask_id >= 4
    assert bundle.tokenizer.decode(list(range(4))) == language_alphabet(4) == "abcd"
    again = build_task("exact-language", seq_len=12, seed=3, spec=SPEC, n_train=50, n_val=10)
    assert torch.equal(again.train.input_ids, bundle.train.input_ids)  # seeded


def test_exact_language_task_rejects_a_bad_spec():
    with pytest.raises(ConfigError):
        build_task("exact-language", seq_len=12, spec="markov:vocab=4")


def test_length_counts_give_every_length_the_same_tokens():
    assert length_counts(70, [4, 8, 16]) == [40, 20, 10]
    assert length_counts(10, [4, 8, 16]) == [6, 3, 1]  # largest remainders: 5.71, 2.86, 1.43
    assert length_counts(5, [16]) == [5]


def test_mixed_lengths_are_right_padded_and_seeded():
    kw = dict(seq_len=8, seed=3, spec=SPEC, n_train=70, n_val=14, lengths=[2, 4, 8])
    bundle = build_task("exact-language", **kw)
    language, pad = parse_language_spec(SPEC), bundle.tokenizer.pad_id
    for split, n in ((bundle.train, 70), (bundle.val, 14)):
        batch = collate([split[i] for i in range(len(split))])
        real = batch["attention_mask"]
        assert torch.equal(batch["eligible"], real)  # padding: never masked nor scored
        sizes = real.sum(1)
        assert all(bool((real[i, : int(s)]).all()) for i, s in enumerate(sizes))  # right padding
        assert bool((batch["input_ids"][~real] == pad).all())
        counts = dict(zip([2, 4, 8], length_counts(n, [2, 4, 8])))
        assert {k: int((sizes == k).sum()) for k in counts} == counts
        for length in (2, 4, 8):
            rows = batch["input_ids"][sizes == length, :length]
            assert bool(language.is_valid(rows).all())
        check_item(split[0], vocab_size=bundle.tokenizer.vocab_size)
    assert sizes[:6].unique().numel() > 1  # shuffled: a prefix (the trainer's eval slice) mixes lengths
    again = build_task("exact-language", **kw)
    assert torch.equal(again.train.input_ids, bundle.train.input_ids)


def test_padding_is_neither_masked_nor_scored_nor_attended():
    """In the trainer's loss on a mixed batch, only real tokens are masked, and the padding's ids
    do not change the loss (same noise): it is neither scored nor attended to."""
    bundle = build_task("exact-language", seq_len=8, seed=0, spec=SPEC, n_train=12, n_val=1, lengths=[4, 8])
    batch = collate([bundle.train[i] for i in range(12)])
    real, tok = batch["attention_mask"], bundle.tokenizer
    assert not bool(real.all())
    torch.manual_seed(0)
    model = TransformerDenoiser(TransformerConfig(vocab_size=tok.vocab_size, mask_id=tok.mask_id, d_model=16,
                                                  n_layers=1, n_heads=2, max_len=8, learned_positions=True))

    def loss(x):
        return diffusion_loss(model, x, eligible=batch["eligible"], attention_mask=real,
                              generator=torch.Generator().manual_seed(1))

    out = loss(batch["input_ids"])
    assert int(out.num_eligible) == int(real.sum()) and not bool((out.masked & ~real).any())
    other_pads = torch.where(real, batch["input_ids"], (batch["input_ids"] + 1) % 4)
    torch.testing.assert_close(loss(other_pads).loss, out.loss)


@pytest.mark.parametrize("lengths", [[], [0, 4], [4, 9], [4.0]])
def test_bad_lengths_are_rejected(lengths):
    with pytest.raises(DataError, match="lengths"):
        build_task("exact-language", seq_len=8, spec=SPEC, n_train=4, n_val=2, lengths=lengths)
