"""Every size bound, declared once: what the machine and the model can do.

A number that is merely *valid* (an int >= 1) can still be absurd: ``threads=100000`` crashes inside
OpenMP, ``batch_size=1e11`` or ``--steps 1e15`` never finish, ``--seed 2**64`` overflows
``torch.manual_seed``.  The CLI's argument types (:mod:`mdm.cli.args`), the training config checks
and the Python API entry points (``mdm.sample``) all ask the functions here, so one limit holds
everywhere and its refusal is one :class:`~mdm.errors.MDMError` line naming the limit.

The limits:

* any integer: a signed 64-bit value (:data:`INT64_MAX`); seeds: what ``torch.manual_seed`` takes,
  ``[-2**63, 2**64)``;
* threads: at most :data:`THREADS_PER_CPU` x ``os.cpu_count()``;
* sampling steps: at most :data:`MAX_STEPS` (a step budget larger than that cannot be run);
* batch x length: its smallest tensor (one float32 per position per model width or vocabulary
  entry) must fit in the machine's memory (:func:`check_fits_memory`).

(A sequence length is bounded by the model's own ``max_len``, which the model and ``mdm sample``
check already.)
"""

from __future__ import annotations

import os

from mdm.errors import ConfigError, MDMError

__all__ = ["INT64_MAX", "SEED_MIN", "SEED_MAX", "MAX_STEPS", "THREADS_PER_CPU", "check_int", "check_seed",
           "check_threads", "check_steps", "check_fits_memory", "check_train_sizes", "check_sample_sizes",
           "max_threads", "memory_bytes"]

INT64_MAX = 2**63 - 1
SEED_MIN, SEED_MAX = -(2**63), 2**64 - 1  # what torch.manual_seed accepts
MAX_STEPS = 1_000_000
THREADS_PER_CPU = 4


def check_int(name: str, value: int, lo: int = -INT64_MAX - 1, hi: int = INT64_MAX,
              error: type[MDMError] = ConfigError) -> int:
    """``value`` if it is an int in ``[lo, hi]``; else ``error`` naming ``name`` and the range."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(f"{name} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise error(f"{name} must be in [{lo}, {hi}], got {value}")
    return value


def check_seed(name: str, value: int, error: type[MDMError] = ConfigError) -> int:
    """A seed: an int in ``[SEED_MIN, SEED_MAX]`` (what ``torch.manual_seed`` accepts)."""
    return check_int(name, value, SEED_MIN, SEED_MAX, error)


def max_threads() -> int:
    return THREADS_PER_CPU * (os.cpu_count() or 1)


def check_threads(name: str, value: int, error: type[MDMError] = ConfigError) -> int:
    return check_int(name, value, 1, max_threads(), error)


def check_steps(name: str, value: int, error: type[MDMError] = ConfigError) -> int:
    return check_int(name, value, 1, MAX_STEPS, error)


def memory_bytes() -> int:
    """Physical memory of this machine (a large number where it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return 1 << 50


def check_fits_memory(what: str, *dims: int, bytes_per: int = 4, error: type[MDMError] = ConfigError) -> None:
    """Refuse a tensor of shape ``dims`` (``bytes_per`` bytes an entry) larger than physical memory:
    the smallest tensor a batch needs, so anything refused here could never have run."""
    n = bytes_per
    for d in dims:
        n *= max(int(d), 1)
    if n > memory_bytes():
        shape = " x ".join(str(d) for d in dims)
        raise error(f"{what} needs a tensor of {shape} ({n / 2**30:,.1f} GiB), more than this machine's "
                    f"{memory_bytes() / 2**30:,.1f} GiB of memory; use smaller sizes")


def check_sample_sizes(batch_size: int, total_length: int, seed: int | None) -> None:
    """``mdm.sample``'s sizes: the seed within ``manual_seed``'s range, the token tensor in memory."""
    from mdm.errors import SamplingError

    if seed is not None and isinstance(seed, int):
        check_seed("seed", seed, SamplingError)
    check_fits_memory("batch_size x (prompt + length)", batch_size, total_length, bytes_per=8,
                      error=SamplingError)


def check_train_sizes(cfg) -> None:
    """The training config's sizes (called from its validation): every int field within int64,
    threads within the machine, one micro-batch's activations within its memory."""
    import dataclasses

    def walk(obj, prefix=""):
        for f in dataclasses.fields(obj):
            v = getattr(obj, f.name)
            if dataclasses.is_dataclass(v):
                walk(v, f"{prefix}{f.name}.")
            elif isinstance(v, int) and not isinstance(v, bool):
                check_int(prefix + f.name, v)

    walk(cfg)
    if isinstance(cfg.threads, int):  # not None (torch's default) or "auto" (at most the usable cores)
        check_threads("threads", cfg.threads)
    width = max(int(getattr(cfg.model, "d_model", 1) or 1), 1)
    check_fits_memory("batch_size x data.seq_len x model.d_model", cfg.batch_size, cfg.data.seq_len, width)
