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

import json
import math
import random
import signal
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from mdm import schedules
from mdm.errors import CheckpointError, ConfigError
from mdm.losses import diffusion_loss
from mdm.models.transformer import TransformerConfig, TransformerDenoiser
from mdm.tasks.base import DataBundle, build_task, collate
from mdm.train import checkpoint as ckpt
from mdm.train.config import TrainConfig, load_config
from mdm.train.distributed import (
    DistContext,
    ForwardAdapter,
    gradient_sync,
    reshard,
    setup,
    teardown,
    unwrap,
    wrap_model,
)
from mdm.train.ema import EMA
from mdm.train.optim import build_lr_scheduler, build_optimizer
from mdm.variance import AntitheticTime, BernoulliMask, StratifiedTime, UniformTime

__all__ = [
    "TrainResult",
    "train",
    "build_data",
    "build_model",
    "parse_schedule",
    "TIME_SAMPLERS",
    "MASK_SAMPLERS",
    "SCHEDULES",
]

# Registries: add your own sampler / schedule here and name it in the config.
TIME_SAMPLERS: dict[str, Any] = {
    "uniform": UniformTime, "antithetic": AntitheticTime, "stratified": StratifiedTime,
}
MASK_SAMPLERS: dict[str, Any] = {"bernoulli": BernoulliMask}
SCHEDULES: dict[str, Any] = {
    "linear": schedules.Linear,
    "cosine": schedules.Cosine,
    "loglinear": schedules.LogLinear,
    "polynomial": schedules.Polynomial,
    "beta": schedules.BetaEnergy,
}
CHECKPOINT_DIR = "checkpoint"
METRICS_FILE = "metrics.jsonl"


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


def parse_schedule(spec: str) -> schedules.Schedule:
    """``"linear"``, ``"cosine"``, ``"loglinear"``, ``"polynomial:2"``, ``"beta:0.9,0.3"``."""
    name, _, args = spec.partition(":")
    if name not in SCHEDULES:
        raise ConfigError(f"unknown loss.schedule {spec!r}; known: {sorted(SCHEDULES)} (args after ':')")
    try:
        values = [float(a) for a in args.split(",")] if args else []
    except ValueError as e:
        raise ConfigError(f"loss.schedule {spec!r}: arguments must be numbers") from e
    return SCHEDULES[name](*values)


def _loss_parts(cfg: TrainConfig):
    lc = cfg.loss
    if lc.time_sampler not in TIME_SAMPLERS:
        raise ConfigError(f"unknown loss.time_sampler {lc.time_sampler!r}; known: {sorted(TIME_SAMPLERS)}")
    if lc.mask_sampler not in MASK_SAMPLERS:
        raise ConfigError(f"unknown loss.mask_sampler {lc.mask_sampler!r}; known: {sorted(MASK_SAMPLERS)}")
    time_sampler = TIME_SAMPLERS[lc.time_sampler](eps=lc.t_eps)
    return parse_schedule(lc.schedule), time_sampler, MASK_SAMPLERS[lc.mask_sampler]()


def build_data(cfg: TrainConfig) -> DataBundle:
    """The run's dataset (train/val splits + tokenizer) from ``cfg.data``."""
    dc = cfg.data
    if dc.task == "text":
        opts = {"corpus": dc.corpus, "tokenizer": dc.tokenizer, "val_fraction": dc.val_fraction,
                "max_chars": dc.max_chars, **dc.options}
    else:
        opts = dict(dc.options)
    return build_task(dc.task, seq_len=dc.seq_len, seed=cfg.seed, **opts)


