"""The Beta-schedule tuner: finds a known optimum, refines away lucky cells, resumes from its cache."""

import json

import pytest
import torch

from mdm.errors import ConfigError, ScheduleError
from mdm.schedules import BetaEnergy
from mdm.tuning import TuneConfig, format_table, plot_heatmap, tune_schedule

OPT = (0.7, 0.3)
LUCKY = (0.8, 0.3)


def bowl(schedule: BetaEnergy, n: int, seed: int) -> float:
    """Known optimum at OPT; LUCKY looks better than OPT on the first (small) item set only,
    like a cell that won the grid by chance."""
    score = 1.0 - (schedule.a - OPT[0]) ** 2 - (schedule.b - OPT[1]) ** 2
    if (schedule.a, schedule.b) == LUCKY and n == 16:
        score += 0.05
    return score


def test_tuner_finds_known_optimum_and_refinement_rejects_the_lucky_cell(tmp_path):
    cfg = TuneConfig(steps=8, samples=16, refine_samples=128, refine_top=3)
    res = tune_schedule(bowl, cfg, cache=tmp_path / "cache.json", progress=False)
    grid_best = max(res.grid, key=res.grid.get)
    assert grid_best == LUCKY  # the grid alone would crown the lucky cell
    assert (res.a, res.b) == OPT
    assert res.score == pytest.approx(1.0)
    assert set(res.refined) == {LUCKY, OPT, (0.6, 0.3), (0.5, 0.5)}  # top 3 + the linear baseline
    assert len(res.grid) == 100 and res.evaluations == 104
    assert isinstance(res.schedule(), BetaEnergy) and res.schedule().a == OPT[0]


def test_tuner_minimises_when_asked():
    def ter(schedule, n, seed):  # lower is better, optimum at (0.2, 0.9)
        return (schedule.a - 0.2) ** 2 + (schedule.b - 0.9) ** 2 + 1.0

    cfg = TuneConfig(steps=4, samples=8, refine_samples=8, refine_top=2, maximize=False)
    res = tune_schedule(ter, cfg, progress=False)
    assert (res.a, res.b) == (0.2, 0.9)


def test_interrupted_search_resumes_from_cache(tmp_path):
    cache = tmp_path / "sub" / "cache.json"
    cfg = TuneConfig(steps=8, grid_a=(0.3, 0.7, 1.0), grid_b=(0.3, 0.6), samples=16, refine_top=2)
    calls = []

    def flaky(schedule, n, seed):
        if len(calls) == 4:
            raise KeyboardInterrupt
        calls.append((schedule.a, schedule.b, n, seed))
        return bowl(schedule, n, seed)

    with pytest.raises(KeyboardInterrupt):
        tune_schedule(flaky, cfg, cache=cache, name="bowl", progress=False)
    assert len(json.loads(cache.read_text())["scores"]) == 4

    resumed_calls = []

    def counting(schedule, n, seed):
        resumed_calls.append((schedule.a, schedule.b, n, seed))
        return bowl(schedule, n, seed)

    res = tune_schedule(counting, cfg, cache=cache, name="bowl", progress=False)
    fresh = tune_schedule(bowl, cfg, progress=False)
    total = 6 + 2 + 1  # grid + top 2 + linear baseline
    assert len(resumed_calls) == total - 4 and res.evaluations == total - 4
    assert not set(resumed_calls) & set(calls)  # nothing cached is recomputed
    assert (res.a, res.b, res.grid, res.refined) == (fresh.a, fresh.b, fresh.grid, fresh.refined)
    # A finished search reruns for free.
    assert tune_schedule(counting, cfg, cache=cache, name="bowl", progress=False).evaluations == 0


def test_cache_of_another_search_is_refused(tmp_path):
    cache = tmp_path / "cache.json"
    cfg = TuneConfig(steps=8, grid_a=(0.5,), grid_b=(0.5,), samples=4, refine_top=0)
    tune_schedule(bowl, cfg, cache=cache, name="bowl", progress=False)
    with pytest.raises(ConfigError, match="different search"):
        tune_schedule(bowl, TuneConfig(steps=16, grid_a=(0.5,), grid_b=(0.5,)), cache=cache, name="bowl",
                      progress=False)


@pytest.mark.parametrize("bad", [dict(grid_a=(0.0, 0.5)), dict(grid_b=(0.5, -0.1)),
                                 dict(always_refine=((0.5, 0.0),)), dict(grid_a=(float("nan"),))])
def test_nonpositive_beta_parameters_are_rejected(bad):
    with pytest.raises(ScheduleError, match="must be a finite number > 0"):
        TuneConfig(steps=8, **bad)


@pytest.mark.parametrize("bad", [dict(steps=0), dict(samples=0), dict(refine_top=-1), dict(grid_a=())])
def test_bad_search_sizes_are_rejected(bad):
    kw = dict(steps=8) | bad
    with pytest.raises(ConfigError):
        TuneConfig(**kw)


def test_table_and_heatmap(tmp_path):
    cfg = TuneConfig(steps=8, grid_a=(0.3, 0.7), grid_b=(0.3, 0.6), samples=16, refine_top=1)
    res = tune_schedule(bowl, cfg, progress=False)
    table = format_table(res, metric="accuracy")
    assert "best: Beta(0.7, 0.3)" in table and "<- best" in table
    assert len(table.splitlines()) == 2 + 2 + 1 + 2 + 1
    png = plot_heatmap(res, tmp_path / "heat.png", metric="accuracy")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_verifier_objective_scores_accuracy_on_a_task():
    from mdm.tasks.arithmetic import ArithmeticConfig, ArithmeticDataset
    from mdm.tuning import verifier_objective

    data = ArithmeticDataset.split("test", ArithmeticConfig(max_digits=1, ops=("+",), n_train=0, n_test=40))
    full = torch.stack([data[i]["input_ids"] for i in range(len(data))])
    tok = data.tokenizer

    class AnswerKey:  # knows every test answer: logits one-hot on the true sequence
        vocab_size, mask_id = tok.vocab_size, tok.mask_id

        def __init__(self, wrong: bool = False):
            self.wrong = wrong

        def __call__(self, x, attention_mask=None):
            p = data.prompt_len
            row = (x[:, None, :p] == full[None, :, :p]).all(-1).float().argmax(-1)
            target = full[row]
            if self.wrong:  # every answer digit off by one
                target = torch.where(target < 10, (target + 1) % 10, target)
            return torch.nn.functional.one_hot(target, self.vocab_size).double().log()

    for wrong, want in ((False, 1.0), (True, 0.0)):
        score = verifier_objective(AnswerKey(wrong), data, 2, proxy="confidence", batch_size=16)
        assert score(BetaEnergy(0.9, 0.3), 25, 0) == want
