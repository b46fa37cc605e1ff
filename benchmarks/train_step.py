"""Time of one MDM training step relative to a same-size autoregressive (causal LM) step.

Both steps use the same transformer code, widths and vocabulary (GPT-2's 50,257 tokens + 1 mask
token) and do forward + backward + AdamW step:

* MDM: bidirectional; stratified times ``t_b = (b + 1/2) / B`` and exactly ``round(t_b L)`` masked
  positions per sequence (chosen at random), so every step masks the same number of tokens,
  E[t] L = L/2 per sequence as with t ~ U(0, 1) (a random t made the cost, and the MDM/AR ratio,
  swing 0.31-0.57 between seeds); logits only at the masked positions (``output_mask``); CE weighted
  by the linear schedule's ELBO weight 1/t (MDLM eq. 10), summed over masked tokens and divided by B * L.
* AR: the same network with ``causal=True``; logits at every position; next-token CE.

With a large vocabulary the output projection dominates both steps, and the MDM step computes it
at only ~half of the positions (E[t] = 1/2). The two steps alternate repeat by repeat, so load on
the machine affects both alike (their order rotated every repeat); the script reports medians and
the ratio MDM / AR in wall time and in process CPU time (the one to read on a shared machine).

    .venv/bin/python benchmarks/train_step.py                       # CPU defaults, ~1-2 min
    .venv/bin/python benchmarks/train_step.py --device cuda --d-model 768 --layers 12 --heads 12 \
        --batch 16 --length 1024
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from contextlib import nullcontext

import torch
import torch.nn.functional as F

from benchtools import cpu_model, machine_line, timed
from mdm.models.transformer import TransformerConfig, TransformerDenoiser
from mdm.train.precision import cpu_capability

GPT2_VOCAB = 50257


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--length", type=int, default=256)
    p.add_argument("--vocab", type=int, default=GPT2_VOCAB, help="real tokens; the mask token is added")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps per model and precision")
    p.add_argument("--repeats", type=int, default=5,
                   help="timed steps per model and precision (median, >= 3)")
    p.add_argument("--precisions", default="fp32,bf16", help="comma list of fp32, bf16 (autocast)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: more threads on a shared box run slower; 0 = torch's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = p.parse_args(argv)
    bad = set(args.precisions.split(",")) - {"fp32", "bf16"}
    if bad:
        p.error(f"unknown precision(s) {sorted(bad)}; use fp32 and/or bf16")
    return args


def mdm_loss(model: TransformerDenoiser, x0: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    B, L = x0.shape
    t = (torch.arange(B, device=x0.device) + 0.5) / B  # stratified: the masked count is fixed
    count = (t * L).round().long().clamp(1, L)
    rank = torch.rand(B, L, generator=gen, device=x0.device).argsort(dim=1).argsort(dim=1)
    mask = rank < count[:, None]  # exactly count[b] random positions of row b
    xt = torch.where(mask, model.mask_id, x0)
    logits = model(xt, output_mask=mask)  # [N, V], N = number of masked tokens
    nll = F.cross_entropy(logits, x0[mask], reduction="none")
    weight = (1.0 / t)[:, None].expand(B, L)[mask]
    return (weight * nll).sum() / (B * L)


def ar_loss(model: TransformerDenoiser, x0: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    logits = model(x0)  # [B, L, V]
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), x0[:, 1:].reshape(-1))


def make_model(args, causal: bool, device) -> TransformerDenoiser:
    torch.manual_seed(args.seed)  # both models start from identical weights
    cfg = TransformerConfig(vocab_size=args.vocab + 1, mask_id=args.vocab, d_model=args.d_model,
                            n_layers=args.layers, n_heads=args.heads, max_len=args.length, causal=causal)
    return TransformerDenoiser(cfg).to(device).train()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_precision(args, precision: str, device: torch.device) -> dict:
    gen = torch.Generator(device=device).manual_seed(args.seed)
    x0 = torch.randint(0, args.vocab, (args.batch, args.length), generator=gen, device=device)
    runs = {}
    for name, causal, loss_fn in (("mdm", False, mdm_loss), ("ar", True, ar_loss)):
        model = make_model(args, causal, device)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
        runs[name] = (model, opt, loss_fn, [])

    def step(model, opt, loss_fn) -> tuple[float, float]:
        def run():
            autocast = (torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16"
                        else nullcontext())
            with autocast:
                loss = loss_fn(model, x0, gen)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            sync(device)

        sync(device)
        wall, cpu, _ = timed(run)
        return wall, cpu

    names = list(runs)
    cpu_times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(args.warmup + args.repeats):
        k = i % len(names)  # alternate, the order rotated each repeat: load hits both alike
        for name in names[k:] + names[:k]:
            model, opt, loss_fn, times = runs[name]
            wall, cpu = step(model, opt, loss_fn)
            if i >= args.warmup:
                times.append(wall)
                cpu_times[name].append(cpu)
    med = {name: statistics.median(r[3]) for name, r in runs.items()}
    cpu = {name: statistics.median(v) for name, v in cpu_times.items()}
    return {"precision": precision, "mdm_s": med["mdm"], "ar_s": med["ar"], "ratio": med["mdm"] / med["ar"],
            "mdm_cpu_s": cpu["mdm"], "ar_cpu_s": cpu["ar"], "ratio_cpu": cpu["mdm"] / cpu["ar"],
            "mdm_times_s": runs["mdm"][3], "ar_times_s": runs["ar"][3]}


def machine(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    n_params = make_model(args, False, "cpu").num_parameters()
    cap = cpu_capability()
    print(f"torch {torch.__version__} | python {sys.version.split()[0]} | device {device} ({machine(device)})"
          f" | CPU threads {torch.get_num_threads()} | CPU capability {cap}")
    print(f"model: d_model {args.d_model}, {args.layers} layers, {args.heads} heads, "
          f"vocab {args.vocab}+1 mask, {n_params / 1e6:.1f}M params | "
          f"batch {args.batch} x length {args.length} | warmup {args.warmup}, median of {args.repeats}")
    print("step = forward + backward + AdamW; MDM: stratified t, fixed masked count, logits at masked "
          "positions only, 1/t-weighted CE; AR: causal, logits at all positions")
    print(machine_line())
    print(f"{'precision':<10}{'MDM ms':>10}{'AR ms':>10}{'MDM / AR':>10}{'CPU: MDM / AR':>15}")
    results = []
    for precision in args.precisions.split(","):
        r = bench_precision(args, precision, device)
        results.append(r)
        row = (f"{precision:<10}{1e3 * r['mdm_s']:>10.1f}{1e3 * r['ar_s']:>10.1f}{r['ratio']:>10.2f}"
               f"{r['ratio_cpu']:>15.2f}"
               f"  [device {device}, CPU capability {cap}]")
        print(row, flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"args": vars(args), "torch": torch.__version__, "device": str(device),
                       "machine": machine(device), "threads": torch.get_num_threads(), "cpu_capability": cap,
                       "params": n_params, "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
