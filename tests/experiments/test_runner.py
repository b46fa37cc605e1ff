"""The experiment runner (:mod:`mdm.experiments.runner`): a toy experiment registered from outside
the package runs through ``mdm exp``, is killed, resumes, and writes what an uninterrupted run
writes; validation happens before anything is written; failed parts are never cached."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from mdm.errors import ConfigError

SRC = Path(__file__).resolve().parents[2] / "src"

# A toy experiment in its own module, outside mdm: it registers itself on import.  Part "draw"
# draws numbers from the seed; part "square" needs "draw".  TOY_KILL=PART:SEED kills the process
# (SIGKILL: no cleanup, no atexit) when that part starts; every computed part is logged to
# OUT/calls.log so the test can see what a resumed run recomputed.
TOY = '''
import os
import signal
from dataclasses import dataclass

import numpy as np

from mdm.experiments import EXPERIMENTS
from mdm.experiments.plotting import figure
from mdm.experiments.runner import Experiment, Part


@dataclass(frozen=True)
class Setup:
    n: int
    scale: float = 1.0


def _log(ctx, part):
    with open(ctx.out_dir / "calls.log", "a") as f:
        f.write(f"{part} {ctx.seed}\\n")
    if os.environ.get("TOY_KILL") == f"{part}:{ctx.seed}":
        os.kill(os.getpid(), signal.SIGKILL)


def draw(setup, seed, ctx):
    _log(ctx, "draw")
    x = np.random.default_rng(seed).normal(size=setup.n) * setup.scale
    return {"x": x.tolist(), "mean": float(x.mean())}


def square(setup, seed, ctx):
    _log(ctx, "square")
    x = np.asarray(ctx.need("draw")["x"])
    return {"mean_square": float((x ** 2).mean()), "by_sign": {1: int((x > 0).sum()), -1: int((x < 0).sum())}}


def plots(result, out_dir):
    with figure(out_dir / "hist.png", title="toy draws") as (fig, ax):
        ax.hist(result["draw"]["x"], bins=10)
        ax.set_xlabel("x")
        ax.set_ylabel("count")
    return ["hist.png"]


EXPERIMENT = Experiment(
    name="toy",
    presets={"quick": Setup(n=50), "full": Setup(n=500)},
    parts=lambda setup: [Part("draw", draw), Part("square", square, needs=("draw",))],
    assemble=lambda setup, results, seed: {"seed": seed, **results},
    report=lambda result, setup: "# toy\\n\\nmean " + format(result["draw"]["mean"], ".4f") + "\\n",
    plots=plots,
    verdict=lambda result: [f"toy mean {result['draw']['mean']:.3f}"],
    evidence=lambda result, setup: {"n_test": setup.n, "method": "point estimates", "setting": "our proxy"},
    headline=lambda result: {"mean": result["draw"]["mean"],
                             "mean square - mean": (result["square"]["mean_square"], result["draw"]["mean"])},
)
EXPERIMENTS.register("toy", EXPERIMENT)
'''


@pytest.fixture
def toy(tmp_path):
    """``mdm(*args, kill=None) -> CompletedProcess``: ``mdm exp toy ...`` in a fresh interpreter
    that imported the toy module (from a folder outside the package) first."""
    (tmp_path / "toy_exp.py").write_text(textwrap.dedent(TOY))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(SRC)]), "OMP_NUM_THREADS": "1",
           "MPLBACKEND": "Agg"}

    def mdm(*args, kill=None):
        code = "import sys, toy_exp; from mdm.cli import main; sys.exit(main(sys.argv[1:]))"
        e = {**env, **({"TOY_KILL": kill} if kill else {})}
        return subprocess.run([sys.executable, "-c", code, "exp", "toy", *map(str, args)], env=e,
                              capture_output=True, text=True, timeout=300)

    return mdm


def _without_provenance(out: Path) -> tuple[dict, str]:
    result = json.loads((out / "result.json").read_text())
    assert result.pop("provenance")["wall_s"] >= 0
    report = (out / "report.md").read_text()
    return result, report[: report.index("## Provenance")]


def test_a_killed_run_resumes_to_the_same_result(toy, tmp_path):
    """Three seeds; killed (SIGKILL) when part "square" of seed 0 starts, i.e. after the first
    part finished; ``--resume`` recomputes only what was not saved, and result.json equals an
    uninterrupted run's, ``provenance`` (command, wall time, date, timings) left out."""
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    res = toy("--seeds", "0-2", "--out", killed, kill="square:0")
    assert res.returncode == -signal.SIGKILL, res.stderr
    assert (killed / "parts" / "draw" / "seed-0.json").is_file()
    assert not (killed / "parts" / "square").exists() and not (killed / "result.json").exists()

    res = toy("--seeds", "0-2", "--out", killed, "--resume")
    assert res.returncode == 0, res.stderr
    calls = (killed / "calls.log").read_text().split("\n")[:-1]
    # the first run drew seed 0 and started square 0; the resumed run reused draw 0
    assert calls == ["draw 0", "square 0", "square 0", "draw 1", "square 1", "draw 2", "square 2"]
    assert f"report: {killed / 'report.md'}" in res.stdout
    by_seed = json.loads((killed / "result.json").read_text())["by_seed"]
    assert [line for line in res.stdout.splitlines() if line.startswith("seed ")] == [
        f"seed {s}: toy mean {by_seed[str(s)]['draw']['mean']:.3f}" for s in range(3)]

    res = toy("--seeds", "0-2", "--out", whole)
    assert res.returncode == 0, res.stderr
    (a, report_a), (b, report_b) = _without_provenance(killed), _without_provenance(whole)
    assert a == b and report_a == report_b
    assert a["seeds"] == [0, 1, 2] and set(a["by_seed"]) == {"0", "1", "2"}
    assert a["by_seed"]["1"]["square"]["by_sign"]["1"] + a["by_seed"]["1"]["square"]["by_sign"]["-1"] == 50
    assert a["evidence"]["seeds"] == 3 and a["evidence"]["n_test"] == 50
    means = [a["by_seed"][str(s)]["draw"]["mean"] for s in range(3)]
    across = a["across_seeds"]["mean"]
    assert across["n"] == 3 and across["missing"] == 0 and across["mean"] == pytest.approx(sum(means) / 3)
    assert across["lo"] <= across["mean"] <= across["hi"] and "## Across seeds" in report_b
    diff = a["across_seeds"]["mean square - mean"]  # paired by seed: the mean of per-seed differences
    squares = [a["by_seed"][str(s)]["square"]["mean_square"] for s in range(3)]
    assert diff["n_pairs"] == 3 and 0 <= diff["p_value"] <= 1
    assert diff["mean"] == pytest.approx(sum(q - m for q, m in zip(squares, means)) / 3)
    assert "> **How strong is this evidence?** Evidence: 3 training seeds · 50 test items" in report_b
    for s in range(3):
        assert (whole / f"seed-{s}" / "hist.png").stat().st_size > 0
        assert f"](seed-{s}/hist.png)" in report_b


