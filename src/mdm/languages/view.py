"""A model trained on a language's tokens, seen as a Denoiser over that language's vocabulary."""

from __future__ import annotations

from mdm.errors import ConfigError
from mdm.protocol import call_denoiser, device_of, is_time_conditioned

__all__ = ["LanguageView"]


class LanguageView:
    """A model trained on a language's tokens, seen through the language's vocabulary.

    The model's ids ``0 .. V-1`` must be the language's tokens (as with a character tokenizer
    over an alphabet of ``V`` symbols); its special tokens are dropped, so the view is a
    Denoiser with ``mask_id = V`` and logits of width ``V + 1``, directly comparable with
    ``language.denoiser()`` and scorable by ``language.log_prob``.
    """

    def __init__(self, model, vocab_size: int):
        if model.vocab_size <= vocab_size or model.mask_id < vocab_size:
            raise ConfigError(
                f"the model's vocabulary ({model.vocab_size} ids, mask {model.mask_id}) does not extend the "
                f"language's {vocab_size} tokens; train it on the language with a character tokenizer"
            )
        self.model, self.vocab_size, self.mask_id = model, vocab_size + 1, vocab_size
        self.time_conditioned = is_time_conditioned(model)

    def __call__(self, x, attention_mask=None, **kw):
        import torch

        device = device_of(self.model, fallback=x.device)
        y = torch.where(x == self.mask_id, self.model.mask_id, x).to(device)
        logits = call_denoiser(self.model, y, attention_mask, kw.get("t")).float()[..., : self.mask_id]
        mask_col = torch.full_like(logits[..., :1], float("-inf"))
        return torch.cat([logits, mask_col], dim=-1).to(x.device)
