"""Exponential moving average of the weights (Polyak averaging), as used by MDLM / MD4 for evaluation."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

__all__ = ["EMA"]


def full_tensor(t: torch.Tensor) -> torch.Tensor:
    """A plain tensor from a (possibly FSDP2-sharded) DTensor, e.g. a parameter or FSDP2's grad norm;
    collective for DTensors."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


class EMA:
    """``shadow <- d * shadow + (1 - d) * param`` after every optimizer step, in float32.

    The effective decay warms up as ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates, so early
    averages are not dominated by the random initialisation.  Works on FSDP2-sharded parameters
    (each rank averages its shard).
    """

    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.num_updates = 0
        self.shadow = {n: p.detach().float().clone() for n, p in model.named_parameters()}

    def current_decay(self) -> float:
        n = self.num_updates
        return min(self.decay, (1 + n) / (10 + n))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        d = self.current_decay()
        for n, p in model.named_parameters():
            self.shadow[n].lerp_(p.detach().float(), 1.0 - d)
        self.num_updates += 1

    def full_state_dict(self) -> dict[str, torch.Tensor]:
        """Unsharded CPU copies (every rank must call this under FSDP)."""
        return {n: full_tensor(t).detach().cpu().clone() for n, t in self.shadow.items()}

    @torch.no_grad()
    def load_full_state_dict(self, state: dict[str, torch.Tensor], num_updates: int) -> None:
        for n, t in self.shadow.items():
            src = state[n].to(torch.float32)
            if hasattr(t, "device_mesh"):  # DTensor shard: take this rank's piece of the full tensor
                from torch.distributed.tensor import distribute_tensor

                src = distribute_tensor(src.to(t.device_mesh.device_type), t.device_mesh, t.placements)
            t.copy_(src)
        self.num_updates = num_updates

    @contextlib.contextmanager
    def swapped_in(self, model: nn.Module):
        """Temporarily load the averaged weights into ``model`` (e.g. for validation)."""
        saved = {n: p.detach().clone() for n, p in model.named_parameters()}
        with torch.no_grad():
            for n, p in model.named_parameters():
                p.copy_(self.shadow[n].to(p.dtype))
        try:
            yield model
        finally:
            with torch.no_grad():
                for n, p in model.named_parameters():
                    p.copy_(saved[n])
