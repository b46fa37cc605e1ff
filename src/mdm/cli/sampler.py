"""The sampler options shared by ``mdm sample`` and ``mdm eval``: unmaskers from the command line,
and the checks that turn a checkpoint, a prompt and a length into what ``mdm.sample`` needs."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from mdm.cli.args import float_in, int_at_least, schedule_arg
from mdm.errors import CheckpointError, ConfigError, SamplingError

__all__ = ["add_sampler_options", "add_unmasker_options", "build_unmasker",
           "load_checkpoint", "parse_device", "resolve_length", "encode_text", "stop_ids"]


_UNMASKER_OPTIONS = ("steps", "schedule", "proxy", "k", "gamma", "tau", "eta", "strategy")


def build_unmasker(args: argparse.Namespace, length: int):
    """The unmasker ``args`` describe: ``--unmasker`` is a name or a spec (``eb:gamma=0.1``, see
    :mod:`mdm.sampling.specs`) and the per-setting flags (``--gamma 0.1``) add to it.  A flag the
    chosen unmasker does not take, or a setting given both ways, is an error."""
    from mdm.sampling.specs import UNMASKERS, from_spec, parse_spec

    name, given = parse_spec(args.unmasker)
    keys = [p.name for p in UNMASKERS.get(name).params]
    flags = {o: getattr(args, o) for o in _UNMASKER_OPTIONS if getattr(args, o) is not None}
    stray = [o for o in flags if o not in keys]
    if stray:
        allowed = ", ".join("--" + o for o in keys if o in _UNMASKER_OPTIONS)
        raise SamplingError(f"--{stray[0]} does not apply to --unmasker {name} (it takes {allowed})")
    twice = [o for o in flags if o in given]
    if twice:
        raise SamplingError(f"{twice[0]} is set twice: in --unmasker {args.unmasker!r} and by --{twice[0]}")
    return from_spec(args.unmasker, length=length, **flags)


def add_unmasker_options(p: argparse.ArgumentParser, *, unmasker: str = "ancestral",
                         temperature: float = 1.0) -> argparse._ArgumentGroup:
    """The unmasker, block and temperature options (shared with ``mdm harness``); returns the group."""
    from mdm.sampling.proxies import PROXIES
    from mdm.sampling.specs import UNMASKERS

    g = p.add_argument_group("sampler")
    g.add_argument("--unmasker", default=unmasker, metavar="NAME[:KEY=VALUE,...]",
                   help="which positions to reveal each step, a name or a spec such as eb:gamma=0.1, "
                   "topk:2, scheduled:steps=16,schedule=beta:0.9,0.3 (the flags below set the same "
                   "keys): " + "; ".join(f"{k}: {v.summary}" for k, v in UNMASKERS.items())
                   + f" (default: {unmasker})")
    g.add_argument("--steps", type=int_at_least(1),
                   help="ancestral/scheduled: number of steps (default: length)")
    g.add_argument("--schedule", type=schedule_arg,
                   help="ancestral/scheduled: linear, cosine, poly:W, loglinear[:EPS] or beta:A,B "
                   "(default: linear)")
    g.add_argument("--proxy", choices=sorted(PROXIES),
                   help="ranking of positions for scheduled/topk/eb/threshold (default: entropy for eb, "
                   "confidence otherwise)")
    g.add_argument("--k", type=int_at_least(1), help="topk: positions per step (default 1)")
    g.add_argument("--gamma", type=float_in(0.0, float("inf")),
                   help="eb: entropy budget in nats, >= 0 (default 0.1)")
    g.add_argument("--tau", type=float_in(0.0, 1.0, lo_open=True),
                   help="threshold: score threshold in (0, 1] (default 0.9)")
    g.add_argument("--eta", type=float_in(0.0, 1.0),
                   help="remdm: remasking strength in [0, 1] (default 0.02; 0 = ancestral)")
    g.add_argument("--strategy", choices=["cap", "rescale", "conf"],
                   help="remdm: sigma_t schedule (default cap)")
    g.add_argument("--block-size", type=int_at_least(1),
                   help="semi-autoregressive blocks of this many tokens, left to right "
                   "(must divide the length; on a block-causal model, its block size instead)")
    g.add_argument("--temperature", type=float_in(0.0, float("inf")), default=temperature,
                   help=f"values ~ softmax(logits / T); 0 = argmax, 1 = the model's own distribution "
                   f"(default {temperature:g})")
    return g


def add_sampler_options(p: argparse.ArgumentParser, default_num: int) -> None:
    g = add_unmasker_options(p)
    g.add_argument("--top-p", type=float_in(0.0, 1.0, lo_open=True), default=1.0,
                   help="nucleus sampling mass in (0, 1] (default 1: off)")
    g.add_argument("--num", type=int_at_least(1), default=default_num,
                   help=f"number of sequences to sample (default {default_num})")
    g.add_argument("--length", type=int_at_least(1),
                   help="tokens to generate after the prompt (default: the model's length minus the prompt)")
    g.add_argument("--seed", type=int, default=0, help="random seed: same seed, same samples (default 0)")
    g.add_argument("--device", default="cpu", help="where the model runs: cpu (default), cuda, cuda:1, ...")


# --- checkpoint, prompt and length ------------------------------------------------------------------


def parse_device(device: str):
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"--device {device!r} is not a device: use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: CUDA is not available here; use --device cpu")
    return dev


def load_checkpoint(path: str, device: str = "cpu"):
    from mdm.train import checkpoint

    dev = parse_device(device)
    if not Path(path).exists():
        raise CheckpointError(
            f"checkpoint {path} does not exist (pass a checkpoint directory, e.g. runs/demo/train/checkpoint)"
        )
    if not checkpoint.is_checkpoint(path) and checkpoint.is_checkpoint(Path(path) / "checkpoint"):
        path = str(Path(path) / "checkpoint")  # a training run's folder works too
    return checkpoint.load(path, device=dev)


def resolve_length(model, args, prompt_len: int) -> int:
    from mdm.protocol import max_len_of

    max_len = max_len_of(model)
    if args.length is None:
        if max_len is None:
            raise SamplingError("this model has no maximum length: pass --length")
        if max_len - prompt_len < 1:
            raise SamplingError(f"the prompt takes {prompt_len} tokens: the model's whole length {max_len}")
        return max_len - prompt_len
    if max_len is not None and prompt_len + args.length > max_len:
        raise SamplingError(
            f"prompt ({prompt_len} tokens) + --length {args.length} exceeds the model's length {max_len}"
        )
    return args.length


def encode_text(tokenizer, text: str, what: str) -> list[int]:
    ids = tokenizer.encode(text)
    unk = getattr(tokenizer, "unk_id", None)
    if unk is not None and unk in ids:
        bad = sorted({c for c, i in zip(text, ids) if i == unk}) if len(ids) == len(text) else []
        which = f": {bad!r}" if bad else ""
        raise SamplingError(f"{what} {text!r} has characters the model's tokenizer does not know{which}")
    return ids


def stop_ids(tokenizer, stops: Sequence[str] | None):
    if not stops:
        return None
    out = []
    for s in stops:
        ids = [tokenizer.eos_id] if s == "<eos>" else encode_text(tokenizer, s, "--stop")
        if not ids:
            raise SamplingError("--stop needs a non-empty text (or <eos>)")
        out.append(ids)
    return out
