"""RL step cost: rollout time against update time, and what KV caches / EB bring to rollouts.

One RL step of diffu-GRPO / SPG (:mod:`mdm.rl`) = a rollout (``prompts x group`` completions through
:func:`mdm.sample`) + an update (the likelihood estimate's forward and backward and an optimizer
step).  For each rollout mode below, on the same model and prompts, this prints the median rollout
time, NFE per completion, the median update time of a diffu-GRPO step (one-step estimate) and of an
SPG step (ELBO + Renyi upper bound), their ratio, and each mode's rollout speed-up over ``topk1``:

* ``topk1``        -- one token per pass (``topk:k=1``) in semi-AR blocks, no cache;
* ``topk1+prefix`` / ``topk1+dual`` -- the same with Fast-dLLM's prefix / dual KV cache (approximate
  on a bidirectional model; :mod:`mdm.sampling.cache`);
* ``eb``           -- the EB-sampler (``eb:gamma=...``): several tokens per pass when confident;
* ``eb+dual``      -- both.

The model is random with peaked weights (as in benchmarks/decoding.py) unless ``--init`` names a
checkpoint; then EB's pass counts are the trained model's.  All sides (the rollout modes and the
two updates) take turns, their order rotated every repeat (``benchtools.alternate``); each is timed
in process CPU time beside wall time and the table reads the medians (>= 3 repeats) of CPU time, on
one thread; the machine line (CPU, capability, threads, load average) is printed first.  Each
rollout call draws with its own seed (the i-th call of a mode: seed i), the same for every mode.

    .venv/bin/python benchmarks/rl_rollout.py --quick
"""

from __future__ import annotations

import argparse
import copy
import json

import torch

from benchtools import alternate, machine_line
from mdm.models.transformer import TransformerConfig, TransformerDenoiser
from mdm.rl.likelihood import Elbo, OneStep, RenyiUpper
from mdm.rl.rollout import RolloutSettings, rollout
from mdm.rl.surrogates import group_advantages, grpo_objective, sandwich_objective

MODES = {
    "topk1": ("topk:k=1", None),
    "topk1+prefix": ("topk:k=1", "prefix"),
    "topk1+dual": ("topk:k=1", "dual"),
    "eb": ("eb:gamma={gamma}", None),
    "eb+dual": ("eb:gamma={gamma}", "dual"),
}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, 3 repeats")
    p.add_argument("--init", help="a checkpoint to use instead of a random model")
    p.add_argument("--prompts", type=int, default=8)
    p.add_argument("--group", type=int, default=8)
    p.add_argument("--prompt-len", type=int, default=64)
    p.add_argument("--gen", type=int, default=64)
    p.add_argument("--block", type=int, default=16)
    p.add_argument("--gamma", type=float, default=0.1)
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--vocab", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3, help=">= 3 (medians)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", help="also write the rows here")
    args = p.parse_args(argv)
    if args.quick:
        args.prompts, args.group, args.prompt_len, args.gen, args.repeats = 4, 4, 32, 32, 3
    return args


def build_model(args) -> torch.nn.Module:
    if args.init:
        import mdm

        return mdm.load(args.init)[0]
    torch.manual_seed(0)
    cfg = TransformerConfig(
        vocab_size=args.vocab,
        mask_id=args.vocab - 1,
        d_model=args.d_model,
        n_layers=args.layers,
        n_heads=4,
        max_len=args.prompt_len + args.gen,
    )
    m = TransformerDenoiser(cfg).eval()
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() > 1:
                p.mul_(4.0)
    return m


