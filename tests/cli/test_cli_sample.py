"""`mdm sample`: text through the tokenizer, every unmasker and option, animation and trace."""

import json

import pytest
from tests.cli.conftest import TINY_CONFIG

from mdm import cli


def test_sample_prints_text_through_the_tokenizer(run_dir, run, capsys):
    argv = ["sample", run_dir / "checkpoint", "--num", "2", "--prompt", "In the", "--seed", "3"]
    rc, out, err = run(argv, capsys)
    assert rc == 0, err
    blocks = out.split("--- sample ")[1:]
    assert len(blocks) == 2 and all("(NFE " in b for b in blocks)
    texts = [b.split("---\n", 1)[1].rstrip("\n") for b in blocks]
    assert all(t.startswith("In the") and len(t) > len("In the") for t in texts)
    # same seed, same text; JSON mode carries the same samples
    rc, out_json, _ = run([*argv, "--json"], capsys)
    rows = [json.loads(line) for line in out_json.splitlines()]
    assert [r["text"] for r in rows] == texts and all(r["nfe"] >= 1 for r in rows)


@pytest.mark.parametrize(
    "options",
    [
        ["--unmasker", "scheduled", "--steps", "4", "--schedule", "beta:0.9,0.3", "--proxy", "margin"],
        ["--unmasker", "topk", "--k", "3", "--temperature", "0"],
        ["--unmasker", "eb", "--gamma", "0.5", "--block-size", "8", "--length", "16"],
        ["--unmasker", "threshold", "--tau", "0.5", "--top-p", "0.9"],
        ["--unmasker", "ancestral", "--steps", "8", "--schedule", "poly:2", "--stop", "e"],
        ["--unmasker", "remdm", "--steps", "32", "--eta", "0.1", "--strategy", "rescale"],
        ["--unmasker", "topk", "--block-size", "8", "--cache", "dual", "--cache-refresh", "2"],
    ],
)
def test_every_unmasker_and_option_runs(run_dir, run, capsys, options):
    rc, out, err = run(["sample", run_dir, "--length", "16", *options], capsys)
    assert rc == 0, err
    assert out.startswith("--- sample 0 (NFE ")


def test_show_animates_and_trace_writes_a_png(run_dir, run, tmp_path, capsys):
    png = tmp_path / "trace.png"
    rc, out, err = run(["sample", run_dir, "--show", "--length", "8", "--steps", "8", "--trace", png], capsys)
    assert rc == 0, err
    frames = [line for line in out.splitlines() if line.startswith("[step ")]
    assert frames[0] == f"[step 0/{len(frames) - 1}] " + "_" * 8
    assert "_" not in frames[-1].split("] ", 1)[1]  # fully denoised at the end
    assert png.stat().st_size > 0


def test_remdm_options_belong_to_remdm(run_dir, run, capsys):
    rc, out, err = run(["sample", run_dir, "--length", "8", "--eta", "0.1"], capsys)
    assert rc == 2 and "--eta does not apply to --unmasker ancestral" in err


@pytest.fixture(scope="module")
def block_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_block")
    (root / "tiny.yaml").write_text(TINY_CONFIG)
    argv = ["train", str(root / "tiny.yaml"), "--set", "seed=1", "--set", "model.block_size=8",
            "--out", str(root / "run"), "--quiet"]
    assert cli.main(argv) == 0
    return root / "run"


def test_a_block_causal_model_samples_a_length_its_blocks_do_not_divide(block_run, run, capsys):
    argv = ["sample", block_run, "--unmasker", "topk", "--k", "2", "--block-size", "8", "--length", "13",
            "--cache", "prefix", "--prompt", "In", "--json"]
    rc, out, err = run(argv, capsys)
    assert rc == 0, err
    row = json.loads(out.splitlines()[0])
    # sampling blocks [2, 8) and [8, 15) on the model's grid (the last completed to 16): 3 + 4 passes
    assert row["text"].startswith("In") and row["nfe"] == 3 + 4


@pytest.mark.parametrize("options", [
    ["--unmasker", "eb:gamma=0.5,proxy=margin"],
    ["--unmasker", "scheduled:steps=4,schedule=beta:0.9,0.3"],
    ["--unmasker", "topk:2"],
    ["--unmasker", "eb:proxy=margin", "--gamma", "0.5"],
])
def test_unmasker_spec_strings_run(run_dir, run, capsys, options):
    rc, out, err = run(["sample", run_dir, "--length", "16", *options], capsys)
    assert rc == 0, err
    assert out.startswith("--- sample 0 (NFE ")


def test_unmasker_spec_and_flags_agree_and_clash(run_dir, run, capsys):
    outs = [run(["sample", run_dir, "--num", "2", "--length", "16", *options], capsys)[1]
            for options in (["--unmasker", "eb:gamma=0.5"], ["--unmasker", "eb", "--gamma", "0.5"])]
    assert outs[0] == outs[1] and outs[0]
    for options, words in [
        (["--unmasker", "eb:gamma=0.5", "--gamma", "0.2"], "gamma is set twice"),
        (["--unmasker", "eb:k=2"], "unknown key 'k'"),
        (["--unmasker", "eb", "--k", "2"], "--k does not apply to --unmasker eb (it takes --gamma, --proxy)"),
        (["--unmasker", "wiggle"], "unknown unmasker 'wiggle'; known: ancestral"),
    ]:
        rc, _, err = run(["sample", run_dir, "--length", "16", *options], capsys)
        assert rc == 2 and words in err and err.count("\n") == 1, err
