"""`mdm exp`: runs an experiment from the registry."""

from mdm.registry import Registry


def test_exp_runs_a_registered_experiment(tmp_path, monkeypatch, fake_module, run, capsys):
    from mdm import experiments

    fake_module("mdm_fake_exp", """
        def run(preset, out_dir, seed=0):
            (out_dir / "report.md").write_text(f"{preset} {seed}")
            return {}
    """)
    registry = Registry("experiment", entries={"fake": "mdm_fake_exp"})
    monkeypatch.setattr(experiments, "EXPERIMENTS", registry)
    out = tmp_path / "o"
    rc, stdout, err = run(["exp", "fake", "--preset", "full", "--out", out, "--seed", "7"], capsys)
    assert rc == 0, err
    assert (out / "report.md").read_text() == "full 7"


def test_exp_parts_pass_through_and_bad_parts_fail_in_one_line(tmp_path, monkeypatch, fake_module, run,
                                                               capsys):
    from mdm import experiments

    fake_module("mdm_fake_parts", """
        def parts(preset):
            return ("a", "b")

        def run(preset, out_dir, seed=0, parts=None):
            (out_dir / "report.md").write_text(",".join(parts))
            return {}
    """)
    fake_module("mdm_fake_whole", """
        def run(preset, out_dir, seed=0):
            return {}
    """)
    registry = Registry("experiment", entries={"p": "mdm_fake_parts", "w": "mdm_fake_whole"})
    monkeypatch.setattr(experiments, "EXPERIMENTS", registry)
    rc, _, err = run(["exp", "p", "--parts", "b, a", "--out", tmp_path / "o"], capsys)
    assert rc == 0, err
    assert (tmp_path / "o" / "report.md").read_text() == "a,b"  # the experiment's order
    rc, _, err = run(["exp", "p", "--parts", "c", "--out", tmp_path / "bad"], capsys)
    assert rc == 2 and "unknown part(s) c" in err and "a, b" in err and len(err.strip().splitlines()) == 1
    rc, _, err = run(["exp", "w", "--parts", "a", "--out", tmp_path / "bad2"], capsys)
    assert rc == 2 and "has no parts" in err
    assert not (tmp_path / "bad").exists() and not (tmp_path / "bad2").exists()
