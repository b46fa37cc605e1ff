"""Damaged checkpoints: an interrupted save keeps the previous one; every kind of damage -- truncated or
byte-flipped files, wrong dtypes or shapes, NaN weights, a newer format, edited configs -- raises
CheckpointError (CLI: one line, exit 2) and touches nothing.  Property-based over generated damage."""

import contextlib
import json
import math
import shutil
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st
from safetensors.torch import load_file, save_file

import mdm
from fuzz_support import assert_one_line_error, fast_and_slow, fuzz_settings, run_cli, snapshot
from mdm.errors import CheckpointError, MDMError
from mdm.models.transformer import TransformerConfig, TransformerDenoiser
from mdm.tokenizers import CharTokenizer
from mdm.train import checkpoint

FILES = ["config.json", "model.safetensors", "ema.safetensors", "trainer_state.pt"]
WEIGHTS = ["model.safetensors", "ema.safetensors"]


def _model(seed=0):
    torch.manual_seed(seed)
    tok = CharTokenizer("abcdefgh")
    cfg = TransformerConfig(vocab_size=tok.vocab_size, mask_id=tok.mask_id, d_model=16, n_layers=1,
                            n_heads=2, max_len=8)
    return TransformerDenoiser(cfg).eval(), tok


KEYS = sorted(_model()[0].state_dict())


def _save(path, seed=0):
    model, tok = _model(seed)
    ema = {k: v * 0.5 for k, v in model.state_dict().items()}
    return checkpoint.save(path, model, tok, train_config={"seed": seed}, ema_state=ema,
                           trainer_state={"step": seed}, metadata={"step": seed})


def reseal(path: Path) -> None:
    """Recompute config.json's sizes and hashes: the damage is then only what the checks must catch."""
    cfg = json.loads((path / "config.json").read_text())
    for name in list(cfg["files"] if isinstance(cfg.get("files"), dict) else []):
        f = path / name
        if f.is_file():
            cfg["files"][name] = {"bytes": f.stat().st_size, "sha256": checkpoint._sha256(f)}
    cfg["config_sha256"] = checkpoint._config_hash(cfg)
    (path / "config.json").write_text(json.dumps(cfg))


# --- interrupted saves -------------------------------------------------------------------------------


def test_a_save_failing_mid_write_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = _save(tmp_path / "ckpt", seed=0)
    before = snapshot(tmp_path)

    def half_then_fail(state, filename, metadata=None):
        Path(filename).write_bytes(b"\0" * 100)  # a partial file, then the disk fills up
        raise OSError("No space left on device")

    monkeypatch.setattr("safetensors.torch.save_file", half_then_fail)
    with pytest.raises(OSError, match="No space"):
        _save(path, seed=1)
    assert snapshot(tmp_path) == before  # no temporary directory left, the old one untouched
    model, _ = checkpoint.load(path)
    assert torch.equal(model.embed.weight, _model(0)[0].embed.weight * 0.5)


