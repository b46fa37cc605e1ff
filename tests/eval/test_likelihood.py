"""Validation NELBO on oracles whose likelihood is known exactly."""

import math

import pytest
import torch

from mdm.errors import ConfigError, DataError
from mdm.eval.likelihood import validation_nelbo
from mdm.tasks.base import TensorItems


class IIDOracle:
    """Exact denoiser of i.i.d. tokens with law ``probs``: p(x_l | anything) = probs."""

    def __init__(self, probs):
        self.probs = torch.tensor(probs, dtype=torch.float64)
        self.vocab_size = len(probs) + 1
        self.mask_id = len(probs)

    def __call__(self, x, attention_mask=None):
        logits = torch.full((self.vocab_size,), float("-inf"))
        logits[: self.mask_id] = self.probs.log().float()
        return logits.expand(*x.shape, self.vocab_size).clone()


def test_uniform_oracle_gives_log_vocab_exactly():
    # Every draw L/k * sum_{M} log 4 equals L log 4: the estimate is exact, not just unbiased.
    oracle = IIDOracle([0.25] * 4)
    x = torch.randint(0, 4, (10, 12), generator=torch.Generator().manual_seed(0))
    res = validation_nelbo(oracle, x, samples=3, batch_size=4, num_chars=240)
    assert res.estimator == "discrete" and res.num_tokens == 120 and res.num_sequences == 10
    assert res.nats_per_token == pytest.approx(math.log(4), rel=1e-6)  # float32 logits
    assert res.bits_per_token == pytest.approx(2.0, rel=1e-6)  # float32 logits
    assert res.perplexity == pytest.approx(4.0, rel=1e-6)  # float32 logits
    assert res.bits_per_char == pytest.approx(1.0, rel=1e-6)  # float32 logits  # two characters per token
    assert res.nats_per_token_stderr == pytest.approx(0.0, abs=1e-6)
    assert validation_nelbo(oracle, x, samples=1, max_sequences=3).num_sequences == 3


def test_iid_oracle_matches_true_nll_within_stated_error():
    # 40 sequences x 32 draws; the exact NLL of the data is sum -log p(x_l).  Tolerance: 4 stderr.
    probs = [0.6, 0.3, 0.1]
    oracle = IIDOracle(probs)
    gen = torch.Generator().manual_seed(1)
    x = torch.multinomial(torch.tensor(probs), 40 * 16, replacement=True, generator=gen).view(40, 16)
    truth = float(-oracle.probs.log()[x].sum()) / x.numel()
    res = validation_nelbo(oracle, x, samples=32, seed=3)
    assert res.nats_per_token == pytest.approx(truth, abs=4 * res.nats_per_token_stderr)
    assert 0 < res.nats_per_token_stderr < 0.05 * truth
    again = validation_nelbo(oracle, x, samples=32, seed=3)
    assert again.nats_per_token == res.nats_per_token  # seeded


def test_padded_items_use_the_continuous_estimator_on_eligible_positions_only():
    # Padding (attention_mask False) is not scored: 6 real tokens of 10 per row.
    oracle = IIDOracle([0.25] * 4)
    n, length = 32, 10
    ids = torch.randint(0, 4, (n, length), generator=torch.Generator().manual_seed(2))
    attn = torch.zeros(n, length, dtype=torch.bool)
    attn[:, :6] = True
    data = TensorItems(ids, eligible=attn.clone(), attention_mask=attn)
    res = validation_nelbo(oracle, data, samples=16, seed=0, batch_size=8)
    assert res.estimator == "continuous" and res.num_tokens == n * 6
    # unbiased: E[(1/t) * Binomial(6, t) * log 4] / 6 = log 4
    assert res.nats_per_token == pytest.approx(math.log(4), abs=4 * res.nats_per_token_stderr)
    assert res.nats_per_token_stderr < 0.1 * math.log(4)


def test_bad_arguments():
    oracle = IIDOracle([0.5, 0.5])
    x = torch.zeros(2, 4, dtype=torch.long)
    with pytest.raises(ConfigError):
        validation_nelbo(oracle, x, samples=0)
    with pytest.raises(ConfigError):
        validation_nelbo(oracle, x, batch_size=0)
    with pytest.raises(DataError):
        validation_nelbo(oracle, torch.zeros(0, 4, dtype=torch.long))
    with pytest.raises(DataError):
        validation_nelbo(oracle, torch.zeros(4, dtype=torch.long))
