"""The three arms of the small-Sudoku comparison (issue 27, item 3b): build, train, decode.

* **AP-MDM** (Yang et al., arXiv 2510.06190): :class:`~mdm.models.anyprocess.AnyProcessModel` trained
  with :func:`~mdm.models.anyprocess.anyprocess_loss` on solver transitions
  (:mod:`mdm.tasks.minisudoku.traces`), generated with :func:`mdm.sampling.anyprocess.generate`;
* **MDM**: a time-free :class:`~mdm.models.transformer.TransformerDenoiser` trained with the NELBO
  (:func:`mdm.losses.diffusion_loss`) on ``puzzle + solution`` (only the solution masked), decoded by
  :func:`mdm.sampling.sample` with a confidence unmasker (top-1, or a threshold);
* **AR**: the same network with ``causal=True``, next-token cross-entropy on the solution cells
  (row-major order), greedy left-to-right decoding.

All three share width, depth, heads, learned positions, optimiser, steps and batch size (the
parameter counts differ only by the AP-MDM's 3-bit head and the vocabularies).
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F

from mdm.losses import diffusion_loss
from mdm.models.anyprocess import AnyProcessConfig, AnyProcessModel, anyprocess_loss
from mdm.models.transformer import TransformerConfig, TransformerDenoiser
from mdm.sampling.anyprocess import generate
from mdm.sampling.autoregressive import greedy_continuation
from mdm.tasks.anyprocess.trajectory import TransitionDataset
from mdm.tasks.minisudoku import plain, traces
from mdm.tasks.minisudoku.grid import Shape

__all__ = ["ARMS", "build", "fit", "ap_dataset", "train_arm", "decode_ap", "decode_mdm", "decode_ar"]

ARMS = ("ap", "mdm", "ar")


def build(arm: str, shape: Shape, size: dict, seed: int) -> torch.nn.Module:
    """The untrained network of ``arm`` (one of :data:`ARMS`), initialised from ``seed``; ``size``:
    ``d_model``, ``n_layers``, ``n_heads``."""
    torch.manual_seed(seed)
    if arm == "ap":
        tok = traces.tokenizer(shape)
        return AnyProcessModel(AnyProcessConfig(vocab_size=tok.vocab_size, mask_id=tok.mask_id,
                                                pad_id=tok.pad_id, max_len=shape.cells,
                                                learned_positions=True, **size))
    tok = plain.tokenizer(shape)
    return TransformerDenoiser(TransformerConfig(vocab_size=tok.vocab_size, mask_id=tok.mask_id,
                                                 max_len=2 * shape.cells, learned_positions=True,
                                                 causal=arm == "ar", **size))


def ap_dataset(shape: Shape, puzzles, *, traces_per_puzzle: int, seed: int) -> tuple[TransitionDataset, dict]:
    """Transitions of ``traces_per_puzzle`` randomised traces per puzzle, and the count of each kind."""
    tok = traces.tokenizer(shape)
    items, kinds = [], dict.fromkeys(traces.KINDS, 0)
    for i, p in enumerate(puzzles):
        for r in range(traces_per_puzzle):
            # max_steps: a randomised restart search can fail many guesses in a row (a rare 6x6 trace
            # took over 200 steps); the same seeds give the same traces at any cap they finish under
            t, k = traces.trajectory(shape, p, seed=seed * 1_000_003 + i * 97 + r, max_steps=5000, tok=tok)
            items += t
            for x in k:
                kinds[x] += 1
    return TransitionDataset(items, shape.cells, mask_id=tok.mask_id, pad_id=tok.pad_id), kinds


def _ar_loss(model, batch) -> torch.Tensor:
    x, eligible = batch["input_ids"], batch["eligible"]
    logits = model(x[:, :-1]).float()
    return F.cross_entropy(logits[eligible[:, 1:]], x[:, 1:][eligible[:, 1:]])


def _loss(arm: str, model, batch, generator) -> torch.Tensor:
    if arm == "ap":
        return anyprocess_loss(model, batch).loss
    if arm == "mdm":
        return diffusion_loss(model, batch["input_ids"], eligible=batch["eligible"], generator=generator).loss
    return _ar_loss(model, batch)


def fit(arm: str, model, data, *, steps: int, batch_size: int, lr: float, seed: int,
        warmup: int = 20) -> dict:
    """AdamW, linear warm-up then cosine decay to 10%; batches from seeded epochs of ``data``."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup) * (
        0.1 + 0.45 * (1 + math.cos(math.pi * min(s, steps) / steps))))
    model.train()
    perm, pos, losses, t0 = torch.randperm(len(data), generator=g), 0, [], time.perf_counter()
    for _ in range(steps):
        if pos + batch_size > len(data):
            perm, pos = torch.randperm(len(data), generator=g), 0
        idx = perm[pos:pos + batch_size]
        pos += batch_size
        batch = {k: torch.stack([data[int(i)][k] for i in idx]) for k in data[0]}
        loss = _loss(arm, model, batch, g)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    model.eval()
    tail = losses[-max(1, steps // 10):]
    return {"steps": steps, "final_train_loss": sum(tail) / len(tail),
            "train_wall_s": time.perf_counter() - t0,
            "parameters": sum(p.numel() for p in model.parameters())}


def train_arm(arm: str, shape: Shape, puzzles, solutions, *, size: dict, steps: int, batch_size: int,
              lr: float, seed: int, traces_per_puzzle: int = 1) -> tuple[torch.nn.Module, dict]:
    """``(model, summary)``: ``arm`` built and trained on these puzzles (AP-MDM: on their traces)."""
    model = build(arm, shape, size, seed)
    extra = {}
    if arm == "ap":
        data, kinds = ap_dataset(shape, puzzles, traces_per_puzzle=traces_per_puzzle, seed=seed)
        extra = {"transitions": len(data), "kinds": kinds}
    else:
        data = plain.PlainSudoku(shape, puzzles, solutions)
    return model, {**fit(arm, model, data, steps=steps, batch_size=batch_size, lr=lr, seed=seed), **extra}


@torch.no_grad()
def decode_ap(model, shape: Shape, puzzles, *, max_steps: int, temperature: float, seed: int) -> dict:
    """Generate from every puzzle at once; per puzzle: solved, forward passes, why it halted."""
    tok = traces.tokenizer(shape)
    x = torch.tensor([traces.start_state(shape, p, tok) for p in puzzles], dtype=torch.long)
    res = generate(model, x, editable=x == tok.mask_id, max_steps=max_steps, temperature=temperature,
                   seed=seed)
    ok = traces.verify(shape, res.sequences(), puzzles, tok)
    return {"correct": ok.tolist(), "nfe": res.nfe.tolist(), "halted": res.halted}


@torch.no_grad()
def decode_mdm(model, shape: Shape, puzzles, solutions, unmasker) -> dict:
    """:func:`mdm.eval.verified.decode_verified` with ``unmasker`` (greedy, temperature 0)."""
    from mdm.eval.verified import decode_verified

    out = decode_verified(model, plain.PlainSudoku(shape, puzzles, solutions), unmasker,
                          batch_size=len(puzzles), seed=None)
    return {"correct": out.correct.tolist(), "nfe": out.nfe.tolist()}


def decode_ar(model, shape: Shape, puzzles, solutions) -> dict:
    """Greedy left-to-right: one forward pass per solution cell."""
    data = plain.PlainSudoku(shape, puzzles, solutions)
    x = greedy_continuation(model, data.prompts(), data.answer_len)
    return {"correct": data.verify(x).tolist(), "nfe": [data.answer_len] * len(puzzles)}
