"""``mdm sample CHECKPOINT``: sample text from a checkpoint, optionally animated or traced.

An any-process (AP-MDM) checkpoint is handed to :mod:`mdm.cli.sample_anyprocess`."""

from __future__ import annotations

import json
import re
import sys
import time

from mdm.cli.args import check_output_file, float_in, int_at_least
from mdm.cli.sampler import add_sampler_options, prepare_sampling
from mdm.cli.source import add_model_source

__all__ = ["add", "run"]


def add(sub) -> None:
    p = sub.add_parser("sample", help="sample text from a checkpoint or an HF model",
                       description="Sample from a trained checkpoint (or a Hugging Face model: --hf DIR). "
                       "Text goes in (--prompt, --stop) and out through the model's tokenizer; each sample "
                       "is printed with its NFE.")
    add_model_source(p)
    add_sampler_options(p, default_num=1)
    p.add_argument("--prompt", help="text the samples continue (never masked)")
    p.add_argument("--template", metavar="TEXT",
                   help="infilling: TEXT with <mask> where one token is to be generated and <mask:N> for "
                   "N tokens, e.g. 'def f(x):<mask:8> return y'; the rest is fixed and never changed "
                   "(the text between masks is tokenized piece by piece); no --prompt/--length/--stop")
    p.add_argument("--stop", action="append", metavar="TEXT",
                   help="stop a sequence once TEXT is generated with everything before it revealed; "
                   "the rest is padding (repeatable; <eos> = end-of-text token)")
    p.add_argument("--show", action="store_true",
                   help="animate the denoising of the first sample in the terminal")
    p.add_argument("--delay", type=float_in(0.0, 10.0), default=0.05,
                   help="seconds per frame of --show (default 0.05)")
    p.add_argument("--trace", metavar="PNG", help="also draw which position was revealed at which step (PNG)")
    p.add_argument("--json", action="store_true", help="print one JSON object per sample (text, nfe)")
    p.add_argument("--bare", action="store_true",
                   help="any-process checkpoints: no BOS/EOS around --prompt; only its '_' (MASK) are edited")
    p.add_argument("--cache", choices=["prefix", "dual"],
                   help="reuse keys/values across steps: approximate on a bidirectional model (Fast-dLLM), "
                        "exact 'prefix' on a block diffusion model (needs --block-size)")
    p.add_argument("--cache-refresh", type=int_at_least(1), metavar="K",
                   help="with --cache: also refresh it every K passes (default: at block boundaries only)")
    p.set_defaults(func=run)


def run(args) -> int:
    import mdm

    check_output_file(args.trace, "--trace")
    from mdm.cli.sample_anyprocess import is_anyprocess, run_anyprocess

    # AP-MDM: variable-length editing, not a fixed-length sample
    if args.checkpoint is not None and is_anyprocess(args.checkpoint):
        return run_anyprocess(args)
    if args.template is not None:
        model, tokenizer, unmasker, template = _prepare_template(args)
        length = prompt = stop = None
    else:
        model, tokenizer, unmasker, prompt, length, stop = prepare_sampling(args)
        template = None
    out = mdm.sample(model, batch_size=args.num, length=length, prompt=prompt, unmasker=unmasker,
                     template=template,
                     block_size=args.block_size, temperature=args.temperature, top_p=args.top_p, stop=stop,
                     seed=args.seed, pad_id=tokenizer.pad_id, trace=bool(args.show or args.trace),
                     cache=args.cache, cache_refresh=args.cache_refresh)
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


_MASK = re.compile(r"<mask(?::(\d+))?>")


def template_ids(tokenizer, text: str) -> list[int]:
    """Token ids of a ``--template``: each ``<mask>`` is one ``mask_id``, ``<mask:N>`` is N of them,
    the text between them is encoded piece by piece, after the tokenizer's ``prefix_ids``."""
    from mdm.cli.sampler import _encode
    from mdm.errors import SamplingError

    ids = list(getattr(tokenizer, "prefix_ids", []))
    pos, holes = 0, 0
    for m in _MASK.finditer(text):
        if m.start() > pos:
            ids += _encode(tokenizer, text[pos:m.start()], "--template")
        n = 1 if m.group(1) is None else int(m.group(1))
        if n < 1:
            raise SamplingError(f"--template: {m.group(0)} must ask for at least one token")
        ids += [tokenizer.mask_id] * n
        holes += n
        pos = m.end()
    if pos < len(text):
        ids += _encode(tokenizer, text[pos:], "--template")
    if not holes:
        raise SamplingError("--template has no <mask> (one token) or <mask:N> (N tokens) to generate")
    return ids


def _prepare_template(args):
    import torch

    from mdm.cli.sampler import _max_len, build_unmasker
    from mdm.cli.source import load_source
    from mdm.errors import SamplingError

    given = [f for f, v in (("--prompt", args.prompt), ("--length", args.length), ("--stop", args.stop)) if v]
    if given:
        raise SamplingError(f"--template fixes every position itself: drop {', '.join(given)}")
    build_unmasker(args, 1)  # options valid for this unmasker? (before loading anything)
    model, tokenizer = load_source(args, args.device)
    ids = template_ids(tokenizer, args.template)
    max_len = _max_len(model)
    if max_len is not None and len(ids) > max_len:
        raise SamplingError(f"--template is {len(ids)} tokens, more than the model's length {max_len}")
    holes = ids.count(tokenizer.mask_id)
    return model, tokenizer, build_unmasker(args, holes), torch.tensor(ids, dtype=torch.long)


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
