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
