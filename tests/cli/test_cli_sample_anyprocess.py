"""`mdm sample` on an any-process checkpoint: variable-length output, --show frames, bad options."""

import json
import textwrap

import pytest

from mdm import cli

AP_CONFIG = textwrap.dedent(
    """
    model: {family: anyprocess, d_model: 8, n_layers: 1, n_heads: 1, window: 1}
    data: {task: ap-rewrite, seq_len: 18, options: {n_train: 20, n_val: 4}}
    optim: {lr: 1.0e-2, warmup_steps: 1}
    batch_size: 8
    max_steps: 2
    precision: fp32
    eval_every: 0
    log_every: 1
    """
)


@pytest.fixture(scope="module")
def ap_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("ap-cli")
    (root / "ap.yaml").write_text(AP_CONFIG)
    assert cli.main(["train", str(root / "ap.yaml"), "--out", str(root / "run"), "--quiet"]) == 0
    return root / "run"


def test_sample_edits_the_prompt_and_reports_steps_and_length(ap_run, run, capsys, tmp_path):
    png = tmp_path / "t.png"
    rc, out, err = run(["sample", ap_run, "--prompt", "ab_c", "--num", "2", "--json", "--steps", "3",
                        "--temperature", "0", "--trace", png], capsys)
    assert rc == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 2 and rows[0] == {**rows[1], "sample": 0}
    assert rows[0]["halted"] in ("fixed point", "step cap", "eos", "length cap")
    assert rows[0]["length"] >= 2 and rows[0]["nfe"] <= 3  # BOS and EOS are never edited
    assert png.stat().st_size > 0


def test_show_prints_one_frame_per_state(ap_run, run, capsys):
    rc, out, err = run(["sample", ap_run, "--prompt", "abc", "--show", "--steps", "2", "--temperature", "0"],
                       capsys)
    assert rc == 0, err
    frames = [line for line in out.splitlines() if line.startswith("[state ")]
    assert frames and frames[-1].startswith(f"[state {len(frames) - 1}/{len(frames) - 1}]")
    assert "--- sample 0 (" in out and "halted: " in out


def test_options_that_do_not_apply_exit_2(ap_run, run, capsys):
    rc, _, err = run(["sample", ap_run, "--prompt", "ab", "--stop", "a"], capsys)
    assert rc == 2 and "any-process" in err
    rc, _, err = run(["sample", ap_run, "--bare"], capsys)
    assert rc == 2 and "--bare needs a --prompt" in err
    rc, _, err = run(["sample", ap_run, "--prompt", "xyz"], capsys)
    assert rc == 2 and "does not know" in err
