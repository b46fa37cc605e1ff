"""RoPE ``_rotate`` and ``RMSNorm``: the previous formulations against the current ones, side by side.

A profile of the sampling loop found RoPE's ``_rotate`` at ~7% of a forward and RMSNorm's float32
round trip at ~3%.  The current code computes RoPE as ``x * [cos, cos] + [-x2, x1] * [sin, sin]``
and float32 RMSNorm with the fused ``F.rms_norm``; both give the same bits as before (checked here
on the whole forward).  This script times the two kernels alone and the whole float32 forward with
the old and the new versions patched in, alternating repeat by repeat; medians.  ``torch.compile``
was not adopted: its compile time on this 2-core box dwarfs a sampling run.

    .venv/bin/python benchmarks/transformer_kernels.py                     # B=8, L=128
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

import mdm.models.transformer as tr
from mdm.models.transformer import TransformerConfig, TransformerDenoiser
from mdm.train.precision import cpu_capability


def old_rotate(x, cos, sin):
    x1, x2 = x.float().chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1).to(x.dtype)


def old_rmsnorm(self, x):
    xf = x.float()
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
    return xf.to(x.dtype) * self.weight.to(x.dtype)


NEW_ROTATE, NEW_RMSNORM = tr._rotate, tr.RMSNorm.forward


def use(old: bool) -> None:
    tr._rotate = old_rotate if old else NEW_ROTATE
    tr.RMSNorm.forward = old_rmsnorm if old else NEW_RMSNORM


def median_time(fn, inner: int, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(inner):
            fn()
        out.append((time.perf_counter() - t) / inner)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--length", type=int, default=128)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--vocab", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1; 0 = torch's)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cap = cpu_capability()
    print(f"torch {torch.__version__} | CPU threads {torch.get_num_threads()} | CPU capability {cap}")
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=args.vocab + 1, mask_id=args.vocab, d_model=args.d_model,
                            n_layers=args.layers, n_heads=args.heads, max_len=args.length)
    model = TransformerDenoiser(cfg).eval()
    x = torch.randint(0, args.vocab + 1, (args.batch, args.length))
    hd = cfg.d_model // cfg.n_heads
    qkv = torch.randn(args.batch, args.length, 3, cfg.n_heads, hd).permute(2, 0, 3, 1, 4)  # as in Attention
    cos, sin = model._rope_tables(args.length, x.device)
    h = torch.randn(args.batch, args.length, cfg.d_model)
    norm = model.blocks[0].norm1

    with torch.no_grad():
        use(True)
        ref = model(x)
        use(False)
        same = torch.equal(ref, model(x))
        cases = {
            "rotate q and k": (lambda: (old_rotate(qkv[0], cos, sin), old_rotate(qkv[1], cos, sin)),
                               lambda: (NEW_ROTATE(qkv[0], cos, sin), NEW_ROTATE(qkv[1], cos, sin)), 50),
            "RMSNorm": (lambda: old_rmsnorm(norm, h), lambda: NEW_RMSNORM(norm, h), 50),
        }
        times = {}
        for name, (old, new, inner) in cases.items():
            pair = ([], [])
            for _ in range(args.repeats):  # alternate: machine load hits both alike
                pair[0].extend(median_time(old, inner, 1))
                pair[1].extend(median_time(new, inner, 1))
            times[name] = pair
        fwd = ([], [])
        for _ in range(args.repeats):
            for i, old in enumerate((True, False)):
                use(old)
                fwd[i].extend(median_time(lambda: model(x), 3, 1))
        use(False)
        times["whole forward"] = fwd
    print(f"model d={args.d_model} x {args.layers} layers, vocab {args.vocab + 1}, B={args.batch} "
          f"L={args.length}; "
          f"median of {args.repeats}; forward logits identical old vs new: {same}")
    for name, (old, new) in times.items():
        o, n = statistics.median(old), statistics.median(new)
        print(f"  {name:<16} old {1e3 * o:8.3f} ms   new {1e3 * n:8.3f} ms   old/new {o / n:5.2f}x  "
              f"[CPU capability {cap}, {torch.get_num_threads()} thread(s)]")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