def test_set_overrides_a_preset_field_and_is_recorded(toy, tmp_path):
    """``--set KEY=VALUE`` (repeatable) replaces fields of the preset's setup, typed by the dataclass
    (``n`` an int, ``scale`` a float from ``2``); result.json's provenance records the values and a
    command that reproduces the run; an unknown key or a value of the wrong type is one line on
    stderr, exit 2, before any folder is made."""
    out = tmp_path / "set"
    res = toy("--seed", "1", "--set", "n=20", "--set", "scale=2", "--out", out)
    assert res.returncode == 0, res.stderr
    result = json.loads((out / "result.json").read_text())
    assert len(result["draw"]["x"]) == 20 and result["evidence"]["n_test"] == 20
    prov = result["provenance"]
    assert prov["config"] == {"preset": "quick", "set": ["n=20", "scale=2"], "n": 20, "scale": 2.0}
    assert prov["command"] == "mdm exp toy --preset quick --seed 1 --set n=20 --set scale=2"
    again = tmp_path / "again"
    res = toy(*prov["command"].split()[3:], "--out", again)  # the recorded command, rerun
    assert res.returncode == 0, res.stderr
    assert json.loads((again / "result.json").read_text())["draw"] == result["draw"]
    res = toy("--set", "nope=1", "--out", tmp_path / "bad")
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "--set nope: the preset's setup has no field 'nope'; its fields: n, scale" in res.stderr
    assert not (tmp_path / "bad").exists()


