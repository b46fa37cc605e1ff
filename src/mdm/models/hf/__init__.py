"""Hugging Face models as mdm denoisers, and mdm models as Hugging Face models.

* :func:`from_hf` -- a masked LM (BERT family) or a diffusion LM (LLaDA, Dream) as a Denoiser, so
  every sampler, :func:`mdm.elbo` and metric runs on it.
* :data:`ADAPTERS` -- the adapter kinds (``masked-lm``, ``llada``, ``dream``); add your own.
* :mod:`mdm.models.hf.export` -- an mdm checkpoint as a folder ``transformers`` loads without mdm.
"""

from mdm.models.hf.adapters import ADAPTERS, Adapter, DreamAdapter, LLaDAAdapter, MaskedLMAdapter
from mdm.models.hf.denoiser import HFDenoiser
from mdm.models.hf.load import from_hf

__all__ = ["ADAPTERS", "Adapter", "DreamAdapter", "HFDenoiser", "LLaDAAdapter", "MaskedLMAdapter", "from_hf"]
