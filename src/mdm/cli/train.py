"""``mdm train CONFIG``: train an MDM from a YAML config."""

from __future__ import annotations

from pathlib import Path

from mdm.cli.args import check_output_dir
from mdm.cli.signals import exit_code, stop_signals
from mdm.errors import CheckpointError, ConfigError

__all__ = ["add", "run"]


def add(sub) -> None:
    p = sub.add_parser("train", help="train an MDM from a YAML config",
                       description="Train a masked diffusion model. Writes OUT/checkpoint/, "
                       "OUT/metrics.jsonl and OUT/config.yaml.")
    p.add_argument("config", help="YAML file, or the name of a packaged config (e.g. kjv-char-tiny)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set optim.lr=3e-4 (repeatable)")
    p.add_argument("--out", help="output folder (default: the config's out_dir)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/checkpoint (without it, an existing checkpoint there is an "
                   "error). A changed model.*, data.*, loss.*, optim.*, seed, batch_size, grad_accum or "
                   "corpus is refused (the optimizer and data come from the checkpoint); other changes "
                   "(max_steps, stop_after, ema, eval/log/save cadence, precision, device, threads) "
                   "are applied")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--compile", action="store_true",
                   help="compile the training step's transformer trunk with torch.compile (the config's "
                   "compile: true); pays off on long runs, the first step compiles")
    p.set_defaults(func=run)


def run(args) -> int:
    from mdm.train import checkpoint, load_config, train
    from mdm.train.lock import check_unlocked
    from mdm.train.loop import CHECKPOINT_DIR
    from mdm.train.objective import objective_for
    from mdm.train.summary import summary_lines

    overrides = [*args.overrides, "compile=true"] if args.compile else args.overrides
    cfg = load_config(args.config, overrides)  # checks every section, the objective's included
    out_text = cfg.out_dir if args.out is None else args.out
    check_output_dir(out_text, run_folder=True)  # mdm.paths: not inside a checkpoint or another live run
    out = Path(out_text)
    check_unlocked(out)  # a live run there: say so before judging its (changing) checkpoint
    ckpt_dir = out / CHECKPOINT_DIR
    exists = checkpoint.is_checkpoint(ckpt_dir) or checkpoint.recoverable(ckpt_dir)
    if args.resume and not exists:
        raise CheckpointError(f"--resume: there is no checkpoint in {ckpt_dir} to continue from")
    if not args.resume and exists:
        raise ConfigError(f"{out} already holds a checkpoint: pass --resume to continue it, or another --out")
    with stop_signals() as stopped:  # SIGTERM in start-up unwinds (the lock's folder is cleaned up)
        res = train(cfg, out_dir=out, progress=not args.quiet, resume=bool(args.resume))
    print("\n".join(summary_lines(res, objective_for(cfg))))
    return exit_code(stopped, res)  # 130 / 143 after SIGINT / SIGTERM: `mdm train && ...` stops
