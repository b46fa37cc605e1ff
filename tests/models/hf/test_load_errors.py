"""Broken model folders fail with one ModelConfigError line (CLI: one line, exit 2, nothing
written): missing or corrupt weights, a config that does not fit them, a missing shard, no
tokenizer files, a head-less model or a classifier (whose masked-LM head would be random)."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from tiny_hf import BERT_SPECIALS, make_tokenizer, transformers

from mdm import cli
from mdm.errors import ModelConfigError
from mdm.models.hf import from_hf


def _copy(src, dst):
    shutil.copytree(src, dst)
    return dst


def _broken(kind: str, good, tmp_path):
    d = tmp_path / kind
    if kind == "no-weights":
        os.remove(_copy(good, d) / "model.safetensors")
    elif kind == "truncated":
        w = _copy(good, d) / "model.safetensors"
        w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    elif kind == "random-bytes":
        (_copy(good, d) / "model.safetensors").write_bytes(os.urandom(4096))
    elif kind == "shape-mismatch":
        cfg = json.loads((_copy(good, d) / "config.json").read_text())
        cfg.update(hidden_size=64, intermediate_size=128)
        (d / "config.json").write_text(json.dumps(cfg))
    elif kind == "missing-shard":
        transformers.AutoModelForMaskedLM.from_pretrained(good).save_pretrained(d, max_shard_size="20KB")
        make_tokenizer(BERT_SPECIALS).save_pretrained(d)
        shards = sorted(p for p in d.iterdir() if p.name.startswith("model-"))
        assert len(shards) > 1
        os.remove(shards[1])
    elif kind == "no-tokenizer":
        _copy(good, d)
        for p in d.iterdir():
            if p.name not in ("config.json", "model.safetensors"):
                os.remove(p)
    elif kind in ("headless", "classifier"):
        tok = make_tokenizer(BERT_SPECIALS)
        cfg = transformers.BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2,
                                      num_attention_heads=2, intermediate_size=64)
        cls = transformers.BertModel if kind == "headless" else transformers.BertForSequenceClassification
        cls(cfg).save_pretrained(d)
        tok.save_pretrained(d)
    return d


CASES = {
    "no-weights": "no weights file",
    "truncated": "not valid safetensors",
    "random-bytes": "not valid safetensors",
    "shape-mismatch": "config.json does not match the weights",
    "missing-shard": "shard is missing",
    "no-tokenizer": "no tokenizer files",
    "headless": "BertModel, not a model with a masked-LM",
    "classifier": "BertForSequenceClassification, not a model with a masked-LM",
}


@pytest.mark.parametrize("kind", list(CASES))
def test_broken_folders_raise_one_line(masked_lm_dirs, tmp_path, kind):
    d = _broken(kind, masked_lm_dirs["bert"], tmp_path)
    with pytest.raises(ModelConfigError, match=CASES[kind]) as e:
        from_hf(d, verbose=False)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("kind", ["truncated", "headless", "no-tokenizer"])
def test_cli_is_one_line_exit_2_and_writes_nothing(masked_lm_dirs, tmp_path, capsys, kind):
    d = _broken(kind, masked_lm_dirs["bert"], tmp_path)
    capsys.readouterr()
    out, trace, data = tmp_path / "eval.json", tmp_path / "trace.png", tmp_path / "data.txt"
    data.write_text("w1 w2 w3 w4 w5 w6 w7 w8\n")
    for argv in (["sample", "--hf", d, "--length", "4", "--trace", trace],
                 ["eval", "--hf", d, "--data", data, "--length", "4", "--json", out]):
        rc = cli.main([str(a) for a in argv])
        _, err = capsys.readouterr()
        lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("mdm.models")]
        assert rc == 2 and len(lines) == 1 and CASES[kind].split(",")[0] in lines[0], err
    assert not out.exists() and not trace.exists()
