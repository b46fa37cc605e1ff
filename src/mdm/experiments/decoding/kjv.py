"""Block diffusion on the KJV text (``mdm exp decoding``, part 2): BD3-LM's interpolation between
diffusion and autoregression (Arriola et al., arXiv 2503.09573).

The packaged ``kjv-char-block`` config is trained with block sizes ``4 / 16 / 64`` (the two-stream
block NELBO) and as a bidirectional MDM (``model.block_size=null``), all at the same steps, batch
and shape.  Reported: the validation NELBO in bits per character (an upper bound on the NLL for
both kinds), and beside it samples of each model -- block models decoded block by block with the
exact prefix cache, the bidirectional model in one block -- scored by n-gram JS divergence to
the validation text and entropy (:func:`mdm.eval.sample_quality.sample_quality`).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["KJVPreset", "run_kjv"]


@dataclass(frozen=True)
class KJVPreset:
    block_sizes: tuple  # None = bidirectional
    overrides: tuple  # extra key=value overrides of kjv-char-block (shape, steps)
    n_samples: int
    sample_len: int


def _train_one(block, p: KJVPreset, out_dir: Path, seed: int, progress: bool):
    from mdm.experiments.training import finished_checkpoint, seeded
    from mdm.train import checkpoint, load_config

    name = "bidirectional" if block is None else f"block-{block}"
    overrides = [*p.overrides, f"model.block_size={'null' if block is None else block}", f"seed={seed}",
                 "threads=1"]  # the published numbers' one thread (the packaged config's is auto)
    cfg = load_config("kjv-char-block", overrides)
    ckpt = finished_checkpoint(cfg, out_dir / "models" / seeded(name, seed), progress)
    meta = checkpoint.read_config(ckpt).get("metadata", {})
    model, tok = checkpoint.load(ckpt)
    return name, model.eval(), tok, cfg, meta


def _samples(model, block, p: KJVPreset, seed: int):
    import mdm
    from mdm.sampling import Scheduled

    block_size = block if block is not None and block < p.sample_len else None
    t0 = time.perf_counter()
    out = mdm.sample(model, batch_size=p.n_samples, length=p.sample_len, block_size=block_size,
                     unmasker=Scheduled(p.sample_len), temperature=1.0, seed=seed,
                     cache="prefix" if block is not None else None)
    return out.tokens, time.perf_counter() - t0


def run_kjv(p: KJVPreset, out_dir: Path, seed: int, progress: bool = False) -> dict:
    from mdm.eval.sample_quality import sample_quality
    from mdm.tasks.text import text_dataset

    rows, reference = [], None
    for block in p.block_sizes:
        name, model, tok, cfg, meta = _train_one(block, p, out_dir, seed, progress)
        if reference is None:
            data = text_dataset(seq_len=cfg.data.seq_len, seed=cfg.seed, corpus=cfg.data.corpus,
                                tokenizer=tok, val_fraction=cfg.data.val_fraction)
            reference = [data.val[i]["input_ids"].tolist() for i in range(min(len(data.val), 256))]
        tokens, seconds = _samples(model, block, p, seed)
        q = sample_quality(tokens.tolist(), reference, orders=(1, 2, 3))
        val = meta.get("val", {})
        rows.append({
            "model": name, "block_size": block, "steps": cfg.max_steps,
            "val_bits_per_char": val.get("val_bits_per_char"),
            "val_nelbo_nats_per_token": val.get("val_nelbo_nats_per_token"),
            "js_1": q.ngram_js_bits[1], "js_2": q.ngram_js_bits[2], "js_3": q.ngram_js_bits[3],
            "entropy_1": q.ngram_entropy_bits[1], "sample_seconds": seconds,
            "sample": tok.decode(tokens[0])[:160],
        })
    return {"preset": asdict(p), "rows": rows}
