"""AP-MDM: a time-free bidirectional transformer with token logits and remask / insert / delete bits.

Yang et al., "On Powerful Ways to Generate: Autoregression, Diffusion, and Beyond" (arXiv 2510.06190).
The trunk is :class:`~mdm.models.transformer.TransformerDenoiser`'s (its embedding, blocks, norm and
token head are reused as they are); three sigmoid heads read the same final hidden state.  Padding is
excluded through the attention mask, and positions are re-encoded on every call (RoPE is relative).

``window=w`` restricts attention to keys within ``w`` positions (a local rule, as the paper's
parity model on length-3 windows).  The output at a position then depends only on the positions
within ``w * n_layers`` of it, so long inputs are evaluated exactly in overlapping chunks of
``chunk`` positions: the cost of a step grows linearly with the length, which is what lets the
parity test reach 10,000 bits on a CPU.

:func:`anyprocess_loss` is the paper's training objective on solver transitions x_k -> x_{k+1}:
cross-entropy on the positions that receive a token, plus binary cross-entropy for each bit.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from mdm.errors import ModelConfigError, TokenError
from mdm.models.families import MODEL_FAMILIES, ModelFamily
from mdm.models.layers import float32_logits
from mdm.models.transformer import TransformerConfig, TransformerDenoiser

__all__ = ["AnyProcessConfig", "AnyProcessModel", "AnyProcessOutput", "AnyProcessLoss", "anyprocess_loss",
           "BIT_NAMES"]

BIT_NAMES = ("remask", "insert", "delete")


class AnyProcessOutput(NamedTuple):
    """Token logits [B, L, V] (mask logit -inf) and the three bit logits [B, L] (pre-sigmoid)."""

    logits: torch.Tensor
    remask: torch.Tensor
    insert: torch.Tensor
    delete: torch.Tensor


@dataclass
class AnyProcessConfig:
    """Shape of an :class:`AnyProcessModel`; the trunk fields mean what they mean in
    :class:`~mdm.models.transformer.TransformerConfig`.  ``window``: attention radius (None = global);
    ``chunk``: positions per chunk when a windowed model evaluates a longer input."""

    vocab_size: int
    mask_id: int
    pad_id: int | None = None
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 2
    d_ff: int | None = None
    max_len: int = 1024
    dropout: float = 0.0
    learned_positions: bool = False
    window: int | None = None
    chunk: int = 256

    def __post_init__(self):
        self.trunk_config()  # validates the shared fields
        if self.window is not None and (not isinstance(self.window, int) or self.window < 1):
            raise ModelConfigError(f"window must be a positive int or None (global), got {self.window!r}")
        if not isinstance(self.chunk, int) or self.chunk < 1:
            raise ModelConfigError(f"chunk must be a positive int, got {self.chunk!r}")
        if self.window is not None and self.learned_positions:
            raise ModelConfigError("a windowed model is evaluated in chunks: it cannot use learned_positions")

    def trunk_config(self) -> TransformerConfig:
        halo = (self.window or 0) * self.n_layers
        max_len = self.max_len if self.window is None else max(self.max_len, self.chunk + 2 * halo)
        return TransformerConfig(vocab_size=self.vocab_size, mask_id=self.mask_id, d_model=self.d_model,
                                 n_layers=self.n_layers, n_heads=self.n_heads, d_ff=self.d_ff,
                                 max_len=max_len, dropout=self.dropout,
                                 learned_positions=self.learned_positions)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> AnyProcessConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ModelConfigError(f"unknown any-process config keys {unknown}; known keys: {sorted(known)}")
        return cls(**d)


class AnyProcessModel(nn.Module):
    """The AP-MDM network: ``model(x, attention_mask=None) -> AnyProcessOutput``."""

    def __init__(self, config: AnyProcessConfig):
        super().__init__()
        if not isinstance(config, AnyProcessConfig):
            raise ModelConfigError(f"AnyProcessModel needs an AnyProcessConfig, got {type(config).__name__}")
        self.config = config
        self.vocab_size, self.mask_id, self.pad_id = config.vocab_size, config.mask_id, config.pad_id
        self.trunk = TransformerDenoiser(config.trunk_config())
        self.bits = nn.Linear(config.d_model, len(BIT_NAMES))
        nn.init.normal_(self.bits.weight, std=0.02)
        nn.init.zeros_(self.bits.bias)
        self._halo = (config.window or 0) * config.n_layers

    @property
    def length_limit(self) -> int | None:
        """The longest input accepted (None: any, for windowed models evaluated in chunks)."""
        return None if self.config.window is not None else self.config.max_len

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _mask(self, keys: torch.Tensor, L: int) -> torch.Tensor | None:
        """Bool [B, 1, L, L]: real keys (within the window); every query sees itself (no NaN rows).
        None when everything may attend (SDPA's fast path)."""
        if self.config.window is None and bool(keys.all()):
            return None
        allowed = keys[:, None, None, :].expand(-1, 1, L, L)
        eye = torch.eye(L, dtype=torch.bool, device=keys.device)
        if self.config.window is not None:
            i = torch.arange(L, device=keys.device)
            allowed = allowed & ((i[:, None] - i[None, :]).abs() <= self.config.window)
        return allowed | eye

    def _hidden(self, x: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        trunk = self.trunk
        L = x.shape[1]
        cos, sin = trunk._rope_tables(L, x.device)
        mask = self._mask(keys, L)
        h = trunk.embed_tokens(x)
        for blk in trunk.blocks:
            h = blk(h, None, cos, sin, mask, False)
        return trunk.norm(h)

    def _hidden_chunked(self, x: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """Exactly :meth:`_hidden` for a windowed model, computed on overlapping chunks."""
        B, L = x.shape
        C, H = self.config.chunk, self._halo
        n = math.ceil(L / C)
        total = n * C + 2 * H
        xp = torch.full((B, total), self.mask_id, dtype=x.dtype, device=x.device)
        kp = torch.zeros((B, total), dtype=torch.bool, device=x.device)
        xp[:, H:H + L], kp[:, H:H + L] = x, keys
        xs = xp.unfold(1, C + 2 * H, C).reshape(B * n, C + 2 * H)
        ks = kp.unfold(1, C + 2 * H, C).reshape(B * n, C + 2 * H)
        h = self._hidden(xs, ks)[:, H:H + C]
        return h.reshape(B, n * C, -1)[:, :L]

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> AnyProcessOutput:
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.dtype != torch.long:
            got = getattr(x, "shape", type(x).__name__)
            raise TokenError(f"x must be a torch.long tensor [B, L], got {got}")
        B, L = x.shape
        limit = self.length_limit
        if limit is not None and limit < L:
            raise TokenError(f"sequence length {L} exceeds the model's max_len {limit}; "
                             "build the model with a larger max_len (or a window)")
        if attention_mask is None:
            keys = torch.ones((B, L), dtype=torch.bool, device=x.device)
        elif not isinstance(attention_mask, torch.Tensor) or tuple(attention_mask.shape) != (B, L):
            raise TokenError(f"attention_mask must be a tensor of shape {(B, L)} like x")
        else:
            keys = attention_mask.bool()
        if self.config.window is not None and self.config.chunk < L:
            h = self._hidden_chunked(x, keys)
        else:
            h = self._hidden(x, keys)
        logits = float32_logits(self.trunk.head, h)
        logits[..., self.mask_id] = float("-inf")  # a MASK is never a prediction
        bits = float32_logits(self.bits, h)
        return AnyProcessOutput(logits, bits[..., 0], bits[..., 1], bits[..., 2])


@dataclass
class AnyProcessLoss:
    """``loss`` (scalar), ``per_sample`` [B] (summed over positions), ``num_eligible`` (all real positions),
    and the mean parts ``token`` (CE) and ``bits`` (BCE, summed over the three bits)."""

    loss: torch.Tensor
    per_sample: torch.Tensor
    num_eligible: torch.Tensor
    token: torch.Tensor
    bits: torch.Tensor


def anyprocess_loss(model, batch: dict[str, torch.Tensor]) -> AnyProcessLoss:
    """The AP-MDM loss on a batch of transitions (arXiv 2510.06190).

    ``batch``: ``input_ids`` x_k [B, L]; ``attention_mask`` [B, L] (real positions); ``eligible`` [B, L]
    (positions that receive a token: MASK in x_k, neither remasked nor deleted); ``targets`` [B, L] the
    token they receive; ``remask`` / ``insert`` / ``delete`` [B, L] the bits of the transition.
    Loss = mean CE over receiving positions + sum over bits of the mean BCE over real positions.
    """
    x = batch["input_ids"]
    real = batch.get("attention_mask")
    real = torch.ones_like(x, dtype=torch.bool) if real is None else real.bool()
    out = model(x, attention_mask=real)
    recv = batch["eligible"].bool() & real
    ce = F.cross_entropy(out.logits.transpose(1, 2), batch["targets"].masked_fill(~recv, 0),
                         reduction="none").masked_fill(~recv, 0.0)
    bce = sum(F.binary_cross_entropy_with_logits(getattr(out, n), batch[n].float(), reduction="none")
              for n in BIT_NAMES).masked_fill(~real, 0.0)
    n_recv, n_real = recv.sum().clamp_min(1), real.sum().clamp_min(1)
    token, bits = ce.sum() / n_recv, bce.sum() / n_real
    per_sample = (ce + bce).sum(1)
    return AnyProcessLoss(token + bits, per_sample, real.sum(), token.detach(), bits.detach())


# Registered here, beside its class; it trains on its transitions (the ``ap-mdm`` objective).
MODEL_FAMILIES.register("anyprocess", ModelFamily(AnyProcessConfig, AnyProcessModel, objective="ap-mdm"))
