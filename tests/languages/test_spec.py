"""parse_language_spec: ngram:... / hmm:... strings -> seeded languages; bad specs say what is wrong."""

import pytest
import torch

from mdm.errors import ConfigError
from mdm.languages import HMM, NGram, parse_language_spec


def test_ngram_spec_is_ngram_random_with_those_keywords():
    got = parse_language_spec("ngram:vocab=5,order=3,branching=2,seed=4")
    want = NGram.random(5, order=3, branching=2, seed=4)
    assert isinstance(got, NGram) and got.vocab_size == 5
    x = want.sample(20, 9, torch.Generator().manual_seed(0))
    assert torch.allclose(got.log_prob(x), want.log_prob(x))  # same seed, same language


def test_hmm_spec_is_hmm_random_and_omitted_keys_take_defaults():
    got = parse_language_spec(" hmm:states=3,vocab=4,seed=1 ")
    want = HMM.random(3, 4, seed=1)
    assert isinstance(got, HMM) and got.vocab_size == 4
    x = want.sample(20, 7, torch.Generator().manual_seed(0))
    assert torch.allclose(got.log_prob(x), want.log_prob(x))
    assert parse_language_spec("ngram:").vocab_size == 8


@pytest.mark.parametrize("spec, message", [
    ("markov:vocab=4", "start with 'ngram:' or 'hmm:'"),
    ("ngram:vocab=4,depth=2", "is not one of"),
    ("ngram:vocab", "is not one of"),
    ("ngram:vocab=four", "needs an integer"),
    ("hmm:vocab=4", "needs states= and vocab="),
])
def test_bad_specs_raise_config_error_saying_why(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_language_spec(spec)
