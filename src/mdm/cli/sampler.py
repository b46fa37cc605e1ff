"""The sampler options shared by ``mdm sample`` and ``mdm eval``: unmaskers from the command line,
and the checks that turn a checkpoint, a prompt and a length into what ``mdm.sample`` needs."""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mdm.cli.args import float_in, int_at_least, schedule_arg
from mdm.errors import CheckpointError, ConfigError, SamplingError

__all__ = ["UNMASKERS", "UnmaskerSpec", "add_sampler_options", "add_unmasker_options", "build_unmasker",
           "cli_flag_names", "flag_names", "load_checkpoint", "parse_device", "prepare_sampling"]


@dataclass(frozen=True)
class UnmaskerSpec:
    """How ``--unmasker NAME`` builds its object from the options it accepts."""

    build: Callable[[argparse.Namespace, int], object]  # (args, length) -> Unmasker
    options: tuple[str, ...]
    summary: str


def _proxy_kw(args) -> dict:
    return {} if args.proxy is None else {"proxy": args.proxy}


def _build_ancestral(args, length):
    from mdm.sampling import Ancestral

    return Ancestral(steps=args.steps or length, schedule=args.schedule or _linear())


def _build_scheduled(args, length):
    from mdm.sampling import Scheduled

    return Scheduled(steps=args.steps or length, schedule=args.schedule or _linear(), **_proxy_kw(args))


def _build_topk(args, length):
    from mdm.sampling import TopK

    return TopK(k=args.k if args.k is not None else 1, **_proxy_kw(args))


def _build_eb(args, length):
    from mdm.sampling import EntropyBounded

    return EntropyBounded(gamma=args.gamma if args.gamma is not None else 0.1, **_proxy_kw(args))


def _build_threshold(args, length):
    from mdm.sampling import Threshold

    return Threshold(tau=args.tau if args.tau is not None else 0.9, **_proxy_kw(args))


def _build_remdm(args, length):
    from mdm.sampling import ReMDM

    kw = {} if args.strategy is None else {"strategy": args.strategy}
    return ReMDM(steps=args.steps or 2 * length, eta=0.02 if args.eta is None else args.eta,
                 schedule=args.schedule or _linear(), **kw)


def _linear():
    from mdm.schedules import Linear

    return Linear()


UNMASKERS: dict[str, UnmaskerSpec] = {
    "ancestral": UnmaskerSpec(_build_ancestral, ("steps", "schedule"),
                              "exact reverse process on --steps grid steps (default: length)"),
    "scheduled": UnmaskerSpec(_build_scheduled, ("steps", "schedule", "proxy"),
                              "unmask_counts(schedule) best-ranked positions per step (LLaDA)"),
    "topk": UnmaskerSpec(_build_topk, ("k", "proxy"), "--k best-ranked positions per step (default 1)"),
    "eb": UnmaskerSpec(_build_eb, ("gamma", "proxy"),
                       "EB-sampler: largest prefix with sum H - max H <= --gamma (default 0.1)"),
    "threshold": UnmaskerSpec(_build_threshold, ("tau", "proxy"),
                              "every position whose proxy score exceeds --tau (default 0.9), at least one"),
    "remdm": UnmaskerSpec(_build_remdm, ("steps", "schedule", "eta", "strategy"),
                          "ReMDM remasking: --steps (default 2 x length), --eta (default 0.02), "
                          "--strategy (default cap)"),
}
_UNMASKER_OPTIONS = ("steps", "schedule", "proxy", "k", "gamma", "tau", "eta", "strategy")


def build_unmasker(args: argparse.Namespace, length: int):
    """The unmasker ``args`` describe; an option the chosen unmasker ignores is an error."""
    spec = UNMASKERS[args.unmasker]
    stray = [o for o in _UNMASKER_OPTIONS if getattr(args, o) is not None and o not in spec.options]
    if stray:
        allowed = ", ".join("--" + o for o in spec.options)
        raise SamplingError(f"--{stray[0]} does not apply to --unmasker {args.unmasker} (it takes {allowed})")
    return spec.build(args, length)


def add_unmasker_options(p: argparse.ArgumentParser, *, unmasker: str = "ancestral",
                         temperature: float = 1.0) -> argparse._ArgumentGroup:
    """The unmasker, block and temperature options (shared with ``mdm harness``); returns the group."""
    from mdm.sampling.proxies import PROXIES

    g = p.add_argument_group("sampler")
    g.add_argument("--unmasker", choices=list(UNMASKERS), default=unmasker,
                   help="which positions to reveal each step: "
                   + "; ".join(f"{k}: {v.summary}" for k, v in UNMASKERS.items())
                   + f" (default: {unmasker})")
    g.add_argument("--steps", type=int_at_least(1),
                   help="ancestral/scheduled/remdm: number of steps (default: length; remdm: 2 x length)")
    g.add_argument("--schedule", type=schedule_arg,
                   help="ancestral/scheduled/remdm: linear, cosine, poly:W, loglinear[:EPS] or beta:A,B "
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
                   help="remdm: sigma_t schedule: cap, rescale or conf (default cap)")
    g.add_argument("--block-size", type=int_at_least(1),
                   help="semi-autoregressive blocks of this many tokens, left to right "
                   "(must divide the length; on a block diffusion model, a divisor of its block size, "
                   "which is the default there)")
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


