"""``mdm export CHECKPOINT OUT_DIR``: a checkpoint as a Hugging Face model folder (loads without mdm)."""

from __future__ import annotations

from pathlib import Path

from mdm.cli.args import check_output_dir

__all__ = ["add", "run"]


def add(sub) -> None:
    p = sub.add_parser("export", help="write a checkpoint as a Hugging Face model folder",
                       description="Write config.json, model.safetensors, tokenizer files and the modeling "
                       "code, so that transformers.AutoModelForMaskedLM.from_pretrained(OUT_DIR, "
                       "trust_remote_code=True) loads the model without mdm installed (and mdm.load(OUT_DIR) "
                       "too). The folder can be pushed to a model hub as is.")
    p.add_argument("checkpoint", help="checkpoint directory (or a training run's folder)")
    p.add_argument("out_dir", help="output folder (must not exist, or be empty)")
    p.add_argument("--no-ema", action="store_true", help="export the raw trained weights, not their EMA")
    p.add_argument("--license", default="other",
                   help="license id for the model card's hub metadata (e.g. mit, apache-2.0; default other)")
    p.set_defaults(func=run)


def run(args) -> int:
    from mdm.cli.sampler import load_checkpoint
    from mdm.errors import CheckpointError
    from mdm.models.hf.export import export
    from mdm.train import checkpoint

    out = Path(args.out_dir)
    check_output_dir(out, "OUT_DIR")
    if out.exists() and any(out.iterdir()):
        raise CheckpointError(f"OUT_DIR {out} is not empty: choose a new folder")
    src = Path(args.checkpoint)
    src = src if checkpoint.is_checkpoint(src) else src / "checkpoint"
    if args.no_ema:
        model, tokenizer = checkpoint.load(src, ema=False)
    else:
        model, tokenizer = load_checkpoint(str(src))
    training = checkpoint.read_config(src, verify=False)
    step = training.get("metadata", {}).get("step")
    export(model, tokenizer, out, metadata={"source_step": step, "ema": not args.no_ema}, training=training,
           license=args.license)
    print(f"exported {src} -> {out} (load with transformers.AutoModelForMaskedLM.from_pretrained("
          f"{str(out)!r}, trust_remote_code=True))")
    return 0
