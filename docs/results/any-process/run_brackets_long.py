"""The full preset's bracket part (AP-MDM) trained 2,000 steps instead of 600, one training seed per
run so that seeds run side by side on the shared machine: ``python run_brackets_long.py SEED OUT``."""
import dataclasses
import sys

from mdm.experiments.any_process import EXPERIMENT, PRESETS
from mdm.experiments.runner import run

seed, out = int(sys.argv[1]), sys.argv[2]
full = PRESETS["full"]
brackets = dataclasses.replace(full.brackets, seeds=1, train=("max_steps=2000",))
preset = dataclasses.replace(full, brackets=brackets)
run(dataclasses.replace(EXPERIMENT, presets={"full": preset}), "full", out, seeds=(seed,), parts=["brackets"])