@dataclasses.dataclass(frozen=True)
class _Inner:
    steps: int = 10
    lrs: tuple[float, ...] = (1e-3,)


@dataclasses.dataclass(frozen=True)
class _Setup:
    samples: int = 8
    name: str = "a"
    train: _Inner | None = _Inner()
    off: _Inner | None = None
    arms: tuple[_Inner, ...] = (_Inner(), _Inner(steps=20))


@pytest.mark.parametrize(("assignments", "want"), [
    (["samples=64", "name=linear"], _Setup(samples=64, name="linear")),
    (["train.steps=3", "train.lrs=[3e-4, 1]"], _Setup(train=_Inner(3, (3e-4, 1.0)))),
    (["train=null"], _Setup(train=None)),
    (["arms.1.steps=5"], _Setup(arms=(_Inner(), _Inner(steps=5)))),
])
def test_apply_overrides_types_values_by_the_field(assignments, want):
    from mdm.experiments.overrides import apply_overrides

    assert apply_overrides(_Setup(), assignments) == want


@pytest.mark.parametrize(("assignment", "message"), [
    ("nope=1", "no field 'nope'; its fields: samples, name, train, off, arms"),
    ("train.nope=1", "train has no field 'nope'; its fields: steps, lrs"),
    ("samples=abc", "--set samples must be int, got 'abc'"),
    ("samples=1.5", "--set samples must be int"),
    ("train.lrs=0.1", "--set train.lrs must be tuple[float, ...]"),
    ("train.lrs=[a]", "--set train.lrs[0] must be float"),
    ("train=3", "train is a setup, not a value; set its fields (train.FIELD=VALUE)"),
    ("off=3", "off is a setup, not a value"),
    ("arms=[]", "arms is a setup, not a value; set its fields (arms.INDEX.FIELD=VALUE)"),
    ("arms.2.steps=1", "arms holds 2 setups; set a field of one by its index, e.g. arms.0.steps=..."),
    ("arms.x.steps=1", "arms holds 2 setups"),
    ("off.steps=2", "off is None, not a setup with fields"),
    ("samples", "must look like KEY=VALUE"),
])
def test_apply_overrides_rejects_bad_keys_and_values(assignment, message):
    from mdm.experiments.overrides import apply_overrides

    with pytest.raises(ConfigError) as err:
        apply_overrides(_Setup(), [assignment])
    assert message in str(err.value)


def test_set_on_a_setup_without_fields_fails_before_anything_is_written(tmp_path):
    from mdm.experiments.runner import run

    with pytest.raises(ConfigError, match="not a setup with fields"):
        run(_counting([]), "quick", tmp_path / "out", overrides=["k=2"])
    assert not (tmp_path / "out").exists()


