"""Decoding speed with KV caches, side by side in one run (ratios, never a timed test).

For each prompt length P, generation length G and batch B, the same random model decodes the same
prompts with ``Scheduled`` in blocks (a fixed number of passes per block, so every mode does the
same work per token) at temperature 0:

* ``none``   -- ``mdm.sample`` without cache: every pass runs over all P + G positions;
* ``prefix`` -- Fast-dLLM's prefix cache (arXiv 2505.22618): the prompt and finished blocks are read
  from the cache, refreshed at each block boundary;
* ``dual``   -- also the masked suffix from the cache: a pass runs over the current block only;
* ``block``  -- a block-causal model of the same shape (BD3-LM, arXiv 2503.09573) with its exact
  prefix cache, beside the same block model without cache (its tokens must be identical).

Printed: tokens/s, the speed-up over ``none`` (over the uncached block model for ``block``) and the
agreement of the generated tokens with the uncached run.  One torch thread (on a shared 2-core
machine two threads ran ~10x slower); the modes alternate, their order rotated each repeat; medians
of process CPU time (a shared machine's load stretches wall time, not this process's CPU time).

    .venv/bin/python benchmarks/decoding.py --quick       # P 256/1024, G 128, B 1/8
    .venv/bin/python benchmarks/decoding.py               # P 256/1024/2048 x G 128/512 x B 1/8
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics

import torch

import mdm
from benchtools import alternate, machine_line
from mdm.models.transformer import TransformerConfig, TransformerDenoiser
from mdm.sampling import Scheduled
from mdm.train.precision import cpu_capability


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="prompts 256/1024, generation 128, batch 1/8")
    p.add_argument("--prompts", type=int, nargs="+", default=[256, 1024, 2048])
    p.add_argument("--gens", type=int, nargs="+", default=[128, 512])
    p.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    p.add_argument("--block", type=int, default=32, help="sampling block (and the block model's block)")
    p.add_argument("--passes-per-block", type=int, default=8)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--vocab", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=3, help=">= 3 (medians)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args(argv)
    if args.quick:
        args.prompts, args.gens, args.batches = [256, 1024], [128], [1, 8]
    return args


def model(args, max_len: int, block_size=None) -> TransformerDenoiser:
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=args.vocab, mask_id=args.vocab - 1, d_model=args.d_model,
                            n_layers=args.layers, n_heads=4, max_len=max_len, block_size=block_size)
    m = TransformerDenoiser(cfg).eval()
    with torch.no_grad():  # peaked distributions, as a trained model has (no near-ties at argmax)
        for p in m.parameters():
            if p.dim() > 1:
                p.mul_(4.0)
    return m


def bench(args, bidir, block_model, P: int, G: int, B: int) -> list[dict]:
    prompt = torch.randint(0, args.vocab - 1, (B, P), generator=torch.Generator().manual_seed(P + G + B))
    steps = G // args.block * args.passes_per_block
    kw = dict(prompt=prompt, length=G, block_size=args.block, unmasker=Scheduled(steps), temperature=0.0,
              seed=0)
    runs = {
        "none": lambda: mdm.sample(bidir, **kw),
        "prefix": lambda: mdm.sample(bidir, cache="prefix", **kw),
        "dual": lambda: mdm.sample(bidir, cache="dual", **kw),
        "block, no cache": lambda: mdm.sample(block_model, **kw),
        "block, exact cache": lambda: mdm.sample(block_model, cache="prefix", **kw),
    }
    tokens = {}
    timing = alternate(runs, args.repeats, warmup=0,
                       check=lambda name, out: tokens.__setitem__(name, out.tokens[:, P:]))
    times = {k: v.cpu for k, v in timing.items()}  # process CPU time
    rows = []
    for name in runs:
        base = "block, no cache" if name.startswith("block") else "none"
        med = statistics.median(times[name])
        rows.append({
            "prompt": P, "gen": G, "batch": B, "mode": name, "seconds": med, "tokens_per_s": B * G / med,
            "speedup": statistics.median(times[base]) / med,
            "agreement": float((tokens[name] == tokens[base]).double().mean()),
        })
    return rows


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    print(machine_line())
    print(f"random transformer d{args.d_model} x {args.layers} layers, vocab {args.vocab}; "
          f"blocks of {args.block}, Scheduled with {args.passes_per_block} passes per block, temperature 0")
    max_len = max(args.prompts) + max(args.gens)
    max_len += -max_len % args.block
    bidir, block_model = model(args, max_len), model(args, max_len, block_size=args.block)
    rows = []
    print(f"{'P':>5} {'G':>4} {'B':>2}  {'mode':<19} {'tokens/s':>9} {'speed-up':>8} {'agree':>6}")
    for P, G, B in itertools.product(args.prompts, args.gens, args.batches):
        for r in bench(args, bidir, block_model, P, G, B):
            rows.append(r)
            print(f"{P:>5} {G:>4} {B:>2}  {r['mode']:<19} {r['tokens_per_s']:>9.1f} {r['speedup']:>7.2f}x "
                  f"{r['agreement']:>6.3f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "cpu_capability": cpu_capability(), "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
