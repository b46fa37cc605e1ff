"""Where the parity-paper models' first greedy step goes wrong (docs/results/any-process.md).

Usage: python scripts/ap_parity_first_step.py RUN_DIR   (an ``mdm exp any-process --parts parity-paper``
or ``--parts parity-paper-1-5`` output folder).  For each trained model, on the 16 first test inputs
of 100 bits: the fraction of inputs whose first step differs from the solver's at the window (BOS and
the two symbols after it) and the fraction of positions beyond the window that get a remask or insert
bit (the solver sets none); the fraction of the 288 transitions of all 1-5-bit inputs (the wide
training set) that one greedy step of the model reproduces exactly; and the most solver steps it
reproduces on any of the part's 100- and 1,000-bit test inputs.
"""

import sys
from pathlib import Path

import torch

from mdm.experiments.any_process.ablation import _accept_length
from mdm.sampling.anyprocess import apply_transition
from mdm.tasks.anyprocess import parity_paper as pp
from mdm.tasks.anyprocess.follow import follow, follow_local, greedy_decisions
from mdm.train.checkpoint import load


def main(run_dir: str) -> None:
    tok = pp.tokenizer()
    bits = pp.random_bits(16, 100, seed=3100)  # the part's 100-bit test inputs
    x = torch.tensor([pp.start_state(b, tok)[0] for b in bits])
    want = torch.tensor([pp.trajectory(b, tok)[0].remask[:3] for b in bits])
    wide = pp.transitions([1, 2, 3, 4, 5], tok)
    for d in sorted(Path(run_dir, "models").iterdir()):
        model, _ = load(d / "checkpoint")
        _accept_length(model.eval(), x.shape[1])
        with torch.no_grad():
            _, remask, insert, _ = greedy_decisions(model(x), x, x == tok.bos_id)
        front = ((remask[:, :3] != want) | insert[:, :3]).any(1).double().mean()
        beyond = (remask[:, 3:] | insert[:, 3:]).double().mean()
        fit = sum(_one_step(model, t, tok) for t in wide) / len(wide)
        _accept_length(model, 1002)
        starts = [pp.start_state(b, tok)[0] for n, length in ((16, 100), (4, 1000))
                  for b in pp.random_bits(n, length, seed=3000 + length)]
        ids = dict(mask_id=tok.mask_id, pad_id=tok.pad_id, prompt_ids=[tok.bos_id])
        if model.config.window is None:
            runs = follow(model, starts, pp.solver(tok), **ids)
        else:
            runs = [follow_local(model, s, pp.solver(tok), **ids) for s in starts]
        print(f"{d.name}: first step wrong at the window in {front:.2f} of inputs; "
              f"remask/insert on at {beyond:.2f} of the positions beyond it; "
              f"{fit:.3f} of the 1-5-bit transitions reproduced; at most {max(k for k, _ in runs)} steps "
              "reproduced on a 100- or 1,000-bit test input")


@torch.no_grad()
def _one_step(model, t, tok) -> bool:
    x = torch.tensor([list(t.x)])
    tokens, remask, insert, delete = greedy_decisions(model(x), x, x == tok.bos_id)
    nxt, m = apply_transition(x, tokens, remask, insert, delete, mask_id=tok.mask_id, pad_id=tok.pad_id)
    return nxt[0, : int(m[0])].tolist() == pp.solver(tok)(list(t.x))


if __name__ == "__main__":
    main(sys.argv[1])