def test_one_seed_keeps_the_experiments_own_layout(tmp_path):
    """One seed: result.json is the assembled result itself (plus provenance, evidence, plots);
    ``--seed N`` and ``seeds=(N,)`` are the same run; provenance names the machine and versions."""
    from mdm import experiments
    from mdm.experiments.runner import Experiment, Part

    exp = Experiment(name="one", presets={"quick": {"k": 3}},
                     parts=lambda s: [Part("a", lambda setup, seed, ctx: {"v": setup["k"] * 10 + seed})],
                     assemble=lambda s, r, seed: {"value": r["a"]["v"]},
                     report=lambda result, s: "# one\n",
                     evidence=lambda r, s: {"n_test": 7, "method": "exact", "setting": "paper's setting",
                                            "trained": False})
    result = experiments.runner.run(exp, "quick", tmp_path, seeds=(4,))
    assert result["value"] == 34 and result["plots"] == []
    saved = json.loads((tmp_path / "result.json").read_text())
    assert saved == result
    prov = saved["provenance"]
    assert prov["command"] == "mdm exp one --preset quick --seed 4" and prov["seeds"] == [4]
    assert {"mdm", "torch", "numpy", "python"} <= set(prov["versions"])
    assert {"cpu", "cpu_capability", "torch_threads", "hostname"} <= set(prov["machine"])
    assert prov["config"] == {"preset": "quick", "k": 3}
    assert saved["evidence"]["seeds"] is None  # nothing trained: exact oracles
    box = "> **How strong is this evidence?** Evidence: no trained model (exact oracles) · 7 test items"
    assert (tmp_path / "report.md").read_text().startswith(f"# one\n\n{box}")


def _counting(calls: list, fail: BaseException | None = None):
    from mdm.experiments.runner import Experiment, Part

    def a(setup, seed, ctx):
        calls.append(("a", seed))
        return {"v": setup["k"] + seed}

    def b(setup, seed, ctx):
        calls.append(("b", seed))
        if fail is not None:
            raise fail
        return {"w": ctx.need("a")["v"] * 2}

    return Experiment(name="count", presets={"quick": {"k": 1}, "full": {"k": 2}},
                      parts=lambda s: [Part("a", a), Part("b", b, needs=("a",))],
                      assemble=lambda s, r, seed: dict(r), report=lambda result, s: "# count\n")


def test_a_failed_or_interrupted_part_is_never_cached(tmp_path):
    from mdm.experiments.runner import TrainingInterrupted, run

    calls = []
    with pytest.raises(TrainingInterrupted):
        run(_counting(calls, TrainingInterrupted("stopped at step 3 of 10")), "quick", tmp_path, seeds=(0,))
    assert (tmp_path / "parts" / "a" / "seed-0.json").is_file()
    assert not (tmp_path / "parts" / "b").exists() and not (tmp_path / "result.json").exists()
    calls.clear()
    result = run(_counting(calls), "quick", tmp_path, seeds=(0,), resume=True)
    assert calls == [("b", 0)] and result["b"] == {"w": 2}


def test_resume_recomputes_a_part_whose_configuration_changed(tmp_path):
    from mdm.experiments.runner import run

    calls = []
    run(_counting(calls), "quick", tmp_path, seeds=(0, 1))
    calls.clear()
    run(_counting(calls), "quick", tmp_path, seeds=(0, 1), resume=True)
    assert calls == []  # everything reused
    exp = _counting(calls)
    changed = dataclasses.replace(exp, presets={"quick": {"k": 5}})
    result = run(changed, "quick", tmp_path, seeds=(0, 1), resume=True)
    assert calls == [("a", 0), ("b", 0), ("a", 1), ("b", 1)]
    assert result["by_seed"]["1"]["b"] == {"w": 12}
    calls.clear()
    run(changed, "quick", tmp_path, seeds=(0, 1))  # without --resume: everything afresh
    assert len(calls) == 4


def test_parts_select_and_pull_in_what_they_need(tmp_path):
    from mdm.experiments.runner import run

    calls = []
    result = run(_counting(calls), "full", tmp_path, seeds=(3,), parts=["b"])
    assert calls == [("b", 3), ("a", 3)] and result["b"] == {"w": 10}
    assert "--parts b" in result["provenance"]["command"]


