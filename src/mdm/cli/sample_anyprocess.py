"""``mdm sample`` on an any-process (AP-MDM) checkpoint: edit a start text until it settles.

The start is ``--prompt`` (``_`` stands for MASK) between BOS and EOS, which are never edited; every
character of the text may be remasked, deleted or followed by insertions.  With ``--bare`` no BOS /
EOS are added and only the MASKs are editable (a template such as a Sudoku grid).  The output has
whatever length the process reaches; ``--show`` animates the states with the coming edits marked.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from mdm.errors import SamplingError

__all__ = ["is_anyprocess", "run_anyprocess"]


def is_anyprocess(path: str) -> bool:
    """Whether ``path`` (a checkpoint or a run folder) holds an ``anyprocess`` model."""
    from mdm.errors import MDMError
    from mdm.train import checkpoint

    for p in (Path(path), Path(path) / "checkpoint"):
        if checkpoint.is_checkpoint(p):
            try:
                return checkpoint.read_config(p, verify=False)["model"].get("kind") == "anyprocess"
            except (MDMError, KeyError, TypeError):
                return False
    return False


def _start(tokenizer, args):
    import torch

    from mdm.cli.sampler import encode_text

    text = args.prompt or ""
    ids = [tokenizer.mask_id if ch == "_" else encode_text(tokenizer, ch, "--prompt")[0] for ch in text]
    if args.bare:
        if not ids:
            raise SamplingError("--bare needs a --prompt (the template to fill)")
        editable = [i == tokenizer.mask_id for i in ids]
    else:
        ids = [tokenizer.bos_id, *ids, tokenizer.eos_id]
        editable = [False, *([True] * (len(ids) - 2)), False]
    x = torch.tensor([ids] * args.num, dtype=torch.long)
    return x, torch.tensor([editable] * args.num)


def _text(tokenizer, ids) -> str:
    return "".join("_" if i == tokenizer.mask_id else tokenizer.decode([i]) for i in ids)


def run_anyprocess(args) -> int:
    from mdm.cli.sampler import load_checkpoint
    from mdm.sampling.anyprocess import generate
    from mdm.sampling.anyprocess_render import plot_anyprocess, render_anyprocess

    if args.stop or args.block_size:
        raise SamplingError("--stop and --block-size do not apply to an any-process checkpoint: "
                            "it halts at a fixed point, at EOS or after --steps transitions")
    model, tokenizer = load_checkpoint(args.checkpoint, args.device)
    x, editable = _start(tokenizer, args)
    steps = args.steps or 4 * x.shape[1] + 16
    out = generate(model, x.to(model.trunk.embed.weight.device), editable=editable.to(x.device),
                   max_steps=steps, temperature=args.temperature, seed=args.seed,
                   trace=bool(args.show or args.trace))
    if args.show:
        tty = sys.stdout.isatty()
        decode = lambda i: _text(tokenizer, [i])  # noqa: E731
        frames = render_anyprocess(out, 0, decode=decode, mask_id=tokenizer.mask_id, sep="", color=tty)
        for k, frame in enumerate(frames):
            if tty:
                sys.stdout.write("\x1b[H\x1b[J")
            print(f"[state {k}/{len(frames) - 1}] {frame}", flush=True)
            if tty and args.delay:
                time.sleep(args.delay)
    for i, seq in enumerate(out.sequences()):
        text, n, why = _text(tokenizer, seq), int(out.steps[i]), out.halted[i]
        if args.json:
            row = {"sample": i, "steps": n, "nfe": int(out.nfe[i]), "halted": why, "length": len(seq),
                   "text": text}
            print(json.dumps(row, ensure_ascii=False))
        else:
            print(f"--- sample {i} ({n} transitions, {len(seq)} tokens, halted: {why}) ---")
            print(text)
    if args.trace:
        plot_anyprocess(out, args.trace, decode=lambda i: _text(tokenizer, [i]) or "·",
                        mask_id=tokenizer.mask_id)
        print(f"trace: {args.trace}", file=sys.stderr)
    return 0
