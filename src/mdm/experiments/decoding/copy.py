"""The cost of approximate KV caches on a task with a long prompt (``mdm exp decoding``, part 1).

Copy task: the prompt is ``P`` uniform random symbols, the answer its first ``A`` symbols, so every
answer token must be read from the far end of a long context.  A small bidirectional transformer
trained here on the answer positions (the MDM NELBO, prompt never masked) is decoded once per cache
mode (Fast-dLLM, arXiv 2505.22618: none, ``prefix``, ``dual``, ``dual`` refreshed every 2 passes) by
``Threshold`` in blocks, ``TopK(1)`` in blocks and ``TopK(1)`` over the whole answer in one block
(the longest reuse of stale keys/values): the approximation's cost measured, not assumed.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import torch

__all__ = ["CopyPreset", "copy_batch", "train_copy_model", "evaluate_cache_modes"]

MODES = [("none", None, None), ("prefix", "prefix", None), ("dual", "dual", None),
         ("dual, refresh 2", "dual", 2)]


@dataclass(frozen=True)
class CopyPreset:
    prompt_len: int
    answer_len: int
    symbols: int
    d_model: int
    n_layers: int
    steps: int
    batch: int
    lr: float
    n_test: int
    block: int
    tau: float


def decoders(p: CopyPreset):
    """``(label, unmasker, block_size)`` of each decoder the cache modes are compared under."""
    from mdm.sampling import Threshold, TopK

    return [(f"Threshold({p.tau}), blocks of {p.block}", Threshold(p.tau), p.block),
            (f"TopK(1), blocks of {p.block}", TopK(1), p.block),
            ("TopK(1), one block", TopK(1), None)]


def copy_batch(n: int, p: CopyPreset, generator: torch.Generator) -> torch.Tensor:
    """``[n, P + A]``: random prompts followed by their first ``A`` symbols."""
    prompt = torch.randint(0, p.symbols, (n, p.prompt_len), generator=generator)
    return torch.cat([prompt, prompt[:, :p.answer_len]], dim=1)


def train_copy_model(p: CopyPreset, seed: int, progress: bool = False):
    """A bidirectional transformer trained on the copy task (answer positions only); ``(model, log)``."""
    from mdm.losses import diffusion_loss
    from mdm.models.transformer import TransformerConfig, TransformerDenoiser
    from mdm.variance import AntitheticTime

    torch.manual_seed(seed)
    length = p.prompt_len + p.answer_len
    cfg = TransformerConfig(vocab_size=p.symbols + 1, mask_id=p.symbols, d_model=p.d_model,
                            n_layers=p.n_layers, n_heads=4, max_len=length, learned_positions=True)
    model = TransformerDenoiser(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=p.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / 20))
    gen = torch.Generator().manual_seed(seed)
    eligible = torch.zeros(p.batch, length, dtype=torch.bool)
    eligible[:, p.prompt_len:] = True
    log, t0 = [], time.perf_counter()
    for step in range(p.steps):
        out = diffusion_loss(model, copy_batch(p.batch, p, gen), eligible=eligible, generator=gen,
                             time_sampler=AntitheticTime())
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if step % 50 == 0 or step == p.steps - 1:
            log.append({"step": step, "loss": out.loss.item()})
            if progress:
                print(f"copy task: step {step} loss {log[-1]['loss']:.4f}", flush=True)
    return model.eval(), {"log": log, "train_seconds": time.perf_counter() - t0,
                          "parameters": model.num_parameters(), "config": cfg.to_dict()}


def evaluate_cache_modes(model, p: CopyPreset, seed: int) -> list[dict]:
    """One row per (decoder, cache mode): accuracy on ``n_test`` fresh prompts, agreement with no
    cache, NFE, time."""
    import mdm

    test = copy_batch(p.n_test, p, torch.Generator().manual_seed(10_000 + seed))  # never seen in training
    prompts, answers = test[:, :p.prompt_len], test[:, p.prompt_len:]
    rows = []
    for decoder, unmasker, block in decoders(p):
        ref = None
        for label, mode, refresh in MODES:
            t0 = time.perf_counter()
            out = mdm.sample(model, prompt=prompts, length=p.answer_len, block_size=block, unmasker=unmasker,
                             temperature=0.0, seed=seed, cache=mode, cache_refresh=refresh)
            seconds = time.perf_counter() - t0
            got = out.tokens[:, p.prompt_len:]
            ref = got if ref is None else ref
            rows.append({"decoder": decoder, "mode": label,
                         "token_accuracy": float((got == answers).double().mean()),
                         "exact_match": float((got == answers).all(dim=1).double().mean()),
                         "agreement_with_no_cache": float((got == ref).double().mean()),
                         "mean_nfe": float(out.nfe.double().mean()), "seconds": seconds,
                         "tokens_per_second": p.n_test * p.answer_len / seconds})
    return rows


def run_copy(p: CopyPreset, seed: int, progress: bool = False) -> dict:
    model, train_info = train_copy_model(p, seed, progress)
    return {"preset": asdict(p), "train": train_info, "rows": evaluate_cache_modes(model, p, seed)}