@pytest.mark.parametrize(("preset", "seeds", "parts", "message"), [
    ("medium", (0,), None, "unknown preset 'medium'; choose one of: quick, full"),
    ("quick", (0,), ["c"], "unknown part(s) c; this preset has: a, b"),
    ("quick", (0,), [], "unknown part(s) (none given)"),
    ("quick", (1, 1), None, "distinct"),
    ("quick", (), None, "distinct"),
])
def test_bad_runs_fail_before_anything_is_written(tmp_path, preset, seeds, parts, message):
    from mdm.experiments.runner import run

    calls = []
    with pytest.raises(ConfigError) as err:
        run(_counting(calls), preset, tmp_path / "out", seeds=seeds, parts=parts)
    assert message in str(err.value)
    assert not (tmp_path / "out").exists() and calls == []


@pytest.mark.parametrize(("text", "seeds"), [("0-9", tuple(range(10))), ("3", (3,)), ("1,4, 7", (1, 4, 7)),
                                             ("2-3,8", (2, 3, 8))])
def test_parse_seeds(text, seeds):
    from mdm.experiments.runner import parse_seeds

    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["", "a-b", "3-1", "1,1", "-2", "0-", "0-100000000000", str(2**64)])
def test_parse_seeds_rejects(text):
    from mdm.experiments.runner import parse_seeds

    with pytest.raises(ConfigError, match="seeds"):
        parse_seeds(text)


def test_without_a_verdict_mdm_exp_prints_the_headline_numbers(tmp_path, monkeypatch):
    """``verdict_lines`` falls back to the headline: one ``name: value`` line each, a pair of arms as
    their difference (``-`` where a value is missing), prefixed by the seed for several seeds."""
    from mdm import experiments
    from mdm.experiments.runner import Experiment, Part

    exp = Experiment(name="heads", presets={"quick": {}}, parts=lambda s: [Part("a", lambda *_: {})],
                     assemble=lambda s, r, seed: {"seed": seed}, report=lambda result, s: "# heads\n",
                     headline=lambda r: {"seed": r["seed"], "seed vs 1": (r["seed"], 1.0), "gap": None})
    monkeypatch.setitem(experiments.EXPERIMENTS._entries, "heads", exp)  # unregistered afterwards
    lines = experiments.verdict_lines("heads", {"seed": 3})
    assert lines == ["seed: 3", "seed vs 1 (difference): 2", "gap: -"]
    result = experiments.run("heads", "quick", tmp_path, seeds=(0, 2))
    lines = experiments.verdict_lines("heads", result)
    assert lines[3:5] == ["seed 2: seed: 2", "seed 2: seed vs 1 (difference): 1"]


def test_report_table_cells_by_field_format_or_function():
    """``report.table``: a field name is written as markdown_table writes it (floats to 4 significant
    digits), a format string formats the item's fields, a function gets the item."""
    from mdm.experiments.report import table

    items = [{"name": "a", "x": 2 / 3, "n": 12345}, {"name": "b", "x": 1.0, "n": 7}]
    got = table(items, {"name": "name", "x": "x", "x %": "{x:.1%}", "n": "n", "twice": lambda r: 2 * r["n"]})
    assert got.split("\n") == ["| name | x | x % | n | twice |", "|---|---|---|---|---|",
                               "| a | 0.6667 | 66.7% | 12345 | 24690 |", "| b | 1 | 100.0% | 7 | 14 |"]


# --- cache keys: a part is keyed by what it reads (Part.reads), its extra key and the parts it needs


@dataclasses.dataclass(frozen=True)
class _Grid:
    n: int = 3
    label: str = "a"


@dataclasses.dataclass(frozen=True)
class _KeySetup:
    first: _Grid = _Grid()
    second: _Grid = _Grid()
    unread: int = 0


def _keyed_experiment(calls: list, *, reads: bool = True, declared: bool = True):
    from mdm.experiments.runner import Experiment, Part

    def first(grid, seed, ctx):
        calls.append("first")
        return {"sum": grid.n + seed}

    def second(grid, seed, ctx):
        calls.append("second")
        return {"total": ctx.need("first")["sum"] * grid.n}

    slice_ = (lambda field: (lambda s: getattr(s, field))) if reads else (lambda field: None)
    return Experiment(
        name="keyed", presets={"quick": _KeySetup()},
        parts=lambda s: [Part("first", first if reads else lambda s, seed, ctx: first(s.first, seed, ctx),
                              reads=slice_("first")),
                         Part("second", second if reads else lambda s, seed, ctx: second(s.second, seed, ctx),
                              reads=slice_("second"), needs=("first",) if declared else ())],
        assemble=lambda s, results, seed: results, report=lambda r, s: "# keyed\n", threads=None)


