"""Template of the modeling code ``mdm export`` ships: mdm's transformer as a ``transformers`` model.

``mdm export`` writes ``modeling_mdm.py`` = the source of :mod:`mdm.models.transformer` (its one
``mdm`` import replaced by local error classes) followed by everything below the EXPORT line of this
file.  So the exported network IS mdm's transformer, not a copy that could drift; this file adds
only the Hugging Face wrapper (config class, ``PreTrainedModel``, ``MaskedLMOutput``), and the
export test checks logits against :func:`mdm.load`'s.  The weights keep mdm's names under
``denoiser.``.  The import just below lets the template run inside mdm too (tests).
"""

# ruff: noqa: I001 -- the import order is the export layout: mdm's import above the EXPORT line
from __future__ import annotations

from mdm.models.transformer import TransformerConfig, TransformerDenoiser

# ---- EXPORT: everything below is appended to mdm.models.transformer's source ----
import torch
from torch import nn
from transformers import PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import MaskedLMOutput


class MDMTransformerConfig(PretrainedConfig):
    """The HF config of an exported mdm transformer: ``mdm_config`` is its ``TransformerConfig`` dict."""

    model_type = "mdm_transformer"

    def __init__(self, mdm_config: dict | None = None, **kwargs):
        self.mdm_config = dict(mdm_config or {"vocab_size": 2, "mask_id": 1, "d_model": 8, "n_layers": 1,
                                              "n_heads": 1, "max_len": 8})
        for key, value in (("vocab_size", self.mdm_config["vocab_size"]),
                           ("mask_token_id", self.mdm_config["mask_id"]),
                           ("max_position_embeddings", self.mdm_config.get("max_len", 1024)),
                           # transformers 4.x ties head and embedding unless told: only a tied mdm model is
                           ("tie_word_embeddings", bool(self.mdm_config.get("tie_embeddings", False)))):
            kwargs.setdefault(key, value)
        super().__init__(**kwargs)


IGNORE_INDEX = -100  # labels that are not scored (the transformers convention)


def _alpha_table(config) -> torch.Tensor | None:
    """alpha(t_i) of the training schedule on the grid t_i = i / (n - 1) (``mdm_alpha_table``;
    None: the linear schedule alpha = 1 - t)."""
    table = getattr(config, "mdm_alpha_table", None)
    return None if not table else torch.tensor(table, dtype=torch.float64)


def time_from_masking(masked_fraction: torch.Tensor, table: torch.Tensor | None) -> torch.Tensor:
    """t = alpha^{-1}(1 - f): the time at which training masked the fraction f (linear
    interpolation of the tabulated schedule; t = f for the linear schedule)."""
    f = masked_fraction.double().clamp(0.0, 1.0)
    if table is None:
        return f.float()
    n = table.numel()
    a = (1.0 - f).clamp(float(table[-1]), float(table[0]))
    i = torch.searchsorted(-table, -a.contiguous()).clamp(1, n - 1)  # table[i - 1] >= a >= table[i]
    lo, hi = table[i - 1], table[i]
    frac = torch.where(lo > hi, (lo - a) / (lo - hi), torch.zeros_like(a))
    return (((i - 1).double() + frac) / (n - 1)).float()


def nelbo_weight_at(t: torch.Tensor, table: torch.Tensor | None) -> torch.Tensor:
    """w(t) = -alpha'(t) / (1 - alpha(t)) (MDLM / MD4's NELBO weight; 1 / t when linear), alpha'
    from the table's finite differences."""
    t = t.double()
    if table is None:
        return 1.0 / t
    n = table.numel()
    pos = (t * (n - 1)).clamp(0, n - 1 - 1e-9)
    i = pos.floor().long()
    alpha = table[i] + (pos - i) * (table[i + 1] - table[i])
    dalpha = (table[i + 1] - table[i]) * (n - 1)
    return -dalpha / (1.0 - alpha)


