""":func:`from_hf`: load a Hugging Face model (a folder or an object) as an :class:`HFDenoiser`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from mdm.errors import DependencyError, ModelConfigError
from mdm.models.hf.adapters import ADAPTERS, choose_kind
from mdm.models.hf.denoiser import HFDenoiser

__all__ = ["FIVE_X_PIN", "from_hf"]

# Remote model code written for transformers 4.x (LLaDA's, Dream's) fails inside transformers 5.x
# (post_init never called, tie_weights() without keywords, removed RoPE entries, ...).  mdm does not
# patch transformers for it: from_hf names the line that runs it (tested with 4.57.1).
FIVE_X_PIN = "transformers>=4.56,<5"


def _transformers():
    try:
        import transformers
    except ImportError:
        raise DependencyError("Hugging Face models need transformers: pip install 'mdm-lab[hf]'") from None
    return transformers


def _read_local_config(path: Path) -> dict:
    if not path.is_dir() or not (path / "config.json").is_file():
        raise ModelConfigError(
            f"{path} is not a Hugging Face model folder (no config.json there): pass a folder written by "
            "save_pretrained (or `mdm export`), or a loaded PreTrainedModel"
        )
    try:
        return json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelConfigError(f"{path / 'config.json'} is not valid JSON: {e}") from None


def _needs_remote_code(raw: dict) -> bool:
    from transformers import CONFIG_MAPPING

    return bool(raw.get("auto_map")) and raw.get("model_type") not in CONFIG_MAPPING


def _max_len(config, tokenizer) -> int | None:
    n = getattr(tokenizer, "model_max_length", None)
    if isinstance(n, int) and 0 < n < 1_000_000:
        return n
    n = getattr(config, "max_position_embeddings", None)
    return n if isinstance(n, int) and n > 0 else None


def _vocab_size(model, config) -> int:
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    if head is not None and getattr(head, "weight", None) is not None:
        return int(head.weight.shape[0])
    return int(config.vocab_size)


def _load_model(transformers, path: Path, adapter, config, trust_remote_code: bool, dtype):
    remote = _auto_map_keys(config)
    names = [n for n in adapter.auto_classes if not remote or n in remote] or list(adapter.auto_classes)
    errors = []
    remote_code = trust_remote_code and bool(remote) and _major(transformers) >= 5
    for name in names:
        try:
            with _quiet(transformers):  # its load report would precede our one-line error
                model, info = getattr(transformers, name).from_pretrained(
                    str(path), config=config, trust_remote_code=trust_remote_code, output_loading_info=True,
                    ignore_mismatched_sizes=True, **dtype_kwarg(transformers, dtype))
        except Exception as e:  # noqa: BLE001 -- remote code fails in its own ways
            if remote_code and not isinstance(e, OSError) and type(e).__name__ != "SafetensorError":
                raise ModelConfigError(
                    f"{path}: its own model code (auto_map) fails under transformers "
                    f"{transformers.__version__} ({type(e).__name__}: {_short(e)[:120]}); code written for "
                    f"transformers 4.x runs with pip install '{FIVE_X_PIN}'") from None
            if isinstance(e, (ValueError, KeyError)):  # this Auto class does not know the config
                errors.append(f"{name}: {_short(e)}")
                continue
            raise ModelConfigError(f"{path}: {_weights_problem(path, e)}") from None
        _check_loading_info(path, info, config)
        return model
    raise ModelConfigError(f"{path}: cannot load it as kind {adapter.name!r} ({'; '.join(errors)})")


def _major(transformers) -> int:
    return int(transformers.__version__.split(".")[0])


def dtype_kwarg(transformers, dtype) -> dict:
    """``from_pretrained``'s precision keyword: ``dtype`` from transformers 4.56 on (5.x), and
    ``torch_dtype`` before (4.x, which does not know ``dtype``)."""
    if dtype is None:
        return {}
    major, minor = (int(v) for v in transformers.__version__.split(".")[:2])
    return {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}


class _quiet:
    """transformers' logging at error level and no progress bars for the duration (restored)."""

    def __init__(self, transformers):
        self.logging = transformers.utils.logging

    def __enter__(self):
        self.level, self.bars = self.logging.get_verbosity(), not self.logging.is_progress_bar_enabled()
        self.logging.set_verbosity_error()
        self.logging.disable_progress_bar()

    def __exit__(self, *exc):
        self.logging.set_verbosity(self.level)
        if not self.bars:
            self.logging.enable_progress_bar()


