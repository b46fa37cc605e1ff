"""Cost of the sampling step's non-finite-logits check (issue 25), side by side in one run.

``mdm.sample`` checks every step's logits (:func:`mdm.sampling.distribution.checked_row_max`: one
``amax`` over ``[positions, V]`` and one host sync).  This script times the same sampling run with
the check and with it replaced by a no-op, alternating repeat by repeat (order rotated) so machine
load hits both alike, in process CPU time, on a small randomly initialised transformer, and prints
the medians and their ratio (the samples must be identical: the check changes no number).

    .venv/bin/python benchmarks/logits_check.py                     # B=8, L=128, V=64, 128 steps
    .venv/bin/python benchmarks/logits_check.py --vocab 32000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import statistics

import torch

import mdm
import mdm.sampling.distribution as distribution
from benchtools import alternate, machine_line, timed
from mdm.models.transformer import TransformerConfig, TransformerDenoiser
from mdm.sampling import Scheduled
from mdm.train.precision import cpu_capability


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--length", type=int, default=128)
    p.add_argument("--vocab", type=int, default=64)
    p.add_argument("--steps", type=int, default=128)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--temperature", type=float, default=1.0)
    args = p.parse_args(argv)

    torch.manual_seed(0)
    model = TransformerDenoiser(TransformerConfig(vocab_size=args.vocab, mask_id=args.vocab - 1,
                                                  d_model=args.d_model, n_layers=args.layers, n_heads=4,
                                                  max_len=args.length)).eval()
    real = distribution.checked_row_max

    def unchecked(logits, where=None):  # what the step did before the check: nothing
        return logits.new_zeros(())

    def run(check):
        def side():
            distribution.checked_row_max = check
            try:
                with torch.inference_mode():
                    return mdm.sample(model, batch_size=args.batch, length=args.length, seed=0,
                                      unmasker=Scheduled(args.steps), temperature=args.temperature).tokens
            finally:
                distribution.checked_row_max = real
        return side

    tokens = {}
    print(machine_line())
    timing = alternate({"with check": run(real), "without": run(unchecked)}, args.repeats, warmup=1,
                       check=tokens.__setitem__)
    times = {k: t.cpu for k, t in timing.items()}  # process CPU time
    assert torch.equal(tokens["with check"], tokens["without"]), "the check changed the samples"
    med = {k: statistics.median(v) for k, v in times.items()}
    # the check alone against one forward pass, on the largest logits a step sees ([B*L, V])
    x = torch.full((args.batch, args.length), args.vocab - 1)
    with torch.inference_mode():
        logits = model(x).reshape(-1, args.vocab).float()
        fwd, chk = [], []
        for _ in range(20 * args.repeats):
            fwd.append(timed(lambda: model(x))[1])
            chk.append(timed(lambda: real(logits))[1])
    print(json.dumps({
        "cpu_capability": cpu_capability(), "threads": torch.get_num_threads(), **vars(args),
        "median_s": med, "all_s": times,
        "overhead": med["with check"] / med["without"] - 1.0,
        "check_alone_s": statistics.median(chk), "forward_s": statistics.median(fwd),
        "check_per_forward": statistics.median(chk) / statistics.median(fwd),
    }, indent=2))


if __name__ == "__main__":
    main()