class MDMForMaskedLM(PreTrainedModel):
    """An mdm masked diffusion denoiser: ``logits[b, i]`` = p(x_i | the unmasked tokens), every
    position at once.  Time-conditioned models also take ``t`` ([B] times in [0, 1], t = 1 fully
    masked); without it ``t`` is derived from the fraction of (real) positions that are masked, as
    mdm's samplers do, so fill-mask pipelines work.  ``labels`` ([B, L], -100 = not scored) give
    ``loss``: the masked-diffusion NELBO per token at that time, ``w(t) * sum_masked CE / L``
    averaged over rows (1 / fraction masked times the masked tokens' cross-entropy, for the linear
    schedule), so ``Trainer`` can fine-tune the export."""

    config_class = MDMTransformerConfig
    base_model_prefix = "denoiser"
    main_input_name = "input_ids"

    def __init__(self, config: MDMTransformerConfig):
        super().__init__(config)
        self.denoiser = TransformerDenoiser(TransformerConfig.from_dict(dict(config.mdm_config)))
        self.post_init()

    def _init_weights(self, module):  # the denoiser initialises itself; loaded weights replace it
        pass

    def get_input_embeddings(self):
        return self.denoiser.embed

    def get_output_embeddings(self):
        return self.denoiser.head

    def resize_token_embeddings(self, new_num_tokens: int | None = None, pad_to_multiple_of=None,
                                mean_resizing: bool = True):
        """New rows of the embedding (and head) start at the mean of the old ones; old token ids,
        the mask id included, keep their vectors.  Updates both configs, so a save/load round trip
        keeps the new size."""
        old = self.denoiser.embed
        if new_num_tokens is None:
            return old
        if pad_to_multiple_of:
            new_num_tokens = -(-new_num_tokens // pad_to_multiple_of) * pad_to_multiple_of
        if new_num_tokens <= self.denoiser.mask_id:
            raise ValueError(f"cannot resize to {new_num_tokens} tokens: mask id {self.denoiser.mask_id}")
        keep = min(old.num_embeddings, new_num_tokens)
        tied = self.denoiser.head.weight is old.weight
        embed = nn.Embedding(new_num_tokens, old.embedding_dim).to(old.weight.device, old.weight.dtype)
        head = nn.Linear(old.embedding_dim, new_num_tokens, bias=False)
        head = head.to(old.weight.device, old.weight.dtype)
        with torch.no_grad():
            embed.weight[:] = old.weight.mean(dim=0)
            embed.weight[:keep] = old.weight[:keep]
            if not tied:
                head.weight[:] = self.denoiser.head.weight.mean(dim=0)
                head.weight[:keep] = self.denoiser.head.weight[:keep]
        self.denoiser.embed = embed
        self.denoiser.head = head
        if tied:
            head.weight = embed.weight
        self.denoiser.vocab_size = self.denoiser.config.vocab_size = new_num_tokens
        self.config.mdm_config = {**self.config.mdm_config, "vocab_size": new_num_tokens}
        self.config.vocab_size = new_num_tokens
        return embed

    def forward(self, input_ids, attention_mask=None, t=None, labels=None, **kwargs) -> MaskedLMOutput:
        masked = input_ids == self.denoiser.mask_id
        real = torch.ones_like(masked) if attention_mask is None else attention_mask.bool()
        fraction = (masked & real).sum(dim=1) / real.sum(dim=1).clamp_min(1)
        table = _alpha_table(self.config)
        if t is None and self.denoiser.time_conditioned:
            t = time_from_masking(fraction, table).to(input_ids.device)
        logits = self.denoiser(input_ids, attention_mask=attention_mask, t=t)
        loss = None
        if labels is not None:
            scored = masked & real & (labels != IGNORE_INDEX)
            ce = nn.functional.cross_entropy(logits.float().transpose(1, 2), labels.masked_fill(~scored, 0),
                                             reduction="none").masked_fill(~scored, 0.0)
            has = scored.any(dim=1)
            t_loss = time_from_masking(fraction, table) if t is None else t.float().expand(masked.shape[0])
            w = nelbo_weight_at(t_loss.to(ce.device).clamp_min(1e-6), table).to(ce.dtype)
            per_row = w * ce.sum(dim=1) / real.sum(dim=1).clamp_min(1)
            loss = per_row[has].mean() if bool(has.any()) else logits.sum() * 0.0
        return MaskedLMOutput(loss=loss, logits=logits)
