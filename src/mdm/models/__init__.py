"""Denoiser networks: the bidirectional transformer and the AP-MDM any-process model on its trunk
(HF adapters come later)."""

from mdm.models.anyprocess import AnyProcessConfig, AnyProcessModel
from mdm.models.transformer import TransformerConfig, TransformerDenoiser, default_d_ff

__all__ = ["AnyProcessConfig", "AnyProcessModel", "TransformerConfig", "TransformerDenoiser", "default_d_ff"]
