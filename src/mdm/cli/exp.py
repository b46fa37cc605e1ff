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
                   "what would run (with --resume: which saved parts it would reuse) and exit; nothing is "
                   "trained or written")
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
        return _dry_run(args.name, args.preset, seeds, parts, out, args.overrides, args.resume)
    result = experiments.run(args.name, args.preset, out, seeds=seeds, parts=parts, resume=args.resume,
                             progress=args.progress, overrides=args.overrides)
    print(f"report: {out / 'report.md'}")
    for line in experiments.verdict_lines(args.name, result):
        print(line)
    return 0


def _dry_run(name: str, preset: str, seeds, parts, out: Path, overrides, resume: bool = False) -> int:
    """Print the validated plan of ``mdm exp`` (the checks a real run does before its first part);
    with ``resume``, which saved parts it would reuse and which it would (re)compute."""
    from mdm import experiments
    from mdm.experiments.runner import plan

    p = plan(experiments.get(name), preset, seeds, parts, overrides=overrides)
    print(f"{name} --preset {preset}: {len(p.selected)} of {len(p.parts)} parts x {len(p.seeds)} seed(s) "
          f"-> {out}")
    print(f"parts: {', '.join(p.selected)}")
    print(f"seeds: {', '.join(map(str, p.seeds))}")
    if p.overrides:
        print(f"set: {', '.join(p.overrides)}")
    if resume:
        for status, labels in _resume_status(p, out).items():
            if labels:
                print(f"--resume {status}: {', '.join(labels)}")
    return 0


def _resume_status(p, out: Path) -> dict[str, list[str]]:
    """``PART/seed-N`` of every part the run would compute (the selected ones and the parts they
    need), by what ``--resume`` would do: reuse a saved result whose key matches, recompute one saved
    under another key (``stale``: what it reads changed), or run one never saved."""
    from mdm.experiments.cache import PartCache
    from mdm.experiments.runner import part_key

    by_name = {part.name: part for part in p.parts}
    todo: list[str] = []

    def add(name: str) -> None:
        for n in by_name[name].needs:
            add(n)
        if name not in todo:
            todo.append(name)

    for name in p.selected:
        add(name)
    cache, status = PartCache(out, reuse=True), {"reuses": [], "recomputes (stale)": [], "runs": []}
    for seed in p.seeds:
        for name in todo:
            saved = cache.load(name, seed, part_key(p, name, seed))
            kind = ("reuses" if saved is not None else
                    "recomputes (stale)" if cache.path(name, seed).is_file() else "runs")
            status[kind].append(f"{name}/seed-{seed}")
    return status
