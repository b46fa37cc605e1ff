"""The cost of approximate KV caches on a task with a long prompt (``mdm exp decoding``, part 1).

Copy task (:mod:`mdm.tasks.copy`): the prompt is ``P`` uniform random symbols, the answer its first
``A`` symbols, so every answer token must be read from the far end of a long context.  A small
bidirectional transformer, trained by :func:`mdm.train.train` from the packaged ``copy`` config (the
MDM NELBO on the answer positions, prompt never masked), is decoded once per cache mode (Fast-dLLM,
arXiv 2505.22618: none, ``prefix``, ``dual``, ``dual`` refreshed every 2 passes) by ``Threshold`` in
blocks, ``TopK(1)`` in blocks and ``TopK(1)`` over the whole answer in one block (the longest reuse
of stale keys/values) on the task's test split: the approximation's cost measured, not assumed.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = ["CopyPreset", "copy_identity", "evaluate_cache_modes", "run_copy"]

MODES = [("none", None, None), ("prefix", "prefix", None), ("dual", "dual", None),
         ("dual, refresh 2", "dual", 2)]


@dataclass(frozen=True)
class CopyPreset:
    """``overrides`` of the packaged ``copy`` training config (``key=value``); decoded in blocks of
    ``block`` by ``Threshold(tau)`` and ``TopK(1)``, and by ``TopK(1)`` in one block."""

    overrides: tuple[str, ...] = ()
    block: int = 4
    tau: float = 0.9


def copy_identity(p: CopyPreset) -> dict:
    """What the copy model depends on in its resolved training config: the part's cache key, so
    editing the packaged YAML retrains (:func:`mdm.train.compat.model_identity`)."""
    from mdm.train import load_config
    from mdm.train.compat import model_identity

    return model_identity(load_config("copy", list(p.overrides)).to_dict())


def decoders(p: CopyPreset):
    """``(label, unmasker, block_size)`` of each decoder the cache modes are compared under."""
    from mdm.sampling import Threshold, TopK

    return [(f"Threshold({p.tau}), blocks of {p.block}", Threshold(p.tau), p.block),
            (f"TopK(1), blocks of {p.block}", TopK(1), p.block),
            ("TopK(1), one block", TopK(1), None)]


def evaluate_cache_modes(model, test, p: CopyPreset, seed: int) -> list[dict]:
    """One row per (decoder, cache mode) on the ``test`` split (disjoint from training): accuracy,
    agreement with no cache, NFE, time."""
    import mdm

    prompts, answers = test.prompts(), _answers(test)
    rows = []
    for decoder, unmasker, block in decoders(p):
        ref = None
        for label, mode, refresh in MODES:
            t0 = time.perf_counter()
            out = mdm.sample(model, prompt=prompts, length=test.answer_len, block_size=block,
                             unmasker=unmasker, temperature=0.0, seed=seed, cache=mode, cache_refresh=refresh)
            seconds = time.perf_counter() - t0
            got = out.tokens[:, test.prompt_len:]
            ref = got if ref is None else ref
            rows.append({"decoder": decoder, "mode": label,
                         "token_accuracy": float((got == answers).double().mean()),
                         "exact_match": float((got == answers).all(dim=1).double().mean()),
                         "agreement_with_no_cache": float((got == ref).double().mean()),
                         "mean_nfe": float(out.nfe.double().mean()), "seconds": seconds,
                         "tokens_per_second": len(test) * test.answer_len / seconds})
    return rows


def _answers(test):
    import torch

    return torch.stack([test[i]["input_ids"][test.prompt_len:] for i in range(len(test))])


def run_copy(p: CopyPreset, out_dir: Path, seed: int, progress: bool = False) -> dict:
    """Train (or load) the copy model of this seed in ``out_dir/models``, decode its test split."""
    from mdm.eval.splits import task_test_split
    from mdm.experiments.training import finished_checkpoint, seeded, train_summary
    from mdm.train import checkpoint, load_config

    cfg = load_config("copy", [*p.overrides, *([f"seed={seed}"] if seed else [])])
    run_dir = Path(out_dir) / "models" / seeded("copy", seed)
    ckpt = finished_checkpoint(cfg, run_dir, progress)
    model, _ = checkpoint.load(ckpt)
    test, _ = task_test_split(str(ckpt), None)
    return {"preset": asdict(p), "task": dict(cfg.data.options), "train": train_summary(run_dir, ckpt, model),
            "rows": evaluate_cache_modes(model.eval(), test, p, seed)}
