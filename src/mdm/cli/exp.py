"""``mdm exp NAME``: reproduce a seed paper's claim (:mod:`mdm.experiments`)."""

from __future__ import annotations

from pathlib import Path

from mdm.cli.args import check_output_dir, seed_arg

__all__ = ["add", "run"]


def add(sub) -> None:
    from mdm import experiments

    p = sub.add_parser("exp", help="reproduce a paper's claim (quick: ~1 minute; full: the published result)",
                       description="Run an experiment; writes result.json, report.md and PNG plots into "
                       f"--out. Installed experiments: {', '.join(experiments.available()) or 'none'}.")
    p.add_argument("name", help="experiment name")
    p.add_argument("--preset", choices=list(experiments.PRESETS), default="quick", help="default: quick")
    p.add_argument("--out", help="output folder (default runs/exp/NAME/PRESET)")
    seeds = p.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=seed_arg, help="one seed (default 0)")
    seeds.add_argument("--seeds", help="several seeds: A-B (e.g. 0-9) or a list (1,4,7)")
    p.add_argument("--parts", help="comma-separated parts to run (an unknown name lists the preset's "
                   "parts); default: every part")
    p.add_argument("--set", action="append", default=[], dest="overrides", metavar="KEY=VALUE",
                   help="replace a field of the preset's setup, typed by it (YAML: --set samples=64, "
                   "--set train.max_steps=200, --set steps=[4,8], --set calibration.0.instances=32); "
                   "repeatable; recorded in result.json")
    p.add_argument("--resume", action="store_true", help="reuse the parts an earlier (e.g. killed) run "
                   "saved in --out whose inputs are unchanged (the setup each part reads, its model's "
                   "training config but threads and cadence, the parts it reads)")
    p.add_argument("--progress", action="store_true", help="log each part as it finishes (stderr)")
    p.add_argument("--dry-run", action="store_true", help="check the name, preset, parts and seeds, print "
                   "what would run and exit; nothing is trained or written")
    p.set_defaults(func=run)


def run(args) -> int:
    from mdm import experiments
    from mdm.experiments.runner import parse_seeds

    experiments.get(args.name)  # unknown name -> ConfigError before any folder is made
    parts = None if args.parts is None else tuple(x.strip() for x in args.parts.split(",") if x.strip())
    seeds = parse_seeds(args.seeds) if args.seeds is not None else (args.seed or 0,)
    out = Path(args.out) if args.out else Path("runs") / "exp" / args.name / args.preset
    check_output_dir(out)
    if args.dry_run:
        return _dry_run(args.name, args.preset, seeds, parts, out, args.overrides)
    result = experiments.run(args.name, args.preset, out, seeds=seeds, parts=parts, resume=args.resume,
                             progress=args.progress, overrides=args.overrides)
    print(f"report: {out / 'report.md'}")
    for line in experiments.verdict_lines(args.name, result):
        print(line)
    return 0


def _dry_run(name: str, preset: str, seeds, parts, out: Path, overrides) -> int:
    """Print the validated plan of ``mdm exp`` (the checks a real run does before its first part)."""
    from mdm import experiments
    from mdm.experiments.runner import plan

    p = plan(experiments.get(name), preset, seeds, parts, overrides=overrides)
    print(f"{name} --preset {preset}: {len(p.selected)} of {len(p.parts)} parts x {len(p.seeds)} seed(s) "
          f"-> {out}")
    print(f"parts: {', '.join(p.selected)}")
    print(f"seeds: {', '.join(map(str, p.seeds))}")
    if p.overrides:
        print(f"set: {', '.join(p.overrides)}")
    return 0
