"""Rerun the planted-order part of ``mdm exp learned-order --preset full`` (seeds 0-4) after the
time-sampler fix (``loss.order_times: power``, the new default), one kind of model per process:

    PYTHONPATH=src python docs/results/learned-order/planted_rerun.py KIND OUT_DIR [TIMES [STEPS [ORDER_LR]]]

KIND: ``learned`` (RLOO, w trained), ``control`` (per-position, w frozen at 1 by order_lr 1e-12,
the same 4 draws) or ``fixed`` (shared linear schedule, 1 draw; not touched by the fix).  TIMES:
``loss.order_times`` (``power``, default; ``shared`` reproduces the run before the fix); STEPS:
training steps (default the preset's 300); ORDER_LR: ``loss.order_lr`` of the learned schedule
(default the preset's 0.05).  Same
data, held-out rows, training config and NELBO estimator as the preset (mdm.experiments.learned_order).
Writes OUT_DIR/planted-KIND-TIMES-STEPS.json.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from mdm.experiments.common import one_thread
from mdm.experiments.learned_order import PRESETS
from mdm.experiments.learned_order.measures import (
    kendall_tau,
    learned_w,
    nelbo_of,
    train_config,
    train_model,
    val_curve,
)
from mdm.tasks.planted import PlantedOrder


def main(kind: str, out: Path, times: str = "power", steps: int | None = None,
         order_lr: float | None = None) -> None:
    p = PRESETS["full"]
    setup = [*p.planted_train, f"loss.order_times={times}"]
    if steps is not None:
        setup += [f"max_steps={steps}", f"eval_every={steps // 6}",
                  f"optim.warmup_steps={max(1, steps // 10)}"]
    schedule = "linear" if kind == "fixed" else "per-position"
    if order_lr is not None:
        setup.append(f"loss.order_lr={order_lr}")
    if kind == "control":
        setup.append("loss.order_lr=1e-12")
    resolved = train_config({"task": "planted-order", "seq_len": p.planted_length}, setup)
    steps, lr = resolved.max_steps, resolved.loss.order_lr
    rows = {}
    for s in p.planted_seeds:
        t0 = time.perf_counter()
        planted = PlantedOrder.random(p.planted_vocab, p.planted_length, p.planted_noise, seed=s)
        heldout = planted.sample(p.n_heldout, torch.Generator().manual_seed(10_000 + s))
        data = {"task": "planted-order", "seq_len": p.planted_length,
                "options": {"vocab": p.planted_vocab, "noise": p.planted_noise, "n_train": p.n_train,
                            "n_val": p.n_heldout}}
        name = f"{kind}{s}-{times}-{steps}-lr{lr:g}"
        model, metrics = train_model(data, setup, schedule=schedule, seed=s, out=out / "runs" / name)
        w = learned_w(model)
        rows[s] = {"nelbo": nelbo_of(model, heldout, samples=p.nelbo_samples, seed=s),
                   "entropy": planted.entropy(), "perm": planted.perm.tolist(),
                   "val_curve": val_curve(metrics), "seconds": time.perf_counter() - t0}
        if w is not None:
            rows[s].update(w=w.tolist(), tau=kendall_tau(w, planted.perm),
                           w_history=[(r["step"], r["order_w"]) for r in metrics if "order_w" in r])
        print(name, {k: rows[s][k] for k in ("nelbo", "tau") if k in rows[s]}, flush=True)
    path = out / f"planted-{kind}-{times}-{steps}-lr{lr:g}.json"
    path.write_text(json.dumps(rows, indent=1), encoding="utf-8")


if __name__ == "__main__":
    with one_thread():
        args = sys.argv[1:]
        main(args[0], Path(args[1]), *args[2:3], *[int(a) for a in args[3:4]], *[float(a) for a in args[4:5]])
