"""Entropy and n-gram Jensen-Shannon divergence on hand-made distributions with known answers."""

import math
from collections import Counter

import pytest
import torch

from mdm.errors import DataError
from mdm.eval.sample_quality import (
    entropy_bits,
    js_divergence_bits,
    ngram_counts,
    ngram_entropy_bits,
    ngram_js_bits,
    sample_quality,
    sequence_entropy_bits,
)


def test_entropy_exact_values():
    assert entropy_bits(Counter("aaaa")) == 0.0
    assert entropy_bits(Counter("abab")) == pytest.approx(1.0)
    assert entropy_bits(Counter("abcd")) == pytest.approx(2.0)
    # p = (1/2, 1/4, 1/4): H = 1/2 + 2 * 1/4 * 2 = 1.5 bits
    assert entropy_bits({"x": 2, "y": 1, "z": 1}) == pytest.approx(1.5)


def test_ngram_counts_do_not_cross_sequence_ends():
    assert ngram_counts(["abc", "cab"], 2) == Counter({("a", "b"): 2, ("b", "c"): 1, ("c", "a"): 1})
    assert ngram_counts(torch.tensor([[1, 2, 1], [2, 1, 2]]), 1) == Counter({(1,): 3, (2,): 3})
    assert ngram_counts([torch.tensor([5, 5])], 2) == Counter({(5, 5): 1})
    assert ngram_counts(["ab"], 3) == Counter()


def test_js_divergence_exact_values():
    assert js_divergence_bits(Counter("ab"), Counter("ba")) == 0.0  # same distribution
    assert js_divergence_bits(Counter("aa"), Counter("bb")) == pytest.approx(1.0)  # disjoint supports
    # P = (1, 0), Q = (1/2, 1/2): M = (3/4, 1/4); JS = 1/2 KL(P||M) + 1/2 KL(Q||M)
    kl_pm = math.log2(4 / 3)
    kl_qm = 0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25)
    expected = 0.5 * kl_pm + 0.5 * kl_qm
    assert js_divergence_bits({"a": 7}, {"a": 3, "b": 3}) == pytest.approx(expected, abs=1e-12)
    assert js_divergence_bits({"a": 3, "b": 3}, {"a": 7}) == pytest.approx(expected, abs=1e-12)  # symmetric


def test_sequence_entropy_is_mean_of_per_sequence_unigram_entropies():
    # "aaaa": 0 bits, "abab": 1 bit, "abcd": 2 bits; empty sequences are skipped
    assert sequence_entropy_bits(["aaaa", "abab", "abcd", ""]) == pytest.approx(1.0)
    # pooled unigram entropy differs: counts a:7 b:3 c:1 d:1 over 12 tokens
    p = [7 / 12, 3 / 12, 1 / 12, 1 / 12]
    assert ngram_entropy_bits(["aaaa", "abab", "abcd"], 1) == pytest.approx(-sum(x * math.log2(x) for x in p))
    # "abab" bigrams: ab, ba, ab -> (2/3, 1/3)
    h = -(2 / 3) * math.log2(2 / 3) - (1 / 3) * math.log2(1 / 3)
    assert ngram_entropy_bits(["abab"], 2) == pytest.approx(h)


def test_low_diversity_samples_are_caught_although_close_in_unigrams():
    reference = ["the cat sat on the mat", "a dog ran in the fog"]
    repetitive = ["tttttttttt", "eeeeeeeeee"]
    good = ["the dog sat in the fog"]
    assert sequence_entropy_bits(repetitive) == 0.0
    assert sequence_entropy_bits(good) > 2.0
    assert ngram_js_bits(good, reference, 2) < ngram_js_bits(repetitive, reference, 2)


def test_sample_quality_bundle():
    q = sample_quality(["abab"], ["abab", "baba"], orders=(1, 2))
    assert q.sequence_entropy_bits == pytest.approx(1.0)
    assert q.ngram_js_bits[1] == 0.0
    # samples bigrams (ab 2/3, ba 1/3), reference (ab 1/2, ba 1/2)
    p, r = {"ab": 2, "ba": 1}, {"ab": 1, "ba": 1}
    assert q.ngram_js_bits[2] == pytest.approx(js_divergence_bits(p, r))
    assert q.mean_js_bits == pytest.approx(q.ngram_js_bits[2] / 2)
    assert q.num_sequences == 1 and q.num_tokens == 4
    d = q.to_dict()
    assert d["ngram_js_bits"]["2"] == q.ngram_js_bits[2] and d["mean_js_bits"] == q.mean_js_bits


@pytest.mark.parametrize(
    "call",
    [
        lambda: entropy_bits(Counter()),
        lambda: ngram_counts(["ab"], 0),
        lambda: sequence_entropy_bits(["", ""]),
        lambda: sequence_entropy_bits([]),
        lambda: ngram_js_bits(["a"], ["ab"], 2),
        lambda: sample_quality("abc", ["abc"]),
        lambda: sample_quality(["abc"], ["abc"], orders=()),
    ],
)
def test_bad_inputs_raise_data_error(call):
    with pytest.raises(DataError):
        call()
