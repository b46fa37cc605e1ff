"""The training step with the transformer's previous kernels patched in, change by change, side by side.

Issue 32 changed two elementwise parts of the step, both to the same bits (tests/models/
test_transformer_kernels.py; the previous kernels live in tests/models/kernels_support.py):

* **RoPE**: q and k rotated in one pass over the ``[B, L, 2, H, hd]`` block of the qkv projection,
  the sign of ``sin`` kept in the table -- before: q, k, v unbound and q and k rotated one by one,
  negating half of each (``x * [cos, cos] + [-x2, x1] * [sin, sin]``);
* **SwiGLU**: the product ``silu(gate) * up`` as an autograd Function whose backward writes both
  gradient halves into one buffer -- before: autograd's chain, whose last pass concatenates them.

The sides are full fp32 training steps (``benchmarks/train_peak.py``'s ``Step``: the config's
objective, backward, clipping, AdamW) of a packaged config, one model per side from the same seed:
``before`` (both previous kernels), ``+rope`` (new RoPE, previous SwiGLU) and ``+rope+swiglu`` (the
current code).  They alternate with the order rotated each repeat (``benchtools.alternate``);
process CPU time medians give the ratios.  At the end the three models' parameters must be
bit-identical.

    python benchmarks/transformer_kernels.py                          # kjv-char-tiny, sudoku-hard
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

import mdm.models.transformer as tr
from benchtools import alternate, machine_line
from mdm.models.layers import swiglu
from train_peak import Step, load

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "models"))
from kernels_support import attention_before, swiglu_before  # noqa: E402  (the previous kernels, one copy)


def swiglu_now(self, h):
    return self.down(swiglu(self.gate_up(h)))


ATTENTION_NOW = tr.Attention.forward
VARIANTS = {"before": (attention_before, swiglu_before), "+rope": (ATTENTION_NOW, swiglu_before),
            "+rope+swiglu": (ATTENTION_NOW, swiglu_now)}


def side(variant: str, step: Step, n: int):
    attention, mlp = VARIANTS[variant]

    def run():
        tr.Attention.forward, tr.SwiGLU.forward = attention, mlp
        try:
            for _ in range(n):
                step()
        finally:
            tr.Attention.forward, tr.SwiGLU.forward = ATTENTION_NOW, swiglu_now

    return run


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", default="kjv-char-tiny,sudoku-hard")
    p.add_argument("--steps", type=int, default=3, help="training steps per timed repeat")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(machine_line())
    ok = True
    for name in args.configs.split(","):
        steps = {v: Step(load(name)) for v in VARIANTS}
        times = alternate({v: side(v, s, args.steps) for v, s in steps.items()}, args.repeats, warmup=1)
        params = [list(s.model.parameters()) for s in steps.values()]
        same = all(torch.equal(a, b) for other in params[1:] for a, b in zip(params[0], other))
        ok = ok and same
        base = times["before"].cpu_s
        print(f"{name}: {args.steps} fp32 training steps per repeat, median of {args.repeats}; parameters "
              f"bit-identical across variants after {steps['before'].i} steps: {same}")
        for v, t in times.items():
            print(f"  {v:<14} cpu {1e3 * t.cpu_s / args.steps:8.1f} ms/step  "
                  f"wall {1e3 * t.wall_s / args.steps:8.1f}  before/this (cpu) {base / t.cpu_s:5.3f}x")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
