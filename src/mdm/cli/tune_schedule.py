"""``mdm tune-schedule``: grid-search the Beta energy schedule (a, b) for a model and a metric.

The search itself is :func:`mdm.tuning.tune_schedule` (Chen et al., "Masked Diffusion Models as
Energy Minimization", arXiv 2509.13866); this module turns the command line into an objective,
runs it and writes the outputs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from pathlib import Path

from mdm.cli.args import float_in, int_at_least, int_in, seed_arg, steps_arg
from mdm.errors import ConfigError

__all__ = ["add", "run"]


def _grid_arg(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError("give at least one value")
    return values


_grid_arg.__name__ = "grid"

MAX_ITEMS = 1_000_000  # items scored per grid cell / finalist


def add(subparsers) -> None:
    """Add ``mdm tune-schedule`` to the ``mdm`` command's subparsers.

    What is scored (one of):

    * ``--language SPEC``: samples measured under an exact language (``ngram:vocab=8,order=2,...``
      or ``hmm:states=8,vocab=8,...``), metric ``--metric ser`` (default) or ``ter``; the
      denoiser is the language's exact oracle, or ``--checkpoint DIR`` trained on that language.
    * ``--checkpoint DIR`` alone: accuracy (verifier) on a validation split of the task the
      checkpoint was trained on (``sudoku``, ``arithmetic``; ``--task`` overrides the name),
      disjoint from its train and test splits: report the chosen schedule on the test split.

    Search: ``--steps N`` (required), ``--samples`` items per grid cell (64), ``--refine-samples``
    (256) for the ``--top`` (3) best cells plus linear, ``--grid-a`` / ``--grid-b`` (default
    0.1,...,1.0; values must be > 0), ``--proxy`` (default random for languages, confidence for
    tasks), ``--temperature`` (1 for languages, 0 for tasks), ``--length`` (language samples, 64),
    ``--batch-size``, ``--block-size``, ``--seed``, ``--device``.  Output in ``--out`` (default
    ``runs/tune/<name>``): ``cache.json`` (rerun the same command to resume), ``result.json``,
    ``table.txt`` and ``heatmap.png``; the table is printed.
    """
    from mdm.sampling.proxies import PROXIES
    from mdm.tuning import DEFAULT_GRID

    p = subparsers.add_parser(
        "tune-schedule", help="grid-search the Beta energy schedule (a, b) for a model and a metric",
        description="Grid-search (a, b) of the Beta energy schedule alpha = sin^2(pi/2 I(a, b)) "
        "(Chen et al., arXiv 2509.13866), then re-score the best few on more items. Interrupted "
        "searches resume from OUT/cache.json.")
    src = p.add_argument_group("what to score")
    src.add_argument("--checkpoint", help="checkpoint directory (mdm train output/checkpoint)")
    src.add_argument("--language", help="exact language, e.g. ngram:vocab=8,order=2,branching=2,seed=0")
    src.add_argument("--task", help="task of the checkpoint (default: read from the checkpoint)")
    src.add_argument("--metric", choices=["accuracy", "ser", "ter"],
                     help="accuracy for tasks (default); ser (default) or ter for languages")
    p.add_argument("--steps", type=steps_arg, required=True, help="sampling steps N")
    p.add_argument("--samples", type=int_in(1, MAX_ITEMS), default=64,
                   help="items per grid cell (default 64)")
    p.add_argument("--refine-samples", type=int_in(1, MAX_ITEMS), default=256,
                   help="items per finalist (default 256)")
    p.add_argument("--top", type=int_in(0, MAX_ITEMS), default=3,
                   help="finalists re-scored on more items (default 3)")
    p.add_argument("--grid-a", type=_grid_arg, default=DEFAULT_GRID, help="comma list (default 0.1,...,1.0)")
    p.add_argument("--grid-b", type=_grid_arg, default=DEFAULT_GRID, help="comma list (default 0.1,...,1.0)")
    p.add_argument("--proxy", choices=sorted(PROXIES),
                   help="position order (default: random for languages, confidence for tasks)")
    p.add_argument("--temperature", type=float_in(0.0, float("inf")),
                   help="default: 1 for languages, 0 for tasks")
    p.add_argument("--length", type=int_at_least(1), default=64,
                   help="sequence length for --language (default 64; bounded by memory)")
    p.add_argument("--batch-size", type=int_at_least(1), default=128, help="default 128 (bounded by memory)")
    p.add_argument("--block-size", type=int_at_least(1), help="semi-autoregressive blocks (tasks)")
    p.add_argument("--seed", type=seed_arg, default=0, help="default 0")
    p.add_argument("--device", default="cpu", help="device for a checkpoint's model (default cpu)")
    p.add_argument("--out", help="output folder (default runs/tune/<name>)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    """Handler of ``mdm tune-schedule``: validate everything, then search, print, write."""
    from mdm.languages import LanguageView, parse_language_spec
    from mdm.limits import check_fits_memory
    from mdm.paths import check_writable_output
    from mdm.tuning import (
        TuneConfig,
        check_models_language,
        format_table,
        language_objective,
        plot_heatmap,
        tune_schedule,
        verifier_objective,
    )

    if args.checkpoint is None and args.language is None:
        raise ConfigError("give --language SPEC (exact language) or --checkpoint DIR (trained model)")
    language = parse_language_spec(args.language) if args.language else None
    metric = args.metric or ("ser" if language is not None else "accuracy")
    if (metric == "accuracy") != (language is None):
        raise ConfigError("--metric accuracy goes with a task checkpoint; ser / ter with --language")
    if language is not None:  # the exact oracle's logits [batch, length, vocab] in float64
        check_fits_memory("--batch-size x --length x vocab", args.batch_size, args.length,
                          language.vocab_size + 1, bytes_per=8)
    config = TuneConfig(steps=args.steps, grid_a=args.grid_a, grid_b=args.grid_b, samples=args.samples,
                        refine_top=args.top, refine_samples=args.refine_samples,
                        maximize=metric == "accuracy", seed=args.seed)  # rejects a, b <= 0
    slug = "".join(c if c.isalnum() else "-" for c in (args.language or Path(args.checkpoint).parent.name))
    out = Path(args.out) if args.out is not None else Path("runs") / "tune" / f"{slug}-{metric}-N{args.steps}"
    check_writable_output(str(out) if args.out is None else args.out, kind="dir", flag="--out")  # mdm.paths
    model = None
    if args.checkpoint:
        from mdm.cli.sampler import load_checkpoint, parse_device

        parse_device(args.device)
        model, tokenizer = load_checkpoint(args.checkpoint, args.device)
    if language is not None:
        den = None
        if model is not None:
            from mdm import loading as checkpoint

            path = Path(args.checkpoint)
            path = path if checkpoint.is_checkpoint(path) else path / "checkpoint"
            train_cfg = checkpoint.read_config(path, verify=False).get("train")
            check_models_language(model, tokenizer, train_cfg, language, args.language, args.checkpoint)
            den = LanguageView(model, language.vocab_size)
        objective = language_objective(
            language, args.steps, length=args.length, denoiser=den, metric=metric,
            proxy=args.proxy or "random", temperature=1.0 if args.temperature is None else args.temperature,
            batch_size=args.batch_size)
        what = f"{args.language}" + (f" model {args.checkpoint}" if model is not None else " exact")
    else:
        from mdm.eval.splits import task_eval_splits

        # a choice is made on validation items, never on the test split results are reported on
        n_valid = max(args.samples, args.refine_samples)
        dataset, _, task = task_eval_splits(args.checkpoint, args.task, n_valid)
        objective = verifier_objective(
            model, dataset, args.steps, proxy=args.proxy or "confidence",
            temperature=0.0 if args.temperature is None else args.temperature,
            batch_size=args.batch_size, block_size=args.block_size)
        what = f"{task} {args.checkpoint} (validation, {n_valid} items)"
    name = f"{what} {metric} proxy={args.proxy} T={args.temperature} L={args.length} block={args.block_size}"
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        result = tune_schedule(objective, config, cache=out / "cache.json", name=name,
                               progress=not args.no_progress)
    except BaseException:
        if created:  # a search that failed before scoring anything leaves no empty folder
            with contextlib.suppress(OSError):
                out.rmdir()
        raise
    table = format_table(result, metric=metric)
    print(table)
    (out / "table.txt").write_text(table + "\n")
    payload = {"what": name, "metric": metric, **result.to_dict()}
    tmp = out / "result.json.tmp"
    tmp.write_text(json.dumps(payload, indent=2))
    os.replace(tmp, out / "result.json")
    plot_heatmap(result, out / "heatmap.png", metric=metric,
                 title=f"Beta(a, b) schedules, {args.steps} steps: {metric}\n{what}")
    print(f"results: {out}/result.json, {out}/heatmap.png (cache: {out}/cache.json)")
    return 0
