"""Two cores for one training run: 1 torch thread, 2 threads, or 2-process DDP (gloo), side by side.

Each side is a short real run (``python -m mdm.train``; DDP under ``torchrun --standalone
--nproc_per_node=2``, one thread per process) of a packaged config in fp32 with no validation
until the end; its throughput is the median ``tokens_per_s`` of the logged windows after the
first (which holds the start-up).  Under DDP every process trains ``batch_size`` rows, so a
step moves twice the tokens: tokens/s is the comparable number, not seconds per step.  The sides
take turns, their order rotated each repeat; the children's CPU seconds per 1000 tokens are printed
beside (two busy cores spend CPU time twice as fast as one).  On a loaded machine the two-core sides
compete with the other processes for the second core: read the load average before the numbers.

    python benchmarks/two_core.py                       # kjv-char-tiny and sudoku-hard, 3 repeats
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchtools import machine_line

SMALL_SUDOKU = ["data.options.n_train=512", "data.options.n_test=16", "data.options.workers=1",
                "data.options.progress=false"]
SIDES = {"1 thread": (1, False), "2 threads": (2, False), "DDP 2 x 1 thread": (1, True)}


def run_side(config: str, threads: int, ddp: bool, steps: int, log_every: int,
             tmp: Path) -> tuple[float, float]:
    """(median tokens/s of the windows after the first, children CPU s per 1000 tokens)."""
    out = Path(tempfile.mkdtemp(dir=tmp))
    sets = [f"max_steps={steps}", f"log_every={log_every}", "eval_every=0", "eval_batches=1",
            "eval_samples=1", "save_every=0", "precision=fp32", "ema=0", f"threads={threads}", "device=cpu",
            f"data.options.cache_dir={tmp / 'cache'}" if config.startswith("sudoku") else None,
            *(SMALL_SUDOKU if config.startswith("sudoku") else [])]
    args = [a for s in sets if s for a in ("--set", s)]
    entry = (["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m"] if ddp else ["-m"])
    cmd = [sys.executable, *entry, "mdm.train", config, *args, "--out", str(out / "run"), "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rows = [json.loads(line) for line in (out / "run" / "metrics.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r.get("split") == "train"]
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return statistics.median(r["tokens_per_s"] for r in rows[1:]), 1000 * cpu / rows[-1]["tokens_seen"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", default="kjv-char-tiny:30:5,sudoku-hard:8:2",
                   help="comma list of CONFIG:STEPS:LOG_EVERY")
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    print(machine_line())
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.configs.split(","):
            config, steps, log_every = spec.split(":")
            got = {name: ([], []) for name in SIDES}
            names = list(SIDES)
            start = time.perf_counter()
            for r in range(args.repeats):
                k = r % len(names)
                for name in names[k:] + names[:k]:
                    tps, cpu = run_side(config, *SIDES[name], int(steps), int(log_every), Path(tmp))
                    got[name][0].append(tps)
                    got[name][1].append(cpu)
            print(f"{config}: {steps} fp32 steps per run, median of {args.repeats} runs, order rotated "
                  f"({time.perf_counter() - start:.0f}s); load average now {os.getloadavg()[0]:.2f}")
            base = statistics.median(got["1 thread"][0])
            for name, (tps, cpu) in got.items():
                m = statistics.median(tps)
                print(f"  {name:<18} {m:>9.0f} tokens/s  x{m / base:4.2f}  CPU {statistics.median(cpu):.3f} s"
                      f"/1k tokens  runs {[round(t) for t in tps]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