def test_a_part_is_recomputed_only_when_what_it_reads_or_needs_changes(tmp_path):
    """Part.reads: a change outside a part's slice keeps its cached result; a change inside it, or
    in a part it needs, recomputes it (and only the parts downstream)."""
    from mdm.experiments.runner import run

    calls: list[str] = []
    exp = _keyed_experiment(calls)
    first = run(exp, "quick", tmp_path)
    assert calls == ["first", "second"] and first["second"] == {"total": 9}

    def again(*overrides):
        calls.clear()
        return run(exp, "quick", tmp_path, resume=True, overrides=overrides)

    assert again("unread=5")["second"] == {"total": 9} and calls == []  # nothing it reads changed
    # the part it needs changed (then changed back, with a change inside its own slice)
    assert again("first.n=4")["second"] == {"total": 12} and calls == ["first", "second"]
    assert again("second.label=b")["second"] == {"total": 9} and calls == ["first", "second"]
    assert again("second.label=b", "second.n=5")["second"] == {"total": 15} and calls == ["second"]


def test_without_reads_a_part_is_keyed_by_the_whole_setup(tmp_path):
    from mdm.experiments.runner import run

    calls: list[str] = []
    exp = _keyed_experiment(calls, reads=False)
    run(exp, "quick", tmp_path)
    calls.clear()
    run(exp, "quick", tmp_path, resume=True, overrides=["unread=5"])
    assert calls == ["first", "second"]


def test_reading_an_undeclared_part_is_refused(tmp_path):
    from mdm.experiments.runner import run

    with pytest.raises(ConfigError, match="without declaring it"):
        run(_keyed_experiment([], declared=False), "quick", tmp_path)
    assert not (tmp_path / "parts" / "second").exists()


def test_part_keys_of_parts_without_reads_or_needs_are_unchanged(tmp_path):
    """Caches written before Part.reads/needs existed stay valid: the key of a plain part is the hash
    of the same fields as then (frozen here for the toy setup)."""
    from mdm.experiments.cache import PartCache
    from mdm.experiments.runner import part_key, plan

    exp = _keyed_experiment([], reads=False, declared=False)
    p = plan(exp, "quick")
    setup = {"first": {"n": 3, "label": "a"}, "second": {"n": 3, "label": "a"}, "unread": 0}
    old = {"experiment": "keyed", "preset": "quick", "setup": setup, "part": "first", "seed": 0,
           "extra": None}
    assert part_key(p, "first", 0) == PartCache.key(old)


def test_model_identity_keeps_what_the_weights_depend_on():
    from mdm.train import load_config
    from mdm.train.compat import model_identity

    base = model_identity(load_config("kjv-char-tiny").to_dict())
    for harmless in ("threads=1", "log_every=7", "eval_every=3", "save_every=9", "out_dir=elsewhere"):
        assert model_identity(load_config("kjv-char-tiny", [harmless]).to_dict()) == base, harmless
    for changes in ("seed=3", "max_steps=7", "optim.lr=0.1", "model.d_model=32", "precision=fp32", "ema=0.5"):
        assert model_identity(load_config("kjv-char-tiny", [changes]).to_dict()) != base, changes


