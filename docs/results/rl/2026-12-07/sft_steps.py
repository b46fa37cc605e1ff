"""SFT stability probe behind rl.md (issue 29 item 3): the full preset's SFT at more steps, per seed; greedy
exact-match accuracy on the validation and test problems of mdm exp rl (held_out_split).
Run: PYTHONPATH=src python docs/results/rl/2026-12-07/sft_steps.py OUT '{"s1600": ["max_steps=1600"]}' 2,4"""
import json, sys, time
from pathlib import Path
from mdm.experiments.rl import PRESETS
from mdm.experiments.rl.arms import _splits, correctness
from mdm.experiments.training import finished_checkpoint
from mdm.train import load_config

setup = PRESETS["full"]
out = Path(sys.argv[1]); variants = json.loads(sys.argv[2]); seeds = [int(s) for s in sys.argv[3].split(",")]
for name, extra in variants.items():
    for seed in seeds:
        t0 = time.time()
        cfg = load_config("arithmetic-small", [*setup.task, *setup.sft, *extra, f"seed={seed}"])
        ckpt = finished_checkpoint(cfg, out / f"{name}-s{seed}")
        v, t = _splits(str(ckpt), setup.n_valid)
        cv, ct = correctness(ckpt, v), correctness(ckpt, t)
        print(json.dumps({"variant": name, "seed": seed, "valid": sum(cv)/len(cv), "test": sum(ct)/len(ct), "s": round(time.time()-t0,1)}), flush=True)