def test_a_save_killed_between_its_renames_is_recovered(tmp_path, monkeypatch):
    path = _save(tmp_path / "ckpt", seed=0)
    real, calls = checkpoint.os.rename, []

    def die_on_second(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # the old one was moved aside; the process dies before the new one moves in
            raise KeyboardInterrupt
        real(src, dst)

    monkeypatch.setattr(checkpoint.os, "rename", die_on_second)
    with pytest.raises(KeyboardInterrupt):
        _save(path, seed=1)
    monkeypatch.undo()
    (tmp_path / ".ckpt.tmp-dead").mkdir()  # what a kill during writing leaves
    assert not path.exists() and checkpoint.recoverable(path)
    checkpoint.recover(path)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt"]
    assert checkpoint.load_trainer_state(path)["step"] == 0  # the previous checkpoint, whole
    checkpoint.recover(path)  # nothing to do: a no-op
    assert checkpoint.load_trainer_state(path)["step"] == 0


# --- damage, one case each -------------------------------------------------------------------------------


def _rewrite_weights(path, name, edit):
    state = load_file(str(path / name))
    edit(state)
    save_file(state, str(path / name), metadata={"format": "pt"})
    reseal(path)


@pytest.mark.parametrize("damage, message", [
    (lambda p: _rewrite_weights(p, "ema.safetensors", lambda s: s.update(
        {"embed.weight": s["embed.weight"].double()})), "is torch.float64"),
    (lambda p: _rewrite_weights(p, "ema.safetensors", lambda s: s.update(
        {"embed.weight": s["embed.weight"][:-1]})), "the model config needs"),
    (lambda p: _rewrite_weights(p, "ema.safetensors", lambda s: s["embed.weight"].__setitem__(
        (0, 0), math.nan)), "NaN or inf"),
    (lambda p: _edit_config(p, "version", checkpoint.VERSION + 1, reseal_it=True), "newer than this mdm"),
    (lambda p: _edit_config(p, "model.config.d_model", 32, reseal_it=False), "does not match its SHA-256"),
    (lambda p: _edit_config(p, "tokenizer.alphabet", "abc", reseal_it=True), "tokenizer"),
])
def test_each_kind_of_damage_raises_checkpoint_error(tmp_path, damage, message):
    path = _save(tmp_path / "ckpt")
    damage(path)
    with pytest.raises(CheckpointError, match=message):
        checkpoint.load(path)


def _edit_config(path, dotted, value, reseal_it):
    cfg = json.loads((path / "config.json").read_text())
    node, *_ = parts = dotted.split(".")
    d = cfg
    for p in parts[:-1]:
        d = d[p]
    d[parts[-1]] = value
    (path / "config.json").write_text(json.dumps(cfg))
    if reseal_it:
        reseal(path)
    return node


# --- fuzzed damage ---------------------------------------------------------------------------------------

EDIT_PATHS = ["format", "version", "model.kind", "model.config.d_model", "model.config.n_heads",
              "model.config.vocab_size", "model.config.mask_id", "model.config.max_len",
              "model.config.time_conditioned", "tokenizer.kind", "tokenizer.alphabet", "files", "model",
              "tokenizer"]
JSON = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.floats(allow_nan=True),
                 st.text(max_size=12), st.lists(st.integers(-5, 5), max_size=3),
                 st.dictionaries(st.text(max_size=4), st.integers(-5, 5), max_size=2))
DAMAGE = st.one_of(
    st.tuples(st.just("truncate"), st.sampled_from(FILES), st.floats(0, 1, exclude_max=True)),
    st.tuples(st.just("flip"), st.sampled_from(FILES), st.floats(0, 1, exclude_max=True), st.integers(0, 7)),
    st.tuples(st.just("delete"), st.sampled_from(FILES)),
    st.tuples(st.just("dtype"), st.sampled_from(WEIGHTS), st.sampled_from(KEYS),
              st.sampled_from([torch.float16, torch.bfloat16, torch.float64, torch.int64])),
    st.tuples(st.just("shape"), st.sampled_from(WEIGHTS), st.sampled_from(KEYS), st.sampled_from([-1, 1, 2])),
    st.tuples(st.just("nonfinite"), st.sampled_from(WEIGHTS), st.sampled_from(KEYS),
              st.sampled_from([math.nan, math.inf, -math.inf]), st.floats(0, 1, exclude_max=True)),
    st.tuples(st.just("edit"), st.sampled_from(EDIT_PATHS), JSON, st.booleans()),
)


def _apply(path: Path, damage) -> str:
    """Damage the checkpoint at ``path``; return the weight file that must now be refused (or "any")."""
    kind, name = damage[0], damage[1]
    if kind in ("truncate", "flip"):
        f = path / name
        data = bytearray(f.read_bytes())
        i = int(damage[2] * len(data))
        if kind == "truncate":
            f.write_bytes(bytes(data[:i]))
        else:
            before = json.loads(data) if name == "config.json" else None
            data[i] ^= 1 << damage[3]
            if before is not None:  # a flip that leaves the same JSON (whitespace) damages nothing
                with contextlib.suppress(UnicodeDecodeError, ValueError):
                    assume(json.loads(bytes(data)) != before)
            f.write_bytes(bytes(data))
    elif kind == "delete":
        (path / name).unlink()
    elif kind in ("dtype", "shape", "nonfinite"):
        key = damage[2]

        def edit(state):
            t = state[key]
            if kind == "dtype":
                state[key] = t.to(damage[3])
            elif kind == "shape":
                state[key] = t.flatten()[:-1] if damage[3] == -1 else (
                    t.unsqueeze(0) if damage[3] == 1 else torch.cat([t, t]))
            else:
                t = t.clone()
                t.view(-1)[int(damage[4] * t.numel())] = damage[3]
                state[key] = t

        _rewrite_weights(path, name, edit)
        return name
    else:  # edit a config.json entry, resealed or not
        _, dotted, value, reseal_it = damage
        cfg = json.loads((path / "config.json").read_text())
        d = cfg
        parts = dotted.split(".")
        for p in parts[:-1]:
            d = d[p]
        assume(d.get(parts[-1]) != value or type(d.get(parts[-1])) is not type(value))
        _edit_config(path, dotted, value, reseal_it)
    return "any"


