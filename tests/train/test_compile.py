"""``compile: true``: the compiled training trunk compiles once per run and agrees with eager.

The fast tests use dynamo with the ``aot_eager`` backend (the same graph capture, guards and
recompiles as inductor, without generating C++); the inductor run is ``slow``.
"""

import pytest
import torch

from mdm.errors import ConfigError
from mdm.losses import diffusion_loss
from mdm.masking import AntitheticTime
from mdm.models.transformer import TransformerConfig, TransformerDenoiser
from mdm.train import checkpoint, load_config, train
from mdm.train.compiled import compile_for_training

TINY = ["model.d_model=16", "model.n_layers=1", "model.n_heads=2", "data.seq_len=16", "data.max_chars=4000",
        "batch_size=4", "log_every=1", "eval_every=2", "eval_batches=1", "eval_samples=1", "threads=1",
        "precision=fp32", "optim.warmup_steps=2", "max_steps=4"]


class CountingBackend:
    """A torch.compile backend that counts the graphs it is asked to compile."""

    def __init__(self, inner="aot_eager"):
        self.inner, self.graphs = inner, 0

    def __call__(self, gm, example_inputs):
        self.graphs += 1
        from torch._dynamo.backends.registry import lookup_backend

        return lookup_backend(self.inner)(gm, example_inputs)


def _model(seed=0):
    torch.manual_seed(seed)
    return TransformerDenoiser(TransformerConfig(vocab_size=11, mask_id=10, d_model=32, n_heads=2, n_layers=2,
                                                 max_len=24)).train()


def _steps(model, n, seed=0):
    """``n`` NELBO steps (masked-only head: a different number of masked rows each step) with AdamW;
    the losses and the final parameters."""
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(seed)
    x0 = torch.randint(0, 10, (6, 24), generator=torch.Generator().manual_seed(1))
    losses = []
    for _ in range(n):
        out = diffusion_loss(model, x0, time_sampler=AntitheticTime(), generator=gen, masked_logits_only=True)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(out.loss.detach())
    return torch.stack(losses), [p.detach().clone() for p in model.parameters()]


def test_second_and_later_steps_do_not_recompile_and_eval_uses_eager():
    torch._dynamo.reset()
    model, backend = _model(), CountingBackend()
    compile_for_training(model, backend=backend)
    _steps(model, 1)
    first = backend.graphs
    assert first == 1  # one graph: the trunk has no graph break
    _steps(model, 4, seed=1)  # other masked counts every step
    assert backend.graphs == first
    model.eval()
    with torch.no_grad():
        model(torch.zeros(3, 24, dtype=torch.long))  # validation / sampling shapes: eager, no compile
    assert backend.graphs == first
    assert not any(k.startswith("training_trunk") for k in model.state_dict())


def test_compiled_steps_agree_with_eager_aot_eager():
    torch._dynamo.reset()
    eager = _steps(_model(), 3)
    model = _model()
    compile_for_training(model, backend=CountingBackend())
    got = _steps(model, 3)
    # aot_eager runs the same ATen ops; allow float rounding of a different op order all the same
    torch.testing.assert_close(got[0], eager[0], rtol=1e-5, atol=1e-6)
    for a, b in zip(got[1], eager[1]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_compile_refuses_a_model_without_a_trunk():
    with pytest.raises(ConfigError, match="compile: false"):
        compile_for_training(torch.nn.Linear(2, 2))


def test_compile_is_a_checked_config_key():
    assert load_config(None, TINY).compile is False
    assert load_config(None, [*TINY, "compile=true"]).compile is True
    with pytest.raises(ConfigError):
        load_config(None, [*TINY, "compile=3"])


@pytest.mark.slow
def test_inductor_compiled_run_agrees_with_eager_compiles_once_and_resumes_exactly(tmp_path):
    """Inductor: 3 steps' losses agree with eager within rtol 1e-4 / atol 1e-5 and the weights within
    atol 1e-4 (a fused kernel rounds differently); one compile; a compiled run stopped and resumed
    equals the uninterrupted one."""
    torch._dynamo.reset()
    eager = _steps(_model(), 3)
    model, backend = _model(), CountingBackend("inductor")
    compile_for_training(model, backend=backend)
    got = _steps(model, 3)
    assert backend.graphs == 1
    torch.testing.assert_close(got[0], eager[0], rtol=1e-4, atol=1e-5)
    for a, b in zip(got[1], eager[1]):  # AdamW normalises tiny gradients: 1% of one lr=1e-2 step
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
    full = train(load_config(None, [*TINY, "compile=true"]), out_dir=tmp_path / "full", progress=False)
    part = train(load_config(None, [*TINY, "compile=true", "stop_after=2"]), out_dir=tmp_path / "part",
                 progress=False)
    assert part.interrupted
    resumed = train(load_config(None, [*TINY, "compile=true"]), out_dir=tmp_path / "part", progress=False)
    a, b = checkpoint.load_weights(full.checkpoint), checkpoint.load_weights(resumed.checkpoint)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_mdm_train_compile_flag_sets_the_config_key(tmp_path, monkeypatch, capsys):
    """``mdm train --compile`` trains with ``compile: true`` (the trainer itself is stubbed here)."""
    import types

    import mdm.train
    from mdm.cli import main

    seen = []

    def fake_train(cfg, **kw):
        seen.append(cfg.compile)
        return types.SimpleNamespace(interrupted=False, steps=0, tokens_seen=0, wall_time=0.0, final_val=None,
                                     checkpoint=tmp_path / "checkpoint", out_dir=tmp_path)

    monkeypatch.setattr(mdm.train, "train", fake_train)
    sets = [a for s in TINY for a in ("--set", s)]
    for flag in ([], ["--compile"]):
        main(["train", "kjv-char-tiny", *sets, "--out", str(tmp_path / f"run{len(flag)}"), "--quiet", *flag])
    assert seen == [False, True]
