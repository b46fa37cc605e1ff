"""`mdm exp eb-sampler`: the quick preset end to end, and the harness on oracles with known NFE."""

import json
import math

import pytest
import torch

from mdm import experiments
from mdm.errors import ConfigError
from mdm.experiments import eb_sampler as exp
from mdm.sampling import EntropyBounded, TopK
from mdm.tasks.arithmetic import ArithmeticConfig, ArithmeticDataset
from mdm.tasks.base import build_task
from mdm.tasks.sudoku import SudokuConfig, SudokuDataset
from mdm.train import load_config


class AnswerOracle:
    """Knows every answer of a dataset: near one-hot logits on the true token at every position.

    Entropies are ~1e-11, so EB with any gamma reveals everything at once; ties in confidence are
    broken left to right, so top-1 reveals an arithmetic answer digit by digit and then ``eos``.
    """

    def __init__(self, dataset):
        self.vocab_size = dataset.tokenizer.vocab_size
        self.mask_id = dataset.tokenizer.mask_id
        self.truth = {tuple(dataset[i]["input_ids"][: dataset.prompt_len].tolist()): dataset[i]["input_ids"]
                      for i in range(len(dataset))}
        self.prompt_len = dataset.prompt_len

    def __call__(self, x, attention_mask=None, **kw):
        rows = torch.stack([self.truth[tuple(r[: self.prompt_len].tolist())] for r in x])
        logits = torch.full((*x.shape, self.vocab_size), -30.0)
        logits.scatter_(-1, rows.unsqueeze(-1), 0.0)
        return logits


@pytest.fixture(scope="module")
def sudoku_test():
    return SudokuDataset.split("test", SudokuConfig(n_train=0, n_test=6, min_clues=34, max_clues=40, seed=3))


@pytest.fixture(scope="module")
def arithmetic_test():
    return ArithmeticDataset.split("test", ArithmeticConfig(max_digits=3, ops=("+",), n_train=0, n_test=12,
                                                            answer_len=6))


def _spec(unmasker, block=None):
    return exp.SamplerSpec("x", "y", unmasker, block)


def test_oracle_sudoku_nfe_is_exact(sudoku_test):
    oracle = AnswerOracle(sudoku_test)
    for k, nfe in ((1, 89), (4, 23), (8, 12)):
        row = exp.evaluate(oracle, sudoku_test, _spec(TopK(k)), n_eval=6, batch_size=4)
        assert row["accuracy"] == 1.0 and row["nfe_mean"] == nfe and row["nfe_max"] == nfe
    row = exp.evaluate(oracle, sudoku_test, _spec(EntropyBounded(0.001)), n_eval=6, batch_size=6)
    assert row["accuracy"] == 1.0 and row["nfe_mean"] == 1.0  # every cell is certain: one pass


def test_stop_rule_counts_nfe_per_sequence(arithmetic_test):
    """Top-1 on the oracle costs (answer digits + eos) passes per problem: the stop rule ends a row
    once eos is revealed with everything before it clean, and the padding after it is never paid."""
    oracle = AnswerOracle(arithmetic_test)
    tok = arithmetic_test.tokenizer
    row = exp.evaluate(oracle, arithmetic_test, _spec(TopK(1)), n_eval=12, batch_size=5, stop=tok.eos_id,
                       pad_id=tok.pad_id)
    expected = torch.tensor([len(str(p.result)) + 1 for p in arithmetic_test.problems], dtype=torch.float64)
    assert row["accuracy"] == 1.0
    assert row["nfe_mean"] == pytest.approx(float(expected.mean()))
    assert row["nfe_max"] == float(expected.max())
    # without the stop rule every row pays for the whole answer region
    full = exp.evaluate(oracle, arithmetic_test, _spec(TopK(1)), n_eval=12, batch_size=5)
    assert full["nfe_mean"] == arithmetic_test.answer_len > row["nfe_mean"]
    # blocks of 3: left to right, the same passes (the stop rule still ends each row at its eos)
    blocked = exp.evaluate(oracle, arithmetic_test, _spec(TopK(1), 3), n_eval=12, batch_size=12,
                           stop=tok.eos_id, pad_id=tok.pad_id)
    assert blocked["accuracy"] == 1.0 and blocked["nfe_mean"] == pytest.approx(float(expected.mean()))


