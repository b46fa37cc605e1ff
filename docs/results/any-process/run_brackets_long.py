"""The full preset's bracket parts (2,000 steps) with one training seed per run, so that seeds run
side by side on the shared machine: ``python run_brackets_long.py PART SEED OUT`` with PART
``brackets`` (AP-MDM) or ``brackets-mdm`` (the plain MDM).  Equal to ``mdm exp any-process --preset
full --parts PART --seed 0`` (seeds 0, 1, 2 in one run) split by seed."""
import dataclasses
import sys

from mdm.experiments.any_process import EXPERIMENT, PRESETS
from mdm.experiments.runner import run

part, seed, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
full = PRESETS["full"]
brackets = dataclasses.replace(full.brackets, seeds=1, train=("max_steps=2000",))
preset = dataclasses.replace(full, brackets=brackets)
run(dataclasses.replace(EXPERIMENT, presets={"full": preset}), "full", out, seeds=(seed,), parts=[part])
