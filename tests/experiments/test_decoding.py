"""``mdm exp decoding --preset quick`` through the CLI, and the packaged block diffusion config."""

from __future__ import annotations

import json

import pytest

from mdm import cli
from mdm.train import load_config


def test_packaged_block_config_builds_a_block_diffusion_model():
    from mdm.tokenizers import get_tokenizer
    from mdm.train.families import build_model

    cfg = load_config("kjv-char-block", ["data.seq_len=32"])
    model = build_model(cfg, get_tokenizer("char", text="abc"))
    assert cfg.model.block_size == 16 and model.block_size == 16 and model.config.max_len == 32


@pytest.mark.slow
def test_quick_preset_writes_result_report_and_plot(tmp_path, capsys):
    assert cli.main(["exp", "decoding", "--preset", "quick", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "result.json").read_text())
    modes = [r["mode"] for r in result["copy"]["rows"]]
    assert modes == ["none", "prefix", "dual", "dual, refresh 2"] * 3  # three decoders
    assert result["copy"]["rows"][0]["agreement_with_no_cache"] == 1.0
    assert [r["model"] for r in result["kjv"]["rows"]] == ["bidirectional", "block-4", "block-16"]
    assert all(r["val_bits_per_char"] > 0 for r in result["kjv"]["rows"])
    assert (tmp_path / "report.md").read_text().startswith("# decoding")
    assert (tmp_path / "kjv_block_sizes.png").stat().st_size > 0


@pytest.mark.slow
def test_each_seed_trains_its_own_models(tmp_path, capsys):
    """``--seeds 0-1``: seed 1 trains its block models with ``seed=1`` in folders of its own, never
    reusing seed 0's finished checkpoints (their numbers differ; seed 0 keeps the plain folder)."""
    assert cli.main(["exp", "decoding", "--seeds", "0-1", "--parts", "kjv", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "result.json").read_text())
    zero, one = (result["by_seed"][s]["kjv"]["rows"] for s in ("0", "1"))
    assert [r["val_bits_per_char"] for r in zero] != [r["val_bits_per_char"] for r in one]
    assert (tmp_path / "models" / "block-4").is_dir() and (tmp_path / "models" / "block-4-seed1").is_dir()
    config = json.loads((tmp_path / "models" / "block-4-seed1" / "checkpoint" / "config.json").read_text())
    assert config["train"]["seed"] == 1
    assert "## Seed 1" in (tmp_path / "report.md").read_text()
