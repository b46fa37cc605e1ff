"""`python -m mdm.train` (the torchrun entry point) prints the summary `mdm train` prints."""

from __future__ import annotations

import re

from tests.cli.conftest import TINY_CONFIG

from mdm import cli
from mdm.train.__main__ import main as train_main


def _masked(text: str, out) -> list[str]:
    text = text.replace(str(out), "OUT")
    return [re.sub(r"in \d+s", "in Ns", line) for line in text.splitlines() if line.strip()]


def test_python_m_mdm_train_prints_the_same_summary_as_mdm_train(tmp_path, capsys, monkeypatch):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(TINY_CONFIG)
    assert cli.main(["train", str(cfg), "--out", str(tmp_path / "a"), "--quiet"]) == 0
    via_cli = _masked(capsys.readouterr().out, tmp_path / "a")
    monkeypatch.delenv("RANK", raising=False)
    assert train_main([str(cfg), "--out", str(tmp_path / "b"), "--quiet"]) == 0
    via_module = _masked(capsys.readouterr().out, tmp_path / "b")
    assert via_cli[0].startswith("done: 3 steps") and "bits/char" in via_cli[0]
    assert via_module == via_cli
    monkeypatch.setenv("RANK", "1")  # torchrun's other ranks stay quiet
    assert train_main([str(cfg), "--out", str(tmp_path / "c"), "--quiet"]) == 0
    assert capsys.readouterr().out == ""
