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
                           ("max_position_embeddings", self.mdm_config.get("max_len", 1024))):
            kwargs.setdefault(key, value)
        super().__init__(**kwargs)


class MDMForMaskedLM(PreTrainedModel):
    """An mdm masked diffusion denoiser: ``logits[b, i]`` = p(x_i | the unmasked tokens), every
    position at once.  Time-conditioned models also take ``t`` ([B] times in [0, 1], t = 1 fully
    masked); others ignore it."""

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

    def forward(self, input_ids, attention_mask=None, t=None, **kwargs) -> MaskedLMOutput:
        return MaskedLMOutput(logits=self.denoiser(input_ids, attention_mask=attention_mask, t=t))
