"""Denoiser networks: the bidirectional transformer, AP-MDM heads, Hugging Face adapters."""