def test_verifier_failures_lower_accuracy(arithmetic_test):
    class Wrong(AnswerOracle):  # the oracle, but it always writes 9 in the first answer cell
        def __call__(self, x, attention_mask=None, **kw):
            logits = super().__call__(x)
            logits[:, self.prompt_len] = -30.0
            logits[:, self.prompt_len, 9] = 0.0
            return logits

    row = exp.evaluate(Wrong(arithmetic_test), arithmetic_test, _spec(TopK(1)), n_eval=12, batch_size=12,
                       stop=arithmetic_test.tokenizer.eos_id, pad_id=arithmetic_test.tokenizer.pad_id)
    starts_with_9 = sum(str(p.result)[0] == "9" for p in arithmetic_test.problems)
    assert row["accuracy"] == pytest.approx(starts_with_9 / 12)
    assert row["accuracy_se"] == pytest.approx(math.sqrt(row["accuracy"] * (1 - row["accuracy"]) / 12))


def _row(family, label, acc, nfe, block=None, correct=None):
    return {"family": family, "label": label, "block_size": block, "accuracy": acc, "nfe_mean": nfe,
            **({"correct": torch.tensor(correct, dtype=torch.bool)} if correct is not None else {})}


def test_speedup_picks_cheapest_setting_within_half_a_point():
    rows = [_row("top-k", "k=1", 0.900, 89.0, correct=[1, 1, 1, 0]),
            _row("top-k", "k=2", 0.850, 45.0),
            _row("EB (entropy)", "gamma=0.1", 0.897, 20.0, correct=[1, 1, 0, 1]),  # within 0.5 pt
            _row("EB (entropy)", "gamma=1", 0.890, 10.0),  # 1 pt worse: not equal accuracy
            _row("EB (margin)", "gamma=0.01", 0.905, 30.0),
            _row("EB (entropy)", "gamma=0.1", 0.95, 5.0, block=4)]  # other block size: ignored
    s = exp.speedup(rows, "EB")
    assert s["best"]["label"] == "gamma=0.1" and s["speedup"] == pytest.approx(89 / 20)
    assert s["accuracy_diff"] == 0.0 and s["accuracy_diff_se"] == pytest.approx(math.sqrt(2 / 3) / 2)
    assert exp.speedup(rows, "EB (margin)")["speedup"] == pytest.approx(89 / 30)
    assert exp.speedup(rows, "top-k")["best"] is None  # k=2 loses 5 points
    assert exp.speedup(rows, "EB", block_size=2) is None  # no top-1 reference with blocks of 2


def test_speedup_compares_within_one_stop_rule_setting():
    """Rows decoded without the stop rule (every position costs a pass) never serve as the
    reference or the candidate for rows with it, and vice versa."""
    rows = [_row("top-k", "k=1", 0.90, 8.0, correct=[1, 1, 0, 0]),
            _row("EB (margin)", "gamma=0.1", 0.90, 4.0),
            {**_row("top-k", "k=1", 0.90, 32.0), "stop": False},
            {**_row("EB (margin)", "gamma=0.1", 0.90, 2.0), "stop": False},
            {**_row("EB (margin)", "gamma=1", 0.80, 1.0), "stop": False}]
    on, off = exp.speedup(rows, "EB"), exp.speedup(rows, "EB", stop=False)
    assert on["reference"]["nfe_mean"] == 8.0 and on["speedup"] == pytest.approx(2.0) and on["stop"]
    assert off["reference"]["nfe_mean"] == 32.0 and off["speedup"] == pytest.approx(16.0) and not off["stop"]


def test_sampler_specs_sweep_each_stop_rule_setting_and_task_grid():
    grid = exp.SamplerGrid(topk=(1, 2), gammas=(0.1,), proxies=("margin",), taus=(0.9,))
    task = exp.TaskSetup("a", "arithmetic-padded", blocks=(None, 8), scheduled_steps=(8,),
                         stop_rule=(True, False))
    specs = exp.sampler_specs(exp.SamplerGrid(), task, answer_len=32)
    assert len(specs) == 2 * len(exp.sampler_specs(exp.SamplerGrid(), exp.TaskSetup(
        "a", "arithmetic-padded", blocks=(None, 8), scheduled_steps=(8,)), answer_len=32))
    own = exp.sampler_specs(exp.SamplerGrid(), exp.TaskSetup("a", "arithmetic-padded", scheduled_steps=(8,),
                                                             stop_rule=(False,), grid=grid), answer_len=32)
    assert [s.label for s in own] == ["k=1", "k=2", "gamma=0.1", "tau=0.9", "steps=8"]
    assert all(not s.stop and s.curve.endswith(", no stop rule") for s in own)
    assert {s.stop for s in specs} == {True, False}