class Update:
    """One update (estimate forward + backward + Adam step) on a copy of the model, made once."""

    def __init__(self, model, tokens, prompt_len, group, kind: str):
        self.m = copy.deepcopy(model).train()
        self.opt = torch.optim.Adam(self.m.parameters(), lr=1e-5)
        self.tokens, self.prompt_len, self.kind = tokens, prompt_len, kind
        self.adv = group_advantages((torch.arange(len(tokens)) % 2).float(), group)

    def __call__(self) -> None:
        m, tokens, p, adv = self.m, self.tokens, self.prompt_len, self.adv
        g = torch.Generator().manual_seed(0)
        if self.kind == "grpo":
            est = OneStep(0.15)(m, tokens, p, g)
            obj, _, _ = grpo_objective(est.logp, est.logp.detach(), adv, est.mask, clip_eps=0.2)
        else:
            pos = adv >= 0
            lower = Elbo(draws=2)(m, tokens[pos], p, g).sequence()
            upper = RenyiUpper(beta=1.5, draws=4)(m, tokens[~pos], p, g).sequence()
            bound = torch.zeros(len(tokens)).masked_scatter(pos, lower).masked_scatter(~pos, upper)
            obj, _ = sandwich_objective(bound, bound, adv, torch.full((len(tokens),), tokens.shape[1] - p))
        (-obj).backward()
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    model = build_model(args)
    vocab, mask_id = model.vocab_size, model.mask_id
    prompts = torch.randint(
        0, min(vocab, mask_id), (args.prompts, args.prompt_len), generator=torch.Generator().manual_seed(1)
    )
    print(machine_line())

    def settings(spec, cache):
        return RolloutSettings(length=args.gen, unmasker=spec.format(gamma=args.gamma), block_size=args.block,
                               temperature=1.0, cache=cache)

    def rollout_side(spec, cache):
        calls = iter(range(10**9))  # the i-th call (the warm-up is call 0) draws with seed i

        def run():
            return rollout(model, prompts, args.group, settings(spec, cache),
                           torch.Generator().manual_seed(next(calls)))
        return run

    gen = torch.Generator().manual_seed(0)
    tokens = rollout(model, prompts, args.group, settings(*MODES["topk1"]), gen).tokens  # updates train on it
    sides = {name: rollout_side(spec, cache) for name, (spec, cache) in MODES.items()}
    for k in ("grpo", "spg"):
        sides[f"update {k}"] = Update(model, tokens, args.prompt_len, args.group, k)
    nfe: dict[str, list[float]] = {k: [] for k in MODES}

    def check(name, out):
        if name in nfe:
            nfe[name].append(float(out.nfe.double().mean()))

    times = alternate(sides, args.repeats, warmup=1, check=check)
    cpu = {k: t.cpu_s for k, t in times.items()}
    upd = {k: cpu[f"update {k}"] for k in ("grpo", "spg")}
    base = cpu["topk1"]
    rows = []
    print(
        f"{args.prompts} prompts x {args.group} completions, prompt {args.prompt_len}, generate {args.gen} "
        f"in blocks of {args.block}; update: diffu-GRPO {upd['grpo']:.3f} s, SPG {upd['spg']:.3f} s "
        f"(CPU; wall {times['update grpo'].wall_s:.3f} / {times['update spg'].wall_s:.3f}); median of "
        f"{args.repeats}, sides alternated, process CPU time"
    )
    print(
        f"{'mode':14s} {'rollout s':>10s} {'wall s':>8s} {'NFE':>6s} {'speed-up':>9s} "
        f"{'rollout/GRPO upd':>17s} {'rollout/SPG upd':>16s}"
    )
    for name in MODES:
        med = cpu[name]
        row = {
            "mode": name,
            "rollout_s": med,
            "rollout_wall_s": times[name].wall_s,
            "nfe": sum(nfe[name]) / len(nfe[name]),
            "speedup": base / med,
            "rollout_over_grpo_update": med / upd["grpo"],
            "rollout_over_spg_update": med / upd["spg"],
        }
        rows.append(row)
        print(
            f"{name:14s} {med:10.3f} {times[name].wall_s:8.3f} {row['nfe']:6.1f} {base / med:9.2f} "
            f"{row['rollout_over_grpo_update']:17.1f} {row['rollout_over_spg_update']:16.1f}"
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"args": vars(args), "machine": machine_line(), "update_s": upd, "rows": rows,
                       "timings": {k: t.to_dict() for k, t in times.items()}}, f, indent=1)


if __name__ == "__main__":
    main()
