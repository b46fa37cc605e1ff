"""`mdm export`: a trained checkpoint as an HF folder that transformers loads WITHOUT mdm (a
subprocess whose sys.path holds no mdm), logits equal to mdm.load's; mdm.load reads it back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types

import pytest
import torch

import mdm
from mdm import cli
from mdm.models import TransformerConfig, TransformerDenoiser
from mdm.models.hf.export import PREFIX, modeling_source

transformers = pytest.importorskip("transformers")

TINY = textwrap.dedent("""
    model: {d_model: 16, n_layers: 2, n_heads: 2, time_conditioned: true}
    loss: {schedule: cosine}
    data: {task: text, corpus: kjv, tokenizer: char, seq_len: 16, max_chars: 4000, val_fraction: 0.1}
    optim: {lr: 3.0e-3, warmup_steps: 1}
    ema: 0.9
    batch_size: 4
    max_steps: 20
    precision: fp32
    eval_every: 0
    eval_batches: 1
    eval_samples: 1
    log_every: 5
""")

# Runs in a fresh interpreter: every sys.path entry that could provide mdm is dropped first.
NO_MDM = textwrap.dedent("""
    import os, sys
    sys.path = [p for p in sys.path if p and not os.path.isdir(os.path.join(p, "mdm"))]
    try:
        import mdm  # noqa: F401
        raise SystemExit("mdm is importable: the test would prove nothing")
    except ImportError:
        pass
    import torch, transformers
    out, x_file, res = sys.argv[1:4]
    model = transformers.AutoModelForMaskedLM.from_pretrained(out, trust_remote_code=True).eval()
    tok = transformers.AutoTokenizer.from_pretrained(out)
    x, am, t = torch.load(x_file)
    with torch.no_grad():
        logits = model(input_ids=x, t=t).logits
        padded = model(input_ids=x, attention_mask=am, t=t).logits
    ids = tok("In the beginning", add_special_tokens=False)["input_ids"]
    torch.save({"logits": logits, "padded": padded, "ids": ids, "mask": tok.mask_token_id,
                "class": type(model).__name__}, res)
