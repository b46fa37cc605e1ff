"""The downstream check of the bf16-head fix on docs/results/eb-sampler.md: ``Threshold(0.99)`` on
the first N test puzzles of a checkpoint (bf16 sampling, seed 0), and the paired difference of two
such runs.

    python threshold_accuracy.py CHECKPOINT N > OUT.txt    # one line: path, accuracy, mean NFE, 0/1 per puzzle
    python threshold_accuracy.py compare A.txt B.txt       # B - A, percentile bootstrap over puzzles

Run from the folder holding ``runs/`` (the checkpoints name their task data relative to it)."""

import random
import sys

import torch

from mdm.experiments.eb_sampler.parts import SamplerSpec, evaluate
from mdm.experiments.training import task_eval_splits
from mdm.sampling import Threshold
from mdm.train import checkpoint


def accuracy(path: str, n: int) -> None:
    torch.set_num_threads(1)
    model, _ = checkpoint.load(path)
    model.eval()
    _, test, _ = task_eval_splits(path, None, 150)
    spec = SamplerSpec("threshold", "tau=0.99", Threshold(0.99), None, True)
    r = evaluate(model, test, spec, n_eval=n, batch_size=50, precision="bf16")
    print(path, r["accuracy"], r["nfe_mean"], "".join("1" if c else "0" for c in r["correct"].tolist()))


def compare(a_file: str, b_file: str, resamples: int = 10_000) -> None:
    a, b = (open(f).read().split()[-1] for f in (a_file, b_file))
    d = [int(y) - int(x) for x, y in zip(a, b)]
    rng = random.Random(0)
    means = sorted(sum(d[rng.randrange(len(d))] for _ in d) / len(d) for _ in range(resamples))
    lo, hi = means[int(0.025 * resamples) - 1], means[int(0.975 * resamples) - 1]
    print(f"B - A = {100 * sum(d) / len(d):+.1f} points [{100 * lo:.1f}, {100 * hi:.1f}] "
          f"(n = {len(d)}, 95% percentile bootstrap, {resamples:,} resamples, seed 0)")


if __name__ == "__main__":
    if sys.argv[1] == "compare":
        compare(sys.argv[2], sys.argv[3])
    else:
        accuracy(sys.argv[1], int(sys.argv[2]))
