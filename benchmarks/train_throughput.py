"""Training throughput: fp32 vs bf16 autocast, full vs masked-only output logits.

One optimizer step = forward + NELBO loss (:func:`mdm.losses.diffusion_loss`) + backward + AdamW,
on random tokens, for the four combinations.  The combinations are interleaved round by round and
each reports its median step time in process CPU time (their order rotated each round), so a
shared machine's load hits all of them alike; the
script prints tokens/s and the ratios between them.

    python benchmarks/train_throughput.py                     # ~1-2 min on 2 CPU cores
    python benchmarks/train_throughput.py --vocab 260 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics

import torch

from benchtools import alternate, machine_line
from mdm.losses import diffusion_loss
from mdm.models.transformer import TransformerConfig, TransformerDenoiser
from mdm.train.config import OptimConfig
from mdm.train.optim import build_optimizer
from mdm.train.precision import cpu_capability
from mdm.variance import AntitheticTime

COMBOS = [("fp32", False), ("fp32", True), ("bf16", False), ("bf16", True)]


def make_step(args, device, precision: str, masked_only: bool):
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=args.vocab, mask_id=args.vocab - 1, d_model=args.d_model,
                            n_layers=args.n_layers, n_heads=args.n_heads, max_len=args.seq_len)
    model = TransformerDenoiser(cfg).to(device).train()
    opt = build_optimizer(model, OptimConfig(lr=1e-4))
    data_gen = torch.Generator().manual_seed(1)
    x0 = torch.randint(0, args.vocab - 1, (args.batch, args.seq_len), generator=data_gen).to(device)
    gen = torch.Generator(device=device).manual_seed(2)
    sampler = AntitheticTime()

    def step():
        ctx = (torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16"
               else torch.autocast(device.type, enabled=False))
        with ctx:
            out = diffusion_loss(
                model, x0, time_sampler=sampler, generator=gen, masked_logits_only=masked_only
            )
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()

    return step


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--n-layers", type=int, default=4)
    p.add_argument("--n-heads", type=int, default=4)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--vocab", type=int, default=50259, help="vocabulary incl. mask (GPT-2 BPE: 50259)")
    p.add_argument("--steps", type=int, default=2, help="timed steps per round and combination")
    p.add_argument("--rounds", type=int, default=3, help=">= 3 (medians)")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: more threads on a shared box run slower; 0 = torch's)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    steps = {c: make_step(args, device, *c) for c in COMBOS}
    sides = {c: (lambda s=steps[c]: [s() for _ in range(args.steps)]) for c in COMBOS}
    timing = alternate(sides, args.rounds, warmup=args.warmup)
    times = {c: [t / args.steps for t in timing[c].cpu] for c in COMBOS}  # process CPU time per step

    tokens = args.batch * args.seq_len
    tps = {c: tokens / statistics.median(times[c]) for c in COMBOS}
    print(machine_line())
    print(f"device={device} d_model={args.d_model} "
          f"n_layers={args.n_layers} seq_len={args.seq_len} batch={args.batch} vocab={args.vocab}; "
          f"tokens per CPU second, median of {args.rounds} rounds, order rotated")
    print(f"{'precision':<10}{'logits':<14}{'tokens/s':>12}{'spread':>10}")
    for (prec, masked), v in tps.items():
        ts = times[(prec, masked)]
        spread = (max(ts) - min(ts)) / statistics.median(ts)  # how noisy the machine was
        print(f"{prec:<10}{'masked-only' if masked else 'full':<14}{v:>12.0f}{spread:>9.0%}")
    print(f"ratios (higher = faster) [device {device}, CPU capability {cpu_capability()}]:")
    print(f"  bf16 / fp32, full logits        {tps[('bf16', False)] / tps[('fp32', False)]:.2f}x")
    print(f"  bf16 / fp32, masked-only        {tps[('bf16', True)] / tps[('fp32', True)]:.2f}x")
    print(f"  masked-only / full, fp32        {tps[('fp32', True)] / tps[('fp32', False)]:.2f}x")
    print(f"  masked-only / full, bf16        {tps[('bf16', True)] / tps[('bf16', False)]:.2f}x")
    print(f"  bf16 masked-only / fp32 full    {tps[('bf16', True)] / tps[('fp32', False)]:.2f}x")


if __name__ == "__main__":
    main()
