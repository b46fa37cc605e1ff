"""The bidirectional transformer denoiser (its config: :mod:`mdm.models.transformer_config`).

A pre-norm transformer encoder in the style of modern LMs (RMSNorm, rotary position embeddings,
SwiGLU MLP, ``F.scaled_dot_product_attention``) with NO causal mask: every position sees the whole
sequence, as an MDM denoiser must (MDLM, Sahoo et al. 2024; MD4, Shi et al. 2024).

Optional time conditioning follows DiT's adaLN-Zero (Peebles & Xie 2023): a sinusoidal embedding
of ``t`` goes through an MLP and each block regresses shift / scale / gate for its two sub-layers;
the regression is zero-initialised, so every block starts as the identity and the initial output
does not depend on ``t``.

``forward(x, attention_mask=None, t=None, output_mask=None)`` follows the Denoiser protocol
(``mdm.protocol``) and adds ``output_mask``: when given, the final norm and the output projection run
only at the selected positions and logits ``[N, V]`` come back in ``x[output_mask]`` order. With a
large vocabulary the output layer dominates the cost of a step, and MDM losses only need the
masked positions.

``causal=True`` turns the same network into a left-to-right LM; it exists for like-for-like
baselines (``benchmarks/train_step.py``), not for diffusion.  ``block_size=B`` makes it a block
diffusion model (BD3-LM, :mod:`mdm.models.block_causal`): attention bidirectional inside blocks of
``B`` and causal across them; ``forward(x_t, clean=x_0)`` is its two-stream training pass.

``forward(..., cache=kv, start=s)`` runs a span of positions ``[s, s + n)`` against a
:class:`~mdm.models.kv_cache.KVCache` of per-layer keys/values (``new_cache``), the engine of
``mdm.sample(..., cache=...)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from mdm.errors import ModelConfigError, TokenError
from mdm.models.block_causal import attention_for
from mdm.models.kv_cache import KVCache, check_span
from mdm.models.layers import (
    TIME_FREQ_DIM,
    RMSNorm,
    _modulate,
    _rotate,
    float32_logits,
    swiglu,
    timestep_embedding,
)
from mdm.models.transformer_config import TransformerConfig, _is_int, default_d_ff

__all__ = ["TransformerConfig", "TransformerDenoiser", "default_d_ff"]


class Attention(nn.Module):
    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.n_heads, self.head_dim = cfg.n_heads, cfg.head_dim
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model, bias=False)
        self.out = nn.Linear(cfg.d_model, cfg.d_model, bias=False)
        self.dropout = cfg.dropout

    def forward(self, h, cos, sin, attn_mask, is_causal, kv=None):
        B, L, D = h.shape
        # q and k rotated in one pass over their [B, L, 2, H, hd] block of the projection; split's
        # backward is one cat (unbinding q, k, v and rotating each cost more passes, both ways)
        qk, v = self.qkv(h).view(B, L, 3, self.n_heads, self.head_dim).split((2, 1), dim=2)
        q, k = _rotate(qk, cos[:, None, None], sin[:, None, None]).permute(2, 0, 3, 1, 4)
        v = v.squeeze(2).transpose(1, 2)
        if kv is not None:  # store this span's keys/values, attend over the cached positions
            k, v = kv(k, v)
        dropout_p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask, dropout_p=dropout_p, is_causal=is_causal)
        return self.out(y.transpose(1, 2).reshape(B, L, D))


class SwiGLU(nn.Module):
    """SwiGLU MLP (Shazeer 2020): down(silu(gate(x)) * up(x))."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.gate_up = nn.Linear(cfg.d_model, 2 * cfg.hidden_ff, bias=False)
        self.down = nn.Linear(cfg.hidden_ff, cfg.d_model, bias=False)

    def forward(self, h):
        return self.down(swiglu(self.gate_up(h)))


class Block(nn.Module):
    """Pre-norm block. With time conditioning, adaLN-Zero: x + gate * f(norm(x) * (1 + scale) + shift)."""

    def __init__(self, cfg: TransformerConfig):
        super().__init__()
        self.norm1, self.norm2 = RMSNorm(cfg.d_model), RMSNorm(cfg.d_model)
        self.attn, self.mlp = Attention(cfg), SwiGLU(cfg)
        self.drop = nn.Dropout(cfg.dropout)
        self.ada = nn.Linear(cfg.d_model, 6 * cfg.d_model) if cfg.time_conditioned else None

    def forward(self, x, c, cos, sin, attn_mask, is_causal, kv=None):
        if self.ada is None:
            x = x + self.drop(self.attn(self.norm1(x), cos, sin, attn_mask, is_causal, kv))
            return x + self.drop(self.mlp(self.norm2(x)))
        s1, sc1, g1, s2, sc2, g2 = self.ada(F.silu(c))[:, None, :].chunk(6, dim=-1)
        h = _modulate(self.norm1(x), s1, sc1)
        x = x + g1 * self.drop(self.attn(h, cos, sin, attn_mask, is_causal, kv))
        return x + g2 * self.drop(self.mlp(_modulate(self.norm2(x), s2, sc2)))