def test_needs_naming_an_undeclared_part_or_a_cycle_are_refused_before_anything_runs(tmp_path):
    from mdm.experiments.runner import Experiment, Part, plan

    def exp(parts):
        return Experiment(name="needs", presets={"quick": _KeySetup()}, parts=lambda s: parts,
                          assemble=lambda s, r, seed: r, report=lambda r, s: "# needs\n")

    run = lambda s, seed, ctx: {}  # noqa: E731
    with pytest.raises(ConfigError, match="undeclared part"):
        plan(exp([Part("a", run, needs=("b",))]), "quick")
    with pytest.raises(ConfigError, match="a -> b -> a"):
        plan(exp([Part("a", run, needs=("b",)), Part("b", run, needs=("a",))]), "quick")
    plan(exp([Part("a", run), Part("b", run, needs=("a",)), Part("c", run, needs=("a", "b"))]), "quick")


@pytest.mark.parametrize("experiment, override, changed", [
    ("any-process", "brackets.n_eval=7", {"brackets", "brackets-mdm"}),
    ("any-process", "rewrite.n_eval=7", {"rewrite"}),
    ("energy-schedules", "calibration.0.instances=7", {"calibration"}),
    ("energy-schedules", "toy.steps=2", {"toy"}),
    ("energy-schedules", "samples=7", {"languages", "trained"}),
    ("steps-vs-length", "scaling.0.seeds=2", {"scaling-order-2"}),
    ("steps-vs-length", "entropy_samples=7", "all but scaling"),
    ("eb-sampler", "frontier.n_boot=7", {"eb-vs-threshold"}),
    ("eb-sampler", "bound.n_trials=7", {"bound"}),
    ("rl", "var_repeats=7", {"variance", "exact-variance"}),
    ("rl", "lrs=[0.5]", {"diffu-grpo", "spg", "spg-plain", "spg-mirror"}),
    ("learned-order", "hard_length=5", {"hard-orders"}),
    ("learned-order", "table_seeds=[3]", {"tables"}),
    ("learned-order", "n_heldout=7", {"planted", "hard-orders", "tables"}),
    ("learned-order", "planted_noise=0.1", {"planted", "hard-orders", "tables"}),
])
def test_a_packaged_experiments_parts_are_keyed_by_their_own_setup(experiment, override, changed):
    """Changing one setup of a packaged preset changes the cache keys of the parts that read it (and of
    those that need them) and of no other part (the parts that read the whole preset excepted)."""
    from mdm.experiments import get
    from mdm.experiments.runner import part_key, plan

    exp = get(experiment)
    base, moved = plan(exp, "full"), plan(exp, "full", overrides=[override])
    whole = {p.name for p in base.parts if p.reads is None}
    differ = {p.name for p in base.parts if part_key(base, p.name, 0) != part_key(moved, p.name, 0)}
    if changed == "all but scaling":
        changed = {p.name for p in base.parts if not p.name.startswith("scaling-")}
    assert differ - whole == changed


def test_fields_gives_a_part_only_the_named_fields_of_a_flat_setup():
    from mdm.experiments.runner import fields, setup_json

    read = fields("unread")
    got = read(_KeySetup(unread=4))
    assert got.unread == 4 and setup_json(got) == {"unread": 4}
    with pytest.raises(AttributeError):
        got.first  # noqa: B018 (not one of the named fields)
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.unread = 5


@pytest.mark.parametrize("override, changed", [
    ("curve_seeds=3", "curves"), ("long_sft_steps=7", "long"), ("sft_lr=0.5", "all")])
def test_variance_parts_are_keyed_by_their_own_settings(override, changed):
    """The learning-curve settings rerun the curve parts only, the long-answer settings the long part
    only; a shared SFT setting reruns everything."""
    from mdm.experiments import get
    from mdm.experiments.runner import part_key, plan

    exp = get("variance")
    base, moved = plan(exp, "full"), plan(exp, "full", overrides=[override])
    names = {p.name for p in base.parts} & {p.name for p in moved.parts}
    differ = {n for n in names if part_key(base, n, 0) != part_key(moved, n, 0)}
    curves = {n for n in names if n.startswith(("curves", "half-batch", "double-batch"))}
    want = {"curves": curves, "long": {"long"}, "all": names}[changed]
    assert differ == want and curves