def test_sampler_specs_cover_the_grid_and_reject_bad_blocks():
    grid = exp.SamplerGrid(topk=(1, 2), gammas=(0.1, 1.0), proxies=("confidence", "entropy"), taus=(0.9,))
    task = exp.TaskSetup("arithmetic", "arithmetic-small", blocks=(None, 4), scheduled_steps=(2, 4, 8))
    specs = exp.sampler_specs(grid, task, answer_len=8)
    per_block = 2 + 2 * 2 + 1
    assert len([s for s in specs if s.block_size is None]) == per_block + 3
    # blocks of 4 (2 blocks): Scheduled(2), (4), (8) -> 1, 2, 4 steps per block, all valid
    assert len([s for s in specs if s.block_size == 4]) == per_block + 3
    assert {s.curve for s in specs} >= {"EB (entropy)", "EB (entropy), blocks of 4", "top-k, blocks of 4"}
    with pytest.raises(ConfigError):
        exp.sampler_specs(grid, exp.TaskSetup("a", "arithmetic-small", blocks=(3,)), answer_len=8)


def test_speedup_chooses_on_validation_and_reports_on_test():
    """On validation gamma=1 is the cheapest within 0.5 pt; on test it lost 2 points and gamma=0.1
    would be the in-sample pick.  The chosen setting stays gamma=1, with its test numbers."""
    valid = [_row("top-k", "k=1", 0.90, 89.0, correct=[1, 1, 0, 0]),
             _row("EB (entropy)", "gamma=0.1", 0.90, 20.0, correct=[1, 1, 0, 0]),
             _row("EB (entropy)", "gamma=1", 0.898, 10.0, correct=[1, 0, 1, 0])]
    test = [_row("top-k", "k=1", 0.80, 88.0, correct=[1, 1, 1, 1]),
            _row("EB (entropy)", "gamma=0.1", 0.80, 22.0, correct=[1, 1, 1, 1]),
            _row("EB (entropy)", "gamma=1", 0.78, 11.0, correct=[1, 1, 1, 0])]
    s = exp.speedup(valid, "EB", test_rows=test)
    assert s["chosen_on"] == "validation" and s["best"]["label"] == "gamma=1"
    assert s["best"]["accuracy"] == 0.78 and s["reference"]["nfe_mean"] == 88.0
    assert s["speedup"] == pytest.approx(88 / 11) and s["accuracy_diff"] == pytest.approx(-0.25)
    assert s["validation"]["best"]["accuracy"] == 0.898 and s["validation"]["speedup"] == pytest.approx(8.9)
    assert exp.speedup(test, "EB")["best"]["label"] == "gamma=0.1"  # what in-sample choice would take
    none = exp.speedup(valid, "top-k", test_rows=test)  # no top-k setting besides k=1
    assert none["best"] is None and none["reference"]["accuracy"] == 0.80


def test_quick_preset_runs_end_to_end(eb_quick):
    out, result = eb_quick
    for name in ("result.json", "report.md", "sudoku.png", "arithmetic.png", "bound.png"):
        assert (out / name).stat().st_size > 0, name
    on_disk = json.loads((out / "result.json").read_text())
    assert on_disk["preset"] == "quick" and on_disk["provenance"]["seed"] == 0
    grid = exp.PRESETS["quick"].grid
    for name, part in result["tasks"].items():
        families = {r["family"] for r in part["rows"]}
        assert families == {"top-k", "threshold", "scheduled"} | {f"EB ({p})" for p in grid.proxies}, name
        assert all(0.0 <= r["accuracy"] <= 1.0 and 1.0 <= r["nfe_mean"] <= part["answer_len"]
                   for r in part["rows"])
        top1 = next(r for r in part["rows"] if r["label"] == "k=1" and r["block_size"] is None)
        if name == "sudoku":
            assert top1["nfe_mean"] == 89.0  # no end token: top-1 pays every position
        assert part["train"]["steps"] == 40 and part["train"]["parameters"] > 0
    assert {r["block_size"] for r in result["tasks"]["arithmetic"]["rows"]} == {None, 4}
    report = (out / "report.md").read_text()
    assert "Speed-up at equal accuracy" in report and "The bound on an exact HMM" in report
    assert "test (chosen on validation)" in report and "8 validation prompts" in report


