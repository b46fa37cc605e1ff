"""The *shape-matched peak*: how fast this CPU runs exactly the matmuls one training step does.

``torch.mm`` of two 1024 x 1024 matrices is the usual peak, but a small model's matmuls have inner
dimensions of 128-448 and thin or transposed operands, which run below that rate by themselves.
:func:`record_matmuls` runs a step once under a ``TorchDispatchMode`` and records every
``mm`` / ``addmm`` / ``bmm`` / ``baddbmm`` that reaches ATen -- forward and backward (autograd's
matmuls pass through the same dispatcher), with each operand's shape, strides (so a transposed
operand stays transposed) and dtype.  :class:`Replay` allocates fresh operands of those layouts and
calls the same ops back to back, outside the model; its FLOPs over its CPU time is the rate the
step's own matmuls can reach on this machine.  Attention (SDPA's fused kernel), elementwise work
and the optimizer are not matmuls and are not replayed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["Replay", "record_matmuls"]

aten = torch.ops.aten
MATMULS = {aten.mm.default, aten.addmm.default, aten.bmm.default, aten.baddbmm.default}


def _flops(func, shapes) -> float:
    """2 x multiply-adds of one call; ``shapes`` are its tensor operands' shapes in order."""
    if func in (aten.addmm.default, aten.baddbmm.default):
        shapes = shapes[1:]  # (bias, a, b)
    a, b = shapes[0], shapes[1]
    batch = a[0] if len(a) == 3 else 1
    return 2.0 * batch * a[-2] * a[-1] * b[-1]


class _Recorder(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.calls: list[tuple] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in MATMULS:
            spec = tuple((tuple(a.shape), a.stride(), a.dtype) if isinstance(a, torch.Tensor) else a
                         for a in args)
            self.calls.append((func, spec, dict(kwargs)))
        return func(*args, **kwargs)


def record_matmuls(step: Callable[[], object]) -> list[tuple]:
    """The matmul calls of one ``step()``: ``(op, operand specs, kwargs)`` in call order."""
    rec = _Recorder()
    with rec:
        step()
    return rec.calls


class Replay:
    """Calls the recorded matmuls back to back on fresh operands of the recorded layouts."""

    def __init__(self, calls: list[tuple], seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        self.calls, self.flops = [], 0.0
        for func, spec, kwargs in calls:
            args = tuple(self._operand(s, gen) if isinstance(s, tuple) and len(s) == 3
                         and isinstance(s[2], torch.dtype) else s for s in spec)
            self.calls.append((func, args, kwargs))
            self.flops += _flops(func, [a.shape for a in args if isinstance(a, torch.Tensor)])

    @staticmethod
    def _operand(spec, gen) -> torch.Tensor:
        shape, stride, dtype = spec
        t = torch.empty_strided(shape, stride, dtype=dtype)
        # fill the whole underlying storage (strides may leave gaps) with normal values
        flat = torch.as_strided(t, (t.untyped_storage().nbytes() // t.element_size(),), (1,))
        flat.copy_(torch.randn(flat.shape, generator=gen, dtype=torch.float32).to(dtype))
        return t

    def __call__(self) -> None:
        for func, args, kwargs in self.calls:
            func(*args, **kwargs)

    def shapes(self, top: int = 8) -> list[tuple[str, float]]:
        """The ``top`` (op and shapes) by FLOPs, with their share of all the step's matmul FLOPs."""
        share: dict[str, float] = {}
        for func, args, _ in self.calls:
            ts = [a for a in args if isinstance(a, torch.Tensor)]
            key = f"{func.__name__.split('.')[0]} " + " x ".join(
                "[" + ",".join(map(str, a.shape)) + ("]ᵀ" if a.dim() >= 2 and a.stride(-2) == 1
                                                     and a.shape[-2] > 1 else "]") for a in ts)
            share[key] = share.get(key, 0.0) + _flops(func, [a.shape for a in ts]) / self.flops
        return sorted(share.items(), key=lambda kv: -kv[1])[:top]
