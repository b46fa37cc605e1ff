"""`mdm sample --hf DIR` and `mdm eval --hf DIR` on tiny local models; bad input -> one line, exit 2."""

from __future__ import annotations

import json
import textwrap

import pytest
from tiny_hf import BERT_SPECIALS, WORDS, make_tokenizer, save_masked_lm, transformers

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
    data.write_text(" ".join(WORDS) + "\nw1 zzz w2\n")  # "zzz" is <unk>: its NELBO would be infinite
    rc, out, err = _run(argv, capsys)
    assert rc == 2 and "tokens the model never predicts ('<unk>')" in err


def test_bad_input_is_one_line_exit_2(masked_lm_dirs, custom_dirs, tmp_path, capsys):
    no_mask = save_masked_lm("bert", tmp_path / "no-mask", mask=False)
    tok = make_tokenizer(BERT_SPECIALS)
    gpt2 = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=len(tok), n_embd=16, n_layer=1,
                                                                n_head=2, n_positions=32))
    gpt2.save_pretrained(tmp_path / "gpt2")
    tok.save_pretrained(tmp_path / "gpt2")
    cases = [
        (["sample", "--hf", no_mask, "--length", "4"], "no mask token"),
        (["sample", "--hf", tmp_path / "gpt2", "--kind", "masked-lm", "--length", "4"],
         "causal (left-to-right)"),
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


def _tasks(root):
    """A 5-item multiple-choice task and a 5-item generate_until task over the tiny vocabulary."""
    rows = [{"context": f"w{i} w{i + 1}", "choices": [f" w{i + 2}", f" w{(i + 7) % 20}"], "label": 0,
             "target": f"w{i + 2}"} for i in range(5)]
    (root / "toy.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    head = (f"dataset_path: json\ndataset_kwargs:\n  data_files:\n    test: {root / 'toy.jsonl'}\n"
            "test_split: test\n")
    (root / "mc.yaml").write_text("task: mdm_toy_mc\n" + head + textwrap.dedent("""\
        output_type: multiple_choice
        doc_to_text: "{{context}}"
        doc_to_choice: "{{choices}}"
        doc_to_target: "{{label}}"
        target_delimiter: ""
        metric_list:
          - metric: acc
    """))
    (root / "gen.yaml").write_text("task: mdm_toy_gen\n" + head + textwrap.dedent("""\
        output_type: generate_until
        doc_to_text: "{{context}}"
        doc_to_target: "{{target}}"
        generation_kwargs:
          until: ["w3"]
          max_gen_toks: 4
        metric_list:
          - metric: exact_match
    """))


def test_harness_cli(masked_lm_dirs, tmp_path, capsys):
    _tasks(tmp_path)
    out_json = tmp_path / "res.json"
    argv = ["harness", "--hf", masked_lm_dirs["bert"], "--tasks", "mdm_toy_mc,mdm_toy_gen", "--include-path",
            tmp_path, "--elbo-samples", "2", "--unmasker", "eb", "--output", out_json]
    rc, out, err = _run(argv, capsys)
    assert rc == 0, err
    assert "LOWER BOUND on log p" in out and "mdm_toy_mc" in out
    res = json.loads(out_json.read_text())
    assert set(res["results"]) == {"mdm_toy_mc", "mdm_toy_gen"}
    assert res["stats"]["loglikelihood"] == 10 and res["stats"]["generate_until"] == 5
    rc, out, err = _run(["harness", "--hf", masked_lm_dirs["bert"], "--tasks", "nope", "--include-path",
                         tmp_path], capsys)
    assert rc == 2 and "unknown task(s) ['nope']" in err


def test_sample_hf_template_fills_only_the_masks(masked_lm_dirs, capsys):
    argv = ["sample", "--hf", masked_lm_dirs["bert"], "--template", "w1 <mask> w2 <mask:3> w3", "--num", "2",
            "--json", "--unmasker", "topk"]
    rc, out, err = _run(argv, capsys)
    assert rc == 0, err
    for r in (json.loads(line) for line in out.splitlines()):
        words = r["text"].split()
        assert len(words) == 7 and words[0] == "w1" and words[2] == "w2" and words[6] == "w3"
        assert set(words) <= set(WORDS) and r["nfe"] == 4  # TopK(1): one pass per generated token
    for template, extra, words in [("w1 <mask>", ["--length", "4"], "drop --length"),
                                   ("w1 w2", [], "has no <mask>")]:
        argv = ["sample", "--hf", masked_lm_dirs["bert"], "--template", template, *extra]
        rc, out, err = _run(argv, capsys)
        assert rc == 2 and words in err and err.count("error:") == 1
