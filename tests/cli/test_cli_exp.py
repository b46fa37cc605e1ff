"""`mdm exp`: runs an experiment from the registry."""

from mdm.registry import Registry

# A module registered by path defines its Experiment as EXPERIMENT (mdm.experiments' docstring).
_FAKE = """
    from mdm.experiments.runner import Experiment, Part

    def write(setup, seed, ctx):
        with open(ctx.out_dir / "calls.txt", "a") as f:
            f.write(f"{setup['tag']} {seed}\\n")
        return {"seed": seed}

    EXPERIMENT = Experiment(name="fake", presets={"quick": {"tag": "q"}, "full": {"tag": "f"}},
                            parts=lambda s: [Part("a", write), Part("b", write)],
                            assemble=lambda s, results, seed: {"parts": sorted(results)},
                            report=lambda result, s: "# fake\\n")
"""


def test_exp_runs_a_registered_experiment(tmp_path, monkeypatch, fake_module, run, capsys):
    from mdm import experiments

    fake_module("mdm_fake_exp", _FAKE)
    registry = Registry("experiment", entries={"fake": "mdm_fake_exp"})
    monkeypatch.setattr(experiments, "EXPERIMENTS", registry)
    out = tmp_path / "o"
    rc, stdout, err = run(["exp", "fake", "--preset", "full", "--out", out, "--seed", "7"], capsys)
    assert rc == 0, err
    assert (out / "calls.txt").read_text() == "f 7\nf 7\n"  # both parts, the full preset, seed 7
    assert (out / "report.md").read_text().startswith("# fake")


def test_exp_parts_pass_through_and_bad_parts_fail_in_one_line(tmp_path, monkeypatch, fake_module, run,
                                                               capsys):
    from mdm import experiments

    fake_module("mdm_fake_parts", _FAKE)
    fake_module("mdm_fake_none", """
        def run(preset, out_dir, seed=0):
            return {}
    """)
    registry = Registry("experiment", entries={"p": "mdm_fake_parts", "w": "mdm_fake_none"})
    monkeypatch.setattr(experiments, "EXPERIMENTS", registry)
    rc, _, err = run(["exp", "p", "--parts", "b", "--out", tmp_path / "o"], capsys)
    assert rc == 0, err
    assert (tmp_path / "o" / "calls.txt").read_text() == "q 0\n"  # part b only
    rc, _, err = run(["exp", "p", "--parts", "c", "--out", tmp_path / "bad"], capsys)
    assert rc == 2 and "unknown part(s) c" in err and "a, b" in err and len(err.strip().splitlines()) == 1
    rc, _, err = run(["exp", "w", "--out", tmp_path / "bad2"], capsys)
    assert rc == 2 and "defines no EXPERIMENT" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists() and not (tmp_path / "bad2").exists()


def test_exp_dry_run_checks_and_prints_the_plan_without_running(tmp_path, monkeypatch, fake_module, run,
                                                                 capsys):
    from mdm import experiments

    fake_module("mdm_fake_dry", _FAKE)
    monkeypatch.setattr(experiments, "EXPERIMENTS", Registry("experiment", entries={"d": "mdm_fake_dry"}))
    out = tmp_path / "o"
    rc, stdout, err = run(["exp", "d", "--preset", "full", "--parts", "b", "--seeds", "0-2", "--out", out,
                           "--dry-run"], capsys)
    assert rc == 0, err
    assert "1 of 2 parts x 3 seed(s)" in stdout and "parts: b" in stdout and "seeds: 0, 1, 2" in stdout
    assert not out.exists()  # nothing ran, nothing written
    rc, _, err = run(["exp", "d", "--parts", "c", "--out", out, "--dry-run"], capsys)
    assert rc == 2 and "unknown part(s) c" in err and not out.exists()
    rc, _, err = run(["exp", "d", "--set", "nope=1", "--out", out, "--dry-run"], capsys)  # --set checked too
    assert rc == 2 and "nope" in err and len(err.strip().splitlines()) == 1 and not out.exists()


def test_exp_dry_run_with_resume_says_which_parts_it_would_reuse(tmp_path, monkeypatch, fake_module, run,
                                                                 capsys):
    import json

    from mdm import experiments

    fake_module("mdm_fake_resume", _FAKE)
    monkeypatch.setattr(experiments, "EXPERIMENTS", Registry("experiment", entries={"r": "mdm_fake_resume"}))
    out = tmp_path / "o"
    assert run(["exp", "r", "--parts", "a", "--out", out], capsys)[0] == 0  # part a saved, b never run
    rc, stdout, err = run(["exp", "r", "--out", out, "--dry-run", "--resume"], capsys)
    assert rc == 0, err
    assert "--resume reuses: a/seed-0" in stdout and "--resume runs: b/seed-0" in stdout
    saved = out / "parts" / "a" / "seed-0.json"
    saved.write_text(json.dumps({**json.loads(saved.read_text()), "key": "0" * 20}))  # another key
    rc, stdout, _ = run(["exp", "r", "--out", out, "--dry-run", "--resume"], capsys)
    assert "--resume recomputes (stale): a/seed-0" in stdout and "reuses" not in stdout
    assert (out / "calls.txt").read_text() == "q 0\n"  # the dry runs computed nothing
