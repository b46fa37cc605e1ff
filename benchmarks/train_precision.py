"""Per-step time of the demo model in fp32 vs bf16 autocast, side by side (what ``precision: auto`` decides).

The model, data, loss and optimizer are the trainer's own, built from the packaged ``kjv-char-tiny``
config (d_model 128 x 3 layers, batch 32 x 64 characters, one thread): forward + NELBO objective + backward +
AdamW on the first batches of the real training stream.  The two precisions alternate step by step
so machine load hits both alike; the script prints medians, the ratio bf16 / fp32 and the CPU
capability (bf16 is fast only where it is native: ``mdm.train.precision.resolve_precision``).

    python benchmarks/train_precision.py                 # ~1 min on one CPU thread
    python benchmarks/train_precision.py --device cuda --threads 0
"""

from __future__ import annotations

import argparse

import torch

from benchtools import alternate, machine_line
from mdm.train import build_data, build_model, load_config
from mdm.train.data import Stream
from mdm.train.objective import objective_for
from mdm.train.optim import build_optimizer
from mdm.train.precision import autocast, cpu_capability, resolve_precision

PRECISIONS = ("fp32", "bf16")


def make_step(cfg, bundle, device: torch.device, precision: str):
    objective = objective_for(cfg)
    model = build_model(cfg, bundle.tokenizer, objective).to(device).train()
    objective.bind(model)
    opt = build_optimizer(model, cfg.optim, objective.param_groups(model))
    stream = Stream(bundle.train, cfg.seed)
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    state = {"position": 0}

    def step() -> None:
        batch = {k: v.to(device) for k, v in stream.batch(state["position"], cfg.batch_size).items()}
        state["position"] += cfg.batch_size
        with autocast(precision, device):
            out = objective.loss(model, batch, gen)
        out.loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="kjv-char-tiny")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per precision")
    p.add_argument("--steps", type=int, default=10, help="timed steps per precision (median, >= 3)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1, as the README's numbers; 0 = torch's)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = p.parse_args(argv)
    cfg = load_config(args.config)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    bundle = build_data(cfg)
    steps = {prec: make_step(cfg, bundle, device, prec) for prec in PRECISIONS}
    # alternate, the order rotated each step, so load on the machine hits both alike; CPU time
    timing = alternate(steps, args.steps, warmup=args.warmup)
    med = {prec: t.cpu_s for prec, t in timing.items()}
    auto, why = resolve_precision("auto", device)
    mc = cfg.model
    print(machine_line())
    print(f"{args.config}: d_model {mc.d_model} x {mc.n_layers} layers, batch {cfg.batch_size} x "
          f"{cfg.data.seq_len}, vocab {bundle.tokenizer.vocab_size} | "
          f"warmup {args.warmup}, median of {args.steps}")
    for prec in PRECISIONS:
        print(f"  {prec}: {1e3 * med[prec]:8.1f} ms/step CPU ({1e3 * timing[prec].wall_s:.1f} wall)")
    ratio = med["bf16"] / med["fp32"]
    print(f"bf16 / fp32 step CPU time: {ratio:.2f}x  [device {device}, CPU capability {cpu_capability()}]")
    print(f"precision: auto -> {auto} ({why})")
    return {"median_s": med, "ratio_bf16_over_fp32": ratio, "device": str(device),
            "cpu_capability": cpu_capability(), "auto": auto}


if __name__ == "__main__":
    main()
