"""What every RL objective shares: starting from an SFT checkpoint, the frozen reference policy, the
rollout buffer reused by ``inner_updates`` updates, and the numbers logged per step.

``loss.init`` names the SFT checkpoint (its EMA weights when it has them, the weights ``mdm.load``
returns).  They are loaded into the freshly built model in :meth:`RLBase.bind` -- before the
optimizer, the EMA and a resume read anything -- and a frozen copy becomes the reference policy.  The
reference, the rollout buffer and the update counter are the objective's checkpoint state, so a
resumed run continues bit for bit; the rollouts themselves draw from the trainer's per-step generator.

One trainer step is one inner update: rollouts are drawn on the steps where ``calls % inner_updates
== 0`` from that step's prompts (the batch's prompt columns, ``group_size`` completions each), and the
``inner_updates`` steps that follow reuse them (d1's ``mu``), each with its own likelihood-estimate seed.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from mdm.errors import ConfigError, DataError, MDMError
from mdm.rl.rewards import REWARDS
from mdm.rl.rollout import Rollout, RolloutSettings, rollout
from mdm.rl.surrogates import ADVANTAGE_SCALES, group_advantages
from mdm.sampling import from_spec
from mdm.train.objective import Objective

__all__ = ["RLOptions", "RLBase", "RLOutput", "prompt_length", "load_initial"]


@dataclass
class RLOptions:
    """The keys every RL objective's ``loss`` section has (see the module docstring)."""

    init: str = ""
    reward: str = "arithmetic"
    reward_options: dict = field(default_factory=dict)
    group_size: int = 4
    inner_updates: int = 1
    advantage_scale: str = "std"
    unmasker: str = "topk:k=1"
    temperature: float = 1.0
    block_size: int | None = None
    cache: str | None = None
    stop_at_eos: bool = True
    val_unmasker: str = "topk:k=1"


@dataclass
class RLOutput:
    """What :meth:`RLBase.loss` returns to the trainer."""

    loss: torch.Tensor
    per_sample: torch.Tensor
    num_eligible: torch.Tensor


def prompt_length(eligible: torch.Tensor) -> int:
    """The prompt length of a batch whose rows are ``prompt | completion`` (eligible = completion)."""
    first = eligible.float().argmax(1)
    p = int(first[0])
    cols = torch.arange(eligible.shape[1], device=eligible.device)
    if p == 0 or not bool((first == p).all()) or not bool((eligible == (cols >= p)).all()):
        raise DataError(
            "RL needs rows 'prompt | completion' with one prompt length (the eligible positions "
            "a contiguous suffix after at least one prompt token), as the arithmetic task writes"
        )
    return p


def load_initial(model: torch.nn.Module, path: str):
    """Load the SFT checkpoint ``path`` (EMA weights when present) into ``model``; return its tokenizer."""
    from mdm.loading import EMA, is_checkpoint, load_into, load_weights, read_config
    from mdm.models.families import config_to_dict

    where = Path(path).expanduser()
    if not path or not is_checkpoint(where):
        raise ConfigError(
            f"loss.init: no SFT checkpoint at {path!r}; train one first (e.g. `mdm train "
            "src/mdm/configs/arithmetic-small.yaml`) and give its checkpoint folder"
        )
    saved = read_config(where)
    mine = config_to_dict(model.config)
    theirs = saved["model"]["config"]
    diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
    if diff:
        raise ConfigError(
            f"loss.init {path}: the model section differs from the SFT model's in {diff}; "
            "copy the SFT config's model section"
        )
    load_into(model, load_weights(where, ema=EMA in saved["files"]), where)
    from mdm.tokenizers import tokenizer_from_dict

    return tokenizer_from_dict(saved["tokenizer"])


