"""The ``variance`` part of ``mdm exp rl``: what the variance-reduction switch does to SPG's update on a
fixed batch (:mod:`mdm.rl.variance`), per seed, on that seed's SFT model.

The batch: the first ``setup.var_prompts`` training prompts, ``group_size`` completions each (the RL
arms' rollout settings: ``topk:k=1`` at temperature 1, stop at eos), rewarded by exact match, with
group-normalised advantages -- one draw, fixed by the seed.  On it, for each ELBO setting of
:data:`mdm.rl.variance.ELBO_SETTINGS` (equal model rows per sequence within a pair), ``var_repeats``
estimator seeds give the per-sequence variance of the ELBO estimate and the total variance of the
gradient of SPG's ELBO half; SPG's upper-bound half (untouched by the switch) is measured once with
``var_upper_repeats`` seeds, to say what share of the whole update's noise the switch can act on.
"""

from __future__ import annotations

__all__ = ["SETTINGS", "exact_part", "fixed_batch", "spread_part"]

# the ELBO settings measured (names of mdm.rl.variance.ELBO_SETTINGS)
SETTINGS = ("uniform x2", "antithetic x2", "mirror x1", "uniform x4", "antithetic+mirror x2", "stratified x4")


def fixed_batch(setup, seed: int, ctx):
    """``(model, tokens, prompt_len, adv, spg loss config)``: the seed's SFT model and its fixed batch
    (module docstring)."""
    import torch

    import mdm.tasks.arithmetic  # noqa: F401 (registers the task)
    from mdm.experiments.rl.arms import REWARD, resolved
    from mdm.loading import read_config
    from mdm.rl.policy import prompt_length
    from mdm.rl.rewards import REWARDS
    from mdm.rl.rollout import RolloutSettings, rollout
    from mdm.rl.surrogates import group_advantages
    from mdm.tasks.base import build_task
    from mdm.train import checkpoint

    ckpt = ctx.need("sft")["checkpoint"]
    model, tokenizer = checkpoint.load(ckpt)
    model.eval()
    train_cfg = read_config(ckpt)["train"]
    data = train_cfg["data"]
    bundle = build_task(data["task"], seq_len=data["seq_len"], seed=train_cfg.get("seed", 0),
                        **data["options"])
    ids = torch.stack([bundle.train[i]["input_ids"] for i in range(setup.var_prompts)])
    p = prompt_length(torch.stack([bundle.train[i]["eligible"] for i in range(setup.var_prompts)]))
    loss_cfg = resolved(setup, "spg")["loss"]
    group = int(loss_cfg["group_size"])
    settings = RolloutSettings(length=ids.shape[1] - p, unmasker=loss_cfg["unmasker"],
                               temperature=float(loss_cfg["temperature"]), stop=(tokenizer.eos_id,),
                               pad_id=tokenizer.pad_id)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        ro = rollout(model, ids[:, :p], group, settings, g)
    rewards = REWARDS.get("arithmetic")(**REWARD)(ro.tokens, p)
    return model, ro.tokens, p, group_advantages(rewards, group), rewards, loss_cfg


def spread_part(setup, seed: int, ctx) -> dict:
    """The ``variance`` part (module docstring): Monte-Carlo spread over ``var_repeats`` seeds."""
    from mdm.rl.likelihood import RenyiUpper
    from mdm.rl.variance import (
        ELBO_SETTINGS,
        estimate_spread,
        gradient_spread,
        rows_per_sequence,
        spg_half_loss,
    )

    model, tokens, p, adv, rewards, loss_cfg = fixed_batch(setup, seed, ctx)
    params = [q for q in model.parameters() if q.requires_grad]
    out = {"rows": len(tokens), "positive": int((adv >= 0).sum()), "reward_mean": float(rewards.mean()),
           "repeats": setup.var_repeats, "elbo": {}}
    for name in SETTINGS:
        est = ELBO_SETTINGS[name]
        ctx.log(f"rl: variance, seed {seed}: {name}")
        out["elbo"][name] = {
            "rows_per_sequence": rows_per_sequence(est),
            "estimate": estimate_spread(est, model, tokens, p, setup.var_repeats, seed=seed),
            "gradient": gradient_spread(spg_half_loss(est, model, tokens, p, adv, positive=True), params,
                                        setup.var_repeats, seed=seed),
        }
    if bool((adv < 0).any()):
        upper = RenyiUpper(beta=float(loss_cfg["upper_beta"]), draws=int(loss_cfg["upper_draws"]))
        half = spg_half_loss(upper, model, tokens, p, adv, positive=False)
        out["upper_gradient"] = gradient_spread(half, params, setup.var_upper_repeats, seed=seed)
    return out


def exact_part(setup, seed: int, ctx) -> dict:
    """The ``exact-variance`` part: on the same fixed batch, the exact mean and variance of each ELBO
    setting's estimate per sequence (:func:`mdm.rl.variance.exact_elbo_moments`, no Monte Carlo: the
    ``2^C`` mask costs of each completion), summarised over the batch's sequences."""
    import torch

    from mdm.rl.variance import ELBO_SETTINGS, exact_elbo_moments, mask_costs, rows_per_sequence, time_share

    model, tokens, p, adv, _, _ = fixed_batch(setup, seed, ctx)
    with torch.no_grad():
        costs = mask_costs(model, tokens, p)
    share = time_share(costs, ELBO_SETTINGS["uniform x2"].t_eps)
    out = {"rows": len(tokens), "completion_tokens": tokens.shape[1] - p, "elbo": {},
           "time_share": {"mean": float(share.mean()), "max": float(share.max())}}
    var = {}
    for name in SETTINGS:
        est = ELBO_SETTINGS[name]
        mean, var[name] = exact_elbo_moments(costs, draws=est.draws, time_sampler=est.time_sampler,
                                             mask_sampler=est.mask_sampler, t_eps=est.t_eps)
        out["elbo"][name] = {"rows_per_sequence": rows_per_sequence(est), "mean_elbo": float(mean.mean()),
                             "mean_var": float(var[name].mean()), "median_var": float(var[name].median())}
    for name in SETTINGS:  # the variance relative to plain draws at equal rows, per sequence
        base = f"uniform x{rows_per_sequence(ELBO_SETTINGS[name])}"
        r = var[name] / var[base]
        out["elbo"][name]["vs_uniform"] = {"base": base, "mean_ratio": float(r.mean()),
                                           "max_ratio": float(r.max()), "min_ratio": float(r.min())}
    return out
