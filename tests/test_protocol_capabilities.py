"""The optional part of the Denoiser protocol: capabilities declared once (mdm.protocol.Capabilities)
with defaults, read through it, and one function that calls a denoiser (call_denoiser)."""

import ast
from pathlib import Path

import pytest
import torch

import mdm
from mdm.errors import TokenError
from mdm.losses import diffusion_loss
from mdm.protocol import (
    CAPABILITIES,
    Capabilities,
    block_size_of,
    call_denoiser,
    capabilities,
    capability,
    device_of,
    max_len_of,
)
from mdm.sampling import Scheduled

SRC = Path(__file__).resolve().parents[1] / "src" / "mdm"


class Bare:
    vocab_size, mask_id = 5, 4


def test_an_absent_capability_reads_as_its_declared_default():
    assert capabilities(Bare()) == Capabilities()
    for name, default in CAPABILITIES.items():
        assert capability(Bare(), name) == default
    with pytest.raises(KeyError):
        capability(Bare(), "undeclared")


def test_capabilities_read_what_a_denoiser_sets():
    class Config:
        max_len = 12

    class Full(Bare):
        time_conditioned, block_size, pad_id, supports_output_mask, supports_kv_cache = True, 4, 0, True, True
        config = Config()

    caps = capabilities(Full())
    assert (caps.time_conditioned, caps.block_size, caps.pad_id, caps.max_len) == (True, 4, 0, 12)
    assert caps.supports_output_mask and caps.supports_kv_cache
    full = Full()
    full.max_len = 7  # its own max_len wins over its config's
    assert max_len_of(full) == 7
    full.block_size = True  # a bool is no block size
    assert block_size_of(full) is None
    assert device_of(Bare(), fallback="cpu") == torch.device("cpu")
    assert device_of(torch.nn.Linear(2, 2)) == torch.device("cpu")


class Recorder(Bare):
    """Records the keyword arguments of every call; returns uniform logits."""

    def __init__(self, **caps):
        self.calls = []
        for k, v in caps.items():
            setattr(self, k, v)

    def __call__(self, x, **kw):
        self.calls.append(kw)
        if "output_mask" in kw:
            return torch.zeros(int(kw["output_mask"].sum()), self.vocab_size)
        return torch.zeros(*x.shape, self.vocab_size)


def test_call_denoiser_passes_each_argument_only_to_a_denoiser_that_takes_it():
    x, t, m = torch.zeros(2, 3, dtype=torch.long), torch.rand(2), torch.ones(2, 3, dtype=torch.bool)
    plain = Recorder()
    call_denoiser(plain, x, None, t, clean=x)
    assert plain.calls == [{}]
    timed = Recorder(time_conditioned=True, block_size=3)
    call_denoiser(timed, x, m, t, clean=x, output_mask=m)
    assert sorted(timed.calls[0]) == ["attention_mask", "clean", "output_mask", "t"]
    with pytest.raises(TokenError, match="time conditioned"):
        call_denoiser(timed, x)
    call_denoiser(timed, x, t=t, time_conditioned=False)  # the caller's cached flag is used as given
    assert "t" not in timed.calls[-1]


@pytest.mark.parametrize("caps", [{}, {"time_conditioned": True}, {"supports_output_mask": True},
                                  {"time_conditioned": True, "supports_output_mask": True}])
def test_loss_elbo_and_sampler_all_call_through_call_denoiser(caps):
    # call_denoiser never passes None and passes t exactly to time-conditioned denoisers; the
    # loss used to pass attention_mask=None itself, so this fails if it stops delegating
    den = Recorder(**caps)
    x0 = torch.randint(0, 4, (3, 6), generator=torch.Generator().manual_seed(0))
    diffusion_loss(den, x0, generator=torch.Generator().manual_seed(1))
    mdm.elbo(den, x0, samples=2, seed=0)
    mdm.sample(den, batch_size=2, length=6, unmasker=Scheduled(3), seed=0)
    assert den.calls
    for kw in den.calls:
        assert all(v is not None for v in kw.values()), kw
        assert ("t" in kw) == bool(caps.get("time_conditioned")), kw
        assert ("output_mask" in kw) == bool(caps.get("supports_output_mask")), kw


# Probes not yet routed through mdm.protocol, in code other branches own (issue 23): the trainer's
# DDP/FSDP wrapper and checkpoint code, and the HF exporter.  Remove entries as they go.
PENDING = {"train/distributed.py", "train/families.py", "train/checkpoint.py", "models/hf/export.py"}


def test_no_module_probes_a_capability_with_getattr_or_hasattr():
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel == "protocol.py" or rel in PENDING:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("getattr", "hasattr") and len(node.args) >= 2
                    and isinstance(node.args[1], ast.Constant) and node.args[1].value in CAPABILITIES):
                owner = ast.unparse(node.args[0])
                if "tok" in owner or "cfg" in owner:  # tokenizers and configs: not denoisers
                    continue
                found.append(f"{rel}:{node.lineno}: {ast.unparse(node)}")
    assert not found, "read these through mdm.protocol (capability / capabilities):\n" + "\n".join(found)
