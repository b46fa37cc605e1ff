import json

import pytest
import torch

import mdm
from mdm.errors import CheckpointError
from mdm.models.transformer import TransformerConfig, TransformerDenoiser
from mdm.tokenizers import CharTokenizer
from mdm.train import checkpoint


def _model(seed=0):
    torch.manual_seed(seed)
    tok = CharTokenizer("abcdefgh")
    cfg = TransformerConfig(vocab_size=tok.vocab_size, mask_id=tok.mask_id, d_model=16, n_layers=1, n_heads=2,
                            max_len=8)
    return TransformerDenoiser(cfg), tok


@pytest.fixture
def saved(tmp_path):
    model, tok = _model()
    ema = {k: v + 1.0 for k, v in model.state_dict().items()}
    state = {"step": 3, "optimizer": {"state": {}}, "rng": torch.ByteTensor([1, 2, 3])}
    path = checkpoint.save(tmp_path / "ckpt", model, tok, train_config={"seed": 0}, ema_state=ema,
                           trainer_state=state, metadata={"step": 3})
    return path, model, tok


def test_roundtrip_ema_by_default(saved):
    path, model, tok = saved
    assert sorted(p.name for p in path.iterdir()) == [
        "config.json", "ema.safetensors", "model.safetensors", "trainer_state.pt"]
    loaded, tok2 = mdm.load(path)
    assert tok2 == tok and not loaded.training
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v + 1.0)  # EMA weights
    raw, _ = checkpoint.load(path, ema=False)
    for k, v in model.state_dict().items():
        assert torch.equal(raw.state_dict()[k], v)
    x = torch.randint(0, 8, (2, 8))
    assert torch.equal(raw(x), model.eval()(x))
    state = checkpoint.load_trainer_state(path)
    assert state["step"] == 3 and torch.equal(state["rng"], torch.ByteTensor([1, 2, 3]))
    assert checkpoint.read_config(path)["metadata"] == {"step": 3}


def test_overwrite_is_atomic_and_leaves_no_temp_dirs(saved, monkeypatch):
    path, model, tok = saved
    other, _ = _model(seed=1)
    checkpoint.save(path, other, tok)
    assert torch.equal(checkpoint.load(path)[0].embed.weight, other.embed.weight)  # no EMA file any more
    assert [p.name for p in path.parent.iterdir()] == ["ckpt"]

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(path, model, tok, trainer_state={"step": 1})
    assert [p.name for p in path.parent.iterdir()] == ["ckpt"]  # the previous checkpoint survives intact
    assert torch.equal(checkpoint.load(path)[0].embed.weight, other.embed.weight)


def _truncate(f):
    f.write_bytes(f.read_bytes()[:-100])


def _flip_byte(f, offset):
    data = bytearray(f.read_bytes())
    data[offset] ^= 0xFF
    f.write_bytes(bytes(data))


@pytest.mark.parametrize("damage, message", [
    (lambda p: _truncate(p / "model.safetensors"), "truncated"),
    (lambda p: _flip_byte(p / "model.safetensors", -5), "SHA-256"),
    (lambda p: _flip_byte(p / "ema.safetensors", -5), "SHA-256"),
    (lambda p: (p / "ema.safetensors").unlink(), "ema.safetensors is missing"),
    (lambda p: (p / "config.json").unlink(), "config.json is missing"),
    (lambda p: (p / "config.json").write_text((p / "config.json").read_text()[:50]), "not valid JSON"),
    (lambda p: (p / "config.json").write_text(json.dumps({"format": "other"})), "format tag"),
])
def test_damaged_checkpoints_raise_checkpoint_error(saved, damage, message):
    path = saved[0]
    damage(path)
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load(path)


def test_damage_without_checksum_and_bad_configs(saved, tmp_path):
    path = saved[0]
    # Same size, corrupted header: caught by safetensors itself when checksums are skipped.
    f = path / "model.safetensors"
    data = bytearray(f.read_bytes())
    data[8:16] = b"{{{{{{{{"
    f.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="could not read"):
        checkpoint.load(path, ema=False, verify=False)
    cfg = json.loads((path / "config.json").read_text())
    cfg["model"]["config"]["d_model"] = 32
    (path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError):
        checkpoint.load(path, verify=False)
    with pytest.raises(CheckpointError, match="does not exist"):
        checkpoint.load(tmp_path / "nothing")
    (path / "trainer_state.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="trainer_state.pt"):
        checkpoint.load_trainer_state(path, verify=False)