class TransformerDenoiser(nn.Module):
    """Bidirectional transformer satisfying the Denoiser protocol (see the module docstring)."""

    supports_output_mask = True
    supports_kv_cache = True

    def __init__(self, config: TransformerConfig):
        super().__init__()
        if not isinstance(config, TransformerConfig):
            raise ModelConfigError(
                f"TransformerDenoiser needs a TransformerConfig, got {type(config).__name__}; "
                "use TransformerConfig.from_dict for a dict"
            )
        self.config = config
        self.vocab_size, self.mask_id = config.vocab_size, config.mask_id
        self.block_size = config.block_size  # None: bidirectional
        self.time_conditioned = config.time_conditioned
        d = config.d_model
        self.embed = nn.Embedding(config.vocab_size, d)
        self.pos_embed = nn.Embedding(config.max_len, d) if config.learned_positions else None
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.norm = RMSNorm(d)
        self.head = nn.Linear(d, config.vocab_size, bias=False)
        if config.time_conditioned:
            self.time_mlp = nn.Sequential(nn.Linear(TIME_FREQ_DIM, d), nn.SiLU(), nn.Linear(d, d))
            self.final_ada = nn.Linear(d, 2 * d)
        self._rope: tuple[torch.Tensor, torch.Tensor] | None = None
        self.training_trunk = None  # a compiled trunk (mdm.train.compiled), else None
        self._init_weights()
        if config.tie_embeddings:
            self.head.weight = self.embed.weight

    def _init_weights(self):
        # GPT-2 style: N(0, 0.02); projections into the residual stream scaled by 1/sqrt(2 n_layers)
        # so the residual variance does not grow with depth. adaLN regressions start at zero (DiT).
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
                if getattr(m, "bias", None) is not None:
                    nn.init.zeros_(m.bias)
        for blk in self.blocks:
            for proj in (blk.attn.out, blk.mlp.down):
                nn.init.normal_(proj.weight, std=0.02 / math.sqrt(2 * self.config.n_layers))
            if blk.ada is not None:
                nn.init.zeros_(blk.ada.weight)
                nn.init.zeros_(blk.ada.bias)
        if self.time_conditioned:
            nn.init.zeros_(self.final_ada.weight)
            nn.init.zeros_(self.final_ada.bias)

    def num_parameters(self, exclude_embeddings: bool = False) -> int:
        """Number of distinct parameters (a tied head counts once); optionally without the token
        embedding table."""
        n = sum(p.numel() for p in self.parameters())
        return n - self.embed.weight.numel() if exclude_embeddings else n

    def _rope_tables(self, length: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """cos/sin tables [max_len, head_dim/2], built on first use per device and then sliced."""
        if self._rope is None or self._rope[0].device != device:
            cfg = self.config
            # Never cache inference tensors: the tables are reused by later training steps.
            with torch.inference_mode(False), torch.no_grad():
                inv_freq = cfg.rope_base ** (
                    -torch.arange(0, cfg.head_dim, 2, device=device, dtype=torch.float32) / cfg.head_dim
                )
                angles = torch.arange(cfg.max_len, device=device, dtype=torch.float32)[:, None] * inv_freq
                self._rope = (angles.cos(), angles.sin())
        cos, sin = self._rope
        return cos[:length], sin[:length]

    def embed_tokens(self, x: torch.Tensor, positions: torch.Tensor | None = None) -> torch.Tensor:
        """Token (+ learned position) embeddings with dropout: the input of the first block.
        ``positions`` [L]: absolute positions of ``x``'s columns (default ``0..L-1``)."""
        h = self.embed(x)
        if self.pos_embed is not None:
            table = self.pos_embed.weight
            h = h + (table[: x.shape[1]] if positions is None else table[positions])
        return self.drop(h)

    def _check(self, x, attention_mask, t, output_mask):
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.dtype != torch.long:
            got = f"{type(x).__name__} {getattr(x, 'dtype', '')} {tuple(getattr(x, 'shape', ()))}"
            raise TokenError(f"x must be a torch.long tensor of shape [B, L], got {got}")
        B, length = x.shape
        if length > self.config.max_len:
            raise TokenError(
                f"sequence length {length} exceeds the model's max_len {self.config.max_len}; "
                "shorten the input or build the model with a larger max_len"
            )
        for name, m in (("attention_mask", attention_mask), ("output_mask", output_mask)):
            if m is not None and (not isinstance(m, torch.Tensor) or tuple(m.shape) != (B, length)):
                got = tuple(getattr(m, "shape", ()))
                raise TokenError(f"{name} must be a tensor of shape {(B, length)} like x, got {got}")
        if output_mask is not None and output_mask.dtype != torch.bool:
            raise TokenError(f"output_mask must be a bool tensor, got {output_mask.dtype}")
        if self.time_conditioned:
            if t is None:
                raise TokenError("this denoiser is time conditioned: pass t= ([B] times in [0, 1])")
            if not isinstance(t, torch.Tensor) or t.dim() > 1 or (t.dim() == 1 and t.shape[0] != B):
                got = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
                raise TokenError(f"t must be a scalar or [B]={B} tensor, got {got}")

    def trunk(self, h, c, cos, sin, attn_mask, is_causal) -> torch.Tensor:
        """The blocks over the embedded input ``h [B, L, D]`` (no cache): the part of a training
        step whose shapes stay fixed for a run, which ``mdm train --compile`` compiles (set as
        :attr:`training_trunk`, used in training mode with gradients only)."""
        for blk in self.blocks:
            h = blk(h, c, cos, sin, attn_mask, is_causal)
        return h

    def new_cache(self, length: int) -> KVCache:
        """An empty :class:`KVCache` of ``length`` positions for this model."""
        if not _is_int(length) or not 1 <= length <= self.config.max_len:
            raise TokenError(f"cache length must be an int in [1, max_len={self.config.max_len}], "
                             f"got {length!r}")
        return KVCache(self.config.n_layers, length)

    def forward(
        self,
        x: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        t: torch.Tensor | None = None,
        output_mask: torch.Tensor | None = None,
        *,
        clean: torch.Tensor | None = None,
        cache: KVCache | None = None,
        start: int = 0,
    ) -> torch.Tensor:
        """Logits in float32, computed in float32 under autocast too (:func:`float32_logits`):
        ``[B, L, V]``, or ``[N, V]`` at ``output_mask`` (row-major, as ``x[output_mask]``).
        ``attention_mask`` [B, L]: True/1 = real token, False/0 = padding. ``t`` is required when
        ``time_conditioned`` and ignored otherwise.

        ``cache`` / ``start``: ``x`` holds positions ``[start, start + L)``; their keys/values are
        written into ``cache`` and attention reads the cache for the other positions (the module
        docstring of :mod:`mdm.models.kv_cache`); ``attention_mask`` then spans the cache.
        ``clean``: the clean ``x_0`` of a block-causal model's two-stream training pass; the logits
        are those of the noised stream ``x``."""
        self._check(x, attention_mask if cache is None else None, t, output_mask)
        n_keys = check_span(self, x, attention_mask, clean, cache, start)
        B, L = x.shape
        dev = x.device
        cos, sin = self._rope_tables(start + L, dev)
        cos, sin = cos[start:], sin[start:]
        q_pos = torch.arange(start, start + L, device=dev)
        if clean is not None:  # [x_t ; x_0] at the same positions
            x = torch.cat([x, clean], dim=1)
            cos, sin, q_pos = cos.repeat(2, 1), sin.repeat(2, 1), q_pos.repeat(2)
            if attention_mask is not None:
                attention_mask = attention_mask.repeat(1, 2)
        attn_mask, is_causal = attention_for(
            attention_mask, q_pos, n_keys, causal=self.config.causal, block_size=self.block_size,
            two_stream=clean is not None, cached=cache is not None)
        c = None
        if self.time_conditioned:
            t = t.to(dev).float().expand(B)
            # float32 features, then the MLP's own precision (a bf16/fp16 model has no float32 weights)
            c = self.time_mlp(timestep_embedding(t).to(self.time_mlp[0].weight.dtype))

        h = self.embed_tokens(x, q_pos)
        if cache is None:
            trunk = self.training_trunk if self.training and torch.is_grad_enabled() else None
            h = (trunk or self.trunk)(h, c, cos, sin, attn_mask, is_causal)
        else:
            for i, blk in enumerate(self.blocks):
                kv = lambda k, v, i=i: cache.write(i, start, n_keys, k, v)  # noqa: E731
                h = blk(h, c, cos, sin, attn_mask, is_causal, kv)
        if clean is not None:
            h = h[:, :L]  # logits of the noised stream only

        if c is not None:
            shift, scale = self.final_ada(F.silu(c))[:, None, :].expand(B, L, -1).chunk(2, dim=-1)
        if output_mask is not None:
            # Keep only the rows whose logits are wanted: with a large vocabulary the final
            # projection is the most expensive layer, and MDM losses only read masked positions.
            h = h[output_mask]  # [N, D]
            if c is not None:
                shift, scale = shift[output_mask], scale[output_mask]
        h = self.norm(h)
        if c is not None:
            h = _modulate(h, shift, scale)
        return float32_logits(self.head, h)
