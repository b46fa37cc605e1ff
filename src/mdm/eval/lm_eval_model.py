"""``lm_eval --model mdm``: :class:`MDMLM`, the harness LM built from ``--model_args``.

``pretrained=DIR`` is an mdm checkpoint (or a training run's folder) or a Hugging Face model folder
(``mdm export`` output, a masked LM, a LLaDA/Dream-style LM; ``kind=``/``trust_remote_code=`` as in
:func:`mdm.models.hf.from_hf`).  The other arguments are :class:`~mdm.eval.harness.MDMHarnessLM`'s
(``samples``, ``target_stderr``, ``min_samples``, ``max_samples``, ``seed``, ``greedy_check``,
``block_size``, ``temperature``, ``max_gen_toks``) and the sampler options of ``mdm sample``
without dashes (``unmasker=eb,gamma=0.5``; ``steps``, ``k``, ``tau``, ``proxy``, ``schedule``,
``eta``, ``strategy``).  lm-eval's ``--batch_size`` batches loglikelihood requests; ``--device``
places the model; ``--log_samples`` works as for any lm-eval model.

lm-eval 0.4 finds models only in its own registry and has no plugin discovery, so "mdm" is
registered when :mod:`mdm.eval.harness` is imported; the ``mdm-lm-eval`` console script (this
module's :func:`main`) is lm-eval's own command line with that import done first::

    mdm-lm-eval --model mdm --model_args pretrained=runs/x/train,unmasker=eb --tasks ... --log_samples
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from mdm.errors import ConfigError
from mdm.eval.harness import MDMHarnessLM

__all__ = ["MDMLM", "load_pretrained", "main"]

_SAMPLER_KEYS = ("unmasker", "steps", "schedule", "proxy", "k", "gamma", "tau", "eta", "strategy")
_HARNESS_KEYS = ("samples", "target_stderr", "min_samples", "max_samples", "seed", "greedy_check",
                 "block_size", "temperature", "max_gen_toks")


def load_pretrained(pretrained: str, *, kind: str = "auto", trust_remote_code: bool = False,
                    device: str = "cpu"):
    """``(denoiser, tokenizer)`` for an mdm checkpoint or an HF model folder."""
    from mdm.cli.source import load_source

    path = Path(str(pretrained))
    is_hf = (path / "config.json").is_file()
    args = argparse.Namespace(checkpoint=None if is_hf else str(path), hf=str(path) if is_hf else None,
                              kind=kind, trust_remote_code=trust_remote_code)
    return load_source(args, device)


def _unmasker(options: dict, length: int):
    from mdm.cli.sampler import add_unmasker_options, build_unmasker

    p = argparse.ArgumentParser(prog="--model_args", add_help=False)
    add_unmasker_options(p, unmasker="topk", temperature=0.0)
    argv = []
    for key, value in options.items():
        argv += [f"--{key.replace('_', '-')}", str(value)]
    try:
        ns = p.parse_args(argv)
    except SystemExit:
        raise ConfigError(f"bad sampler options in --model_args: {options}") from None
    return build_unmasker(ns, length), ns


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
        unmasker, _ = _unmasker({k: kwargs[k] for k in _SAMPLER_KEYS if k in kwargs},
                                int(harness.get("max_gen_toks", 64)))
        batch = 1 if batch_size in (None, "auto") or str(batch_size).startswith("auto") else int(batch_size)
        super().__init__(denoiser, tokenizer, unmasker=unmasker, batch_size=batch, **harness)


def main() -> None:
    """``mdm-lm-eval``: lm-eval's command line with the ``mdm`` model registered."""
    from lm_eval.__main__ import cli_evaluate

    import mdm.eval.harness  # noqa: F401 -- registers "mdm"

    cli_evaluate()
