"""Diagnostic: is the AP-MDM arm's 0% a bug or undertraining?  4x4, 1,000 puzzles, seed 0, same size
(d 32, 2 layers), 5x the full preset's steps; greedy; halted reasons and cells filled."""
import collections, json, sys, time
import numpy as np
from mdm.experiments.any_process import sudoku_small_arms as arms
from mdm.experiments.any_process.sudoku_small import _puzzles
from mdm.experiments.any_process.sudoku_small_presets import FULL
from mdm.tasks.minisudoku import SHAPES, traces
steps = int(sys.argv[1])
sh = SHAPES["4x4"]; split = _puzzles(FULL, "4x4")
tp, ts = split["train"][0][:1000], split["train"][1][:1000]
t0 = time.process_time()
m, s = arms.train_arm("ap", sh, tp, ts, size=dict(d_model=32, n_layers=2, n_heads=4), steps=steps, batch_size=64,
                      lr=3e-3, seed=0, traces_per_puzzle=2)
r = arms.decode_ap(m, sh, split["test"][0], max_steps=48, temperature=0.0, seed=1)
print(json.dumps({"steps": steps, "cpu_s": time.process_time() - t0, "acc": float(np.mean(r["correct"])),
                  "loss": s["final_train_loss"], "halted": collections.Counter(r["halted"]),
                  "nfe": float(np.mean(r["nfe"]))}), flush=True)
