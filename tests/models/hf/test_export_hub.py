"""A hub-ready export: model card and generation config, dtype/bos keys, `t` derived from the
fraction masked (a fill-mask pipeline runs), `labels=` gives the masked-diffusion loss, resized
embeddings, and bf16 for the mdm model and its export (the time MLP used to get fp32 features)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from test_export import NO_MDM

from mdm.models.hf.export import export
from mdm.models.hf.model_card import SNIPPET
from mdm.models.transformer import TransformerConfig, TransformerDenoiser
from mdm.schedules import Cosine, Linear
from mdm.tokenizers import CharTokenizer

transformers = pytest.importorskip("transformers")


def _model(time_conditioned=True, schedule=None, seed=0):
    tok = CharTokenizer("abcdefgh ")
    torch.manual_seed(seed)
    m = TransformerDenoiser(TransformerConfig(vocab_size=tok.vocab_size, mask_id=tok.mask_id, d_model=32,
                                              n_layers=2, n_heads=4, max_len=16,
                                              time_conditioned=time_conditioned)).eval()
    with torch.no_grad():  # adaLN starts at zero: make time matter
        for name, p in m.named_parameters():
            if "ada" in name:
                p.normal_(0, 0.3)
    if schedule is not None:
        m.schedule = schedule
    return m, tok


def _load(path, **kw):
    return transformers.AutoModelForMaskedLM.from_pretrained(str(path), trust_remote_code=True, **kw).eval()


def _batch(tok, frac=0.5, seed=1):
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randint(0, 9, (3, 12), generator=g)
    masked = torch.rand(3, 12, generator=g) < frac
    masked[:, 0] = True
    return x0, x0.masked_fill(masked, tok.mask_id), masked


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_time_conditioned_model_and_export_run_in_both_precisions(tmp_path, dtype):
    m, tok = _model()
    x = torch.randint(0, tok.vocab_size, (2, 10))
    t = torch.tensor([0.3, 0.8])
    ref = m(x, t=t)
    low = TransformerDenoiser(m.config)
    low.load_state_dict(m.state_dict())
    got = low.to(dtype).eval()(x, t=t)
    tol = 0 if dtype == torch.float32 else 0.1
    assert got.dtype == torch.float32 and (got - ref).abs().max() <= tol
    export(m, tok, tmp_path / "out")
    hf = _load(tmp_path / "out", dtype=dtype)
    with torch.no_grad():
        out = hf(input_ids=x, t=t).logits
    assert (out.float() - ref).abs().max() <= tol + 1e-5


def test_card_generation_config_and_hub_keys(tmp_path):
    m, tok = _model(schedule=Cosine())
    out = export(m, tok, tmp_path / "out", metadata={"source_step": 7}, training={"max_steps": 7},
                 license="mit")
    card = (out / "README.md").read_text()
    head = card.split("---")[1]
    for line in ("library_name: transformers", "pipeline_tag: fill-mask", "license: mit"):
        assert line in head
    assert "## Training" in card and "source step: 7" in card and "max_steps" in card
    assert "Sample with mdm" in card and "Sample without mdm" in card
    gen = transformers.GenerationConfig.from_pretrained(str(out))
    assert gen.bos_token_id == tok.bos_id and gen.mask_token_id == tok.mask_id
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["torch_dtype"] == "float32" and cfg["bos_token_id"] == tok.bos_id
    assert len(cfg["mdm_alpha_table"]) == 1025


def test_the_cards_plain_transformers_snippet_runs_without_mdm(tmp_path):
    m, tok = _model(schedule=Cosine())
    out = export(m, tok, tmp_path / "out")
    code = NO_MDM.split("import torch, transformers")[0] + SNIPPET.format(length=8)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    res = subprocess.run([sys.executable, "-c", code], cwd=out, env=env, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert len(res.stdout.strip()) > 0


@pytest.mark.parametrize("schedule", [Linear(), Cosine()])
def test_t_is_derived_from_the_fraction_masked(tmp_path, schedule):
    m, tok = _model(schedule=schedule)
    hf = _load(export(m, tok, tmp_path / "out"))
    _, xt, masked = _batch(tok)
    t = schedule.inverse(1.0 - masked.double().mean(dim=1)).float()
    with torch.no_grad():
        auto, given = hf(input_ids=xt).logits, hf(input_ids=xt, t=t).logits
    assert (auto - given).abs().max() < 1e-4
    fill = transformers.pipeline("fill-mask", model=hf, tokenizer=transformers.AutoTokenizer.from_pretrained(
        str(tmp_path / "out")))
    assert len(fill("ab<mask>d", top_k=3)) == 3


@pytest.mark.parametrize("schedule", [Linear(), Cosine()])
def test_labels_give_the_masked_diffusion_loss(tmp_path, schedule):
    m, tok = _model(schedule=schedule)
    hf = _load(export(m, tok, tmp_path / "out"))
    x0, xt, masked = _batch(tok)
    labels = x0.masked_fill(~masked, -100)
    out = hf(input_ids=xt, labels=labels)
    ce = torch.nn.functional.cross_entropy(out.logits.detach().transpose(1, 2), x0, reduction="none")
    f = masked.double().mean(dim=1)
    t = schedule.inverse(1.0 - f)
    want = (schedule.weight(t) * (ce.double() * masked).sum(dim=1) / 12).mean()
    assert abs(float(out.loss) - float(want)) < 2e-3 * float(want)
    if isinstance(schedule, Linear):  # w = 1/f: the mean cross-entropy over the masked positions
        per_row = (ce * masked).sum(dim=1) / masked.sum(dim=1)
        assert torch.isclose(out.loss, per_row.mean(), rtol=1e-5)
    out.loss.backward()
    assert hf.denoiser.embed.weight.grad is not None


def test_resize_token_embeddings_keeps_old_tokens_and_round_trips(tmp_path):
    m, tok = _model(time_conditioned=False)
    hf = _load(export(m, tok, tmp_path / "out"))
    _, xt, _ = _batch(tok)
    with torch.no_grad():
        before = hf(input_ids=xt).logits
    hf.resize_token_embeddings(tok.vocab_size + 3)
    with torch.no_grad():
        after = hf(input_ids=xt).logits
    assert after.shape[-1] == tok.vocab_size + 3
    assert (after[..., :tok.vocab_size] - before).abs().max() < 1e-5
    hf.save_pretrained(tmp_path / "resized")
    again = _load(tmp_path / "resized")
    with torch.no_grad():
        assert torch.allclose(again(input_ids=xt).logits, after, atol=1e-5)