def _max_len(model) -> int | None:
    if getattr(model, "max_len", None) is not None:  # HF adapters
        return model.max_len
    cfg = getattr(model, "config", None)
    return getattr(cfg, "max_len", None)


def _resolve_length(model, args, prompt_len: int) -> int:
    max_len = _max_len(model)
    if args.length is None:
        if max_len is None:
            raise SamplingError("this model has no maximum length: pass --length")
        if max_len - prompt_len < 1:
            raise SamplingError(f"the prompt takes {prompt_len} tokens: the model's whole length {max_len}")
        return max_len - prompt_len
    if max_len is not None and prompt_len + args.length > max_len:
        raise SamplingError(
            f"prompt ({prompt_len} tokens) + --length {args.length} exceeds the model's length {max_len}: "
            f"leave --length out to fill the model's length, or pass at most {max_len - prompt_len}"
        )
    return args.length


def _resolve_block_size(args, model_block: int | None, length: int) -> None:
    """Check ``--block-size`` (naming the flag); on a block diffusion model default it to the model's
    block size, the only blocking every length and prompt works with."""
    if args.block_size is None:
        args.block_size = model_block
    elif model_block is not None and model_block % args.block_size:
        raise SamplingError(
            f"--block-size {args.block_size} does not divide the model's block size {model_block} (a block "
            f"diffusion model decodes one of its blocks at a time): leave --block-size out to use "
            f"{model_block}, or pass a divisor of it")
    elif model_block is None and length % args.block_size:
        raise SamplingError(f"--block-size {args.block_size} must divide the length {length} (see --length)")


# Library argument -> the CLI flag that sets it, for errors raised below the CLI (mdm.sample).
_FLAGS = {"block_size": "--block-size", "cache_refresh": "--cache-refresh", "top_p": "--top-p",
          "length": "--length", "temperature": "--temperature", "cache": "--cache", "batch_size": "--num"}
# `name=`, or an argument name with an underscore (never an English word) before a verb
_ARG = re.compile(r"\b(?:(" + "|".join(_FLAGS) + r")(=)|(" + "|".join(k for k in _FLAGS if "_" in k)
                  + r")( must| needs| is))")


def flag_names(message: str) -> str:
    """``message`` with the Python argument names of :func:`mdm.sample` replaced by their CLI flags
    (``block_size=16`` -> ``--block-size 16``)."""
    def flag(m: re.Match) -> str:
        return f"{_FLAGS[m.group(1)]} " if m.group(1) else _FLAGS[m.group(3)] + m.group(4)

    return _ARG.sub(flag, message)


@contextmanager
def cli_flag_names():
    """Re-raise a :class:`SamplingError` from the library with CLI flag names in its message."""
    try:
        yield
    except SamplingError as e:
        raise type(e)(flag_names(str(e))) from None


def _encode(tokenizer, text: str, what: str) -> list[int]:
    ids = tokenizer.encode(text)
    unk = getattr(tokenizer, "unk_id", None)
    if unk is not None and unk in ids:
        bad = sorted({c for c, i in zip(text, ids) if i == unk}) if len(ids) == len(text) else []
        which = f": {bad!r}" if bad else ""
        raise SamplingError(f"{what} {text!r} has characters the model's tokenizer does not know{which}")
    return ids


def _stop_ids(tokenizer, stops: Sequence[str] | None):
    if not stops:
        return None
    out = []
    for s in stops:
        ids = [tokenizer.eos_id] if s == "<eos>" else _encode(tokenizer, s, "--stop")
        if not ids:
            raise SamplingError("--stop needs a non-empty text (or <eos>)")
        out.append(ids)
    return out


def prepare_sampling(args):
    """Checks in order of cost: options, checkpoint, prompt/length.  Returns what ``mdm.sample`` needs."""
    import torch

    from mdm.cli.source import load_source
    from mdm.protocol import block_size_of

    build_unmasker(args, 1)  # options valid for this unmasker? (before loading anything)
    model, tokenizer = load_source(args, args.device)
    prompt_ids = list(getattr(tokenizer, "prefix_ids", []))  # [CLS] before a masked LM's text
    if getattr(args, "prompt", None):
        prompt_ids += _encode(tokenizer, args.prompt, "--prompt")
    length = _resolve_length(model, args, len(prompt_ids))
    _resolve_block_size(args, block_size_of(model), length)
    unmasker = build_unmasker(args, length)
    prompt = torch.tensor(prompt_ids, dtype=torch.long) if prompt_ids else None
    stop = _stop_ids(tokenizer, getattr(args, "stop", None))
    return model, tokenizer, unmasker, prompt, length, stop

