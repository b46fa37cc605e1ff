"""Process-group setup and model wrapping for ``torchrun`` (DDP or FSDP2); a no-op in one process.

Under ``torchrun --nproc_per_node=N`` every process runs the same :func:`mdm.train.train`; the
environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``) says who it is.  The backend is NCCL on CUDA
and gloo on CPU.  DDP replicates the model and averages gradients; FSDP2
(``torch.distributed.fsdp.fully_shard``, one unit per transformer block plus the root) shards
parameters, gradients and optimizer state for models too large to replicate.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from mdm.errors import ConfigError
from mdm.protocol import capabilities

__all__ = [
    "DistContext", "setup", "teardown", "wrap_model", "gradient_sync", "unwrap", "reshard", "ForwardAdapter",
]


@dataclass
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def all_reduce_sum(self, t: torch.Tensor) -> torch.Tensor:
        """Sum over ranks (in place; returns ``t``)."""
        if self.distributed:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return t

    def any(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is True on any rank (keeps ranks in lock-step on signals)."""
        if not self.distributed:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)


def _pick_device(pref: str, local_rank: int) -> torch.device:
    if pref == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda but CUDA is not available; use device=cpu or auto")
    if pref == "cuda" or (pref == "auto" and torch.cuda.is_available()):
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def setup(device: str = "auto") -> DistContext:
    """Join the torchrun process group if there is one (initialising it when needed)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = _pick_device(device, local_rank)
    if world <= 1 and not dist.is_initialized():
        return DistContext(0, 1, 0, dev)
    owns = False
    if not dist.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=datetime.timedelta(minutes=30))
        owns = True
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, dev, owns_group=owns)


def teardown(ctx: DistContext) -> None:
    if ctx.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def wrap_model(model: nn.Module, ctx: DistContext, strategy: str) -> nn.Module:
    """DDP- or FSDP2-wrap ``model`` (already on ``ctx.device``); unchanged in a single process."""
    if not ctx.distributed:
        return model
    if strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        return DDP(model, device_ids=ids)
    if strategy == "fsdp":
        from torch.distributed.fsdp import fully_shard

        for block in getattr(model, "blocks", []):
            fully_shard(block)
        fully_shard(model)
        return model
    raise ConfigError(f"distributed must be 'ddp' or 'fsdp', got {strategy!r}")


def reshard(model: nn.Module) -> None:
    """Return FSDP2 modules to their sharded state.

    After a forward without backward (validation) FSDP2 keeps the root's parameters unsharded, as
    plain tensors; EMA swaps and state-dict gathers expect the sharded DTensors.
    """
    for m in model.modules():
        if hasattr(m, "reshard") and hasattr(m, "set_requires_gradient_sync"):
            m.reshard()


def unwrap(model: nn.Module) -> nn.Module:
    """The user's module under a DDP wrapper (FSDP2 shards in place, so it is the module itself)."""
    return getattr(model, "module", model)


def gradient_sync(model: nn.Module, enabled: bool):
    """Context in which backward does (``enabled``) or does not all-reduce gradients (accumulation)."""
    if enabled:
        return contextlib.nullcontext()
    if hasattr(model, "no_sync"):  # DDP
        return model.no_sync()
    if hasattr(model, "set_requires_gradient_sync"):  # FSDP2

        @contextlib.contextmanager
        def _fsdp_no_sync():
            model.set_requires_gradient_sync(False)
            try:
                yield
            finally:
                model.set_requires_gradient_sync(True)

        return _fsdp_no_sync()
    return contextlib.nullcontext()


class ForwardAdapter:
    """Calls the (possibly wrapped) module but shows the Denoiser attributes of the inner one.

    Losses read ``vocab_size`` / ``mask_id`` / ``time_conditioned`` / ``supports_output_mask`` /
    ``schedule`` (the training schedule of a time-conditioned model, :mod:`mdm.protocol`);
    a DDP wrapper hides them, and the forward must go through the wrapper for gradient sync.
    """

    def __init__(self, wrapped: nn.Module):
        inner = unwrap(wrapped)
        self._wrapped = wrapped
        self.vocab_size = inner.vocab_size
        self.mask_id = inner.mask_id
        caps = capabilities(inner)
        self.time_conditioned = caps.time_conditioned
        self.supports_output_mask = caps.supports_output_mask
        self.block_size = caps.block_size  # block diffusion: loss passes clean=
        if caps.schedule is not None:
            self.schedule = caps.schedule

    def __call__(self, *args, **kwargs):
        return self._wrapped(*args, **kwargs)
