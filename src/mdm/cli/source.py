"""Where ``mdm sample`` / ``mdm eval`` / ``mdm harness`` get their model: an mdm checkpoint
(positional) or a Hugging Face model folder (``--hf DIR``, via :func:`mdm.models.hf.from_hf`); and
:func:`prepare_sampling`, which loads it and checks the prompt and length against it.

Imports :mod:`mdm.cli.sampler` (the sampler options and checks), never the other way round."""

from __future__ import annotations

import argparse

from mdm.cli.sampler import (
    build_unmasker,
    encode_text,
    load_checkpoint,
    parse_device,
    resolve_length,
    stop_ids,
)
from mdm.errors import ConfigError, SamplingError

__all__ = ["add_model_source", "load_source", "prepare_sampling"]


def add_model_source(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", nargs="?", help="checkpoint directory (or a training run's folder)")
    g = p.add_argument_group("Hugging Face model (instead of a checkpoint)")
    g.add_argument("--hf", metavar="DIR",
                   help="a local HF model folder: a masked LM (BERT family) or a LLaDA/Dream-style "
                   "diffusion LM")
    g.add_argument("--kind", default="auto", help="with --hf: masked-lm, llada, dream or auto (default: "
                   "auto, decided from the config and printed)")
    g.add_argument("--trust-remote-code", action="store_true",
                   help="with --hf: run the model code that ships in the folder (read it first)")


def load_source(args, device: str = "cpu"):
    """``(model, tokenizer)`` for ``args``: exactly one of CHECKPOINT and --hf."""
    if (args.checkpoint is None) == (args.hf is None):
        raise ConfigError("give a checkpoint directory or --hf DIR (exactly one)")
    if args.hf is None:
        if args.kind != "auto" or args.trust_remote_code:
            raise ConfigError("--kind and --trust-remote-code apply to --hf models only")
        return load_checkpoint(args.checkpoint, device)
    from mdm.models.hf import from_hf
    from mdm.models.hf.text import HFText

    dev = parse_device(device)
    model = from_hf(args.hf, kind=args.kind, device=dev, trust_remote_code=args.trust_remote_code)
    text = HFText(model.tokenizer, vocab_size=model.vocab_size, mask_id=model.mask_id,
                  prefix=model.kind == "masked-lm")
    return model, text


def prepare_sampling(args):
    """Checks in order of cost: options, checkpoint, prompt/length.  Returns what ``mdm.sample`` needs."""
    import torch

    from mdm.protocol import block_size_of

    build_unmasker(args, 1)  # options valid for this unmasker? (before loading anything)
    model, tokenizer = load_source(args, args.device)
    prompt_ids = list(getattr(tokenizer, "prefix_ids", []))  # [CLS] before a masked LM's text
    if getattr(args, "prompt", None):
        prompt_ids += encode_text(tokenizer, args.prompt, "--prompt")
    length = resolve_length(model, args, len(prompt_ids))
    if args.block_size is not None and length % args.block_size and block_size_of(model) is None:
        raise SamplingError(f"--block-size {args.block_size} must divide the length {length}")
    unmasker = build_unmasker(args, length)
    prompt = torch.tensor(prompt_ids, dtype=torch.long) if prompt_ids else None
    stop = stop_ids(tokenizer, getattr(args, "stop", None))
    return model, tokenizer, unmasker, prompt, length, stop