def _weights_problem(path: Path, e: Exception) -> str:
    msg = _short(e)
    if isinstance(e, OSError) and "no file named" in msg:
        return "no weights file there (model.safetensors or pytorch_model.bin): copy the weights in"
    if type(e).__name__ == "SafetensorError" or "safetensors" in type(e).__module__:
        return (f"a weights file is not valid safetensors (truncated or corrupt download?): {msg}; "
                "download it again")
    if isinstance(e, OSError) or ".safetensors" in msg:
        return f"a weights shard is missing or unreadable: {msg}"
    return f"cannot load its weights ({type(e).__name__}: {msg})"


def _check_loading_info(path: Path, info: dict, config) -> None:
    """A weight the model expects but the folder lacks would be random; a shape that differs from
    config.json means the two do not belong together.  Either way: refuse, one line."""
    mismatched = sorted(info.get("mismatched_keys") or [], key=str)
    if mismatched:
        first = mismatched[0]
        what = (f"{first[0]} is {tuple(first[1])} in the weights but {tuple(first[2])} by config.json"
                if isinstance(first, tuple) and len(first) == 3 else str(first))
        raise ModelConfigError(
            f"{path}: config.json does not match the weights ({len(mismatched)} tensors differ, "
            f"e.g. {what}): "
            "use the config.json that was saved with these weights")
    missing = sorted(info.get("missing_keys") or [])
    if missing:
        arch = ", ".join(getattr(config, "architectures", None) or []) or "unknown"
        raise ModelConfigError(
            f"{path}: the weights lack {len(missing)} tensors this model needs ({', '.join(missing[:3])}"
            f"{', ...' if len(missing) > 3 else ''}), so they would be random; the checkpoint is {arch}, "
            "not a model with a masked-LM / diffusion-LM head: use such a checkpoint")


def _auto_map_keys(config) -> set[str]:
    return set(getattr(config, "auto_map", None) or {})


def _source(transformers, model_or_path, trust_remote_code: bool):
    """``(path or None, model or None, config)``; remote code is refused here without the flag."""
    if isinstance(model_or_path, torch.nn.Module) and hasattr(model_or_path, "config"):
        return None, model_or_path, model_or_path.config
    if not isinstance(model_or_path, (str, Path)):
        raise ModelConfigError(f"from_hf takes a model folder or a transformers PreTrainedModel, "
                               f"got {type(model_or_path).__name__}")
    path = Path(model_or_path)
    raw = _read_local_config(path)
    if _needs_remote_code(raw) and not trust_remote_code:
        files = sorted({str(v).split(".")[0] + ".py" for v in raw["auto_map"].values() if isinstance(v, str)})
        raise ModelConfigError(
            f"{path} ships its own model code ({', '.join(files)}); read it, then pass "
            "trust_remote_code=True (CLI: --trust-remote-code) to run it"
        )
    try:
        config = transformers.AutoConfig.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    except (ValueError, KeyError, OSError) as e:
        raise ModelConfigError(f"{path}: transformers cannot read its config: {_short(e)}") from None
    return path, None, config


