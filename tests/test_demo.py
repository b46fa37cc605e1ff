"""`mdm demo`: the quick mode end to end, and its measuring helpers on exact cases."""

import json
import math
import os

import pytest
import torch

from mdm import cli
from mdm.demo import SampleRow, format_rows, measure_sampler, reference_split
from mdm.eval.sample_quality import js_divergence_bits, sample_quality
from mdm.sampling import TopK
from mdm.tokenizers import CharTokenizer


def test_quick_demo_runs_end_to_end_and_writes_its_files(tmp_path, capsys, monkeypatch):
    out = tmp_path / "demo"
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # a process default unlike what the config's threads: auto resolves to
    # a 2-core machine with one core busy: auto takes 1 thread (mdm.train.threads)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (1.0, 1.0, 1.0))
    try:
        assert cli.main(["demo", "--quick", "--steps", "3", "--out", str(out)]) == 0
    finally:
        torch.set_num_threads(threads)
    stdout = capsys.readouterr().out
    assert "(precision: auto), threads: auto)" in stdout.splitlines()[0]
    assert "; 1 threads (auto: 2 usable cores, 1-minute load average 1.00)" in stdout
    assert "bits/char" in stdout and str(out / "report.md") in stdout
    for name in ("report.md", "result.json", "training_curve.png", "trace_ancestral.png",
                 "trace_confidence.png", "trace_eb.png", "train/checkpoint/config.json"):
        assert (out / name).is_file(), name
    for png in out.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = json.loads((out / "result.json").read_text())
    assert result["train"]["steps"] == 3 and result["train"]["threads"] == 1
    prov = result["provenance"]
    assert prov["precision"] in ("fp32", "bf16") and prov["machine"]["cpu_capability"]
    assert 0 < result["likelihood"]["bits_per_char"] < 20
    labels = [r["label"] for r in result["samplers"]]
    assert len(labels) == 4 and labels[-1] == "held-out text"
    assert [label.split()[0] for label in labels[:3]] == ["ancestral", "confidence-scheduled", "EB-sampler"]
    for row in result["samplers"][:3]:
        assert 1 <= row["nfe"] <= result["length"] and len(row["texts"]) == result["num_samples"]
        assert 0 <= row["quality"]["mean_js_bits"] <= 1
    report = (out / "report.md").read_text()
    assert "| sampler | NFE |" in report and "![training curve](training_curve.png)" in report
    assert "bits/char" in report and "command: `mdm demo --quick --steps 3`" in report


class AlwaysA:
    """Exact denoiser over CharTokenizer("ab"): every masked position is 'a' with probability 0.9."""

    def __init__(self, tok):
        self.vocab_size, self.mask_id = tok.vocab_size, tok.mask_id
        logits = torch.full((tok.vocab_size,), -1e9)
        logits[0], logits[1] = math.log(0.9), math.log(0.1)
        self.logits = logits

    def __call__(self, x, attention_mask=None):
        return self.logits.expand(*x.shape, self.vocab_size).clone()


def test_measure_sampler_on_an_exact_oracle():
    tok = CharTokenizer("ab")
    reference = torch.tensor([tok.encode("abab"), tok.encode("baba")])
    row, out = measure_sampler(AlwaysA(tok), tok, TopK(k=1), label="top-1", num=3, length=4,
                               reference=reference, temperature=0.0)
    assert row.texts == ["aaaa"] * 3  # argmax
    assert row.nfe == 4.0  # one position per step
    assert row.quality.sequence_entropy_bits == 0.0
    # unigrams {a: 1} vs {a: 1/2, b: 1/2}
    assert row.quality.ngram_js_bits[1] == pytest.approx(js_divergence_bits({"a": 1}, {"a": 1, "b": 1}))
    assert row.quality.ngram_js_bits[2] == pytest.approx(1.0)  # "aa" never occurs in the reference
    assert row.genppl is None and row.seconds >= 0


def test_reference_split_and_table_formatting():
    ids = torch.arange(12).view(6, 2)
    held, pool = reference_split(ids, 2)
    assert held.tolist() == [[0, 1], [2, 3]] and pool.shape == (4, 2)
    held, pool = reference_split(ids, 6)
    assert held is None and pool is ids
    q = sample_quality(["abab"], ["abab", "baba"], orders=(1, 2))
    rows = [SampleRow("s", q, nfe=12.25, seconds=0.5), SampleRow("held-out text", q)]
    text = format_rows(rows)
    lines = text.splitlines()
    assert lines[0].split()[0] == "sampler" and set(lines[1]) == {"-"}
    assert lines[2].split() == ["s", "12.2", "0.50", "1.000", f"{q.mean_js_bits:.3f}", "-"]
    assert lines[3].split()[-4:] == ["-", "1.000", f"{q.mean_js_bits:.3f}", "-"]
    md = format_rows(rows, markdown=True).splitlines()
    assert md[0].startswith("| sampler | NFE |") and md[1].startswith("|---|")
