"""``mdm exp NAME``: reproduce a seed paper's claim (:mod:`mdm.experiments`)."""

from __future__ import annotations

from pathlib import Path

from mdm.cli.args import check_output_dir

__all__ = ["add", "run"]


def add(sub) -> None:
    from mdm import experiments

    p = sub.add_parser("exp", help="reproduce a paper's claim (quick: ~1 minute; full: the published result)",
                       description="Run an experiment; writes result.json, report.md and PNG plots into "
                       f"--out. Installed experiments: {', '.join(experiments.available()) or 'none'}.")
    p.add_argument("name", help="experiment name")
    p.add_argument("--preset", choices=list(experiments.PRESETS), default="quick", help="default: quick")
    p.add_argument("--out", help="output folder (default runs/exp/NAME/PRESET)")
    p.add_argument("--seed", type=int, default=0, help="default 0")
    p.add_argument("--parts", help="comma-separated parts to run (eb-sampler, energy-schedules; "
                   "an unknown name lists the preset's parts); default: every part")
    p.set_defaults(func=run)


def run(args) -> int:
    from mdm import experiments

    experiments.get(args.name)  # unknown name -> ConfigError before any folder is made
    parts = None if args.parts is None else tuple(x.strip() for x in args.parts.split(",") if x.strip())
    out = Path(args.out) if args.out else Path("runs") / "exp" / args.name / args.preset
    check_output_dir(out)
    experiments.run(args.name, args.preset, out, seed=args.seed, parts=parts)
    print(f"results: {out}/report.md, {out}/result.json")
    return 0
