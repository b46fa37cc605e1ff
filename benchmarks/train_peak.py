"""The training step against the CPU's matmul peak, side by side in one run.

* **Peak**: ``torch.mm`` of two fp32 ``n x n`` matrices (default n = 1024), ``2 n^3`` FLOPs a call.
* **Step**: what one step of ``mdm train`` does -- the config's objective loss (masked-only head),
  backward, gradient clipping, AdamW -- in fp32 on the packaged configs' models and real batches
  (``kjv-char-tiny``; ``sudoku-hard`` with a small generated training set: the shapes, not the
  puzzles, set the cost).  FLOPs counted as ``6 N T`` (N = parameters without the embedding table,
  T = tokens of the batch), the usual convention; ``model FLOPs`` also counts attention's two
  matmuls (``12 L d`` per token and layer, forward + backward) and the head only at the rows it
  really computed (the masked positions).

* **Shape-matched peak** (``benchmarks/shape_peak.py``): exactly the matmuls one eager step of each
  config does -- their shapes, transposes, forward and backward, recorded once under a dispatch
  mode -- replayed back to back outside the model.  The ``1024^2`` peak stays the headline peak;
  the step's GFLOP/s is also given as a % of this one, the rate its own matmuls can reach (a
  small model's inner dimensions, 128-448, keep ``torch.mm`` below its ``1024^2`` rate).  Also
  printed: the step's matmul FLOPs as counted by the replay, and the replay's CPU time as a share of
  the step's (the rest is attention, elementwise work, the optimizer and Python).

The sides alternate, their order rotated each repeat, and each is timed in wall time and process CPU
time; GFLOP/s and the ratio to the peak are read from the CPU-time medians (a loaded machine
stretches wall time, not this process's CPU time).  ``--profile`` prints the top operators of each
step (``torch.profiler``, self CPU time).

    python benchmarks/train_peak.py                      # 1 thread, both configs, ~1-2 min
    python benchmarks/train_peak.py --profile --configs kjv-char-tiny
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import torch

from benchtools import alternate, machine_line, timed
from mdm.train.config import load_config
from mdm.train.data import Stream, build_data, mix_seed
from mdm.train.families import build_model
from mdm.train.objective import objective_for
from mdm.train.optim import build_optimizer
from mdm.train.validate import to_device
from shape_peak import Replay, record_matmuls

CONFIGS = Path(__file__).resolve().parents[1] / "src" / "mdm" / "configs"
SMALL_DATA = {"n_train": 256, "n_test": 8, "cache_dir": None, "workers": 1, "progress": False}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", default="kjv-char-tiny,sudoku-hard", help="comma list of packaged configs")
    p.add_argument("--mm-size", type=int, default=1024)
    p.add_argument("--mm-calls", type=int, default=4, help="torch.mm calls per timed repeat")
    p.add_argument("--steps", type=int, default=3, help="training steps per timed repeat")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--compile", action="store_true", help="also time the step with training compile on")
    p.add_argument("--profile", action="store_true", help="print the top operators of each step")
    p.add_argument("--json", default=None)
    return p.parse_args(argv)


def load(name: str):
    cfg = load_config(CONFIGS / f"{name}.yaml")
    if cfg.data.task != "text":  # generated data: a small set has the same shapes
        opts = {**cfg.data.options, **{k: v for k, v in SMALL_DATA.items() if k in cfg.data.options}}
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, options=opts))
    return cfg


class Step:
    """One fp32 training step of ``cfg`` as the loop runs it (no EMA, no logging)."""

    def __init__(self, cfg, compiled: bool = False):
        torch.manual_seed(cfg.seed)
        self.cfg = cfg
        self.bundle = build_data(cfg)
        self.objective = objective_for(cfg)
        self.model = build_model(cfg, self.bundle.tokenizer, self.objective)
        self.objective.bind(self.model)
        self.model.train()
        if compiled:
            from mdm.train.compiled import compile_for_training

            compile_for_training(self.model)
        self.opt = build_optimizer(self.model, cfg.optim, self.objective.param_groups(self.model))
        self.gen = torch.Generator()
        self.B, self.L = cfg.batch_size, self.bundle.seq_len
        stream = Stream(self.bundle.train, cfg.seed)
        self.batches = [to_device(stream.batch(i * self.B, self.B), torch.device("cpu")) for i in range(4)]
        self.i, self.head_rows = 0, []
        self.model.head.register_forward_hook(lambda m, inp, out: self.head_rows.append(inp[0].shape[0]))
        self.first_step = timed(self) if compiled else None  # (wall, cpu, _): includes the compile

    def __call__(self) -> None:
        batch = self.batches[self.i % len(self.batches)]
        self.gen.manual_seed(mix_seed(self.cfg.seed, self.i, 0))
        self.i += 1
        out = self.objective.loss(self.model, batch, self.gen)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)

    def flops(self) -> tuple[float, float]:
        """(6 N T, model FLOPs) of one step."""
        m, c = self.model, self.model.config
        T = self.B * self.L
        n = m.num_parameters(exclude_embeddings=True)
        if m.pos_embed is not None:
            n -= m.pos_embed.weight.numel()
        head = m.head.weight.numel()
        rows = sum(self.head_rows) / max(len(self.head_rows), 1)
        model = 6 * (n - head) * T + 6 * head * rows + 12 * self.L * c.d_model * c.n_layers * T
        return 6.0 * n * T, model


def profile(name: str, step: Step, n: int = 3) -> None:
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as prof

    with prof(activities=[ProfilerActivity.CPU]) as p:
        for _ in range(n):
            step()
    print(f"\n--- profile of {n} steps of {name} (self CPU time) ---")
    print(p.key_averages().table(sort_by="self_cpu_time_total", row_limit=18))


def main(argv=None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    n = args.mm_size
    a, b = torch.randn(n, n), torch.randn(n, n)
    sides = {"peak mm": lambda: [torch.mm(a, b) for _ in range(args.mm_calls)]}
    steps, replays = {}, {}
    for name in args.configs.split(","):
        steps[name] = Step(load(name))
        sides[name] = lambda s=steps[name]: [s() for _ in range(args.steps)]
        replays[name] = Replay(record_matmuls(steps[name]))
        sides[name + " matmuls"] = lambda r=replays[name]: [r() for _ in range(args.steps)]
        if args.compile:
            steps[name + " compiled"] = Step(load(name), compiled=True)
            sides[name + " compiled"] = lambda s=steps[name + " compiled"]: [s() for _ in range(args.steps)]
    print(machine_line())
    times = alternate(sides, args.repeats, warmup=1)
    peak_flops = 2.0 * n ** 3 * args.mm_calls
    peak = peak_flops / times["peak mm"].cpu_s / 1e9
    print(f"peak: torch.mm fp32 {n}x{n}, {peak:.1f} GFLOP/s (CPU time; wall "
          f"{peak_flops / times['peak mm'].wall_s / 1e9:.1f}) | median of {args.repeats}, sides alternated")
    print(f"{'config':<24}{'params':>9}{'B x L':>10}{'ms/step cpu':>13}{'wall':>8}{'GFLOP/s 6NT':>13}"
          f"{'% peak':>8}{'model GF/s':>12}{'% peak':>8}{'tok/s':>9}")
    result = {"machine": machine_line(), "peak_gflops": peak, "configs": {}}
    for name, s in steps.items():
        t = times[name]
        f6, fm = s.flops()
        per = t.cpu_s / args.steps
        g6, gm = f6 / per / 1e9, fm / per / 1e9
        print(f"{name:<24}{s.model.num_parameters() / 1e6:>8.2f}M{f'{s.B}x{s.L}':>10}{1e3 * per:>13.1f}"
              f"{1e3 * t.wall_s / args.steps:>8.1f}{g6:>13.1f}{100 * g6 / peak:>7.0f}%{gm:>12.1f}"
              f"{100 * gm / peak:>7.0f}%{s.B * s.L / per:>9.0f}")
        result["configs"][name] = {"ms_per_step_cpu": 1e3 * per,
                                   "ms_per_step_wall": 1e3 * t.wall_s / args.steps,
                                   "gflops_6nt": g6, "pct_peak_6nt": g6 / peak, "gflops_model": gm,
                                   "pct_peak_model": gm / peak, "tokens_per_s_cpu": s.B * s.L / per}
    print(f"shape-matched peak: the matmuls of one eager step (shapes, transposes, forward + backward) "
          f"replayed back to back, CPU time; the step's GFLOP/s as a % of that and of the {n}^2 peak")
    print(f"{'config':<24}{'matmuls':>8}{'GFLOP':>8}{'/ 6NT':>7}{'shape peak':>12}{'% 1024 pk':>10}"
          f"{'6NT % shp':>10}{'model % shp':>12}{'mm time/step':>13}")
    for name, r in replays.items():
        s, t = steps[name], times[name + " matmuls"]
        f6, fm = s.flops()
        per, mm_per = times[name].cpu_s / args.steps, t.cpu_s / args.steps
        shape_peak = r.flops / mm_per / 1e9
        g6, gm = f6 / per / 1e9, fm / per / 1e9
        print(f"{name:<24}{len(r.calls):>8}{r.flops / 1e9:>8.2f}{r.flops / f6:>7.2f}{shape_peak:>12.1f}"
              f"{100 * shape_peak / peak:>9.0f}%{100 * g6 / shape_peak:>9.0f}%{100 * gm / shape_peak:>11.0f}%"
              f"{100 * mm_per / per:>12.0f}%")
        result["configs"][name].update(
            matmul_calls=len(r.calls), matmul_gflop_per_step=r.flops / 1e9,
            matmul_flops_over_6nt=r.flops / f6,
            shape_peak_gflops=shape_peak, shape_peak_pct_of_mm_peak=shape_peak / peak,
            pct_shape_peak_6nt=g6 / shape_peak, pct_shape_peak_model=gm / shape_peak,
            matmul_time_share=mm_per / per, ms_matmuls_cpu=1e3 * mm_per,
            top_matmuls=r.shapes())
        for key, share in r.shapes(6):
            print(f"    {100 * share:5.1f}% of the matmul FLOPs: {key}")
        if name + " compiled" in times:  # the compiled trunk calls the same matmuls (shapes, count)
            per_c = times[name + " compiled"].cpu_s / args.steps
            g6c, gmc = f6 / per_c / 1e9, fm / per_c / 1e9
            print(f"{name + ' compiled':<24}{'':>45}{100 * g6c / shape_peak:>9.0f}%"
                  f"{100 * gmc / shape_peak:>11.0f}%{100 * mm_per / per_c:>12.0f}%")
            result["configs"][name + " compiled"].update(
                pct_shape_peak_6nt=g6c / shape_peak, pct_shape_peak_model=gmc / shape_peak,
                matmul_time_share=mm_per / per_c)
    for name, s in steps.items():
        if s.first_step is not None:
            eager = times[name.removesuffix(" compiled")].cpu_s
            print(f"{name}: first step (compiling) {s.first_step[0]:.1f}s wall, {s.first_step[1]:.1f}s CPU; "
                  f"speed-up eager/compiled {eager / times[name].cpu_s:.3f}x (CPU time)")
            result["configs"][name].update(compile_wall_s=s.first_step[0], compile_cpu_s=s.first_step[1],
                                           speedup_cpu=eager / times[name].cpu_s)
    if args.profile:
        for name, s in steps.items():
            profile(name, s)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
    sys.exit(0)
