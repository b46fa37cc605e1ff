"""``python -m mdm.train CONFIG [--set key=value ...] [--out DIR]`` -- also the torchrun entry point:

    torchrun --standalone --nproc_per_node=2 -m mdm.train kjv-char-tiny --out runs/ddp
"""

from __future__ import annotations

import argparse
import os
import sys

from mdm.errors import MDMError
from mdm.train.config import load_config
from mdm.train.loop import train
from mdm.train.objective import objective_for
from mdm.train.summary import summary_lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m mdm.train", description=__doc__.splitlines()[0])
    p.add_argument("config", help="YAML file or packaged config name")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", default=None, help="output directory (default: the config's out_dir)")
    p.add_argument("--no-resume", action="store_true", help="start afresh even if a checkpoint exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    try:
        cfg = load_config(args.config, args.overrides)
        result = train(cfg, out_dir=args.out, progress=not args.quiet, resume=not args.no_resume and "auto")
    except MDMError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if os.environ.get("RANK", "0") == "0":  # under torchrun: once, from rank 0 (as `mdm train` prints)
        print("\n".join(summary_lines(result, objective_for(cfg))))
    return 143 if result.interrupted and result.steps < cfg.max_steps and cfg.stop_after is None else 0


if __name__ == "__main__":
    sys.exit(main())
