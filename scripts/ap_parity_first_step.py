"""Where the parity-paper models' first greedy step goes wrong (docs/results/any-process.md).

Usage: python scripts/ap_parity_first_step.py RUN_DIR   (an ``mdm exp any-process --parts parity-paper``
output folder).  For each trained model, on the 16 first test inputs of 100 bits: the fraction of
inputs whose first step differs from the solver's at the window (BOS and the two symbols after it),
and the fraction of positions beyond the window that get a remask or insert bit (the solver sets none).
"""

import sys
from pathlib import Path

import torch

from mdm.experiments.any_process.ablation import _accept_length
from mdm.tasks.anyprocess import parity_paper as pp
from mdm.tasks.anyprocess.follow import _decisions
from mdm.train.checkpoint import load


def main(run_dir: str) -> None:
    tok = pp.tokenizer()
    bits = pp.random_bits(16, 100, seed=3100)  # the part's 100-bit test inputs
    x = torch.tensor([pp.start_state(b, tok)[0] for b in bits])
    want = torch.tensor([pp.trajectory(b, tok)[0].remask[:3] for b in bits])
    for d in sorted(Path(run_dir, "models").iterdir()):
        model, _ = load(d / "checkpoint")
        _accept_length(model.eval(), x.shape[1])
        with torch.no_grad():
            _, remask, insert, _ = _decisions(model(x), x, x == tok.bos_id)
        front = ((remask[:, :3] != want) | insert[:, :3]).any(1).double().mean()
        beyond = (remask[:, 3:] | insert[:, 3:]).double().mean()
        print(f"{d.name}: first step wrong at the window in {front:.2f} of inputs; "
              f"remask/insert on at {beyond:.2f} of the positions beyond it")


if __name__ == "__main__":
    main(sys.argv[1])
