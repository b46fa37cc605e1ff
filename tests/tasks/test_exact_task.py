"""The ``exact-language`` task: samples of an exact language whose ids are the language's tokens."""

import pytest
import torch

from mdm.errors import ConfigError
from mdm.languages import parse_language_spec
from mdm.tasks.base import build_task
from mdm.tasks.exact import language_alphabet

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