def _check_refused(base: Path, damage) -> None:
    root = Path(tempfile.mkdtemp(dir=base.parent))
    try:
        path = root / "ckpt"
        shutil.copytree(base, path)
        target = _apply(path, damage)
        before = snapshot(root)
        # A resealed config edit may describe another valid model (n_heads=1 has the same weight
        # shapes): then loading may succeed; it must never fail any other way than CheckpointError.
        may_load = damage[0] == "edit" and damage[3]
        for ema in ([True, False] if target == "any" else [target == "ema.safetensors"]):
            try:
                checkpoint.load(path, ema=ema)
                assert may_load, (damage, ema)
            except CheckpointError:
                pass
        if target in ("any", "ema.safetensors"):  # `mdm sample` loads the EMA weights
            argv = ["sample", path, "--length", "4", "--steps", "2"]
            rc, out, err = run_cli(argv, cwd=root)
            if not (may_load and rc == 0):
                assert_one_line_error(rc, err, (argv, damage))
        if damage[0] in ("truncate", "flip", "delete") or (damage[0] == "edit" and not damage[3]):
            with pytest.raises(MDMError):  # what a resume reads is checked as thoroughly
                checkpoint.load_trainer_state(path)
        assert snapshot(root) == before, damage  # nothing created, changed or removed
    finally:
        shutil.rmtree(root)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return _save(tmp_path_factory.mktemp("fuzz-ckpt") / "ckpt")


def _make(n):
    @fuzz_settings(n)
    @given(damage=DAMAGE)
    def test(base, damage):
        _check_refused(base, damage)

    return test


test_fuzzed_checkpoint_damage_is_refused, test_fuzzed_checkpoint_damage_is_refused_slow = fast_and_slow(_make)


def test_the_undamaged_checkpoint_loads(base):
    mdm.load(base)
    rc, out, err = run_cli(["sample", base, "--length", "4", "--steps", "2"])
    assert rc == 0, err


def test_resuming_from_nan_or_retyped_weights_is_refused_and_writes_nothing(tmp_path):
    from mdm.train import load_config, train

    tiny = ["model.d_model=16", "model.n_layers=1", "model.n_heads=2", "data.seq_len=16",
            "data.max_chars=4000", "batch_size=4", "eval_every=0", "eval_batches=1", "eval_samples=1",
            "threads=1", "precision=fp32"]
    run = tmp_path / "run"
    train(load_config(None, [*tiny, "max_steps=4", "stop_after=2"]), out_dir=run, progress=False)
    for edit, message in [(lambda s: s["embed.weight"].view(-1).__setitem__(3, math.nan), "NaN"),
                          (lambda s: s.update({"embed.weight": s["embed.weight"].half()}), "float16")]:
        ckpt = tmp_path / "ckpt-copy"
        shutil.copytree(run / "checkpoint", ckpt)
        _rewrite_weights(ckpt, "model.safetensors", edit)
        shutil.rmtree(run / "checkpoint")
        shutil.copytree(ckpt, run / "checkpoint")
        shutil.rmtree(ckpt)
        before = snapshot(run)
        with pytest.raises(CheckpointError, match=message):
            train(load_config(None, [*tiny, "max_steps=4"]), out_dir=run, progress=False, resume=True)
        assert snapshot(run) == before