""")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    (root / "tiny.yaml").write_text(TINY)
    assert cli.main(["train", str(root / "tiny.yaml"), "--out", str(root / "run"), "--quiet"]) == 0
    assert cli.main(["export", str(root / "run"), str(root / "hf")]) == 0
    return root


@pytest.mark.slow  # a fresh interpreter importing torch + transformers: ~20 s on 2 busy cores
def test_export_loads_in_transformers_without_mdm(exported, tmp_path):
    out = exported / "hf"
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "modeling_mdm.py", "tokenizer.json",
            "tokenizer_config.json", "mdm_tokenizer.json"} <= names
    assert "import mdm" not in (out / "modeling_mdm.py").read_text()
    model, tok = mdm.load(exported / "run" / "checkpoint")
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, tok.vocab_size, (3, 16), generator=g)
    x[:, ::3] = tok.mask_id
    am = torch.ones_like(x)
    am[1, 10:] = 0
    t = torch.tensor([0.2, 0.5, 0.9])
    torch.save((x, am, t), tmp_path / "x.pt")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env.update(HF_MODULES_CACHE=str(tmp_path / "modules"), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    argv = [sys.executable, "-c", NO_MDM, str(out), str(tmp_path / "x.pt"), str(tmp_path / "r.pt")]
    proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = torch.load(tmp_path / "r.pt", weights_only=True)
    assert res["class"] == "MDMForMaskedLM"
    with torch.no_grad():
        want = model(x, t=t)
        want_padded = model(x, attention_mask=am, t=t)
    torch.testing.assert_close(res["logits"], want, rtol=0, atol=1e-5)
    torch.testing.assert_close(res["padded"], want_padded, rtol=0, atol=1e-5)
    assert res["ids"] == tok.encode("In the beginning") and res["mask"] == tok.mask_id
    # mdm.load reads the exported folder too: same weights, tokenizer and training schedule.
    back, back_tok = mdm.load(out)
    assert back_tok == tok and type(back.schedule) is type(model.schedule)
    with torch.no_grad():
        torch.testing.assert_close(back(x, t=t), want, rtol=0, atol=0)


def test_export_refuses_a_non_empty_folder(exported, capsys):
    rc = cli.main(["export", str(exported / "run"), str(exported / "hf")])
    assert rc == 2 and "not empty" in capsys.readouterr().err
    rc = cli.main(["export", str(exported / "nowhere"), str(exported / "hf2")])
    assert rc == 2 and not (exported / "hf2").exists()


@pytest.fixture(scope="module")
def hf():
    """modeling_mdm.py as its own module (dataclasses need it in sys.modules)."""
    name = "modeling_mdm_under_test"
    module = types.ModuleType(name)
    sys.modules[name] = module
    try:
        exec(compile(modeling_source(), "modeling_mdm.py", "exec"), module.__dict__)
        yield module
    finally:
        del sys.modules[name]


@pytest.mark.parametrize("options", [
    {}, {"time_conditioned": True}, {"learned_positions": True, "tie_embeddings": True}, {"causal": True},
])
def test_exported_code_is_the_transformer(hf, options):
    """The exported network equals mdm.models.transformer for every config option (no drift)."""
    cfg = TransformerConfig(vocab_size=11, mask_id=10, d_model=16, n_layers=2, n_heads=2, max_len=12,
                            **options)
    torch.manual_seed(0)
    ours = TransformerDenoiser(cfg).eval()
    for p in ours.parameters():  # adaLN starts at zero: perturb so time conditioning is exercised
        p.data.add_(0.05 * torch.randn_like(p))
    theirs = hf.MDMForMaskedLM(hf.MDMTransformerConfig(mdm_config=cfg.to_dict())).eval()
    theirs.load_state_dict({PREFIX + k: v for k, v in ours.state_dict().items()})
    x = torch.randint(0, 11, (2, 12))
    am = torch.ones_like(x)
    am[0, 7:] = 0
    t = torch.tensor([0.3, 0.8]) if cfg.time_conditioned else None
    with torch.no_grad():
        for mask in (None, am):
            torch.testing.assert_close(theirs(input_ids=x, attention_mask=mask, t=t).logits,
                                       ours(x, attention_mask=mask, t=t), rtol=0, atol=0)


def test_exported_config_is_a_hub_folder(exported):
    config = json.loads((exported / "hf" / "config.json").read_text())
    assert config["auto_map"]["AutoModelForMaskedLM"] == "modeling_mdm.MDMForMaskedLM"
    assert config["mdm"]["schedule"] == "cosine" and config["mdm"]["ema"] is True
    assert config["mask_token_id"] == config["mdm_config"]["mask_id"]
    card = (exported / "hf" / "README.md").read_text()  # the checkpoint's training record is in the card
    assert "license: other" in card and "source step: 20" in card and "max_steps: `20`" in card
    assert "training schedule: cosine" in card


@pytest.mark.parametrize("kind", ["char", "byte", "gpt2"])
def test_tokenizer_files_keep_mdm_ids(kind, tmp_path):
    from mdm.models.hf.tokenizer_files import write_tokenizer_files
    from mdm.tokenizers import ByteTokenizer, CharTokenizer, get_tokenizer

    make = {"char": lambda: CharTokenizer("ab \nc"), "byte": ByteTokenizer,
            "gpt2": lambda: get_tokenizer("gpt2")}
    tok = make[kind]()
    write_tokenizer_files(tok, tmp_path, max_len=16)
    hf = transformers.AutoTokenizer.from_pretrained(tmp_path)
    text = "ab\n c" if kind == "char" else "ab\n cé, Dieu"
    ids = hf(text, add_special_tokens=False)["input_ids"]
    assert ids == tok.encode(text) and hf.decode(ids) == tok.decode(ids)
    assert hf.mask_token_id == tok.mask_id and hf.pad_token_id == tok.pad_id and len(hf) == tok.vocab_size
