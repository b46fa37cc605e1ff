"""``mdm.eval.stats``: choose on validation and report on test; the evidence line."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from mdm.errors import StatsError
from mdm.eval.stats import (
    Choice,
    best_on_validation,
    choose_on_validation,
    evidence_line,
    summarize,
    within_one_se,
)


def _scores(n_correct: int, n: int = 400) -> np.ndarray:
    return np.r_[np.ones(n_correct), np.zeros(n - n_correct)]


# Validation: "c" 70%, "b" 78%, "a" 80% of 400 items.  The best's SE is
# sqrt(0.8 * 0.2 * 400 / 399) / 20 = 0.02003, so "b" (0.78 >= 0.77997) is within one SE, "c" not.
VALIDATION = {"c": _scores(280), "b": _scores(312), "a": _scores(320)}
TEST = {"c": _scores(300), "b": _scores(290), "a": _scores(310)}
COST = {"a": 10.0, "b": 5.0, "c": 1.0}


def test_within_one_se_picks_the_cheapest_candidate_it_cannot_tell_from_the_best():
    choice = choose_on_validation(VALIDATION, TEST, cost=COST)
    assert isinstance(choice, Choice) and choice.key == "b" and choice.rule == "within_one_se"
    assert choice.validation.mean == pytest.approx(0.78)
    assert choice.test.mean == pytest.approx(290 / 400)  # reported on test, for the chosen key
    assert choice.test == summarize(TEST["b"])
    assert choice.to_dict()["key"] == "b"
    # No cost: the first listed candidate within one SE ("c" is out, "b" comes before "a").
    assert choose_on_validation(VALIDATION, TEST).key == "b"
    # The plain argmax rule takes "a" although "c" is best on test: test is never consulted.
    assert choose_on_validation(VALIDATION, TEST, rule=best_on_validation).key == "a"
    # Lower is better (a loss): negate the sense; "c" is now the best and alone within one SE.
    low = choose_on_validation(VALIDATION, TEST, cost=COST, higher_is_better=False)
    assert low.key == "c" and low.validation.mean == pytest.approx(0.70)
    assert low.validation.lo <= low.validation.mean <= low.validation.hi


def test_within_one_se_margin_is_the_best_candidates_se():
    est = {k: summarize(v, n_boot=10) for k, v in VALIDATION.items()}
    assert within_one_se(est, COST) == "b"
    tight = dict(est, a=est["a"].__class__(0.8, 0.019, 0.7, 0.9, 400, 0.95, "x"))  # margin 0.019
    assert within_one_se(tight, COST) == "a"


def test_choose_on_validation_refuses_to_choose_on_the_reported_split():
    with pytest.raises(StatsError, match="same object"):
        choose_on_validation(VALIDATION, VALIDATION)
    with pytest.raises(StatsError, match="same array"):
        choose_on_validation(VALIDATION, dict(TEST, b=VALIDATION["b"]))
    copies = {k: v.copy() for k, v in VALIDATION.items()}
    with pytest.raises(StatsError, match="identical scores"):
        choose_on_validation(VALIDATION, copies)
    with pytest.raises(StatsError, match="same candidates"):
        choose_on_validation(VALIDATION, {"a": TEST["a"]})
    with pytest.raises(StatsError, match="cost"):
        choose_on_validation(VALIDATION, TEST, cost={"a": 1.0})


def test_choose_on_validation_refuses_a_rule_that_reads_test():
    def peeks(estimates, cost, test=TEST):
        return max(test, key=lambda k: test[k].mean())

    def closes_over(estimates, cost):
        return max(TEST_LOCAL, key=lambda k: TEST_LOCAL[k].mean())

    TEST_LOCAL = TEST  # noqa: N806  (captured by the closure above)
    with pytest.raises(StatsError, match="test argument"):
        choose_on_validation(VALIDATION, TEST, rule=peeks)
    with pytest.raises(StatsError, match="carries the test data"):
        choose_on_validation(VALIDATION, TEST, rule=closes_over)
    with pytest.raises(StatsError, match="carries the test data"):
        choose_on_validation(VALIDATION, TEST, rule=functools.partial(lambda e, c, t: "a", t=TEST["a"]))
    with pytest.raises(StatsError, match="not a candidate"):
        choose_on_validation(VALIDATION, TEST, rule=lambda e, c: "z")


def test_constant_scores_on_both_splits_are_allowed():
    # Every candidate solves every item on both splits: identical arrays, but not a mistake.
    perfect = {"x": np.ones(5), "y": np.ones(5)}
    assert choose_on_validation(perfect, {k: v.copy() for k, v in perfect.items()}).key == "x"


def test_evidence_line():
    est = summarize(np.arange(10.0))
    assert evidence_line(seeds=3, n_test=1000, method=est) == (
        "Evidence: 3 training seeds · 1,000 test items · 95% percentile bootstrap CI "
        "(10,000 resamples) · our proxy of the paper's setting")
    assert evidence_line(seeds=1, n_test=200, method="mean ± SE", setting="paper's setting") == (
        "Evidence: 1 training seed · 200 test items · mean ± SE · the paper's own setting")
    assert evidence_line(seeds=None, n_test=64, method="exact", level=0.9).startswith(
        "Evidence: no trained model (exact oracles) · 64 test items · 90% exact")
    for bad in ({"setting": "paper"}, {"seeds": 0}, {"n_test": 0}):
        with pytest.raises(StatsError):
            evidence_line(**{"seeds": 3, "n_test": 10, "method": "m", **bad})
