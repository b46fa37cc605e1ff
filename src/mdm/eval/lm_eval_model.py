"""``lm_eval --model mdm``: :class:`MDMLM`, the harness LM built from ``--model_args``.

``pretrained=DIR`` is an mdm checkpoint (or a training run's folder) or a Hugging Face model folder
(``mdm export`` output, a masked LM, a LLaDA/Dream-style LM; ``kind=``/``trust_remote_code=`` as in
:func:`mdm.models.hf.from_hf`).  The other arguments are :class:`~mdm.eval.harness.MDMHarnessLM`'s
(``samples``, ``target_stderr``, ``min_samples``, ``max_samples``, ``seed``, ``greedy_check``,
``block_size``, ``temperature``, ``max_gen_toks``) and the sampler options of ``mdm sample``
without dashes (``unmasker=eb,gamma=0.5``; ``steps``, ``k``, ``tau``, ``proxy``, ``schedule``,
``eta``, ``strategy``; the keys of :func:`mdm.sampling.from_spec`).  lm-eval's ``--batch_size``
batches loglikelihood requests; ``--device`` places the model; ``--log_samples`` works as for any
lm-eval model.

lm-eval 0.4 finds models only in its own registry and has no plugin discovery, so "mdm" is
registered when :mod:`mdm.eval.harness` is imported; the ``mdm-lm-eval`` console script (this
module's :func:`main`) is lm-eval's own command line with that import done first::

    mdm-lm-eval --model mdm --model_args pretrained=runs/x/train,unmasker=eb --tasks ... --log_samples
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from mdm.errors import ConfigError
from mdm.eval.harness import MDMHarnessLM
from mdm.loading import FORMAT, is_checkpoint, load

__all__ = ["MDMLM", "load_pretrained", "main"]

_SAMPLER_KEYS = ("unmasker", "steps", "schedule", "proxy", "k", "gamma", "tau", "eta", "strategy")
_HARNESS_KEYS = ("samples", "target_stderr", "min_samples", "max_samples", "seed", "greedy_check",
                 "block_size", "temperature", "max_gen_toks")


def _is_mdm_artifact(path: Path) -> bool:
    """A training checkpoint or an ``mdm export`` folder: :func:`mdm.load` reads both with mdm's own
    code (an export needs no ``trust_remote_code``)."""
    from mdm.models.hf.export import is_export_config

    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and (config.get("format") == FORMAT or is_export_config(config))


def load_pretrained(pretrained: str, *, kind: str = "auto", trust_remote_code: bool = False,
                    device: str = "cpu"):
    """``(denoiser, tokenizer)`` for an mdm checkpoint (or a training run's folder), an ``mdm export``
    folder (both through :func:`mdm.load`), or another HF model folder (:func:`mdm.models.hf.from_hf`)."""
    path = Path(str(pretrained))
    if (path / "config.json").is_file() and not _is_mdm_artifact(path):  # another HF model folder
        from mdm.models.hf import from_hf
        from mdm.models.hf.text import HFText

        model = from_hf(str(path), kind=kind, device=device, trust_remote_code=trust_remote_code)
        return model, HFText(model.tokenizer, vocab_size=model.vocab_size, mask_id=model.mask_id,
                             prefix=model.kind == "masked-lm")
    if kind != "auto" or trust_remote_code:
        raise ConfigError("kind= and trust_remote_code= apply to Hugging Face model folders only")
    if not is_checkpoint(path) and is_checkpoint(path / "checkpoint"):
        path = path / "checkpoint"  # a training run's folder works too
    return load(path, device=device)


def _unmasker(options: dict, length: int):
    """The unmasker of ``--model_args`` (``unmasker=NAME`` plus its keys, as in
    :func:`mdm.sampling.from_spec`; default ``topk``)."""
    from mdm.sampling import from_spec

    options = dict(options)
    name = str(options.pop("unmasker", "topk"))
    keys = ",".join(f"{k}={v}" for k, v in options.items())
    return from_spec(f"{name}:{keys}" if keys else name, length=length)


class MDMLM(MDMHarnessLM):
    """An :class:`MDMHarnessLM` built from lm-eval's ``--model_args`` (module docstring)."""

    def __init__(self, pretrained: str | None = None, *, kind: str = "auto", trust_remote_code: bool = False,
                 device: str | None = None, batch_size=1, max_batch_size=None, **kwargs):
        if pretrained is None:
            raise ConfigError("--model_args needs pretrained=DIR (an mdm checkpoint or an HF model folder)")
        unknown = sorted(set(kwargs) - set(_SAMPLER_KEYS) - set(_HARNESS_KEYS))
        if unknown:
            known = ", ".join(_HARNESS_KEYS + _SAMPLER_KEYS)
            raise ConfigError(f"unknown --model_args {unknown}: use pretrained, kind, {known}")
        device = str(device or "cpu")
        if device.startswith("cuda") and not torch.cuda.is_available():  # lm-eval's CLI default is cuda
            print(f"mdm: --device {device} but CUDA is not available: running on the CPU", file=sys.stderr)
            device = "cpu"
        denoiser, tokenizer = load_pretrained(pretrained, kind=kind, trust_remote_code=trust_remote_code,
                                              device=device)
        harness = {k: kwargs[k] for k in _HARNESS_KEYS if k in kwargs}
        unmasker = _unmasker({k: kwargs[k] for k in _SAMPLER_KEYS if k in kwargs},
                                int(harness.get("max_gen_toks", 64)))
        batch = 1 if batch_size in (None, "auto") or str(batch_size).startswith("auto") else int(batch_size)
        super().__init__(denoiser, tokenizer, unmasker=unmasker, batch_size=batch, **harness)


def main() -> None:
    """``mdm-lm-eval``: lm-eval's command line with the ``mdm`` model registered."""
    from lm_eval.__main__ import cli_evaluate

    import mdm.eval.harness  # noqa: F401 -- registers "mdm"

    cli_evaluate()
