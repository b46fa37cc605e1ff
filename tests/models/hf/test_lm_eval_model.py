"""lm-eval as a registered model (`--model mdm`), the Monte-Carlo error in the stderr column, and
no infinite bound for a token the adapter forbids."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from test_hf_cli import _run, _tasks

import mdm
from mdm.errors import ConfigError, TokenError
from mdm.models.hf import from_hf

lm_eval = pytest.importorskip("lm_eval")


def test_elbo_names_a_forbidden_token_instead_of_returning_inf(masked_lm_dirs):
    den = from_hf(masked_lm_dirs["bert"], verbose=False)
    tok = den.tokenizer
    w = tok.convert_tokens_to_ids(["w1", "w2"])
    ok = torch.tensor([[tok.cls_token_id, *w]])
    assert torch.isfinite(mdm.elbo(den, ok, samples=4, prompt_len=1, seed=0)).all()  # [CLS] unscored
    for bad in ("[SEP]", "[UNK]"):
        x0 = torch.tensor([[tok.cls_token_id, w[0], tok.convert_tokens_to_ids(bad), w[1]]])
        with pytest.raises(TokenError, match=rf"'\{bad[:-1]}\]' \(id"):
            mdm.elbo(den, x0, samples=4, prompt_len=1, seed=0)


def test_lm_eval_model_mdm_is_registered_and_batches(masked_lm_dirs, tmp_path):
    from lm_eval import simple_evaluate
    from lm_eval.api.registry import model_registry
    from lm_eval.tasks import TaskManager

    import mdm.eval.harness  # noqa: F401 -- registers "mdm"

    assert "hf" in model_registry and "mdm" in model_registry  # lm-eval's own models stay available
    _tasks(tmp_path)
    tm = TaskManager(include_path=str(tmp_path), include_defaults=False)
    args = f"pretrained={masked_lm_dirs['bert']},samples=4,unmasker=eb,gamma=0.5,greedy_check=False"
    res = simple_evaluate(model="mdm", model_args=args, tasks=["mdm_toy_mc", "mdm_toy_gen"], task_manager=tm,
                          batch_size=2, log_samples=True, bootstrap_iters=0)
    assert set(res["results"]) == {"mdm_toy_mc", "mdm_toy_gen"}
    assert len(res["samples"]["mdm_toy_mc"]) == 5 and len(res["samples"]["mdm_toy_gen"]) == 5
    with pytest.raises(ConfigError, match="unknown --model_args"):
        simple_evaluate(model="mdm", model_args=f"pretrained={masked_lm_dirs['bert']},nope=1",
                        tasks=["mdm_toy_mc"], task_manager=tm)


@pytest.mark.slow  # lm-eval's command line takes ~20 s to start on 2 cores
def test_mdm_lm_eval_command_line_logs_samples(masked_lm_dirs, tmp_path, monkeypatch):
    from mdm.eval.lm_eval_model import main

    _tasks(tmp_path)
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", [
        "mdm-lm-eval", "--model", "mdm", "--model_args", f"pretrained={masked_lm_dirs['bert']},samples=2",
        "--tasks", "mdm_toy_mc", "--include_path", str(tmp_path), "--output_path", str(out), "--log_samples"])
    main()
    written = sorted(p.name.split("_")[0] for p in out.rglob("*.json*"))
    assert "results" in written and "samples" in written


def test_harness_cli_reports_the_monte_carlo_error(masked_lm_dirs, tmp_path, capsys):
    _tasks(tmp_path)
    out_json, samples = tmp_path / "res.json", tmp_path / "samples.json"
    argv = ["harness", "--hf", masked_lm_dirs["bert"], "--tasks", "mdm_toy_mc", "--include-path", tmp_path,
            "--elbo-stderr", "0.5", "--max-elbo-samples", "64", "--no-greedy-check", "--batch-size", "2",
            "--output", out_json, "--log-samples", samples]
    rc, out, err = _run(argv, capsys)
    assert rc == 0, err
    res = json.loads(out_json.read_text())
    mc = res["elbo"]["mdm_toy_mc"]
    row = res["results"]["mdm_toy_mc"]
    assert row["nelbo,none"] == mc["nelbo"] and row["nelbo_stderr,none"] == mc["nelbo_stderr"]
    assert mc["max_request_stderr"] <= 0.5 or mc["mean_draws"] == 64
    assert "nelbo" in out and res["stats"]["nfe"] >= 10 * 16  # 10 requests, >= 16 draws each
    assert len(json.loads(samples.read_text())["mdm_toy_mc"]) == 5


def test_harness_names_a_forbidden_token_instead_of_an_infinite_loglikelihood(masked_lm_dirs):
    from lm_eval.api.instance import Instance

    from mdm.eval.harness import MDMHarnessLM
    from mdm.models.hf.text import HFText

    den = from_hf(masked_lm_dirs["bert"], verbose=False)
    text = HFText(den.tokenizer, vocab_size=den.vocab_size, mask_id=den.mask_id, prefix=True)
    lm = MDMHarnessLM(den, text, samples=2, greedy_check=False)
    req = Instance(request_type="loglikelihood", doc={}, arguments=("w1 w2", " w3 zzz"), idx=0)
    with pytest.raises(TokenError, match=r"'\[UNK\]'"):
        lm.loglikelihood([req])
