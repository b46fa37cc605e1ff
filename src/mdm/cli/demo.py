"""``mdm demo``: train a small char-level MDM on the KJV Bible, sample, measure, report."""

from __future__ import annotations

from pathlib import Path

from mdm.cli.args import check_output_dir, int_at_least

__all__ = ["add", "run"]


def add(sub) -> None:
    p = sub.add_parser("demo", help="train a small char-level MDM on the KJV Bible, sample, measure, report",
                       description="Trains a small character-level MDM on the King James Bible "
                       "(precision: auto, i.e. fp32 unless the hardware has native bf16; a few minutes "
                       "on 2 cores), prints validation bits/char, samples with three samplers (ancestral, "
                       "confidence-scheduled, EB) and prints a table "
                       "of NFE, time, sample entropy, n-gram divergence to held-out text and generative "
                       "perplexity (when the reference LM is installed). Writes report.md, result.json, "
                       "training_curve.png and trace_*.png into --out.")
    p.add_argument("--out", default="runs/demo", help="output folder (default runs/demo; overwritten)")
    p.add_argument("--quick", action="store_true",
                   help="a seconds-long version (tiny model, 30 steps, no generative perplexity)")
    p.add_argument("--steps", type=int_at_least(1),
                   help="training steps (default: the packaged kjv-char-tiny config's; 30 with --quick)")
    p.add_argument("--seed", type=int, default=0, help="seed of training and sampling (default 0)")
    p.add_argument("--no-genppl", action="store_true", help="skip generative perplexity")
    p.set_defaults(func=run)


def run(args) -> int:
    from mdm.demo import run_demo

    out = Path(args.out)
    check_output_dir(out)
    genppl = not (args.no_genppl or args.quick)
    run_demo(out, quick=args.quick, steps=args.steps, seed=args.seed, genppl=genppl)
    return 0
