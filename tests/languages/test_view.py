"""LanguageView: a model over a bigger vocabulary, seen as a Denoiser over the language's tokens."""

import pytest
import torch

from mdm.errors import ConfigError
from mdm.languages import LanguageView, parse_language_spec


def test_language_view_of_a_model_matches_the_language_oracle():
    language = parse_language_spec("ngram:vocab=4,order=2,branching=2,seed=2")
    oracle = language.denoiser()

    class BigVocabModel(torch.nn.Module):  # the oracle behind a tokenizer with 5 special ids
        vocab_size, mask_id = 9, 8

        def forward(self, x, attention_mask=None):
            logits = oracle(torch.where(x == self.mask_id, oracle.mask_id, x))[..., :4]
            return torch.cat([logits, torch.full((*x.shape, 5), -2.0, dtype=logits.dtype)], dim=-1)

    view = LanguageView(BigVocabModel(), language.vocab_size)
    assert (view.vocab_size, view.mask_id) == (5, 4)
    x = language.sample(6, 10, torch.Generator().manual_seed(0))
    x[:, ::3] = 4
    got = torch.log_softmax(view(x).double(), -1)[..., :4]
    want = torch.log_softmax(oracle(x).double(), -1)[..., :4]
    masked = x == 4
    assert torch.allclose(got[masked].exp(), want[masked].exp(), atol=1e-6)
    assert torch.isinf(view(x)[..., 4]).all()
    with pytest.raises(ConfigError, match="does not extend"):
        LanguageView(BigVocabModel(), 9)
