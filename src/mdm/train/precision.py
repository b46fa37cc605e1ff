"""Training precision that fits the hardware: ``precision: auto`` picks bf16 only where it is native.

bf16 autocast pays off on CUDA devices with bf16 support and on CPUs with native bf16 arithmetic
(AVX512_BF16 or AMX on x86, the BF16 extension on ARM).  Elsewhere PyTorch emulates bf16 and a
CPU step runs slower than fp32 (2.9x per step for the demo model on one thread of an AVX512 CPU
without AVX512_BF16, measured side by side with ``benchmarks/train_precision.py``), so ``auto``
keeps fp32 there.
"""

from __future__ import annotations

import warnings
from contextlib import nullcontext

import torch

__all__ = ["PRECISIONS", "cpu_capability", "cpu_has_native_bf16", "resolve_precision", "warn_if_emulated",
           "autocast"]

PRECISIONS = ("auto", "fp32", "bf16")
# torch.cpu.get_capabilities() flags that mean bf16 arithmetic in hardware.
_NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16", "bf16", "sve_bf16")


def cpu_capability() -> str:
    """The vector ISA PyTorch dispatches CPU kernels to (``"AVX512"``, ``"AVX2"``, ...), plus the
    native-bf16 flags the CPU has, e.g. ``"AVX512"`` or ``"AVX512 +avx512_bf16 +amx_bf16"``."""
    flags = [f for f in _NATIVE_BF16_FLAGS if _cpu_flags().get(f)]
    return " ".join([torch.backends.cpu.get_cpu_capability(), *(f"+{f}" for f in flags)])


def _cpu_flags() -> dict:
    get = getattr(torch.cpu, "get_capabilities", None)
    return dict(get()) if get is not None else {}


def cpu_has_native_bf16() -> bool:
    return any(_cpu_flags().get(f) for f in _NATIVE_BF16_FLAGS)


def _native_bf16(device: torch.device) -> tuple[bool, str]:
    """Whether ``device`` computes in bf16 natively, and the device in words."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported(), f"CUDA device {torch.cuda.get_device_name(device)}"
    if device.type == "cpu":
        return cpu_has_native_bf16(), f"CPU ({cpu_capability()})"
    return False, f"{device.type} device"


def resolve_precision(requested: str, device: torch.device | str) -> tuple[str, str]:
    """``("fp32" | "bf16", reason)`` for a requested ``"auto" | "fp32" | "bf16"`` on ``device``.

    An explicit ``bf16`` is honoured even where it is emulated; the reason then says it will be slow
    (the trainer prints it as a warning).
    """
    if requested == "fp32":
        return "fp32", "fp32 requested"
    native, where = _native_bf16(torch.device(device))
    if requested == "auto":
        if native:
            return "bf16", f"auto: {where} has native bf16"
        return "fp32", f"auto: {where} has no native bf16, so bf16 would be emulated and slow"
    if requested != "bf16":
        from mdm.errors import ConfigError

        raise ConfigError(f"precision must be one of {list(PRECISIONS)}, got {requested!r}")
    if native:
        return "bf16", f"bf16 requested; {where} has native bf16"
    return "bf16", (f"bf16 requested, but {where} has no native bf16: autocast emulates it and training "
                    "runs slower than fp32 (use precision: auto or fp32)")


def warn_if_emulated(choice: str, reason: str, device: torch.device | str) -> None:
    """One warning line (the reason) when an explicit bf16 runs without hardware support."""
    if choice == "bf16" and not _native_bf16(torch.device(device))[0]:
        warnings.warn(reason, RuntimeWarning, stacklevel=2)


def autocast(precision: str, device: torch.device):
    """The autocast context of a resolved precision (``"fp32"`` or ``"bf16"``)."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()
