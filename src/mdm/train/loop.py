"""The training loop: one function, :func:`train`, the same in one process and under torchrun.

Determinism (what makes resume exact and DDP match one process):

* the data is a stream of example indices, epoch ``e`` a permutation seeded by ``(seed, e)``; a step
  consumes the next ``global_batch`` of them, and micro-batch ``g = accum_index * world + rank``
  takes the ``g``-th slice of ``batch_size``;
* the time/mask generator -- and the global RNG, which drives dropout -- are re-seeded for every
  micro-batch from ``(seed, step, g)``.

So the examples and noise of a step depend only on the config and the step, not on how many
processes share it or whether the run was interrupted, and a resumed run continues bit for bit
(CPU, fp32).  The checkpoint still stores every RNG state for completeness.
"""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml

from mdm.errors import CheckpointError
from mdm.train import checkpoint as ckpt
from mdm.train.compat import data_fingerprint
from mdm.train.compiled import compile_for_training
from mdm.train.config import TrainConfig, load_config
from mdm.train.data import Stream, build_data, mix_seed
from mdm.train.distributed import (
    DistContext,
    ForwardAdapter,
    gradient_sync,
    setup,
    teardown,
    unwrap,
    wrap_model,
)
from mdm.train.ema import EMA, full_tensor
from mdm.train.families import build_model
from mdm.train.lock import hold_run_folder
from mdm.train.metrics import METRICS_FILE, append_metrics, read_metrics, write_metrics
from mdm.train.nelbo import MASK_SAMPLERS, TIME_SAMPLERS
from mdm.train.nonfinite import NonFiniteGuard
from mdm.train.objective import objective_for
from mdm.train.optim import build_lr_scheduler, build_optimizer
from mdm.train.precision import autocast, resolve_precision, warn_if_emulated
from mdm.train.resume import check_compatible, resume_source, rng_state, set_rng_state
from mdm.train.threads import local_processes, set_threads
from mdm.train.validate import to_device, validate
from mdm.train.variance_hooks import VarianceMeter

__all__ = [
    "TrainResult",
    "train",
    "build_data",
    "build_model",
    "check_compatible",
    "read_metrics",
    "TIME_SAMPLERS",
    "MASK_SAMPLERS",
    "CHECKPOINT_DIR",
    "METRICS_FILE",
]

CHECKPOINT_DIR = "checkpoint"


@dataclass
class TrainResult:
    """What :func:`train` returns (on every rank; ``metrics`` is filled on rank 0 only)."""

    checkpoint: Path
    out_dir: Path
    metrics: list[dict] = field(default_factory=list)
    wall_time: float = 0.0
    tokens_seen: int = 0
    steps: int = 0
    interrupted: bool = False
    final_val: dict | None = None
    threads: int | None = None  # torch's intra-op threads the run used (threads: auto resolved)


# --- signals -----------------------------------------------------------------------------------------


class _StopFlag:
    """SIGTERM / SIGINT set a flag; the loop checkpoints at the end of the step and returns."""

    def __init__(self):
        self.raised = False
        self._old: dict[int, Any] = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        self.raised = True

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)


# --- the loop -------------------------------------------------------------------------------------------


def train(
    config: TrainConfig | dict | str | Path,
    *,
    out_dir: str | Path | None = None,
    progress: bool = True,
    resume: bool | str | Path = "auto",
) -> TrainResult:
    """Train a masked diffusion model; return where its checkpoint is and what it measured.

    ``config``: a :class:`TrainConfig` or anything :func:`load_config` reads.  ``out_dir`` (default
    ``config.out_dir``) receives ``checkpoint/``, ``metrics.jsonl`` and ``config.yaml``.
    ``resume``: ``"auto"`` continues from ``out_dir/checkpoint`` when it exists, ``True`` requires it,
    ``False`` starts afresh (overwriting), a path resumes from that checkpoint.  Launched by
    ``torchrun`` with several processes, it trains with DDP (or FSDP2, ``distributed: fsdp``).
    SIGTERM / SIGINT end the run after the current step with a checkpoint (``interrupted=True``).
    """
    cfg = config if isinstance(config, TrainConfig) else load_config(config)
    t_start = time.perf_counter()
    ctx = setup(cfg.device)
    out = Path(out_dir or cfg.out_dir)
    try:
        with hold_run_folder(out, ctx):  # one writer per run folder, from before the first write
            return _train(cfg, ctx, out, progress, resume, t_start)
    finally:
        teardown(ctx)


