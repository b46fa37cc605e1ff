"""A real pretrained masked LM offline: AntiBERTy from the antiberty 0.1.3 wheel (slow; skipped when
neither the installed package nor $MDM_ANTIBERTY_WHEEL is there)."""

from __future__ import annotations

import pytest
import torch

import mdm
from mdm.models.hf.antiberty import (
    AMINO_ACIDS,
    HEAVY_CHAINS,
    antiberty_folder,
    find_antiberty,
    load_antiberty,
)

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(find_antiberty() is None, reason="antiberty 0.1.3 wheel/package not found")]

VH = HEAVY_CHAINS["trastuzumab"]  # the heavy-chain variable domain (public sequence)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("mdm-cache")
    antiberty_folder(root / "antiberty-0.1.3-hf")
    return root


def test_antiberty_recovers_masked_residues_and_samples_valid_sequences(cache):
    from mdm.models.hf import from_hf
    from mdm.sampling import EntropyBounded, Scheduled, Threshold

    den = from_hf(cache / "antiberty-0.1.3-hf", verbose=False)
    tok = den.tokenizer
    assert den.kind == "masked-lm" and den.vocab_size == 25 and den.mask_id == tok.mask_token_id
    ids = tok(VH)["input_ids"]
    assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id and tok.decode(ids[1:-1]) == VH
    x = torch.tensor([ids])
    g = torch.Generator().manual_seed(0)
    m = torch.rand(x.shape, generator=g) < 0.15
    m[:, [0, -1]] = False
    with torch.no_grad():
        pred = den(x.masked_fill(m, den.mask_id)).argmax(-1)
    # n = 18 masked residues; a random 25-way model recovers ~4%, the trained one ~78%.
    assert (pred[m] == x[m]).double().mean() > 0.5
    prompt = torch.tensor(ids[:26])  # [CLS] + framework 1
    amino = torch.tensor(tok.convert_tokens_to_ids(list(AMINO_ACIDS)))
    for unmasker in (Scheduled(steps=8), EntropyBounded(gamma=1.0), Threshold(tau=0.9)):
        out = mdm.sample(den, batch_size=2, length=16, prompt=prompt, unmasker=unmasker, temperature=1.0,
                         seed=0)
        assert torch.equal(out.tokens[:, :26], prompt.expand(2, -1))
        assert torch.isin(out.tokens[:, 26:], amino).all()


def test_load_antiberty_reads_the_folder_under_mdm_cache(cache, monkeypatch):
    monkeypatch.setenv("MDM_CACHE", str(cache))
    den = load_antiberty()
    assert den.kind == "masked-lm" and den.vocab_size == 25
    assert load_antiberty(cache / "antiberty-0.1.3-hf").mask_id == den.mask_id


def test_hf_samplers_quick(cache, tmp_path, monkeypatch):
    monkeypatch.setenv("MDM_CACHE", str(cache))
    from mdm import experiments

    res = experiments.run("hf-samplers", "quick", tmp_path / "out")
    assert {r["sampler"] for r in res["rows"]} == {"scheduled", "eb", "threshold"}
    assert all(r["valid_fraction"] == 1.0 for r in res["rows"])
    one_per_step = res["rows"][0]
    assert one_per_step["setting"] == "steps=16" and one_per_step["greedy_agreement"] == 1.0
    written = {p.name for p in (tmp_path / "out").iterdir()}
    assert {"result.json", "report.md", "nfe_vs_quality.png"} <= written
    inf = res["infill"]
    assert inf["templates"] == 2 and inf["rows"][0]["sampler"] == "one-shot argmax"
    assert inf["rows"][0]["nfe"] == 1.0  # every masked residue from one forward pass
    topk1 = next(r for r in inf["rows"] if r["setting"] == "k=1")
    assert topk1["nfe"] == inf["masked_per_template"]  # one residue per pass
    assert all(0.5 < r["recovery"] <= 1.0 for r in inf["rows"])  # a random 25-way model: ~4%
    only = experiments.run("hf-samplers", "quick", tmp_path / "infill", parts=["infill"])
    assert only["rows"] == [] and only["infill"]["rows"] == inf["rows"]


def test_infilling_keeps_the_chain_and_fills_only_the_holes(cache):
    from mdm.models.hf import from_hf
    from mdm.sampling import EntropyBounded, TopK

    den = from_hf(cache / "antiberty-0.1.3-hf", verbose=False)
    ids = torch.tensor(den.tokenizer(VH)["input_ids"])
    hole = torch.zeros_like(ids, dtype=torch.bool)
    hole[[5, 30, 31, 32, 99, 100]] = True
    template = ids.masked_fill(hole, den.mask_id)
    for unmasker in (TopK(1), EntropyBounded(gamma=1.0)):
        out = mdm.sample(den, template=template, unmasker=unmasker)
        assert torch.equal(out.tokens[0][~hole], ids[~hole]) and not (out.tokens == den.mask_id).any()
    assert out.nfe[0] <= hole.sum()
