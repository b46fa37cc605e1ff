"""Token error / sequence error rate on languages whose answers are known by hand."""

import math
from types import SimpleNamespace

import pytest
import torch

from mdm.errors import TokenError
from mdm.eval.sequence_metrics import TokenErrorResult, sequence_error_rate, token_error
from mdm.languages import Enumerated, NGram


@pytest.fixture
def lang():
    # p(00) = 1/2, p(01) = 1/4, p(11) = 1/4; "10" is impossible.  H = 1.5 log 2.
    return Enumerated([[0, 0], [0, 1], [1, 1]], [0.5, 0.25, 0.25])


def test_token_error_by_hand(lang):
    samples = torch.tensor([[0, 0], [0, 1], [1, 0], [1, 1]])
    r = token_error(lang, samples)
    assert isinstance(r, TokenErrorResult)
    nll = (math.log(2) + math.log(4) + math.log(4)) / 3 / 2  # valid samples, per token
    assert r.nll_per_token == pytest.approx(nll, rel=1e-12)
    assert r.perplexity == pytest.approx(math.exp(nll), rel=1e-12)
    assert r.nll_per_token_all == math.inf
    assert r.entropy_per_token == pytest.approx(0.75 * math.log(2), rel=1e-12)
    assert r.entropy_stderr == 0.0
    assert r.gap == pytest.approx(nll - 0.75 * math.log(2), rel=1e-12)
    # Its standard error: per-token NLLs of the 3 valid samples, log2 / 2, log4 / 2, log4 / 2.
    per = [math.log(2) / 2, math.log(4) / 2, math.log(4) / 2]
    sd = math.sqrt(sum((v - nll) ** 2 for v in per) / 2)
    assert r.gap_stderr == pytest.approx(sd / math.sqrt(3), rel=1e-12)
    # ... plus the entropy's own stderr, in quadrature.
    noisy = token_error(lang, samples, entropy=SimpleNamespace(value=1.5 * math.log(2), stderr=0.2))
    assert noisy.gap_stderr == pytest.approx(math.hypot(sd / math.sqrt(3), 0.1), rel=1e-12)
    assert (r.n_samples, r.n_valid, r.invalid_fraction) == (4, 3, 0.25)
    assert sequence_error_rate(lang, samples) == 0.25


def test_all_valid_and_all_invalid(lang):
    r = token_error(lang, torch.tensor([[0, 0], [0, 0]]))
    assert r.nll_per_token == r.nll_per_token_all == pytest.approx(math.log(2) / 2)
    assert sequence_error_rate(lang, torch.tensor([[0, 0], [1, 1]])) == 0.0
    bad = torch.tensor([[1, 0], [1, 0]])
    r = token_error(lang, bad)
    assert math.isnan(r.nll_per_token) and math.isnan(r.perplexity) and math.isnan(r.gap)
    assert r.nll_per_token_all == math.inf and r.n_valid == 0
    assert sequence_error_rate(lang, bad) == 1.0


def test_explicit_entropy_and_languages_without_entropy(lang):
    samples = torch.tensor([[0, 0], [0, 1]])
    est = SimpleNamespace(value=1.0, stderr=0.2)
    r = token_error(lang, samples, entropy=est)
    assert r.entropy_per_token == 0.5 and r.entropy_stderr == 0.1
    assert token_error(lang, samples, entropy=3.0).entropy_per_token == 1.5
    bare = SimpleNamespace(log_prob=lang.log_prob, is_valid=lang.is_valid)
    r = token_error(bare, samples)
    assert math.isnan(r.entropy_per_token) and math.isnan(r.gap)
    assert r.nll_per_token == pytest.approx((math.log(2) + math.log(4)) / 4)
    assert sequence_error_rate(bare, SimpleNamespace(tokens=samples)) == 0.0


def test_exact_samples_reach_the_entropy():
    """Samples of the language itself have E[NLL] = H: the gap is within 4 standard errors of 0."""
    lang = NGram.random(5, order=2, branching=2, seed=3)
    n, length = 4000, 16
    x = lang.sample(n, length, torch.Generator().manual_seed(0))
    r = token_error(lang, x)
    se = float((-lang.log_prob(x) / length).std()) / math.sqrt(n)
    assert r.n_valid == n and sequence_error_rate(lang, x) == 0.0
    assert abs(r.gap) < 4 * se
    # Uniformly random sequences are mostly impossible and, when possible, far from typical.
    u = torch.randint(0, 5, (n, length), generator=torch.Generator().manual_seed(1))
    assert sequence_error_rate(lang, u) > 0.9


def test_bad_samples_raise_token_error(lang):
    for bad in (torch.zeros(0, 2, dtype=torch.long), torch.zeros(2, 2), [[0, 0]]):
        with pytest.raises(TokenError):
            token_error(lang, bad)
        with pytest.raises(TokenError):
            sequence_error_rate(lang, bad)
