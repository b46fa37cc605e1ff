"""Denoiser networks: the bidirectional transformer (AP-MDM heads and HF adapters come later)."""

from mdm.models.transformer import TransformerConfig, TransformerDenoiser, default_d_ff

__all__ = ["TransformerConfig", "TransformerDenoiser", "default_d_ff"]