class RLBase(Objective):
    """Shared machinery; subclasses implement :meth:`prepare_updates` and :meth:`update_loss`."""

    Config = RLOptions

    @classmethod
    def check(cls, config, train_config) -> None:
        if not config.init:
            raise ConfigError("loss.init must name the SFT checkpoint RL starts from")
        if config.group_size < 2:
            raise ConfigError(
                f"loss.group_size must be >= 2 (advantages compare a group), got {config.group_size}"
            )
        if config.inner_updates < 1:
            raise ConfigError(f"loss.inner_updates must be >= 1, got {config.inner_updates}")
        if config.advantage_scale not in ADVANTAGE_SCALES:
            raise ConfigError(f"loss.advantage_scale must be one of {list(ADVANTAGE_SCALES)}")
        if train_config.grad_accum != 1:
            raise ConfigError("RL objectives take one rollout batch per step: set grad_accum: 1")
        if config.cache not in (None, "prefix", "dual"):
            raise ConfigError(f"loss.cache must be null, prefix or dual, got {config.cache!r}")
        if config.temperature < 0:
            raise ConfigError(f"loss.temperature must be >= 0, got {config.temperature}")
        try:
            from_spec(config.unmasker, length=8)
            from_spec(config.val_unmasker, length=8)
        except MDMError as e:
            raise ConfigError(f"loss.unmasker / loss.val_unmasker: {e}") from e
        REWARDS.get(config.reward)(**config.reward_options)

    def bind(self, model) -> None:
        tokenizer = load_initial(model, self.config.init)
        self.eos_id, self.pad_id = getattr(tokenizer, "eos_id", None), getattr(tokenizer, "pad_id", None)
        self.policy = model
        self.reference = copy.deepcopy(model).eval().requires_grad_(False)
        self.reward_fn = REWARDS.get(self.config.reward)(**self.config.reward_options)
        self.calls, self.buffer, self.stats = 0, None, {}
        self._last_start = None

    # --- checkpoint state -------------------------------------------------------------------------

    def state_dict(self) -> dict:
        ref = {k: v.detach().cpu().clone() for k, v in self.reference.state_dict().items()}
        return {"reference": ref, "calls": self.calls, "buffer": self.buffer}

    def calibrate(self, model, bundle, state, device, out) -> None:
        self.reference.to(device)
        if state is not None:
            self.reference.load_state_dict(state["reference"])
            self.calls, self.buffer = int(state["calls"]), state["buffer"]

    # --- rollouts -----------------------------------------------------------------------------------

    def settings(self, length: int, *, validation: bool = False) -> RolloutSettings:
        c = self.config
        eos = self.eos_id
        return RolloutSettings(
            pad_id=self.pad_id,
            length=length,
            unmasker=c.val_unmasker if validation else c.unmasker,
            block_size=c.block_size,
            temperature=0.0 if validation else c.temperature,
            cache=c.cache,
            stop=(eos,) if (c.stop_at_eos and eos is not None) else None,
        )

    def _rollout(self, prompts, length, group, generator, *, validation=False) -> Rollout:
        was = self.policy.training
        self.policy.eval()
        try:
            return rollout(
                self.policy, prompts, group, self.settings(length, validation=validation), generator
            )
        finally:
            self.policy.train(was)

    def loss(self, model, batch, generator):
        now = time.perf_counter()
        if self._last_start is not None:
            self.stats["update_s"] = now - self._last_start - self.stats.get("rollout_s_step", 0.0)
        self._last_start = now
        self.stats["rollout_s_step"] = 0.0
        j = self.calls % self.config.inner_updates
        if j == 0:
            p = prompt_length(batch["eligible"])
            ids = batch["input_ids"]
            ro = self._rollout(ids[:, :p], ids.shape[1] - p, self.config.group_size, generator)
            rewards = self.reward_fn(ro.tokens.cpu(), p).to(ids.device)
            adv = group_advantages(rewards, self.config.group_size, self.config.advantage_scale)
            seeds = torch.randint(
                0, 2**62, (self.config.inner_updates,), generator=generator, device=generator.device
            ).tolist()
            with torch.no_grad():
                extra = self.prepare_updates(ro, adv, seeds)
            self.buffer = {
                "rollout": ro.state_dict(),
                "rewards": rewards,
                "adv": adv,
                "seeds": seeds,
                **extra,
            }
            self.stats.update(
                reward_mean=float(rewards.mean()),
                nfe_per_rollout=float(ro.nfe.double().mean()),
                reward_ci95=1.96 * float(rewards.std()) / math.sqrt(len(rewards)),
                rollout_s=ro.seconds,
                rollout_s_step=ro.seconds,
            )
        self.calls += 1
        out = self.update_loss(model, self.buffer, j)
        return out

    def prepare_updates(self, ro: Rollout, adv: torch.Tensor, seeds: list[int]) -> dict[str, Any]:
        """Per-update quantities fixed at rollout time (old / reference log-likelihoods)."""
        return {}

    def update_loss(self, model, buffer: dict, j: int) -> RLOutput:
        raise NotImplementedError

    @property
    def device(self) -> torch.device:
        """Where the policy's weights are (a buffer restored from a checkpoint is on the CPU)."""
        return next(self.policy.parameters()).device

    @staticmethod
    def seeded(seed: int, device) -> torch.Generator:
        g = torch.Generator(device=device)
        g.manual_seed(int(seed))
        return g

    # --- validation and logs ----------------------------------------------------------------------------

    def val_loss(self, model, batch, generator):
        p = prompt_length(batch["eligible"])
        ids = batch["input_ids"]
        ro = self._rollout(ids[:, :p], ids.shape[1] - p, 1, generator, validation=True)
        r = self.reward_fn(ro.tokens.cpu(), p).to(ids.device).double()
        return RLOutput(-r.mean(), -r, torch.tensor(len(r), device=ids.device))

    def val_row(self, nats: float, bundle) -> dict[str, float]:
        return {"val_reward_mean": -nats}

    def val_summary(self, row) -> str:
        return f"reward {row['val_reward_mean']:.4f} (val_unmasker, temperature 0)"

    def log_fields(self, model) -> dict[str, Any]:
        return {k: v for k, v in self.stats.items() if k != "rollout_s_step"}