def test_quick_padded_arithmetic_sweeps_with_and_without_the_stop_rule(eb_quick):
    """Without the stop rule every one of the 32 generated positions costs top-1 a pass; with it
    and blocks of 8 a row stops once its answer has ended, so never later than the 32nd pass."""
    _, result = eb_quick
    part = result["tasks"]["arithmetic-padded"]
    assert part["task"] == "arithmetic" and part["answer_len"] == 32
    top1 = {(r["block_size"], r["stop"]): r for r in part["rows"] if r["label"] == "k=1"}
    assert set(top1) == {(None, True), (None, False), (8, True), (8, False)}
    assert top1[None, False]["nfe_mean"] == 32.0 and top1[8, False]["nfe_mean"] == 32.0
    assert top1[8, True]["nfe_mean"] <= 32.0
    assert {(s["block_size"], s["stop"]) for s in part["speedups"]} == set(top1)
    assert result["tasks"]["sudoku-hard"]["task"] == "sudoku"


def test_parts_select_tasks_and_reject_unknown_names(tmp_path):
    assert experiments.parts("eb-sampler", "quick") == ("bound", "sudoku", "arithmetic", "sudoku-hard",
                                                         "arithmetic-padded")
    result = experiments.run("eb-sampler", "quick", tmp_path / "b", parts=("bound",))
    assert result["tasks"] == {} and result["bound"] and result["parts"] == ["bound"]
    assert "The bound on an exact HMM" in (tmp_path / "b" / "report.md").read_text()
    with pytest.raises(ConfigError, match="unknown part"):
        experiments.run("eb-sampler", "quick", tmp_path / "x", parts=("sudoku-impossible",))
    assert not (tmp_path / "x").exists()


def test_quick_preset_chooses_on_validation_prompts_disjoint_from_train_and_test(eb_quick):
    out, result = eb_quick
    for setup in exp.PRESETS["quick"].tasks:
        part = result["tasks"][setup.name]
        assert part["n_valid"] == setup.n_valid and part["selection"] == "validation"
        settings = [(r["family"], r["label"], r["block_size"]) for r in part["rows"]]
        assert [(r["family"], r["label"], r["block_size"]) for r in part["valid_rows"]] == settings
        assert all(r["n"] == setup.n_valid for r in part["valid_rows"])
        assert part["speedups"] and all(s["chosen_on"] == "validation" for s in part["speedups"])
        # the validation prompts are none of the model's train or test prompts
        _, valid, test, _ = exp.task_model(setup, out, progress=False)
        cfg = load_config(setup.config, list(setup.overrides))
        train = build_task(cfg.data.task, seq_len=cfg.data.seq_len, seed=cfg.seed, **cfg.data.options).train
        seen = {tuple(r) for split in (train, test) for r in split.prompts().tolist()}
        assert len(valid) == setup.n_valid and not seen & {tuple(r) for r in valid.prompts().tolist()}


def test_quick_preset_reuses_finished_parts(eb_quick, monkeypatch):
    out, result = eb_quick

    def boom(*a, **k):
        raise AssertionError("a cached part was recomputed")

    from mdm.experiments.eb_sampler import parts

    monkeypatch.setattr(parts, "task_part", boom)
    monkeypatch.setattr(parts, "bound_part", boom)
    again = experiments.run("eb-sampler", "quick", out, seed=0, resume=True)
    assert again["tasks"] == json.loads(json.dumps(result["tasks"]))


def test_accuracy_by_group_splits_the_prompts():
    correct = torch.tensor([True, False, True, True])
    groups = ["a", "b", "a", "b"]
    assert exp.accuracy_by_group(correct, groups) == {"a": 1.0, "b": 0.5}


def test_quick_report_has_difficulty_groups(eb_quick):
    out, result = eb_quick
    sudoku = result["tasks"]["sudoku"]
    assert sum(sudoku["groups"].values()) == sudoku["rows"][0]["n"]
    assert set(sudoku["groups"]) <= {"naked singles", "hidden singles", "search"}
    assert "Accuracy (%) by difficulty" in (out / "report.md").read_text()


def test_a_checkpoint_from_another_config_is_not_reused(eb_quick):
    """The quick arithmetic model was trained on 512 problems; asking for a model on 256 must not
    silently load it, although it is finished and its model config is the same."""
    out, _ = eb_quick
    quick_setup = next(t for t in exp.PRESETS["quick"].tasks if t.name == "arithmetic")
    other = exp.TaskSetup("arithmetic", "arithmetic-small", exp._QUICK_MODEL + (
        "data.options={max_digits: 5, ops: ['+'], n_train: 256, n_test: 8}",))
    model, _, dataset, summary = exp.task_model(quick_setup, out, progress=False)  # same config: loaded
    assert summary["steps"] == 40 and len(dataset) == 8
    with pytest.raises(ConfigError, match="data config differs"):
        exp.task_model(other, out, progress=False)
