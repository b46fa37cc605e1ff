"""The shape of :class:`mdm.models.transformer.TransformerDenoiser`: :class:`TransformerConfig`, validated
on construction (bad values raise :class:`~mdm.errors.ModelConfigError` saying how to fix them)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from mdm.errors import ModelConfigError

__all__ = ["TransformerConfig", "default_d_ff"]


def default_d_ff(d_model: int) -> int:
    """SwiGLU hidden width: 8/3 * d_model (same parameter count as a 4x GELU MLP), rounded up to a
    multiple of 64 (8 for narrow models) so matmuls stay aligned."""
    multiple = 64 if d_model >= 64 else 8
    return multiple * math.ceil(8 * d_model / 3 / multiple)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass
class TransformerConfig:
    """Shape of a :class:`TransformerDenoiser`.

    ``vocab_size`` counts every token the model reads or predicts, the mask token included;
    ``mask_id`` is that mask token. ``d_ff=None`` picks :func:`default_d_ff`. ``max_len`` bounds the
    sequence length the model accepts.

    Positions always enter through RoPE, which is relative: a bidirectional model can then recover
    absolute positions only from the sequence boundaries, which small models learn slowly.
    ``learned_positions=True`` also adds a learned absolute embedding ``[max_len, d_model]`` to the
    token embedding, for fixed-layout data (Sudoku grids, mazes, tables) where the absolute
    position is what matters. ``causal=True`` is for autoregressive baselines only.
    ``block_size`` (an int dividing ``max_len``) makes a block-causal block diffusion model;
    such a model is not time conditioned (BD3-LM), so its cache of clean blocks is exact.
    """

    vocab_size: int
    mask_id: int
    d_model: int = 256
    n_layers: int = 6
    n_heads: int = 8
    d_ff: int | None = None
    max_len: int = 1024
    time_conditioned: bool = False
    dropout: float = 0.0
    tie_embeddings: bool = False
    rope_base: float = 10000.0
    learned_positions: bool = False
    causal: bool = False
    block_size: int | None = None

    def __post_init__(self):
        for name in ("vocab_size", "mask_id", "d_model", "n_layers", "n_heads", "max_len"):
            if not _is_int(getattr(self, name)):
                raise ModelConfigError(f"{name} must be an int, got {getattr(self, name)!r}")
        for name in ("time_conditioned", "tie_embeddings", "learned_positions", "causal"):
            if not isinstance(getattr(self, name), bool):
                raise ModelConfigError(f"{name} must be True or False, got {getattr(self, name)!r}")
        if self.vocab_size < 2:
            raise ModelConfigError(
                f"vocab_size must be >= 2 (at least one real token plus the mask token), "
                f"got {self.vocab_size}"
            )
        if not 0 <= self.mask_id < self.vocab_size:
            raise ModelConfigError(
                f"mask_id must lie in [0, vocab_size={self.vocab_size}), got {self.mask_id}; "
                "vocab_size must count the mask token"
            )
        for name in ("d_model", "n_layers", "n_heads", "max_len"):
            if getattr(self, name) < 1:
                raise ModelConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_heads:
            raise ModelConfigError(
                f"d_model ({self.d_model}) must be divisible by n_heads ({self.n_heads}); "
                "change one of them"
            )
        if (self.d_model // self.n_heads) % 2:
            raise ModelConfigError(
                f"head width d_model / n_heads = {self.d_model // self.n_heads} must be even for rotary "
                "embeddings; change d_model or n_heads"
            )
        if self.d_ff is not None and (not _is_int(self.d_ff) or self.d_ff < 1):
            raise ModelConfigError(
                f"d_ff must be a positive int or None (default ~8/3 d_model), got {self.d_ff!r}"
            )
        if not isinstance(self.dropout, (int, float)) or isinstance(self.dropout, bool) or not (
            0.0 <= self.dropout < 1.0
        ):
            raise ModelConfigError(f"dropout must be a float in [0, 1), got {self.dropout!r}")
        if not isinstance(self.rope_base, (int, float)) or isinstance(self.rope_base, bool) or not (
            self.rope_base > 1.0 and math.isfinite(self.rope_base)
        ):
            raise ModelConfigError(f"rope_base must be a finite number > 1, got {self.rope_base!r}")
        if self.block_size is not None:
            if not _is_int(self.block_size) or self.block_size < 1 or self.max_len % self.block_size:
                raise ModelConfigError(
                    f"block_size must be None or an int >= 1 dividing max_len={self.max_len}, "
                    f"got {self.block_size!r}")
            if self.causal or self.time_conditioned:
                raise ModelConfigError(
                    "a block-causal model (block_size set) cannot also be causal or time_conditioned: "
                    "block diffusion is not time conditioned, which keeps its KV cache exact")
        self.dropout = float(self.dropout)
        self.rope_base = float(self.rope_base)

    @property
    def hidden_ff(self) -> int:
        """The SwiGLU hidden width actually used."""
        return self.d_ff if self.d_ff is not None else default_d_ff(self.d_model)

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def to_dict(self) -> dict:
        """Plain JSON-serialisable dict (a checkpoint's config.json)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TransformerConfig:
        if not isinstance(d, dict):
            raise ModelConfigError(f"a transformer config must be a dict, got {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ModelConfigError(f"unknown transformer config keys {unknown}; known keys: {sorted(known)}")
        missing = [k for k in ("vocab_size", "mask_id") if k not in d]
        if missing:
            raise ModelConfigError(f"transformer config is missing required keys {missing}")
        return cls(**d)
