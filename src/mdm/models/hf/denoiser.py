""":class:`HFDenoiser`: a Hugging Face model behind the Denoiser protocol."""

from __future__ import annotations

import warnings

import torch
from torch import nn

from mdm.errors import TokenError
from mdm.models.hf.adapters import Adapter, absolute_positions, positions_from_mask

__all__ = ["HFDenoiser"]


class HFDenoiser(nn.Module):
    """``denoiser(x, attention_mask=None) -> logits [B, L, V]`` (float32) for a wrapped HF model.

    ``vocab_size`` is the width of the model's logits (it may exceed ``len(tokenizer)``: padded
    embedding tables), ``mask_id`` the tokenizer's mask token, ``tokenizer`` the HF tokenizer.
    ``forbidden_ids`` -- the adapter's never-emitted tokens, plus every logit column past the
    tokenizer's vocabulary -- get logit ``-inf``, so every sampler and :func:`mdm.elbo` see the
    model's distribution restricted to real tokens.  ``attention_mask`` (1 = real token, 0 =
    padding) goes to the model unchanged; a model with absolute position embeddings
    (:func:`~mdm.models.hf.adapters.position_offset`) also gets ``position_ids`` counted over the
    real tokens only, so a left-padded row's logits equal those of the row alone (a model whose
    ``forward`` takes no ``position_ids`` sees each row's left padding moved to its end instead).
    ``kind`` and ``kind_reason`` say which adapter was used and why.
    """

    time_conditioned = False

    def __init__(self, model: nn.Module, tokenizer, adapter: Adapter, *, mask_id: int, vocab_size: int,
                 forbidden_ids: set[int], kind_reason: str = "", max_len: int | None = None):
        super().__init__()
        self.model, self.tokenizer, self.adapter = model, tokenizer, adapter
        self.kind, self.kind_reason = adapter.name, kind_reason
        self.mask_id, self.vocab_size, self.max_len = int(mask_id), int(vocab_size), max_len
        pad = getattr(tokenizer, "pad_token_id", None)
        self.pad_id = int(pad) if pad is not None and 0 <= pad < vocab_size and pad != mask_id else None
        forbidden = sorted(i for i in forbidden_ids if 0 <= i < vocab_size)
        self.register_buffer("forbidden_ids", torch.tensor(forbidden, dtype=torch.long), persistent=False)
        # absolute positions: position_ids over real tokens, or (no position_ids argument) rows whose
        # left padding is rotated to the right for the pass, so real tokens start at position 0
        self._absolute, self.position_offset = absolute_positions(model)
        self._warned = False

    @property
    def device(self) -> torch.device:
        return self.forbidden_ids.device

    def forward(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.dtype != torch.long:
            got = f"{type(x).__name__} {getattr(x, 'dtype', '')} {tuple(getattr(x, 'shape', ()))}"
            raise TokenError(f"x must be a torch.long tensor of shape [B, L], got {got}")
        if self.max_len is not None and x.shape[1] > self.max_len:
            raise TokenError(f"sequence length {x.shape[1]} exceeds the model's maximum {self.max_len}")
        if attention_mask is not None and tuple(attention_mask.shape) != tuple(x.shape):
            raise TokenError(f"attention_mask must have x's shape {tuple(x.shape)}, "
                             f"got {tuple(attention_mask.shape)}")
        any_pad = attention_mask is not None and not bool(attention_mask.all())
        if any_pad and self.adapter.ignores_attention_mask and not self._warned:
            self._warned = True
            warnings.warn(f"kind={self.kind!r}: this model's code ignores attention_mask, so the left "
                          "padding of a batch of prompts of different lengths is read as text and rows "
                          "differ from their solo runs; sample prompts of one length together",
                          UserWarning, stacklevel=2)
        padded = any_pad and self._absolute
        if padded and self.position_offset is not None:
            positions = positions_from_mask(attention_mask, self.position_offset)
            logits = self.adapter.logits(self.model, x, attention_mask, positions)
        elif padded:
            logits = self._rotated_logits(x, attention_mask)
        else:
            logits = self.adapter.logits(self.model, x, attention_mask)
        if logits.shape[:2] != x.shape or logits.shape[-1] < self.vocab_size:
            raise TokenError(f"the model returned logits {tuple(logits.shape)} for input {tuple(x.shape)}")
        logits = logits[..., :self.vocab_size].float()
        return logits.index_fill_(-1, self.forbidden_ids, float("-inf"))

    def _rotated_logits(self, x: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Logits with each row's leading padding moved to its end for the pass (and back)."""
        n = x.shape[1]
        lead = attention_mask.bool().to(torch.uint8).argmax(dim=1, keepdim=True)
        ar = torch.arange(n, device=x.device)
        there = (ar + lead) % n  # rotated column j holds original column there[j]
        back = (ar - lead) % n
        logits = self.adapter.logits(self.model, x.gather(1, there), attention_mask.gather(1, there))
        return logits.gather(1, back.unsqueeze(-1).expand(-1, -1, logits.shape[-1]))

    def token_name(self, i: int) -> str:
        """The tokenizer's name for token ``i`` (for error messages)."""
        convert = getattr(self.tokenizer, "convert_ids_to_tokens", None)
        return str(convert(int(i))) if callable(convert) else str(i)

    def __repr__(self) -> str:  # one line, not the wrapped model's whole module tree
        return (f"HFDenoiser({type(self.model).__name__}, kind={self.kind!r}, vocab_size={self.vocab_size}, "
                f"mask_id={self.mask_id}, {self.forbidden_ids.numel()} forbidden ids)")
