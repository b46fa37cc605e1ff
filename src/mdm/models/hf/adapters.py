"""Adapter kinds: how one family of Hugging Face models becomes an mdm denoiser.

An :class:`Adapter` answers four questions for its family -- does a config belong to it
(``matches``, used by ``kind="auto"``), which ``transformers`` Auto class loads it, which token is
its mask, which tokens it must never emit -- and turns the model's output into logits whose
position ``i`` is the model's prediction for token ``i`` (``logits``).  The built-in kinds live in
:data:`ADAPTERS`; register your own with ``ADAPTERS.register("mine", MyAdapter())``.

* ``masked-lm`` -- BERT-family masked LMs (BERT, RoBERTa, DistilBERT, ModernBERT, ...): the logits
  at position ``i`` are already ``p(x_i | rest)`` (Devlin et al. 2019).  Every special token
  (CLS/SEP/PAD/UNK/BOS/EOS and the mask) is excluded from sampling: such a model was never trained
  to produce them at a masked position.
* ``llada`` -- LLaDA-style diffusion LMs (Nie et al. 2025, arXiv 2502.09992): ``model(x).logits``
  at each position, mask id ``126336`` in the released models (read from the tokenizer or config).
  Only the mask is excluded: the end-of-text token is how such a model ends an answer.
* ``dream`` -- Dream-style diffusion LMs (Ye et al. 2025, arXiv 2508.15487), adapted from an
  autoregressive LM and keeping its shift: the logits for position ``i`` come from output ``i - 1``.
  The adapter un-shifts them; position 0 has no left neighbour and gets output 0 (as Dream's own
  sampler does) -- it is normally part of the prompt.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn

from mdm.errors import ModelConfigError
from mdm.registry import Registry

__all__ = ["ADAPTERS", "Adapter", "DreamAdapter", "LLaDAAdapter", "MaskedLMAdapter", "choose_kind",
           "absolute_positions", "position_offset", "positions_from_mask"]


def _model_type(config) -> str:
    return str(getattr(config, "model_type", "") or "")


def _architectures(config) -> list[str]:
    return list(getattr(config, "architectures", None) or [])


def _auto_map(config) -> dict:
    return dict(getattr(config, "auto_map", None) or {})


class Adapter:
    """One kind of HF model (see the module docstring).  Subclasses set ``name`` and
    ``auto_classes`` (``transformers`` Auto class names, tried in order) and override what differs."""

    name = "adapter"
    auto_classes: tuple[str, ...] = ("AutoModel",)
    shifted = False  # logits of position i come from output i - 1
    ignores_attention_mask = False  # the family's published code reads padding as text

    def matches(self, config) -> str | None:
        """Why ``config`` is of this kind (a short reason), or None."""
        return None

    def check(self, config) -> None:
        """Raise :class:`ModelConfigError` when ``config`` cannot be of this kind."""

    def mask_id(self, config, tokenizer) -> int | None:
        """The mask token: the tokenizer's, else the config's ``mask_token_id``."""
        mask = getattr(tokenizer, "mask_token_id", None)
        if mask is None:
            mask = getattr(config, "mask_token_id", None)
        return mask

    def forbidden_ids(self, tokenizer, mask_id: int) -> set[int]:
        """Token ids never sampled (the mask is always among them)."""
        return {mask_id}

    def logits(self, model, x: torch.Tensor, attention_mask: torch.Tensor | None,
               position_ids: torch.Tensor | None = None) -> torch.Tensor:
        extra = {} if position_ids is None else {"position_ids": position_ids}
        out = model(input_ids=x, attention_mask=attention_mask, **extra)
        logits = out.logits if hasattr(out, "logits") else out[0]
        if self.shifted:
            # Output j predicts token j + 1: position i reads output i - 1; position 0 keeps output 0.
            logits = torch.cat([logits[:, :1], logits[:, :-1]], dim=1)
        return logits

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def absolute_positions(model: nn.Module) -> tuple[bool, int | None]:
    """``(has_table, offset)`` for a model with a table of absolute positions: the
    ``nn.Embedding`` named ``position_embeddings`` (BERT, DistilBERT, ELECTRA, RoBERTa, DeBERTa-v2
    with ``position_biased_input``, ESM).  ``offset`` is its first position id when ``forward``
    takes ``position_ids`` (a table with a ``padding_idx`` -- RoBERTa, ESM -- counts from
    ``padding_idx + 1``, as those models do themselves), None when it does not (DistilBERT on
    transformers 4.x).  Relative positions (RoPE, DeBERTa's relative attention) have no table and
    need no correction: ``(False, None)``."""
    try:
        takes = "position_ids" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        takes = False
    for name, module in model.named_modules():
        if name.rsplit(".", 1)[-1] == "position_embeddings" and isinstance(module, nn.Embedding):
            if not takes:
                return True, None
            return True, 0 if module.padding_idx is None else module.padding_idx + 1
    return False, None


def position_offset(model: nn.Module) -> int | None:
    """The first position id to pass a model with absolute positions (:func:`absolute_positions`)."""
    return absolute_positions(model)[1]


def positions_from_mask(attention_mask: torch.Tensor, offset: int) -> torch.Tensor:
    """Position ids that count only real tokens: a left-padded row's first real token gets
    ``offset``, as it would alone.  Padding keeps the model's own numbering shifted by the row's
    leading pads (clamped at ``offset``), so a right-padded row is numbered as without a mask."""
    real = attention_mask.bool()
    ar = torch.arange(real.shape[1], device=real.device).expand_as(real)
    leading = real.to(torch.uint8).argmax(dim=1, keepdim=True)
    counted = real.long().cumsum(dim=1) - 1
    return torch.where(real, counted, ar - leading).clamp_min(0) + offset


class MaskedLMAdapter(Adapter):
    name = "masked-lm"
    auto_classes = ("AutoModelForMaskedLM",)

    def matches(self, config) -> str | None:
        from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

        if "AutoModelForMaskedLM" in _auto_map(config):
            return "its auto_map has AutoModelForMaskedLM"
        if any(a.endswith("ForMaskedLM") for a in _architectures(config)):
            return f"its architecture is {_architectures(config)[0]}"
        mt = _model_type(config)
        if mt in MODEL_FOR_MASKED_LM_MAPPING_NAMES and not getattr(config, "is_decoder", False):
            return f"model_type {mt!r} has a masked-LM head in transformers"
        return None

    def check(self, config) -> None:
        from transformers.models.auto.modeling_auto import (
            MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
            MODEL_FOR_MASKED_LM_MAPPING_NAMES,
        )

        mt, arch = _model_type(config), _architectures(config)
        causal_arch = [a for a in arch if a.endswith(("ForCausalLM", "LMHeadModel"))]
        if getattr(config, "is_decoder", False) or (causal_arch and len(causal_arch) == len(arch)) or (
            mt in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and mt not in MODEL_FOR_MASKED_LM_MAPPING_NAMES
            and "AutoModelForMaskedLM" not in _auto_map(config)
        ):
            what = causal_arch[0] if causal_arch else f"model_type {mt!r}"
            raise ModelConfigError(
                f"this is a causal (left-to-right) LM ({what}), not a masked LM: its logits at a position "
                "do not see the tokens to its right. Use a masked LM (BERT, RoBERTa, ModernBERT) or a "
                "diffusion LM (kind='llada' or 'dream')"
            )

    def forbidden_ids(self, tokenizer, mask_id: int) -> set[int]:
        return {mask_id, *(int(i) for i in getattr(tokenizer, "all_special_ids", []) or [])}


class LLaDAAdapter(Adapter):
    name = "llada"
    auto_classes = ("AutoModel", "AutoModelForCausalLM")
    family = "llada"  # model_type / architecture prefix (case-insensitive) that auto recognises

    def matches(self, config) -> str | None:
        if _model_type(config).lower().startswith(self.family):
            return f"model_type {_model_type(config)!r}"
        if any(a.lower().startswith(self.family) for a in _architectures(config)):
            return f"its architecture is {_architectures(config)[0]}"
        return None


LLaDAAdapter.ignores_attention_mask = True  # LLaDA's released modeling code never reads it


class DreamAdapter(LLaDAAdapter):
    name = "dream"
    family = "dream"
    shifted = True
    ignores_attention_mask = False


ADAPTERS: Registry[Adapter] = Registry("HF model kind", ModelConfigError, entries={
    "masked-lm": MaskedLMAdapter(), "llada": LLaDAAdapter(), "dream": DreamAdapter(),
})
# kind="auto" tries the specific diffusion-LM kinds before the generic masked LM.
AUTO_ORDER = ("dream", "llada", "masked-lm")


def choose_kind(config) -> tuple[str, str]:
    """``(kind, reason)`` for ``kind="auto"``: the first registered kind whose ``matches`` says yes
    (built-ins in :data:`AUTO_ORDER`, then user kinds)."""
    order = [*AUTO_ORDER, *(n for n in ADAPTERS.names() if n not in AUTO_ORDER)]
    for name in order:
        reason = ADAPTERS.get(name).matches(config)
        if reason:
            return name, reason
    MaskedLMAdapter().check(config)  # a causal LM gets that message, not a generic one
    raise ModelConfigError(
        f"cannot tell which kind of model this is (model_type {_model_type(config)!r}, architectures "
        f"{_architectures(config)}): pass kind= one of {', '.join(ADAPTERS.names())}; a causal LM cannot "
        "be used as a denoiser"
    )
