"""`mdm exp rl`: the quick preset end to end (SFT trained here, both RL arms, choice on validation),
and the paired differences computed from per-problem correctness."""

import pytest

import mdm.experiments
from mdm.errors import ConfigError
from mdm.eval.stats import paired_difference, paired_difference_clustered
from mdm.experiments.rl import COMPARISONS, compare, over_seeds
from mdm.experiments.rl.arms import _splits, correctness


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("rl-quick")
    return out, mdm.experiments.run("rl", "quick", out, seed=0)


def test_quick_result_has_every_number(quick):
    out, res = quick
    n = res["n_test"]
    assert n == 24 and set(res["correct"]) == {"sft", "diffu-grpo", "spg"}
    for arm, correct in res["correct"].items():
        assert len(correct) == n and set(correct) <= {0, 1}
        assert res["test_accuracy"][arm] == sum(correct) / n
    for arm in ("diffu-grpo", "spg"):
        a = res["arms"][arm]
        assert a["lr"] in a["valid_accuracy"] and set(a["valid_accuracy"]) == {"0.001", "0.01"}
        # chosen on validation: the best validation accuracy (the first listed on ties)
        assert a["valid_accuracy"][a["lr"]] == max(a["valid_accuracy"].values())
        assert a["choice"]["test"]["mean"] == res["test_accuracy"][arm]
    assert set(res["paired"]) == {f"{a} - {b}" for a, b in COMPARISONS}
    for a, b in COMPARISONS:
        want = paired_difference(res["correct"][a], res["correct"][b])
        got = res["paired"][f"{a} - {b}"]
        assert got["ci"] == [want.lo, want.hi] and got["p"] == want.p_value
        assert got["diff"] == pytest.approx(res["test_accuracy"][a] - res["test_accuracy"][b])
    report = (out / "report.md").read_text()
    assert "diffu-grpo - sft" in report and "validation" in report


def test_the_sft_start_is_scored_on_the_same_test_problems(quick):
    out, res = quick
    ckpt = out / "models" / "sft" / "checkpoint"
    _, test = _splits(str(ckpt), res["n_valid"])
    assert correctness(ckpt, test) == res["correct"]["sft"]


def test_differences_are_paired_by_problem():
    # b is a with two problems lost: every per-problem difference is >= 0, so a paired interval
    # cannot go below 0 (an unpaired one, resampling a and b apart, does: about +-0.3 here).
    a = [1] * 10 + [0] * 10
    b = [0, 0] + [1] * 8 + [0] * 10
    correct = {"sft": b, "diffu-grpo": a, "spg": a}
    got = compare(correct)
    want = paired_difference(a, b)
    d = got["diffu-grpo - sft"]
    assert d["diff"] == pytest.approx(0.1) and d["ci"] == [want.lo, want.hi] and d["p"] == want.p_value
    assert d["ci"][0] >= 0.0
    same = got["spg - diffu-grpo"]
    assert same["diff"] == 0.0 and same["ci"] == [0.0, 0.0] and same["p"] == 1.0


def test_over_seeds_pairs_problems_within_each_seed():
    a = [[1] * 10 + [0] * 10, [1] * 5 + [0] * 15]
    b = [[0, 0] + [1] * 8 + [0] * 10, [0] + [1] * 4 + [0] * 15]  # each seed: a minus a few problems
    result = {"by_seed": {str(s): {"correct": {"sft": b[s], "diffu-grpo": a[s], "spg": b[s]}}
                          for s in range(2)}}
    got = over_seeds(result)["diffu-grpo - sft"]
    want = paired_difference_clustered(a, b)
    assert got == {"diff": want.mean, "ci": [want.lo, want.hi], "p": want.p_value}
    assert got["diff"] == pytest.approx(0.075) and got["ci"][0] >= 0.0
    assert over_seeds(result)["spg - sft"]["ci"] == [0.0, 0.0]


def test_unknown_preset_is_rejected(tmp_path):
    with pytest.raises(ConfigError):
        mdm.experiments.run("rl", "huge", tmp_path)
    assert not any(tmp_path.iterdir())