def build_model(cfg: TrainConfig, tokenizer) -> TransformerDenoiser:
    """A fresh :class:`TransformerDenoiser` for the tokenizer's vocabulary (seeded by ``cfg.seed``)."""
    mc = cfg.model
    tcfg = TransformerConfig(
        vocab_size=tokenizer.vocab_size, mask_id=tokenizer.mask_id, d_model=mc.d_model, n_layers=mc.n_layers,
        n_heads=mc.n_heads, d_ff=mc.d_ff, max_len=cfg.data.seq_len, time_conditioned=mc.time_conditioned,
        dropout=mc.dropout, tie_embeddings=mc.tie_embeddings, learned_positions=mc.learned_positions,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        return TransformerDenoiser(tcfg)


def _mix(*ints: int) -> int:
    """A well-spread 63-bit seed from integers (numpy's SeedSequence hashing)."""
    seq = np.random.SeedSequence([int(i) & 0xFFFFFFFFFFFFFFFF for i in ints])
    return int(seq.generate_state(1, np.uint64)[0] >> 1)


class _Stream:
    """Example ``p`` of the endless stream is ``perm(p // n)[p % n]``; ``perm(e)`` is seeded by (seed, e)."""

    def __init__(self, dataset, seed: int):
        self.dataset, self.seed, self.n = dataset, seed, len(dataset)
        if self.n == 0:
            raise ConfigError("the training split is empty: use more data or a shorter seq_len")
        self._perms: dict[int, torch.Tensor] = {}

    def _perm(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perms:
            self._perms = {e: p for e, p in self._perms.items() if e >= epoch - 1}
            g = torch.Generator().manual_seed(_mix(self.seed, 7, epoch))
            self._perms[epoch] = torch.randperm(self.n, generator=g)
        return self._perms[epoch]

    def batch(self, start: int, size: int) -> dict[str, torch.Tensor]:
        idx = [int(self._perm(p // self.n)[p % self.n]) for p in range(start, start + size)]
        return collate([self.dataset[i] for i in idx])


# --- RNG state (saved for completeness; the loop re-seeds from (seed, step, g)) ---------------------


def _rng_state(gen: torch.Generator) -> dict[str, Any]:
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "generator": gen.get_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any], gen: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    gen.set_state(state["generator"])
    n = state["numpy"]
    keys = n["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, n["pos"], n["has_gauss"], n["cached"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


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


def _autocast(cfg: TrainConfig, device: torch.device):
    if cfg.precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


@torch.no_grad()
def _validate(
    fwd, raw, ema, bundle: DataBundle, cfg: TrainConfig, ctx: DistContext, loss_parts, step: int
) -> dict:
    """NELBO on a fixed slice of the validation split, with fixed noise (comparable across steps).

    Uses the EMA weights when the run keeps an EMA (the weights :func:`checkpoint.load` returns).
    """
    n_val = len(bundle.val)
    n = min(n_val, cfg.eval_batches * cfg.batch_size * ctx.world_size)
    n -= n % ctx.world_size
    if n == 0:
        return {}
    schedule, time_sampler, mask_sampler = loss_parts
    mine = list(range(ctx.rank, n, ctx.world_size))
    totals = torch.zeros(2, dtype=torch.float64, device=ctx.device)
    gen = torch.Generator(device=ctx.device)
    was_training = raw.training
    raw.eval()
    with ema.swapped_in(raw) if ema is not None else nullcontext():
        for b, start in enumerate(range(0, len(mine), cfg.batch_size)):
            batch = _to(collate([bundle.val[i] for i in mine[start : start + cfg.batch_size]]), ctx.device)
            for s in range(cfg.eval_samples):
                gen.manual_seed(_mix(cfg.seed, 99, ctx.rank, b, s))
                with _autocast(cfg, ctx.device):
                    out = diffusion_loss(
                        fwd, batch["input_ids"], schedule=schedule, eligible=batch["eligible"],
                        attention_mask=batch.get("attention_mask"), time_sampler=time_sampler,
                        mask_sampler=mask_sampler, normalize="tokens", generator=gen,
                        masked_logits_only=cfg.loss.masked_logits_only,
                    )
                totals[0] += out.per_sample.double().sum()
                totals[1] += out.num_eligible.double()
        reshard(raw)
    raw.train(was_training)
    ctx.all_reduce_sum(totals)
    nats = float(totals[0] / totals[1])
    row = {"step": step, "split": "val", "val_nelbo_nats_per_token": nats,
           "val_bits_per_token": nats / math.log(2)}
    if bundle.chars_per_token:
        row["val_bits_per_char"] = nats / math.log(2) / bundle.chars_per_token
    row["val_sequences"] = n
    row["val_weights"] = "ema" if ema is not None else "raw"
    return row


def _resume_source(resume, ckpt_dir: Path) -> Path | None:
    if resume in (False, None):
        return None
    if resume in (True, "auto"):
        if ckpt.is_checkpoint(ckpt_dir):
            return ckpt_dir
        if resume is True:
            raise CheckpointError(f"resume=True but there is no checkpoint at {ckpt_dir}")
        return None
    path = Path(resume)
    if not ckpt.is_checkpoint(path):
        raise CheckpointError(f"cannot resume: {path} is not a checkpoint directory")
    return path


def check_compatible(saved: dict | None, cfg: TrainConfig, path: Path) -> None:
    """Raise unless a checkpoint saved with the training config ``saved`` can continue as ``cfg``
    (same model, data, loss, seed and batch layout)."""
    if not saved:
        raise CheckpointError(f"checkpoint {path} has no training config; it cannot be resumed")
    now = cfg.to_dict()
    for section in ("model", "data", "loss"):
        if saved.get(section) != now[section]:
            raise ConfigError(
                f"cannot resume from {path}: its {section} config differs from this run's "
                f"(saved {saved.get(section)}, now {now[section]})"
            )
    for key in ("seed", "batch_size", "grad_accum"):
        if saved.get(key) != now[key]:
            raise ConfigError(f"cannot resume from {path}: {key} was {saved.get(key)}, now {now[key]}")


def _append_metrics(path: Path, row: dict) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def read_metrics(path: Path, upto_step: int | None = None) -> list[dict]:
    """The rows of a ``metrics.jsonl`` (up to ``upto_step``), skipping a line cut short by a kill."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by a kill
        if upto_step is None or row.get("step", 0) <= upto_step:
            rows.append(row)
    return rows


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
    try:
        return _train(cfg, ctx, Path(out_dir or cfg.out_dir), progress, resume, t_start)
    finally:
        teardown(ctx)


def _train(
    cfg: TrainConfig, ctx: DistContext, out: Path, progress: bool, resume, t_start: float
) -> TrainResult:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    ckpt_dir = out / CHECKPOINT_DIR
    metrics_path = out / METRICS_FILE
    source = _resume_source(resume, ckpt_dir)
    bundle = build_data(cfg)
    tokenizer = bundle.tokenizer
    raw = build_model(cfg, tokenizer)
    loss_parts = _loss_parts(cfg)

    state: dict[str, Any] = {}
    if source is not None:
        saved_cfg = ckpt.read_config(source)
        check_compatible(saved_cfg.get("train"), cfg, source)
        state = ckpt.load_trainer_state(source, verify=False)
        raw.load_state_dict(ckpt.load_weights(source, verify=False), strict=True)
    raw.to(ctx.device)
    model = wrap_model(raw, ctx, cfg.distributed)
    raw = unwrap(model)
    fwd = ForwardAdapter(model)
    opt = build_optimizer(raw, cfg.optim)
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
        _set_rng_state(state["rng"], gen)
        step, position, tokens_seen = state["step"], state["data_position"], state["tokens_seen"]

    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
        kept = read_metrics(metrics_path, upto_step=step) if source is not None else []
        metrics_path.write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
        (out / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False), encoding="utf-8")
    ctx.barrier()

    stream = _Stream(bundle.train, cfg.seed)
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
                "rng": _rng_state(gen), "world_size": W,
            }
            meta = {"step": step, "tokens_seen": tokens_seen, "max_steps": cfg.max_steps}
            if final_val:
                meta["val"] = final_val
            ckpt.save(ckpt_dir, raw, tokenizer, train_config=cfg.to_dict(), model_state=model_state,
                      ema_state=ema_state, trainer_state=trainer_state, metadata=meta)
        ctx.barrier()

    def log(row: dict) -> None:
        if ctx.is_main:
            _append_metrics(metrics_path, row)

    bar = None
    if progress and ctx.is_main:
        from tqdm.auto import tqdm

        bar = tqdm(total=cfg.max_steps, initial=step, unit="step", dynamic_ncols=True, desc="train")

    interrupted = False
    last_val: dict | None = None
    model.train()
    window_t, window_tokens, window_loss, window_n = time.perf_counter(), 0, 0.0, 0
    with _StopFlag() as stop:
        while step < end:
            loss_acc = torch.zeros((), dtype=torch.float64, device=ctx.device)
            for a in range(A):
                g = a * W + ctx.rank
                batch = _to(stream.batch(position + g * B, B), ctx.device)
                seed = _mix(cfg.seed, step, g)
                gen.manual_seed(seed)
                torch.manual_seed(seed ^ 0x5EED)  # dropout
                with gradient_sync(model, a == A - 1):
                    with _autocast(cfg, ctx.device):
                        out_ = diffusion_loss(
                            fwd, batch["input_ids"], schedule=loss_parts[0], eligible=batch["eligible"],
                            attention_mask=batch.get("attention_mask"), time_sampler=loss_parts[1],
                            mask_sampler=loss_parts[2], normalize=cfg.loss.normalize, generator=gen,
                            masked_logits_only=cfg.loss.masked_logits_only,
                        )
                    (out_.loss / A).backward()
                loss_acc += out_.loss.detach().double() / A
            grad_norm = torch.nn.utils.clip_grad_norm_(raw.parameters(), clip)
            opt.step()
            sched.step()
            opt.zero_grad(set_to_none=True)
            if ema is not None:
                ema.update(raw)
            step += 1
            position += global_batch
            tokens_seen += global_batch * L
            window_tokens += global_batch * L
            window_loss += float(ctx.all_reduce_sum(loss_acc) / W) if ctx.distributed else float(loss_acc)
            window_n += 1

            if step % cfg.log_every == 0 or step == end:
                now = time.perf_counter()
                gn = grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm
                row = {"step": step, "split": "train", "loss": window_loss / window_n,
                       "lr": sched.get_last_lr()[0], "grad_norm": float(gn), "tokens_seen": tokens_seen,
                       "tokens_per_s": window_tokens / max(now - window_t, 1e-9),
                       "elapsed_s": now - t_start}
                log(row)
                if bar is not None:
                    bar.set_postfix(loss=f"{row['loss']:.3f}", tok_s=f"{row['tokens_per_s']:.0f}")
                window_t, window_tokens, window_loss, window_n = now, 0, 0.0, 0
            if bar is not None:
                bar.update(1)

            if cfg.eval_every and step % cfg.eval_every == 0 and step < cfg.max_steps:
                last_val = _validate(fwd, raw, ema, bundle, cfg, ctx, loss_parts, step)
                if last_val:
                    log(last_val)
                    if bar is not None:
                        bar.write(_val_line(last_val))
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
        final_val = _validate(fwd, raw, ema, bundle, cfg, ctx, loss_parts, step) or None
        if final_val:
            log(final_val)
            if progress and ctx.is_main:
                print(_val_line(final_val), flush=True)
    save(final_val)
    return TrainResult(
        checkpoint=ckpt_dir, out_dir=out, metrics=read_metrics(metrics_path) if ctx.is_main else [],
        wall_time=time.perf_counter() - t_start, tokens_seen=tokens_seen, steps=step,
        interrupted=interrupted or not finished, final_val=final_val,
    )


def _val_line(row: dict) -> str:
    s = f"step {row['step']}: val NELBO {row['val_bits_per_token']:.4f} bits/token"
    if "val_bits_per_char" in row:
        s += f", {row['val_bits_per_char']:.4f} bits/char"
    return s
