"""``mdm demo``: train a small char-level MDM on the KJV Bible, sample, measure, report."""

from __future__ import annotations

from pathlib import Path

from mdm.cli.args import check_output_dir, int_at_least, seed_arg
from mdm.errors import ConfigError

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
    p.add_argument("--out", default="runs/demo",
                   help="output folder (default runs/demo; a demo's earlier output there is replaced, a "
                   "finished `mdm train` run in OUT/train is not, unless --overwrite)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace OUT/train even when it holds a run that this demo did not train")
    p.add_argument("--quick", action="store_true",
                   help="a seconds-long version (tiny model, 30 steps, no generative perplexity)")
    p.add_argument("--steps", type=int_at_least(1),
                   help="training steps (default: the packaged kjv-char-tiny config's; 30 with --quick)")
    p.add_argument("--seed", type=seed_arg, default=0, help="seed of training and sampling (default 0)")
    p.add_argument("--no-genppl", action="store_true", help="skip generative perplexity")
    p.set_defaults(func=run)


def run(args) -> int:
    from mdm.demo import demo_config, run_demo

    check_output_dir(args.out, may_contain_runs=True)  # mdm.paths: the path itself first
    out = Path(args.out)
    own = _own_train_run(out, args.overwrite)
    check_output_dir(args.out, allow=(own,) if own else ())  # mdm.paths; OUT/train only if it is ours
    genppl = not (args.no_genppl or args.quick)
    demo_config(args.quick, args.steps, args.seed)  # a bad config fails before the mark is written
    if own:
        out.mkdir(parents=True, exist_ok=True)
        (out / DEMO_MARK).write_text("written by `mdm demo`: OUT/train is its own\n", encoding="utf-8")
    run_demo(out, quick=args.quick, steps=args.steps, seed=args.seed, genppl=genppl)
    return 0


DEMO_MARK = ".mdm-demo"


def _own_train_run(out: Path, overwrite: bool) -> Path | None:
    """``OUT/train`` when the demo may replace it (nothing there, an earlier demo's run, or
    ``--overwrite``); a finished ``mdm train`` run there is refused (:class:`ConfigError`)."""
    from mdm.paths import is_checkpoint_dir, is_live_run

    run = out / "train"
    if is_live_run(run):
        return None  # check_output_dir refuses it, naming the live run
    held = run.is_dir() and (is_checkpoint_dir(run / "checkpoint") or any(run.iterdir()))
    if held and not (overwrite or (out / DEMO_MARK).is_file() or _demo_result(out)):
        raise ConfigError(f"--out {out}: {run} holds a training run that `mdm demo` did not make; "
                          "choose another --out, or pass --overwrite to replace it")
    return run


def _demo_result(out: Path) -> bool:
    """An earlier demo's result.json (written before the marker existed)."""
    import json

    try:
        prov = json.loads((out / "result.json").read_text(encoding="utf-8")).get("provenance", {})
        return str(prov.get("command", "")).startswith("mdm demo")
    except (OSError, ValueError, AttributeError):
        return False
