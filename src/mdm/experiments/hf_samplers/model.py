"""The model of ``mdm exp hf-samplers``: AntiBERTy, a real pretrained antibody masked LM."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["load_model"]


def _cache_dir() -> Path:
    return Path(os.environ.get("MDM_CACHE", "~/.cache/mdm")).expanduser() / "antiberty-0.1.3-hf"


def load_model():
    """AntiBERTy as an mdm denoiser (converted once into ``$MDM_CACHE``)."""
    from mdm.models.hf import from_hf
    from mdm.models.hf.antiberty import antiberty_folder

    return from_hf(antiberty_folder(_cache_dir()), kind="masked-lm", verbose=False)
