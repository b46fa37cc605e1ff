"""from_hf on tiny local HF models: logits, sampling never emits special tokens, ELBO, kinds."""

from __future__ import annotations

import json

import pytest
import torch
from tiny_hf import BERT_SPECIALS, answer, make_tokenizer, transformers

import mdm
from mdm.models.hf import from_hf
from mdm.sampling import Ancestral, EntropyBounded, Scheduled, Threshold, TopK

ARCHS = ("bert", "roberta", "modernbert")
UNMASKERS = {
    "ancestral": lambda: Ancestral(steps=4),
    "scheduled": lambda: Scheduled(steps=4),
    "topk": lambda: TopK(k=3),
    "eb": lambda: EntropyBounded(gamma=0.5),
    "threshold": lambda: Threshold(tau=0.5),
}


def _words(tok, n_rows=2, n=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    first = tok.convert_tokens_to_ids("w0")
    return first + torch.randint(0, 20, (n_rows, n), generator=g)


@pytest.mark.parametrize("arch", ARCHS)
def test_logits_equal_the_models_own(masked_lm_dirs, arch):
    den = from_hf(masked_lm_dirs[arch], verbose=False)
    ref = transformers.AutoModelForMaskedLM.from_pretrained(masked_lm_dirs[arch]).eval()
    tok = den.tokenizer
    cls, mask = torch.full((2, 1), tok.cls_token_id), torch.full((2, 1), tok.mask_token_id)
    x = torch.cat([cls, _words(tok), mask], 1)
    with torch.no_grad():
        want = ref(input_ids=x).logits.float()
        got = den(x)
    assert got.shape == want.shape == (2, 8, len(tok))
    special = set(tok.all_special_ids)
    named = {tok.mask_token_id, tok.cls_token_id, tok.sep_token_id, tok.pad_token_id, tok.unk_token_id}
    assert named <= special
    assert set(den.forbidden_ids.tolist()) == special
    keep = torch.tensor([i not in special for i in range(len(tok))])
    torch.testing.assert_close(got[..., keep], want[..., keep], rtol=0, atol=1e-6)
    assert torch.isneginf(got[..., ~keep]).all()


def test_attention_mask_is_passed_through(masked_lm_dirs):
    den = from_hf(masked_lm_dirs["bert"], verbose=False)
    x = _words(den.tokenizer)
    am = torch.ones_like(x)
    am[0, 3:] = 0
    with torch.no_grad():
        want = den.model(input_ids=x, attention_mask=am).logits
        got, unmasked = den(x, attention_mask=am), den(x)
    keep = torch.isfinite(got)
    torch.testing.assert_close(got[keep], want[keep], rtol=0, atol=1e-6)
    assert not torch.allclose(got[0, :3][keep[0, :3]], unmasked[0, :3][keep[0, :3]])


@pytest.mark.parametrize("name", list(UNMASKERS))
@pytest.mark.parametrize("arch", ARCHS)
def test_sampling_never_emits_special_tokens_and_keeps_the_prompt(masked_lm_dirs, arch, name):
    den = from_hf(masked_lm_dirs[arch], verbose=False)
    tok = den.tokenizer
    prompt = torch.cat([torch.tensor([tok.cls_token_id]), _words(tok, 1, 3)[0]])
    out = mdm.sample(den, batch_size=4, length=8, prompt=prompt, unmasker=UNMASKERS[name](),
                     temperature=1.0, seed=0)
    assert torch.equal(out.tokens[:, :4], prompt.expand(4, -1))
    gen = out.tokens[:, 4:]
    assert not torch.isin(gen, torch.tensor(tok.all_special_ids)).any()
    assert (out.nfe >= 1).all()


@pytest.mark.parametrize("arch", ARCHS)
def test_elbo_finite_and_seeded(masked_lm_dirs, arch):
    den = from_hf(masked_lm_dirs[arch], verbose=False)
    x0 = _words(den.tokenizer, 3, 6)
    a = mdm.elbo(den, x0, samples=8, seed=1)
    b = mdm.elbo(den, x0, samples=8, seed=1)
    c = mdm.elbo(den, x0, samples=8, seed=2)
    assert torch.isfinite(a).all() and (a > 0).all()
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_model_object_and_auto_says_what_it_chose(masked_lm_dirs, capsys):
    model = transformers.AutoModelForMaskedLM.from_pretrained(masked_lm_dirs["roberta"])
    tok = transformers.AutoTokenizer.from_pretrained(masked_lm_dirs["roberta"])
    den = from_hf(model, tokenizer=tok)
    assert den.kind == "masked-lm" and "RobertaForMaskedLM" in den.kind_reason
    assert "kind='masked-lm'" in capsys.readouterr().err
    assert den.mask_id == tok.mask_token_id and den.vocab_size == len(tok)


@pytest.mark.parametrize("kind", ["llada", "dream"])
def test_custom_code_diffusion_lms(custom_dirs, kind):
    den = from_hf(custom_dirs[kind], trust_remote_code=True, verbose=False)
    assert den.kind == kind and den.mask_id == den.tokenizer.mask_token_id == 4
    x = torch.full((2, 7), den.mask_id)
    top = den(x).argmax(-1)
    # Dream's raw output j answers position j + 1; un-shifted, position i reads output i - 1.
    want = [answer(i) for i in range(7)]
    if kind == "dream":
        want[0] = answer(1)  # position 0 has no left neighbour: it keeps output 0
    assert top.tolist() == [want, want]
    out = mdm.sample(den, length=5, prompt=torch.tensor([5, 6]), unmasker=TopK(k=2), seed=0)
    assert out.tokens[0].tolist() == [5, 6] + [answer(i) for i in range(2, 7)]


def test_remote_code_needs_the_flag(custom_dirs):
    with pytest.raises(mdm.MDMError, match="trust_remote_code=True"):
        from_hf(custom_dirs["dream"])


def test_bad_input_raises_one_clear_error(tmp_path, masked_lm_dirs):
    with pytest.raises(mdm.MDMError, match="not a Hugging Face model folder"):
        from_hf(tmp_path)
    with pytest.raises(mdm.MDMError, match="not a Hugging Face model folder"):
        from_hf(tmp_path / "missing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text("{not json")
    with pytest.raises(mdm.MDMError, match="not valid JSON"):
        from_hf(tmp_path / "bad")
    with pytest.raises(mdm.MDMError, match="unknown kind"):
        from_hf(masked_lm_dirs["bert"], kind="bidirectional")
    with pytest.raises(mdm.MDMError, match="model folder or a transformers PreTrainedModel"):
        from_hf(42)


def test_no_mask_token(tmp_path):
    from tiny_hf import save_masked_lm

    d = save_masked_lm("bert", tmp_path, mask=False)
    with pytest.raises(mdm.MDMError, match="no mask token"):
        from_hf(d, verbose=False)


def test_causal_lm_is_not_a_masked_lm(tmp_path):
    tok = make_tokenizer(BERT_SPECIALS)
    cfg = transformers.GPT2Config(vocab_size=len(tok), n_embd=16, n_layer=1, n_head=2, n_positions=32)
    transformers.GPT2LMHeadModel(cfg).save_pretrained(tmp_path / "gpt2")
    tok.save_pretrained(tmp_path / "gpt2")
    for kind in ("masked-lm", "auto"):
        with pytest.raises(mdm.MDMError, match=r"causal \(left-to-right\) LM \(GPT2LMHeadModel\)"):
            from_hf(tmp_path / "gpt2", kind=kind, verbose=False)
    assert json.loads((tmp_path / "gpt2" / "config.json").read_text())["model_type"] == "gpt2"
