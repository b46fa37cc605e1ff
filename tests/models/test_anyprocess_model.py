"""AnyProcessModel: shapes, padding and chunking invariance; the AP-MDM loss by hand."""

import pytest
import torch
import torch.nn.functional as F

from mdm.errors import MDMError
from mdm.models.anyprocess import AnyProcessConfig, AnyProcessModel, anyprocess_loss
from mdm.models.families import MODEL_FAMILIES


def _model(**kw):
    torch.manual_seed(0)
    cfg = dict(vocab_size=7, mask_id=6, pad_id=5, d_model=16, n_layers=2, n_heads=2, max_len=64)
    return AnyProcessModel(AnyProcessConfig(**{**cfg, **kw})).eval()


def test_shapes_and_the_mask_is_never_predicted():
    m = _model()
    out = m(torch.randint(0, 7, (3, 9)))
    assert out.logits.shape == (3, 9, 7)
    assert out.remask.shape == out.insert.shape == out.delete.shape == (3, 9)
    assert torch.isinf(out.logits[..., 6]).all() and torch.isfinite(out.logits[..., :6]).all()


def test_padding_does_not_change_real_positions():
    m = _model()
    x = torch.randint(0, 5, (2, 10))
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[1, 6:] = False
    both = m(x, attention_mask=mask)
    alone = m(x[1:, :6])
    for a, b in zip(both, alone):
        torch.testing.assert_close(a[1, :6], b[0], rtol=1e-5, atol=1e-5)


def test_windowed_chunked_evaluation_equals_the_whole_sequence():
    whole = _model(window=2, chunk=512)
    chunked = _model(window=2, chunk=8)
    x = torch.randint(0, 5, (2, 45))
    keys = torch.ones(2, 45, dtype=torch.bool)
    keys[0, 40:] = False
    for a, b in zip(whole(x, attention_mask=keys), chunked(x, attention_mask=keys)):
        torch.testing.assert_close(a[keys], b[keys], rtol=1e-5, atol=1e-5)
    assert chunked.length_limit is None
    assert whole(torch.zeros(1, 3000, dtype=torch.long)).logits.shape[1] == 3000


def test_loss_is_ce_on_receiving_positions_plus_bce_per_bit():
    m = _model()
    x = torch.tensor([[0, 6, 6, 1], [6, 2, 5, 5]])
    real = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.bool)
    recv = torch.tensor([[0, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)
    targets = torch.tensor([[0, 3, 0, 0], [4, 0, 0, 0]])
    bits = {n: torch.randint(0, 2, (2, 4)).bool() & real for n in ("remask", "insert", "delete")}
    batch = {"input_ids": x, "attention_mask": real, "eligible": recv, "targets": targets, **bits}
    out = anyprocess_loss(m, batch)
    o = m(x, attention_mask=real)
    ce = (F.cross_entropy(o.logits[0, 1][None], torch.tensor([3])) +
          F.cross_entropy(o.logits[1, 0][None], torch.tensor([4]))) / 2
    bce = sum(F.binary_cross_entropy_with_logits(getattr(o, n)[real], bits[n][real].float()) for n in bits)
    torch.testing.assert_close(out.loss, ce + bce)
    # targets at positions that receive no token do not matter
    batch["targets"] = targets + 2 * (~recv).long()
    torch.testing.assert_close(anyprocess_loss(m, batch).loss, out.loss)
    assert int(out.num_eligible) == 6


def test_registered_family_and_bad_configs():
    fam = MODEL_FAMILIES.get("anyprocess")
    assert fam.model is AnyProcessModel and fam.objective == "ap-mdm"  # its loss: mdm.train.anyprocess
    for bad in (dict(window=0), dict(d_model=15), dict(window=2, learned_positions=True), dict(chunk=0)):
        with pytest.raises(MDMError):
            _model(**bad)
    with pytest.raises(MDMError):
        _model()(torch.zeros(1, 65, dtype=torch.long))
