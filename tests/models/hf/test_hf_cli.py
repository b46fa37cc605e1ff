"""`mdm sample --hf DIR` and `mdm eval --hf DIR` on tiny local models; bad input -> one line, exit 2."""

from __future__ import annotations

import json

import pytest
from tiny_hf import WORDS

from mdm import cli


def _run(argv, capsys):
    rc = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("unmasker", [["--unmasker", "eb", "--gamma", "1"], ["--unmasker", "threshold"],
                                      ["--unmasker", "scheduled", "--steps", "4", "--block-size", "3"]])
def test_sample_hf(masked_lm_dirs, capsys, unmasker):
    argv = ["sample", "--hf", masked_lm_dirs["bert"], "--prompt", "w1 w2", "--length", "6", "--num", "3",
            "--json", *unmasker]
    rc, out, err = _run(argv, capsys)
    assert rc == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == 3 and all(r["nfe"] >= 1 for r in rows)
    for r in rows:
        words = r["text"].split()
        assert words[:2] == ["w1", "w2"] and len(words) == 8 and set(words) <= set(WORDS)
    assert "kind='masked-lm'" in err


def test_eval_hf(masked_lm_dirs, tmp_path, capsys):
    data = tmp_path / "held-out.txt"
    data.write_text(" ".join(WORDS[i % 7] for i in range(200)))
    out_json = tmp_path / "eval.json"
    argv = ["eval", "--hf", masked_lm_dirs["roberta"], "--data", data, "--length", "15", "--num", "4",
            "--elbo-samples", "2", "--max-sequences", "6", "--no-genppl", "--unmasker", "eb",
            "--json", out_json]
    rc, out, err = _run(argv, capsys)
    assert rc == 0, err
    assert "validation NELBO (upper bound on NLL)" in out and "bits/char" in out
    result = json.loads(out_json.read_text())
    assert result["likelihood"]["num_sequences"] == 6 and result["likelihood"]["num_tokens"] == 6 * 15
    assert [r["label"] for r in result["samples"]][1] == "held-out text"


def test_bad_input_is_one_line_exit_2(masked_lm_dirs, custom_dirs, tmp_path, capsys):
    cases = [
        (["sample", "--hf", tmp_path, "--length", "4"], "not a Hugging Face model folder"),
        (["sample", "--hf", custom_dirs["dream"], "--length", "4"], "--trust-remote-code"),
        (["sample", "--length", "4"], "exactly one"),
        (["sample", "--hf", masked_lm_dirs["bert"], "--kind", "nope", "--length", "4"], "unknown kind"),
        (["sample", "--hf", masked_lm_dirs["bert"], "--length", "40"], "exceeds the model's length 32"),
        (["eval", "--hf", masked_lm_dirs["bert"], "--length", "4"], "--data FILE goes with --hf"),
    ]
    for argv, message in cases:
        rc, out, err = _run(argv, capsys)
        assert rc == 2 and out == "", (argv, err)
        lines = [line for line in err.splitlines() if line.startswith("mdm: error:")]
        assert len(lines) == 1 and message in lines[0], (argv, err)


def test_sample_hf_remote_code(custom_dirs, capsys):
    argv = ["sample", "--hf", custom_dirs["dream"], "--trust-remote-code", "--length", "4", "--prompt", "w0",
            "--temperature", "0", "--json"]
    rc, out, err = _run(argv, capsys)
    assert rc == 0, err
    assert json.loads(out)["text"].split() == ["w0", "w4", "w7", "w10", "w13"]
