"""`mdm eval`: bits per char and sample metrics next to held-out text."""

import json


def test_eval_reports_bits_per_char_and_sample_metrics(run_dir, run, tmp_path, capsys):
    js = tmp_path / "eval.json"
    rc, out, err = run(["eval", run_dir, "--max-sequences", "4", "--elbo-samples", "2", "--num", "2",
                        "--no-genppl", "--json", js], capsys)
    assert rc == 0, err
    assert "bits/char" in out and "held-out text" in out and "entropy" in out
    result = json.loads(js.read_text())
    lik = result["likelihood"]
    assert lik["num_sequences"] == 4 and lik["bits_per_char"] > 0
    labels = [r["label"] for r in result["samples"]]
    assert labels == ["Ancestral(steps=16, schedule=Linear())", "held-out text"]
    assert 0 <= result["samples"][0]["quality"]["mean_js_bits"] <= 1
