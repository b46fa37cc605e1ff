"""What a new user hits first (issue 30): sampling defaults that fit the model, errors that name CLI
flags, and `mdm eval` saying what its numbers are (progress, Monte-Carlo note, a footnote that
describes only the rows and columns shown)."""

from __future__ import annotations

from tests.cli.test_cli_sample import block_run  # noqa: F401  (a tiny block-causal run)

from mdm.cli.sampler import flag_names


def test_a_block_model_samples_with_its_own_block_size_by_default(block_run, run, capsys):  # noqa: F811
    """`mdm train` prints `sample with: mdm sample RUN/checkpoint`; that command must work as printed."""
    argv = ["sample", block_run / "checkpoint", "--json", "--unmasker", "topk", "--k", "2"]
    rc, out, err = run(argv, capsys)
    assert rc == 0, err
    rc2, out2, _ = run(argv + ["--block-size", "8"], capsys)
    assert rc2 == 0 and out == out2  # the default is the model's block size
    rc, out, err = run(["sample", block_run, "--cache", "prefix", "--num", "2"], capsys)
    assert rc == 0, err  # the exact KV cache needs blocks: the default gives them


def test_block_size_errors_name_the_flag(block_run, run, capsys):  # noqa: F811
    rc, _, err = run(["sample", block_run, "--block-size", "3"], capsys)
    assert rc == 2 and "--block-size 3" in err and "block_size=" not in err
    assert "leave --block-size out" in err


def test_default_length_is_the_models_and_a_longer_one_says_how_to_fix_it(run_dir, run, capsys):
    rc, out, err = run(["sample", run_dir, "--show", "--delay", "0", "--unmasker", "topk", "--k", "4"],
                       capsys)
    assert rc == 0, err
    assert out.splitlines()[0] == "[step 0/4] " + "_" * 16  # char model of length 16: 4 steps of 4
    rc, _, err = run(["sample", run_dir, "--length", "128"], capsys)
    assert rc == 2 and "leave --length out" in err and "at most 16" in err


def test_flag_names_translates_library_arguments():
    assert flag_names("block_size=128 does not divide; pass block_size=16") == \
        "--block-size 128 does not divide; pass --block-size 16"
    assert flag_names("cache_refresh needs cache='prefix'") == "--cache-refresh needs --cache 'prefix'"
    assert flag_names("a block_sizes=3 stays") == "a block_sizes=3 stays"
    assert flag_names("the sequence length is 64; length=8") == "the sequence length is 64; --length 8"


def test_eval_missing_data_fails_before_loading_the_model(run, tmp_path, capsys):
    rc, _, err = run(["eval", "--hf", tmp_path / "no-model", "--data", tmp_path / "none.txt"], capsys)
    assert rc == 2 and "--data" in err and "no such file" in err


def test_eval_shows_progress_the_standard_error_and_a_footnote_for_what_it_shows(run_dir, run, capsys):
    argv = ["eval", run_dir, "--max-sequences", "4", "--elbo-samples", "2", "--no-genppl"]
    rc, out, err = run(argv + ["--num", "2"], capsys)
    assert rc == 0, err
    assert "validation NELBO (2 draws/seq)" in err and "pass" in err  # tqdm bars on stderr
    assert "Monte-Carlo estimate" in out and " ± " in out.splitlines()[0]
    assert "held-out text" in out and "the floor at this sample size" in out
    assert "SmolLM2" not in out and "'-' = not measured" in out
    rc, out, err = run(argv + ["--num", "64", "--quiet"], capsys)  # more samples than validation rows
    assert rc == 0, err
    assert "held-out text  " not in out and "no held-out row" in out and "the floor" not in out
    assert "validation NELBO (" not in err


def test_the_sampling_progress_bar_never_changes_what_the_model_returns(monkeypatch):
    import torch
    import tqdm.auto

    from mdm.cli.eval import pass_bar

    monkeypatch.setattr(tqdm.auto.tqdm, "update", lambda self, n=1: True)  # as when it redraws
    model = torch.nn.Linear(2, 2)
    x = torch.ones(1, 2)
    with pass_bar(model, passes=3, num=1, show=True):
        assert torch.equal(model(x), torch.nn.functional.linear(x, model.weight, model.bias))
    assert not model._forward_hooks  # removed afterwards