def _tokenizer(transformers, tokenizer, path: Path | None, trust_remote_code: bool):
    if tokenizer is not None and not isinstance(tokenizer, (str, Path)):
        return tokenizer
    source = tokenizer if tokenizer is not None else path
    if source is None:
        raise ModelConfigError("pass tokenizer= (an HF tokenizer or its folder) with a model object")
    folder = Path(source)
    if folder.is_dir() and not any((folder / f).is_file() for f in _TOKENIZER_FILES) \
            and not any(folder.glob("tokenization_*.py")):
        raise ModelConfigError(
            f"{source}: no tokenizer files there ({', '.join(_TOKENIZER_FILES[:3])}, ...): copy the "
            "tokenizer files next to the weights (or pass from_hf(..., tokenizer=))")
    try:
        tok = transformers.AutoTokenizer.from_pretrained(str(source), trust_remote_code=trust_remote_code)
    except (ValueError, OSError, KeyError, TypeError, ImportError) as e:  # 4.x: converters need protobuf
        raise ModelConfigError(f"{source}: no usable tokenizer there ({_short(e)})") from None
    specials = set(getattr(tok, "all_special_ids", []) or [])
    if len(tok) <= len(specials):  # transformers builds an empty one from a folder without its files
        raise ModelConfigError(
            f"{source}: no tokenizer files there (tokenizer.json, vocab.txt, ...; the tokenizer built "
            f"has only its {len(tok)} special tokens): copy the tokenizer files next to the weights "
            "(or pass from_hf(..., tokenizer=))")
    return tok


_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "merges.txt", "tokenizer.model",
                    "spiece.model", "sentencepiece.bpe.model", "spm.model", "vocab.model")


def _short(e: Exception) -> str:
    return " ".join(str(e).split())[:200]


def from_hf(model_or_path, *, kind: str = "auto", tokenizer=None, device=None, dtype=None,
            trust_remote_code: bool = False, verbose: bool = True) -> HFDenoiser:
    """A Hugging Face masked LM or diffusion LM as an mdm Denoiser (in eval mode).

    * ``model_or_path`` -- a local folder (``save_pretrained`` output) or a loaded ``PreTrainedModel``.
    * ``kind`` -- ``"masked-lm"``, ``"llada"``, ``"dream"`` (see :mod:`mdm.models.hf.adapters`), or
      ``"auto"``: decided from the config; the choice and its reason are printed to stderr
      (``verbose=False`` silences it) and kept on the result (``kind``, ``kind_reason``).
    * ``tokenizer`` -- an HF tokenizer, or a folder to load one from; default: the model's folder.
      Its mask token is the denoiser's ``mask_id`` (else the config's ``mask_token_id``).
    * ``device`` / ``dtype`` -- where and in which precision the model runs (logits come back float32).
    * ``trust_remote_code`` -- a model whose code ships with it (``auto_map`` in its config) runs
      that code only when this is True.

    Bad input (not a model folder, no mask token, a causal LM as a masked LM, remote code without
    the flag) raises :class:`~mdm.errors.ModelConfigError`.
    """
    transformers = _transformers()
    if kind != "auto" and kind not in ADAPTERS:
        raise ModelConfigError(f"unknown kind {kind!r}: use auto, {', '.join(ADAPTERS.names())}")
    path, model, config = _source(transformers, model_or_path, trust_remote_code)

    if kind == "auto":
        kind, reason = choose_kind(config)
        if verbose:
            print(f"mdm.models.hf: kind={kind!r} ({reason})", file=sys.stderr)
    else:
        reason = "given"
    adapter = ADAPTERS.get(kind)
    adapter.check(config)

    tokenizer = _tokenizer(transformers, tokenizer, path, trust_remote_code)
    mask_id = adapter.mask_id(config, tokenizer)
    if mask_id is None:
        raise ModelConfigError(
            "the tokenizer has no mask token (and the config no mask_token_id): an MDM needs one; "
            "set tokenizer.mask_token, or use a model trained with masking"
        )

    if model is None:
        model = _load_model(transformers, path, adapter, config, trust_remote_code, dtype)
    elif dtype is not None:
        model = model.to(dtype=dtype)
    if device is not None:
        model = model.to(device)
    model.eval()
    vocab_size = _vocab_size(model, config)
    if not 0 <= mask_id < vocab_size:
        raise ModelConfigError(f"mask id {mask_id} is outside the model's vocabulary of {vocab_size}")
    beyond = set(range(len(tokenizer), vocab_size)) if len(tokenizer) < vocab_size else set()
    den = HFDenoiser(model, tokenizer, adapter, mask_id=mask_id, vocab_size=vocab_size,
                     forbidden_ids=adapter.forbidden_ids(tokenizer, mask_id) | beyond,
                     kind_reason=reason, max_len=_max_len(config, tokenizer))
    return den.to(next(model.parameters()).device).eval()
