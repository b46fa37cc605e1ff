"""``mdm harness CHECKPOINT|--hf DIR --tasks ...``: lm-evaluation-harness on an MDM, offline.

Wraps ``lm_eval.simple_evaluate`` with :class:`mdm.eval.harness.MDMHarnessLM`.  Loglikelihoods are
-NELBO, Monte-Carlo estimates of a lower bound on log p (printed with the results).  With
``--include-path DIR`` only the task YAMLs under DIR are indexed (fast, and nothing is fetched).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mdm.cli.args import check_output_file, float_in, int_at_least, seed_arg
from mdm.cli.sampler import add_unmasker_options, build_unmasker
from mdm.cli.source import add_model_source
from mdm.errors import ConfigError, DependencyError

__all__ = ["add", "run"]


def add(sub) -> None:
    p = sub.add_parser("harness", help="lm-evaluation-harness tasks on a checkpoint or an HF model",
                       description="Run lm-evaluation-harness tasks (local YAML tasks with --include-path "
                       "work offline). loglikelihood = -NELBO of the continuation given the never-masked "
                       "context: a Monte-Carlo LOWER BOUND on log p; generate_until samples with the "
                       "chosen unmasker and stops on the task's until strings.")
    add_model_source(p)
    p.add_argument("--tasks", required=True, help="comma-separated task names")
    p.add_argument("--include-path", metavar="DIR", help="folder of task YAMLs (only these are indexed)")
    p.add_argument("--limit", type=int_at_least(1), help="at most this many documents per task")
    p.add_argument("--num-fewshot", type=int_at_least(0), help="few-shot examples per prompt")
    p.add_argument("--elbo-stderr", type=float_in(0.0, float("inf"), lo_open=True), default=0.2,
                   metavar="NATS", help="ELBO draws per loglikelihood request are added (16 to "
                   "--max-elbo-samples) until the estimate's Monte-Carlo standard error is at most NATS "
                   "(default 0.2); the table's nelbo row reports the errors reached")
    p.add_argument("--max-elbo-samples", type=int_at_least(2), default=1024,
                   help="at most this many ELBO draws per request (default 1024)")
    p.add_argument("--elbo-samples", type=int_at_least(1),
                   help="a fixed number of ELBO draws per request instead of --elbo-stderr")
    p.add_argument("--batch-size", type=int_at_least(1), default=1,
                   help="requests of equal lengths (and generation options) run as one batch (default 1)")
    p.add_argument("--log-samples", metavar="FILE",
                   help="also write every request and the model's answer (lm-eval's samples) to FILE (JSON)")
    p.add_argument("--no-greedy-check", action="store_true",
                   help="skip the greedy decode behind is_greedy (saves NFE; is_greedy is then False)")
    p.add_argument("--max-gen-toks", type=int_at_least(1), default=64,
                   help="generate_until length when the task gives none (default 64)")
    add_unmasker_options(p, unmasker="topk", temperature=0.0)
    p.add_argument("--seed", type=seed_arg, default=0, help="random seed (default 0)")
    p.add_argument("--device", default="cpu", help="where the model runs (default cpu)")
    p.add_argument("--output", metavar="FILE", help="also write the results to FILE (JSON)")
    p.set_defaults(func=run)


def run(args) -> int:
    check_output_file(args.output, "--output")
    check_output_file(args.log_samples, "--log-samples")
    if args.include_path is not None and not Path(args.include_path).is_dir():
        raise ConfigError(f"--include-path {args.include_path} is not a folder")
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not tasks:
        raise ConfigError("--tasks needs at least one task name")
    unmasker = build_unmasker(args, args.max_gen_toks)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # local tasks and models only: never wait on a network
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    try:
        from lm_eval import simple_evaluate
        from lm_eval.tasks import TaskManager
        from lm_eval.utils import make_table
    except ImportError:
        raise DependencyError("mdm harness needs lm-eval: pip install 'mdm-lab[eval]'") from None
    from mdm.cli.source import load_source
    from mdm.eval.harness import MDMHarnessLM

    tm = TaskManager(include_path=args.include_path, include_defaults=args.include_path is None)
    unknown = [t for t in tasks if t not in tm.all_tasks]
    if unknown:
        where = f"under {args.include_path}" if args.include_path else "among lm-eval's tasks"
        raise ConfigError(f"unknown task(s) {unknown} {where}")
    model, tokenizer = load_source(args, args.device)
    lm = MDMHarnessLM(model, tokenizer, samples=args.elbo_samples, target_stderr=args.elbo_stderr,
                      max_samples=max(args.max_elbo_samples, 16), batch_size=args.batch_size, seed=args.seed,
                      greedy_check=not args.no_greedy_check, unmasker=unmasker, block_size=args.block_size,
                      temperature=args.temperature, max_gen_toks=args.max_gen_toks)
    seeds = {f"{k}random_seed": args.seed for k in ("", "numpy_", "torch_", "fewshot_")}
    res = simple_evaluate(model=lm, tasks=tasks, task_manager=tm, limit=args.limit,
                          num_fewshot=args.num_fewshot, bootstrap_iters=0, log_samples=bool(args.log_samples),
                          **seeds)
    for task, mc in lm.mc_summary().items():  # the Monte-Carlo error of the bounds, in the stderr column
        if task in res["results"]:
            res["results"][task]["nelbo,none"] = mc["nelbo"]
            res["results"][task]["nelbo_stderr,none"] = mc["nelbo_stderr"]
    print(make_table(res))
    print(lm.bound_note)
    print(f"requests: {lm.stats}")
    if args.output:
        out = {"results": res["results"], "note": lm.bound_note, "stats": lm.stats, "elbo": lm.mc_summary(),
               "config": {k: v for k, v in vars(args).items() if k != "func" and _plain(v)}}
        Path(args.output).write_text(json.dumps(out, indent=2, default=str), encoding="utf-8")
    if args.log_samples:
        Path(args.log_samples).write_text(json.dumps(res.get("samples", {}), indent=1, default=str),
                                          encoding="utf-8")
    return 0


def _plain(v) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))