def _train(
    cfg: TrainConfig, ctx: DistContext, out: Path, progress: bool, resume, t_start: float
) -> TrainResult:
    precision, why = resolve_precision(cfg.precision, ctx.device)
    ckpt_dir = out / CHECKPOINT_DIR
    metrics_path = out / METRICS_FILE
    if ctx.is_main:
        ckpt.recover(ckpt_dir)  # a save killed between its two renames left the checkpoint aside
    ctx.barrier()
    source = resume_source(resume, ckpt_dir)
    saved_cfg = ckpt.read_config(source) if source is not None else {}
    # threads: auto is read off the load now, before the heavy work (a resume keeps the run's count)
    threads, threads_why = set_threads(cfg.threads, kept=saved_cfg.get("metadata", {}).get("threads"),
                                       processes=local_processes(ctx.world_size))
    bundle = build_data(cfg)
    tokenizer = bundle.tokenizer
    fingerprint = data_fingerprint(bundle)  # mdm.train.compat: checked on resume, recorded at each save
    objective = objective_for(cfg)
    raw = build_model(cfg, tokenizer, objective)
    objective.bind(raw)
    if ctx.is_main:  # after the cheap checks: bad input prints nothing but its error
        warn_if_emulated(precision, why, ctx.device)
        if progress:
            print(f"precision: {precision} ({why}); {threads} threads ({threads_why})", flush=True)

    state: dict[str, Any] = {}
    if source is not None:
        check_compatible(saved_cfg.get("train"), cfg, source, checkpoint=saved_cfg, fingerprint=fingerprint)
        state = ckpt.load_trainer_state(source, verify=False)
        ckpt.load_into(raw, ckpt.load_weights(source, verify=False), source)
    raw.to(ctx.device)
    if cfg.compile:
        compile_for_training(raw)
    model = wrap_model(raw, ctx, cfg.distributed)
    raw = unwrap(model)
    fwd = ForwardAdapter(model)
    opt = build_optimizer(raw, cfg.optim, objective.param_groups(raw))
    sched = build_lr_scheduler(opt, cfg.optim, cfg.max_steps)
    ema = EMA(raw, cfg.ema) if cfg.ema > 0 else None
    gen = torch.Generator(device=ctx.device)

    from torch.distributed.checkpoint.state_dict import (
        StateDictOptions,
        get_model_state_dict,
        get_optimizer_state_dict,
        set_optimizer_state_dict,
    )

    step, position, tokens_seen = 0, 0, 0
    if state:
        set_optimizer_state_dict(raw, opt, state["optimizer"], options=StateDictOptions(full_state_dict=True))
        sched.load_state_dict(state["lr_scheduler"])
        if ema is not None:
            if state.get("ema_updates") is None:
                raise CheckpointError(f"{source} has no EMA but this run keeps one (ema={cfg.ema})")
            ema.load_full_state_dict(ckpt.load_weights(source, ema=True, verify=False), state["ema_updates"])
        set_rng_state(state["rng"], gen)
        step, position, tokens_seen = state["step"], state["data_position"], state["tokens_seen"]
    guard = NonFiniteGuard(cfg.max_nonfinite_steps, ctx, ckpt_dir, skipped=state.get("nonfinite_skipped", 0))
    # the objective's fit before step 1 (P-POTS), or on resume its saved state ("time_sampler": old runs)
    objective.calibrate(raw, bundle, state.get("objective", state.get("time_sampler")), ctx.device,
                        out if ctx.is_main else None)

    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
        kept = read_metrics(metrics_path, upto_step=step) if source is not None else []
        write_metrics(metrics_path, kept)
        (out / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False), encoding="utf-8")
    ctx.barrier()

    stream = Stream(bundle.train, cfg.seed)
    B, A, W, L = cfg.batch_size, cfg.grad_accum, ctx.world_size, bundle.seq_len
    global_batch = B * A * W
    end = cfg.max_steps if cfg.stop_after is None else min(cfg.max_steps, cfg.stop_after)
    clip = cfg.optim.grad_clip if cfg.optim.grad_clip > 0 else float("inf")
    sd_opts = StateDictOptions(full_state_dict=True, cpu_offload=True)

    def save(final_val: dict | None = None) -> None:
        model_state = get_model_state_dict(raw, options=sd_opts)
        optim_state = get_optimizer_state_dict(raw, opt, options=sd_opts)
        ema_state = ema.full_state_dict() if ema is not None else None
        if ctx.is_main:
            trainer_state = {
                "step": step, "data_position": position, "tokens_seen": tokens_seen,
                "optimizer": optim_state, "lr_scheduler": sched.state_dict(),
                "ema_updates": ema.num_updates if ema is not None else None,
                "rng": rng_state(gen), "world_size": W, "nonfinite_skipped": guard.skipped,
                "objective": objective.state_dict(),
            }
            meta = {"step": step, "tokens_seen": tokens_seen, "max_steps": cfg.max_steps, "data": fingerprint,
                    "threads": threads}
            if final_val:
                meta["val"] = final_val
            ckpt.save(ckpt_dir, raw, tokenizer, train_config=cfg.to_dict(), model_state=model_state,
                      ema_state=ema_state, trainer_state=trainer_state, metadata=meta)
        ctx.barrier()

    def log(row: dict) -> None:
        if ctx.is_main:
            append_metrics(metrics_path, row)

    bar = None
    if progress and ctx.is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.max_steps, initial=step, unit="step", dynamic_ncols=True, desc="train")

    interrupted = False
    last_val: dict | None = None
    model.train()
    window_t, window_tokens, window_loss, window_n = time.perf_counter(), 0, 0.0, 0
    meter = VarianceMeter()
    with _StopFlag() as stop:
        while step < end:
            loss_acc = torch.zeros((), dtype=torch.float64, device=ctx.device)
            for a in range(A):
                g = a * W + ctx.rank
                batch = to_device(stream.batch(position + g * B, B), ctx.device)
                seed = mix_seed(cfg.seed, step, g)
                gen.manual_seed(seed)
                torch.manual_seed(seed ^ 0x5EED)  # dropout
                with gradient_sync(model, a == A - 1):
                    with autocast(precision, ctx.device):
                        out_ = objective.loss(fwd, batch, gen)
                    (out_.loss / A).backward()
                meter.add_batch(out_.per_sample)
                loss_acc += out_.loss.detach().double() / A
            grad_norm = torch.nn.utils.clip_grad_norm_(raw.parameters(), clip)
            grad_norm = full_tensor(grad_norm)  # FSDP2 returns a DTensor
            finite = guard.check(loss_acc, grad_norm)
            if finite:
                meter.add_step(float(grad_norm))
                opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            if ema is not None and finite:
                ema.update(raw)
            step += 1
            position += global_batch
            tokens_seen += global_batch * L
            window_tokens += global_batch * L
            if finite:
                window_loss += float(ctx.all_reduce_sum(loss_acc) / W) if ctx.distributed else float(loss_acc)
                window_n += 1
            guard.after(step, log)

            if step % cfg.log_every == 0 or step == end:
                now = time.perf_counter()
                row = {"step": step, "split": "train", "loss": window_loss / window_n if window_n else None,
                       "lr": sched.get_last_lr()[0], "grad_norm": float(grad_norm),
                       "tokens_seen": tokens_seen,
                       "tokens_per_s": window_tokens / max(now - window_t, 1e-9),
                       "elapsed_s": now - t_start, "precision": precision, "threads": threads,
                       "nonfinite_skipped": guard.skipped, **meter.row(), **objective.log_fields(raw)}
                log(row)
                if bar is not None:
                    shown = float("nan") if row["loss"] is None else row["loss"]
                    bar.set_postfix(loss=f"{shown:.3f}", tok_s=f"{row['tokens_per_s']:.0f}")
                window_t, window_tokens, window_loss, window_n = now, 0, 0.0, 0
            if bar is not None:
                bar.update(1)

            if cfg.eval_every and step % cfg.eval_every == 0 and step < cfg.max_steps:
                last_val = validate(fwd, raw, ema, bundle, cfg, ctx, objective, step, precision)
                if last_val:
                    log(last_val)
                    if bar is not None:
                        bar.write(f"step {step}: val {objective.val_summary(last_val)}")
            if ctx.any(stop.raised):
                interrupted = True
                break
            if cfg.save_every and step % cfg.save_every == 0 and step < end:
                save()
    if bar is not None:
        bar.close()

    finished = step >= cfg.max_steps
    final_val = None
    if finished:
        final_val = validate(fwd, raw, ema, bundle, cfg, ctx, objective, step, precision) or None
        if final_val:
            log(final_val)
            if progress and ctx.is_main:
                print(f"step {step}: val {objective.val_summary(final_val)}", flush=True)
    save(final_val)
    return TrainResult(
        checkpoint=ckpt_dir, out_dir=out, metrics=read_metrics(metrics_path) if ctx.is_main else [],
        wall_time=time.perf_counter() - t_start, tokens_seen=tokens_seen, steps=step,
        interrupted=interrupted or not finished, final_val=final_val, threads=threads,
    )
