"""The long-answer part of ``mdm exp variance``: A/B/C and the P-POTS fit where P = ``long_length``.

With P = 4 answer tokens (2-digit sums) the mask rate hardly matters and the paper's density family
cannot follow the grid target; Jia et al. (arXiv 2511.18159) work with answers of hundreds of tokens.
Here the answer is a sorted sequence of ``long_length`` digits (:mod:`mdm.tasks.sorting`, 32 by
default): the same transformer shape is pretrained on whole sequences, then fine-tuned on the answer
with the standard arm; at both points we measure A/B/C (:func:`mdm.variance.decompose`), the grid
estimate of g(t), v(t) and the fitted P-POTS density with its KL to the grid target.
"""

from __future__ import annotations

import statistics
import time

from mdm.eval.verified import decode_verified
from mdm.experiments.variance.arms import ARMS, make_model, pretrain_mdm, sft
from mdm.experiments.variance.curves import ppots_summary
from mdm.experiments.variance.presets import DECOMP_EPS, Preset
from mdm.sampling import TopK
from mdm.tasks.sorting import SortingConfig, SortingDataset
from mdm.variance import PPOTS, decompose

__all__ = ["long_part"]

_STANDARD = next(a for a in ARMS if a.name == "standard")


def long_part(p: Preset, seed: int, ctx) -> dict:
    cfg = SortingConfig(length=p.long_length, n_train=p.long_n_train, n_test=p.long_n_test, seed=seed)
    train, test = SortingDataset.splits(cfg)
    x_train, el_train = train.tensors()
    x_test, el_test = test.tensors()
    rows = slice(0, p.long_decomp_rows)
    t0 = time.perf_counter()
    model = make_model(train.tokenizer, cfg.seq_len, p.d_model, p.n_layers, p.n_heads, seed=seed)
    pretrain_mdm(model, x_train, steps=p.long_pretrain_steps, batch=p.long_pretrain_batch, lr=p.pretrain_lr,
                 seed=seed)
    pretrain_s = time.perf_counter() - t0

    def measure(m, s) -> dict:
        abc = decompose(m, x_test[rows], eligible=el_test[rows], seed=s, n_t=p.decomp_n_t,
                        n_masks=p.decomp_masks, replicates=p.decomp_reps, eps=DECOMP_EPS).as_dict()
        ppots = PPOTS(eps=1e-3).calibrate(m, x_train, eligible=el_train, grid=p.ppots_grid,
                                          n_examples=p.ppots_examples, n_masks=p.ppots_masks,
                                          restarts=p.ppots_restarts, seed=s)
        acc = decode_verified(m, test, TopK(1)).correct.tolist()
        return {"abc": abc, "ppots": ppots_summary(ppots), "test_acc": statistics.fmean(acc)}

    pretrained = measure(model, seed)
    t1 = time.perf_counter()
    stats = sft(model, x_train, el_train, _STANDARD, None, seed=seed, steps=p.long_sft_steps,
                batch=p.sft_batch, lr=p.sft_lr, checkpoints=(), on_checkpoint=None)
    sft_s = time.perf_counter() - t1
    return {"task": {"name": "sorting", "length": cfg.length, "n_symbols": cfg.n_symbols,
                     "answer_tokens": cfg.length, "seq_len": cfg.seq_len, "n_train": len(train),
                     "n_test": len(test)},
            "pretrained": pretrained, "after_sft": measure(model, seed + 1) | {"loss_var": stats["loss_var"]},
            "wall_s": {"pretrain": pretrain_s, "sft": sft_s}}
