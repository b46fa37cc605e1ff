"""`mdm exp rl`: the quick preset end to end (SFT trained here, the RL arms, choice on validation, the
estimator-spread part), the validation / test protocol, and the paired differences computed from
per-problem correctness."""

import math

import pytest

import mdm.experiments
from mdm.errors import ConfigError
from mdm.eval.stats import paired_difference, paired_difference_clustered
from mdm.experiments.rl import COMPARISONS, compare, over_seeds
from mdm.experiments.rl.arms import _splits, correctness, held_out_split
from mdm.experiments.rl.spread import SETTINGS
from mdm.tasks.arithmetic import ArithmeticConfig, make_splits, make_valid


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("rl-quick")
    return out, mdm.experiments.run("rl", "quick", out, seed=0)


def test_quick_result_has_every_number(quick):
    out, res = quick
    n = res["n_test"]
    assert n == 24 and set(res["correct"]) == {"sft", "diffu-grpo", "spg", "spg-plain", "spg-mirror"}
    for arm, correct in res["correct"].items():
        assert len(correct) == n and set(correct) <= {0, 1}
        assert res["test_accuracy"][arm] == sum(correct) / n
    for arm in ("diffu-grpo", "spg"):
        a = res["arms"][arm]
        assert a["lr"] in a["valid_accuracy"] and set(a["valid_accuracy"]) == {"0.001", "0.01"}
        # chosen on validation: the best validation accuracy (the first listed on ties)
        assert a["valid_accuracy"][a["lr"]] == max(a["valid_accuracy"].values())
        assert a["choice"]["test"]["mean"] == res["test_accuracy"][arm]
    # the switch-off arm trains at the rate the spg arm chose: the two differ in the ELBO's times alone
    for arm in ("spg-plain", "spg-mirror"):
        assert set(res["arms"][arm]["valid_accuracy"]) == {res["arms"]["spg"]["lr"]}
    v = res["variance"]
    assert list(v["elbo"]) == list(SETTINGS) and v["repeats"] == 3
    assert {e["rows_per_sequence"] for e in v["elbo"].values()} == {2, 4}
    for e in v["elbo"].values():
        assert e["estimate"]["var"] >= 0 and e["gradient"]["trace_var"] >= 0
    x = res["exact_variance"]
    assert list(x["elbo"]) == list(SETTINGS) and x["rows"] == v["rows"]
    for e in x["elbo"].values():
        assert e["mean_var"] > 0 and e["vs_uniform"]["base"] == f"uniform x{e['rows_per_sequence']}"
    assert x["elbo"]["uniform x2"]["mean_var"] == pytest.approx(2 * x["elbo"]["uniform x4"]["mean_var"])
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


def test_validation_and_test_cut_one_held_out_split(quick):
    out, res = quick
    from mdm.eval.splits import task_test_split

    ckpt = out / "models" / "sft" / "checkpoint"
    valid, test = _splits(str(ckpt), res["n_valid"])
    held_out, _ = task_test_split(str(ckpt), None)
    assert len(held_out) == res["n_valid"] + res["n_test"] and len(valid) == res["n_valid"]
    rows = {tuple(held_out[i]["input_ids"].tolist()) for i in range(len(held_out))}
    got_v = [tuple(valid[i]["input_ids"].tolist()) for i in range(len(valid))]
    got_t = [tuple(test[i]["input_ids"].tolist()) for i in range(len(test))]
    assert set(got_v) | set(got_t) == rows and not set(got_v) & set(got_t)


def test_held_out_split_is_a_fixed_disjoint_cut():
    v, t = held_out_split(400, 200)
    assert sorted(v + t) == list(range(400)) and len(v) == 200
    assert (v, t) == held_out_split(400, 200)
    assert v != list(range(200))  # shuffled: not the first problems drawn
    for bad in (0, 400):
        with pytest.raises(ConfigError):
            held_out_split(400, bad)


def _mix(problems) -> list[float]:
    """Shares of 1+1-digit, mixed and 2+2-digit sums."""
    kinds = [(p.a >= 10) + (p.b >= 10) for p in problems]
    return [kinds.count(k) / len(kinds) for k in range(3)]


def test_validation_has_the_test_distribution():
    # the full preset's task: 2-digit sums, 3000 train problems, 200 + 200 held out.  Cut from one draw,
    # validation and test have the same operand-length mix (two-proportion z < 3 in each class); the
    # old protocol (validation drawn after train, from what it leaves) had almost no short sums.
    cfg = ArithmeticConfig(max_digits=2, ops=("+",), reverse=True, n_train=3000, n_test=400)
    train, held = make_splits(cfg)
    v, t = held_out_split(len(held), 200)
    mv, mt = _mix([held[i] for i in v]), _mix([held[i] for i in t])
    for a, b in zip(mv, mt):
        pooled = (a + b) / 2
        se = math.sqrt(max(pooled * (1 - pooled), 1e-9) * (2 / 200))
        assert abs(a - b) < 3 * se, (mv, mt)
    old = make_valid(ArithmeticConfig(max_digits=2, ops=("+",), reverse=True, n_train=3000, n_test=200,
                                      n_valid=200), *make_splits(ArithmeticConfig(
                                          max_digits=2, ops=("+",), reverse=True, n_train=3000, n_test=200)))
    assert _mix(old)[2] - mt[2] > 0.3


def test_differences_are_paired_by_problem():
    # b is a with two problems lost: every per-problem difference is >= 0, so a paired interval
    # cannot go below 0 (an unpaired one, resampling a and b apart, does: about +-0.3 here).
    a = [1] * 10 + [0] * 10
    b = [0, 0] + [1] * 8 + [0] * 10
    correct = {"sft": b, "diffu-grpo": a, "spg": a, "spg-plain": b, "spg-mirror": a}
    got = compare(correct)
    want = paired_difference(a, b)
    d = got["diffu-grpo - sft"]
    assert d["diff"] == pytest.approx(0.1) and d["ci"] == [want.lo, want.hi] and d["p"] == want.p_value
    assert d["ci"][0] >= 0.0
    same = got["spg - diffu-grpo"]
    assert same["diff"] == 0.0 and same["ci"] == [0.0, 0.0] and same["p"] == 1.0
    assert got["spg - spg-plain"]["diff"] == pytest.approx(0.1)


def test_over_seeds_pairs_problems_within_each_seed():
    a = [[1] * 10 + [0] * 10, [1] * 5 + [0] * 15]
    b = [[0, 0] + [1] * 8 + [0] * 10, [0] + [1] * 4 + [0] * 15]  # each seed: a minus a few problems
    result = {"by_seed": {str(s): {"correct": {"sft": b[s], "diffu-grpo": a[s], "spg": b[s],
                                          "spg-plain": b[s], "spg-mirror": b[s]}}
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
