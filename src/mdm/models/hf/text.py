"""An HF tokenizer behind the small text interface of :class:`mdm.tokenizers.Tokenizer`
(``encode`` without special tokens, ``decode`` that drops them, ``pad_id``/``eos_id``/``mask_id``),
so the CLI and the metrics treat a Hugging Face model's text like an mdm checkpoint's."""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = ["HFText"]


class HFText:
    """Text <-> ids through ``tokenizer`` (a ``transformers`` tokenizer) for a model of ``vocab_size``
    logits whose mask is ``mask_id``.  ``prefix_ids`` -- the tokens a sequence starts with in
    training (``[CLS]`` / ``<s>`` for masked LMs), to put before a prompt."""

    def __init__(self, tokenizer, *, vocab_size: int, mask_id: int, prefix: bool = False):
        self.hf = tokenizer
        self.vocab_size, self.mask_id = vocab_size, mask_id
        self.unk_id = tokenizer.unk_token_id
        eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else tokenizer.sep_token_id
        self.eos_id = eos
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
        start = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
        self.prefix_ids = [start] if prefix and start is not None else []
        self.special_ids = set(tokenizer.all_special_ids) | {mask_id}

    def encode(self, text: str) -> list[int]:
        return list(self.hf(text, add_special_tokens=False)["input_ids"])

    def decode(self, ids: Sequence[int] | torch.Tensor, *, skip_special: bool = True) -> str:
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        if skip_special:
            ids = [i for i in ids if i not in self.special_ids and i < len(self.hf)]
        return self.hf.decode(ids, skip_special_tokens=skip_special, clean_up_tokenization_spaces=False)

    def __repr__(self) -> str:
        return f"HFText({type(self.hf).__name__}, vocab_size={self.vocab_size}, mask_id={self.mask_id})"
