"""The full preset's hard-orders part for one task at a reduced step count (the shared machine's load)."""
import dataclasses
import sys

from mdm.experiments.learned_order import EXPERIMENT, PRESETS
from mdm.experiments.runner import run

task, steps, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
full = PRESETS["full"]
preset = dataclasses.replace(full, hard_tasks=(task,), hard_train=(
    f"max_steps={steps}", f"optim.warmup_steps={steps // 10}", f"eval_every={steps}", "batch_size=16"))
run(dataclasses.replace(EXPERIMENT, presets={"full": preset}), "full", out, seeds=(0,), parts=["hard-orders"])
