"""The full preset's tables part for some tables only (with their w-frozen controls)."""
import dataclasses
import sys

from mdm.experiments.learned_order import EXPERIMENT, PRESETS
from mdm.experiments.runner import run

tables, out = tuple(sys.argv[1].split(",")), sys.argv[2]
preset = dataclasses.replace(PRESETS["full"], tables=tables)
run(dataclasses.replace(EXPERIMENT, presets={"full": preset}), "full", out, seeds=(0,), parts=["tables"])
