"""Speed of the sampling engine, side by side in one run (ratios, never a timed test).

1. Loop overhead: CPU time of ``mdm.sample(model, Scheduled(steps))`` (no prompt, no blocks)
   against the same number of bare ``model(x)`` forwards on the same ``[B, L]`` batch.  Goal:
   <= 3% overhead.  Measured twice: through the bare Denoiser protocol (full logits every step:
   the loop's own cost) and with the model's ``output_mask`` (logits only at masked positions,
   which the engine uses by default and which can beat the bare forwards).
2. A plain reference written the way the widely copied LLaDA ``generate()`` works (Nie et al.
   2025: semi-autoregressive blocks, low-confidence remasking, full logits each step, one
   ``topk`` per row in a Python loop) against ``mdm.sample(..., Scheduled(steps), block_size=...)``
   on the same model, prompt and seed at temperature 0: the tokens must be identical; the ratio
   reference / mdm should be >= 1.  The reference sets the mask logit to -inf (SUBS), as mdm does.
3. The KV caches (``--caches``): the same blocked decoding with ``cache="prefix"`` and
   ``cache="dual"`` (Fast-dLLM) and, on a block-causal model of the same shape, the exact
   ``"prefix"`` cache (``exact``).  With ``--before`` each also runs with main@1e8e70f's cache
   bookkeeping patched in (``benchmarks/cache_before.py``), alternating with the current code; the
   tokens must be identical.  A cached pass cannot be compared with bare full forwards, so after
   the timed repeats one instrumented call of every ``mdm.sample`` side splits its CPU time into
   the model's forwards, the ``KVCache.write`` calls inside them, the cache's bookkeeping
   (``SampleCache.logits`` outside the forwards) and the rest (the loop's own work: unmasker,
   draws, stop checks).
4. The loop and cache bookkeeping alone (with ``--before``): the same cached decoding of a *stub*
   denoiser (:class:`StubDenoiser`: its "forward" writes fixed keys/values into the
   ``KVCache`` of each layer, as the transformer does, and returns fixed logits), so nearly all the
   time is the loop's, the cache's and ``KVCache.write``'s; current against main@1e8e70f's cache code.

The model is a randomly initialised :class:`~mdm.models.transformer.TransformerDenoiser`.  All sides
take turns every repeat, their order rotated (``benchtools.alternate``); each is timed in process CPU
time and wall time, and the overheads and ratios are read from the CPU-time medians (>= 3 repeats):
on a loaded machine wall time also counts other processes' turns, which once printed an "overhead"
of -16 to -25% (faster than the bare forwards it contains).

    .venv/bin/python benchmarks/sampling.py                                  # B=32, L=256
    .venv/bin/python benchmarks/sampling.py --batch 4 --length 64 --steps 16 --llada-steps 16 \
        --block 16 --repeats 3                                                # a quick check
    .venv/bin/python benchmarks/sampling.py --batch 8 --length 128 --steps 32 --llada-steps 32 \
        --block 32 --repeats 5 --before                       # docs/results/performance.md, section 5
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import statistics
import sys
import time
from contextlib import nullcontext

import torch

import mdm
from benchtools import alternate, machine_line
from mdm.models.kv_cache import KVCache
from mdm.models.transformer import TransformerConfig, TransformerDenoiser
from mdm.sampling import Scheduled
from mdm.sampling.cache import SampleCache
from mdm.train.precision import cpu_capability


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--length", type=int, default=256, help="generated tokens")
    p.add_argument("--prompt-len", type=int, default=32, help="prompt tokens for the LLaDA comparison")
    p.add_argument("--vocab", type=int, default=1024, help="real tokens; the mask token is added")
    p.add_argument("--d-model", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--steps", type=int, default=64, help="steps (= forwards) for the overhead test")
    p.add_argument("--llada-steps", type=int, default=64, help="steps for the LLaDA comparison")
    p.add_argument("--block", type=int, default=32, help="block size for the LLaDA comparison")
    p.add_argument("--repeats", type=int, default=3, help=">= 3 (medians)")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (default 1: more threads on a shared box run slower; 0 = torch's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--caches", default="prefix,dual,exact",
                   help="cached sides (comma list of prefix, dual, exact; '' for none)")
    p.add_argument("--stub-runs", type=int, default=10, help="samples per timed call of a stub side")
    p.add_argument("--before", action="store_true",
                   help="also run each cached side with main@1e8e70f's cache code (cache_before.py)")
    p.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = p.parse_args(argv)
    if args.length % args.block or args.llada_steps % (args.length // args.block):
        p.error("--block must divide --length and the number of blocks must divide --llada-steps")
    if args.block % (args.llada_steps // (args.length // args.block)):
        # LLaDA puts the remainder of an uneven split first, the Linear schedule spreads it out.
        p.error("--block must be a multiple of the steps per block so both sides reveal the same counts")
    args.caches = [c for c in args.caches.split(",") if c]
    if set(args.caches) - {"prefix", "dual", "exact"}:
        p.error("--caches takes prefix, dual and exact")
    if "exact" in args.caches and (args.prompt_len + args.length) % args.block:
        p.error("the exact cache's block-causal model needs --block to divide --prompt-len + --length")
    return args


def split_cpu(run, models) -> dict:
    """CPU seconds of one call of ``run``: in the models' forwards (KV writes excluded), in
    ``KVCache.write``, in the cache's bookkeeping (``SampleCache.logits`` outside the forwards) and
    the rest (the loop's own work: unmasker, draws, stop checks)."""
    import cache_before  # its patched() installs cache_before's methods: clock those too

    acc = {"forward": 0.0, "write": 0.0, "cache": 0.0}

    def clocked(fn, key):
        def inner(*a, **k):
            c = time.process_time()
            try:
                return fn(*a, **k)
            finally:
                acc[key] += time.process_time() - c
        return inner

    slots = [(KVCache, "write", "write"), (cache_before, "write", "write"),
             (SampleCache, "logits", "cache"), (cache_before, "logits", "cache")]
    saved = [getattr(owner, name) for owner, name, _ in slots]
    for (owner, name, key), fn in zip(slots, saved):
        setattr(owner, name, clocked(fn, key))
    for m in models:
        m.forward = clocked(m.forward, "forward")
    try:
        c = time.process_time()
        run()
        total = time.process_time() - c
    finally:
        for (owner, name, _), fn in zip(slots, saved):
            setattr(owner, name, fn)
        for m in models:
            del m.forward
    bookkeeping = acc["cache"] - acc["forward"] if acc["cache"] else 0.0
    return {"total": total, "forward": acc["forward"] - acc["write"], "write": acc["write"],
            "cache": bookkeeping, "loop": total - acc["forward"] - bookkeeping}


class StubDenoiser:
    """A denoiser whose pass costs almost nothing: per layer it writes fixed keys/values of the
    span into the cache (``KVCache.write``, as the transformer does) and it returns fixed, peaked
    logits (a fresh copy: the loop may overwrite them) at the ``output_mask`` positions."""

    supports_output_mask = supports_kv_cache = True

    def __init__(self, vocab: int, mask_id: int, batch: int, length: int, *, layers: int, heads: int,
                 head_dim: int, block_size: int | None = None, seed: int = 0):
        gen = torch.Generator().manual_seed(seed)
        self.vocab_size, self.mask_id, self.layers, self.block_size = vocab, mask_id, layers, block_size
        self.kv = torch.randn(batch, heads, length, head_dim, generator=gen)
        self.table = 8 * torch.randn(batch * length, vocab, generator=gen)
        self.table[:, mask_id] = float("-inf")

    def new_cache(self, length: int) -> KVCache:
        return KVCache(self.layers, length)

    def __call__(self, x, **kw):
        return self.forward(x, **kw)

    def forward(self, x, output_mask=None, cache=None, start=0):
        b, n = x.shape
        causal = self.block_size is not None
        for i in range(self.layers):
            k = self.kv[:b, :, :n]
            cache.write(i, start, start + n if causal else cache.length, k, k)
        return self.table[:int(output_mask.sum())].clone()


def llada_reference(model, prompt: torch.Tensor, *, length: int, steps: int, block: int) -> torch.Tensor:
    """Greedy semi-autoregressive decoding the way LLaDA's reference ``generate()`` does it."""
    mask_id = model.mask_id
    batch, p = prompt.shape
    x = torch.full((batch, p + length), mask_id, dtype=torch.long, device=prompt.device)
    x[:, :p] = prompt
    n_blocks = length // block
    per_block = steps // n_blocks
    for b in range(n_blocks):
        lo, hi = p + b * block, p + (b + 1) * block
        # Tokens to reveal at each step of the block: an even split, the remainder going first.
        masked_in_block = (x[:, lo:hi] == mask_id).sum(dim=1, keepdim=True)
        counts = (masked_in_block // per_block).repeat(1, per_block)
        counts += torch.arange(per_block, device=x.device) < (masked_in_block % per_block)
        for i in range(per_block):
            masked = x == mask_id
            logits = model(x)
            logits[..., mask_id] = float("-inf")
            guess = logits.argmax(dim=-1)
            conf = torch.gather(torch.softmax(logits, dim=-1), -1, guess.unsqueeze(-1)).squeeze(-1)
            conf[:, hi:] = float("-inf")
            guess = torch.where(masked, guess, x)
            conf = torch.where(masked, conf, float("-inf"))
            chosen = torch.zeros_like(masked)
            for r in range(batch):
                chosen[r, torch.topk(conf[r], k=int(counts[r, i])).indices] = True
            x[chosen] = guess[chosen]
    return x


class FullLogits:
    """The model through the bare Denoiser protocol: no ``output_mask``, full logits each step."""

    def __init__(self, model):
        self.model, self.vocab_size, self.mask_id = model, model.vocab_size, model.mask_id

    def __call__(self, x, attention_mask=None):
        return self.model(x, attention_mask=attention_mask)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    vocab = args.vocab + 1
    cfg = TransformerConfig(vocab_size=vocab, mask_id=args.vocab, d_model=args.d_model, n_layers=args.layers,
                            n_heads=args.heads, max_len=args.prompt_len + args.length)
    model = TransformerDenoiser(cfg).to(args.device).eval()
    gen = torch.Generator().manual_seed(args.seed)
    prompt = torch.randint(0, args.vocab, (args.batch, args.prompt_len), generator=gen).to(args.device)
    x_bare = torch.full((args.batch, args.length), args.vocab, dtype=torch.long, device=args.device)

    def bare():
        with torch.no_grad():
            for _ in range(args.steps):
                model(x_bare)

    def engine(denoiser=model):
        return mdm.sample(denoiser, batch_size=args.batch, length=args.length, unmasker=Scheduled(args.steps),
                          seed=args.seed)

    def reference():
        with torch.no_grad():
            return llada_reference(model, prompt, length=args.length, steps=args.llada_steps,
                                   block=args.block)

    def engine_blocks():
        return mdm.sample(model, length=args.length, prompt=prompt, unmasker=Scheduled(args.llada_steps),
                          block_size=args.block, seed=args.seed)

    def engine_full():
        return engine(FullLogits(model))

    block_model = None
    if "exact" in args.caches:
        torch.manual_seed(args.seed)
        block_model = TransformerDenoiser(dataclasses.replace(cfg, block_size=args.block)).eval()

    def cached(mode, before=False):
        m, cache = (block_model, "prefix") if mode == "exact" else (model, mode)

        def run():
            from cache_before import patched

            with patched() if before else nullcontext():
                return mdm.sample(m, length=args.length, prompt=prompt, unmasker=Scheduled(args.llada_steps),
                                  block_size=args.block, seed=args.seed, cache=cache).tokens
        return run

    same = []

    def check(name, out):
        if name in ("engine", "engine_full"):
            assert int(out.nfe.min()) == int(out.nfe.max()) == args.steps
        elif name == "reference":
            check.ref = out
        elif name == "engine_blocks":
            check.blocks = out.tokens
        if hasattr(check, "ref") and hasattr(check, "blocks"):
            same.append(torch.equal(check.ref, check.blocks))
            del check.ref, check.blocks
        if name.startswith(("cache_", "stub_")):  # current and before give the same tokens
            mode = "_".join(name.split("_")[:2])
            if mode in check.cached:
                cache_same.append(torch.equal(check.cached.pop(mode), out))
            else:
                check.cached[mode] = out

    check.cached, cache_same = {}, []

    def stub_side(mode, before=False):
        width = args.prompt_len + args.length
        stub = StubDenoiser(vocab, args.vocab, args.batch, width, layers=args.layers, heads=args.heads,
                            head_dim=args.d_model // args.heads, seed=args.seed,
                            block_size=args.block if mode == "exact" else None)

        def run():
            from cache_before import patched

            with patched() if before else nullcontext():
                for _ in range(args.stub_runs - 1):
                    mdm.sample(stub, length=args.length, prompt=prompt, block_size=args.block,
                               unmasker=Scheduled(args.llada_steps), seed=args.seed,
                               cache="prefix" if mode == "exact" else mode)
                return mdm.sample(stub, length=args.length, prompt=prompt, block_size=args.block,
                                  unmasker=Scheduled(args.llada_steps), seed=args.seed,
                                  cache="prefix" if mode == "exact" else mode).tokens
        run.stub = stub
        return run

    print(machine_line())
    sides = {"bare": bare, "engine_full": engine_full, "engine": engine, "reference": reference,
             "engine_blocks": engine_blocks}
    for mode in args.caches:
        sides[f"cache_{mode}"] = cached(mode)
        if args.before:
            sides[f"cache_{mode}_before"] = cached(mode, before=True)
            sides[f"stub_{mode}"] = stub_side(mode)
            sides[f"stub_{mode}_before"] = stub_side(mode, before=True)
    times = alternate(sides, args.repeats, warmup=1, check=check)
    cpu = {k: v.cpu_s for k, v in times.items()}
    wall = {k: v.wall_s for k, v in times.items()}
    identical = bool(same) and all(same) and all(cache_same)
    split = {}
    for name, fn in sides.items():
        if name.startswith(("engine", "cache_")):
            split[name] = split_cpu(fn, [model] + ([block_model] if block_model is not None else []))
        elif name.startswith("stub_"):
            split[name] = split_cpu(fn, [fn.stub])
    cap = cpu_capability()
    def paired(name):  # the median of the per-repeat ratios: neighbours in time share the load
        return statistics.median(e / b for e, b in zip(times[name].cpu, times["bare"].cpu)) - 1.0

    result = {
        "overhead_full_logits": cpu["engine_full"] / cpu["bare"] - 1.0,
        "overhead_full_logits_paired": paired("engine_full"),
        "overhead_paired": paired("engine"),
        "overhead": cpu["engine"] / cpu["bare"] - 1.0,
        "llada_ratio": cpu["reference"] / cpu["engine_blocks"],
        "identical_tokens": identical,
        "cache_before_after_identical": all(cache_same) if args.before and args.caches else None,
        "cache_speedup": {m: cpu[f"cache_{m}_before"] / cpu[f"cache_{m}"]
                          for m in args.caches if args.before},
        "cpu_split": split,
        "median_cpu_seconds": cpu,
        "median_wall_seconds": wall,
        "timings": {k: v.to_dict() for k, v in times.items()},
        "args": vars(args),
        "machine": {"platform": platform.platform(), "torch": torch.__version__, "line": machine_line(),
                    "threads": torch.get_num_threads(), "cpu_capability": cap,
                    "cuda": torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None},
    }
    print(f"model: d={args.d_model} layers={args.layers} vocab={vocab} on {args.device}; B={args.batch} "
          f"L={args.length}; median of {args.repeats} repeats, sides alternated (order rotated), "
          f"process CPU time (wall in brackets)")
    print(f"(1) {args.steps} bare forwards {cpu['bare']:.3f}s [{wall['bare']:.3f}s] | mdm.sample "
          f"Scheduled({args.steps}): full logits {cpu['engine_full']:.3f}s [{wall['engine_full']:.3f}s], "
          f"overhead {100 * result['overhead_full_logits']:+.1f}% (goal <= 3%) | with output_mask "
          f"{cpu['engine']:.3f}s [{wall['engine']:.3f}s], {100 * result['overhead']:+.1f}% | median of the "
          f"per-repeat ratios: {100 * result['overhead_full_logits_paired']:+.1f}% and "
          f"{100 * result['overhead_paired']:+.1f}%")
    print(f"(2) LLaDA-style reference {cpu['reference']:.3f}s [{wall['reference']:.3f}s] | mdm.sample "
          f"Scheduled({args.llada_steps}), block {args.block}: {cpu['engine_blocks']:.3f}s "
          f"[{wall['engine_blocks']:.3f}s] | ratio reference/mdm {result['llada_ratio']:.2f} (goal >= 1.0) "
          f"| identical tokens: {identical}")
    for mode in args.caches:
        line = f"(3) cache {mode:<6} {cpu[f'cache_{mode}']:.3f}s [{wall[f'cache_{mode}']:.3f}s]"
        if args.before:
            b = f"cache_{mode}_before"
            paired_ratio = statistics.median(o / n for o, n in zip(times[b].cpu, times[f"cache_{mode}"].cpu))
            line += (f" | main@1e8e70f's cache code {cpu[b]:.3f}s [{wall[b]:.3f}s], before/after "
                     f"{result['cache_speedup'][mode]:.3f}x, median of per-repeat ratios {paired_ratio:.3f}x")
        print(line)
    for mode in args.caches if args.before else []:
        b, a = times[f"stub_{mode}_before"].cpu, times[f"stub_{mode}"].cpu
        steps = args.llada_steps * args.stub_runs
        print(f"(4) stub denoiser, cache {mode:<6} {1e3 * statistics.median(a):.1f} ms "
              f"({1e6 * statistics.median(a) / steps:.0f} us/step) | main@1e8e70f's cache code "
              f"{1e3 * statistics.median(b):.1f} ms ({1e6 * statistics.median(b) / steps:.0f} us/step), "
              f"before/after {statistics.median(b) / statistics.median(a):.3f}x")
        result.setdefault("stub_us_per_step", {})[mode] = {"after": 1e6 * statistics.median(a) / steps,
                                                          "before": 1e6 * statistics.median(b) / steps}
    if args.before and args.caches:
        print(f"    cached tokens identical before/after: {result['cache_before_after_identical']}")
    print("CPU split of one instrumented call per side: model forwards (KV writes excluded) | KVCache.write "
          "| cache bookkeeping (SampleCache.logits outside the forwards) | the loop's own work (the rest)")
    for name, sp in split.items():
        pct = {k: 100 * sp[k] / sp["total"] for k in ("write", "cache", "loop")}
        print(f"    {name:<20} total {1e3 * sp['total']:8.1f} ms | forwards {1e3 * sp['forward']:8.1f} | "
              f"write {1e3 * sp['write']:6.1f} ({pct['write']:4.1f}%) | cache {1e3 * sp['cache']:6.1f} "
              f"({pct['cache']:4.1f}%) | loop {1e3 * sp['loop']:6.1f} ({pct['loop']:4.1f}%)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    sys.exit(0 if main()["identical_tokens"] else 1)
