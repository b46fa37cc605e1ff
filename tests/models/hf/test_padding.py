"""Padded batches on absolute-position masked LMs: a left-padded row (attention_mask 0 at the pads)
gives the logits of the row alone -- position_ids count real tokens only -- for every family with a
table of absolute positions, and through mdm.sample with prompts of different lengths."""

from __future__ import annotations

import pytest
import torch
from tiny_hf import BERT_SPECIALS, ROBERTA_SPECIALS, make_tokenizer, transformers

import mdm
from mdm.models.hf import from_hf
from mdm.sampling import TopK


def _model(family: str):
    tok = make_tokenizer(ROBERTA_SPECIALS if family == "roberta" else BERT_SPECIALS)
    n = len(tok)
    common = dict(vocab_size=n, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                  intermediate_size=64, max_position_embeddings=64, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    if family == "bert":
        model = transformers.BertForMaskedLM(transformers.BertConfig(**common))
    elif family == "electra":
        model = transformers.ElectraForMaskedLM(transformers.ElectraConfig(embedding_size=16, **common))
    elif family == "roberta":
        model = transformers.RobertaForMaskedLM(transformers.RobertaConfig(**common))
    elif family == "deberta-v2":
        model = transformers.DebertaV2ForMaskedLM(transformers.DebertaV2Config(
            position_biased_input=True, relative_attention=False, **common))
    elif family == "deberta-v3":  # relative attention only: no absolute table, nothing to correct
        model = transformers.DebertaV2ForMaskedLM(transformers.DebertaV2Config(
            position_biased_input=False, relative_attention=True, position_buckets=8, **common))
    elif family == "distilbert":
        model = transformers.DistilBertForMaskedLM(transformers.DistilBertConfig(
            vocab_size=n, dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=64,
            pad_token_id=tok.pad_token_id))
    else:
        raise ValueError(family)
    return from_hf(model.eval(), tokenizer=tok, verbose=False)


FAMILIES = ["bert", "distilbert", "electra", "roberta", "deberta-v2", "deberta-v3"]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_left_padded_row_equals_the_row_alone(family):
    den = _model(family)
    tok = den.tokenizer
    w = tok.convert_tokens_to_ids(["w1", "w5", "w2", "w7"])
    row = torch.tensor([[tok.cls_token_id, w[0], den.mask_id, w[1], den.mask_id, w[2], tok.sep_token_id]])
    pads = 3
    padded = torch.cat([torch.full((1, pads), tok.pad_token_id), row], dim=1)
    other = torch.tensor([[tok.cls_token_id, *w, den.mask_id, w[0], w[1], w[2], tok.sep_token_id]])
    batch = torch.cat([padded, other])  # one padded row, one full row
    attention = torch.ones_like(batch, dtype=torch.bool)
    attention[0, :pads] = False
    with torch.no_grad():
        alone = den(row)
        together = den(batch, attention_mask=attention)
        full_alone = den(other)
    finite = torch.isfinite(alone)
    diff = (together[0, pads:] - alone)[finite].abs().max()
    assert diff < 1e-5, float(diff)
    assert (together[1] - full_alone)[torch.isfinite(full_alone)].abs().max() < 1e-5


@pytest.mark.parametrize("family", ["bert", "distilbert"])
def test_ragged_prompts_sample_as_each_row_alone(family):
    den = _model(family)
    tok = den.tokenizer
    texts = (["[CLS]", "w1"], ["[CLS]", "w3", "w4", "w9"])
    prompts = [torch.tensor(tok.convert_tokens_to_ids(p)) for p in texts]
    together = mdm.sample(den, prompt=prompts, length=5, unmasker=TopK(1))
    for i, p in enumerate(prompts):
        alone = mdm.sample(den, prompt=p, length=5, unmasker=TopK(1))
        assert torch.equal(together.tokens[i, -5:], alone.tokens[0, -5:])


def test_models_without_an_absolute_table_get_no_position_ids():
    assert _model("deberta-v3").position_offset is None
    den = _model("roberta")
    assert den.position_offset == den.tokenizer.pad_token_id + 1  # RoBERTa counts from padding_idx + 1
    assert _model("bert").position_offset == 0
