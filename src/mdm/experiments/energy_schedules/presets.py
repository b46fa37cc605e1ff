"""The configuration of ``mdm exp energy-schedules``: its setups and the quick / full presets.

See :mod:`mdm.experiments.energy_schedules` for what each part measures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from mdm.experiments.energy_schedules.toy import ToyConfig
from mdm.experiments.training import SmallModel

ORDERS = ("random", "confidence")


@dataclass(frozen=True)
class LanguageSetup:
    """An exact language (``mdm tune-schedule --language`` syntax) and the metric to tune it on."""

    spec: str
    tune_metric: str = "ser"  # "ser" or "ter"
    name: str | None = None  # default: the spec's kind + "-exact"

    @property
    def label(self) -> str:
        return self.name or f"{self.spec.split(':')[0]}-exact"


@dataclass(frozen=True)
class TuneSetup:
    steps: int = 8
    grid: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(1, 11))
    samples: int = 128
    refine_top: int = 3
    refine_samples: int = 512


@dataclass(frozen=True)
class TrainSetup(SmallModel):
    """The small model trained on ``language`` (through :func:`mdm.train.train`): the packaged
    ``exact-language`` config with :meth:`overrides`."""

    language: str
    max_steps: int = 300
    batch_size: int = 64
    n_train: int = 20_000

    def overrides(self, length: int, out_dir, seed: int) -> list[str]:
        """``key=value`` overrides of the packaged ``exact-language`` config (CPU, fp32, one thread)."""
        options = {"spec": self.language, "n_train": self.n_train}
        return [*self.model_overrides(), f"data.seq_len={length}", f"data.options={json.dumps(options)}",
                f"optim.warmup_steps={min(50, self.max_steps // 10)}", f"seed={seed}",
                f"batch_size={self.batch_size}", f"max_steps={self.max_steps}",
                f"log_every={max(1, self.max_steps // 10)}", "precision=fp32", "threads=1",
                f"out_dir={out_dir}"]


@dataclass(frozen=True)
class CalibrationSetup:
    """Part ``calibration`` / ``calibration-trained``: "convex Beta vs linear" mapped over the oracle's
    end-of-text calibration (:class:`mdm.languages.Miscalibrated` factors), semi-AR blocks and the
    temperature, on ``spec`` (a language with end-of-text), LLaDA-style: confidence order, each
    instance a prompt of ``prompt_len`` tokens (drawn from the language, no end-of-text in it)
    continued for ``length`` positions.  With ``train``, models trained on the language (one per
    seed in ``train_seeds``) replace the exact oracle."""

    name: str
    spec: str
    length: int = 64
    prompt_len: int = 4
    instances: int = 512
    blocks: tuple[int, ...] = (1, 2, 4, 8)
    temperatures: tuple[float, ...] = (0.0, 1.0)
    factors: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
    steps: tuple[int, ...] = (8, 16, 32)
    schedules: tuple[str, ...] = ("linear", "beta:0.9,0.3", "beta:1,0.2")  # mdm.schedules.from_spec
    train: TrainSetup | None = None
    train_seeds: tuple[int, ...] = (0,)


@dataclass(frozen=True)
class Preset:
    toy: ToyConfig
    languages: tuple[LanguageSetup, ...]
    length: int
    steps: tuple[int, ...]
    samples: int  # sequences per (schedule, N, order)
    tune: TuneSetup
    train: TrainSetup | None
    batch_size: int = 512
    orders: tuple[str, ...] = ORDERS
    calibration: tuple[CalibrationSetup, ...] = ()


NGRAM = "ngram:vocab=8,order=2,branching=4,seed=0"
HMM = "hmm:states=8,vocab=8,seed=0,successors=3"
# the same HMM with end-of-text: answers of mean length 8, then eos and pad (87% padding at length 64)
PADDED_HMM = LanguageSetup(HMM + ",end=8", "ser", name="hmm-padded-exact")

# the middle regime: a small model trained on the padded HMM (1,500 steps: linear 20-80% at N = 8-16)
_PADDED_MODEL = TrainSetup(PADDED_HMM.spec, max_steps=1500, batch_size=64, d_model=64, n_layers=2, n_heads=4,
                           lr=2e-3, n_train=50_000)

PRESETS: dict[str, Preset] = {
    # A smoke test of every part (about a minute on 2 idle cores); its models are too small to mean anything.
    "quick": Preset(
        toy=ToyConfig(grid=(0.25, 0.5, 0.75, 1.0)),
        languages=(LanguageSetup(NGRAM, "ser"), PADDED_HMM),
        length=32,
        steps=(4, 8, 16),
        samples=128,
        tune=TuneSetup(steps=8, grid=(0.3, 0.6, 0.9), samples=64, refine_top=2, refine_samples=128),
        train=TrainSetup(NGRAM, max_steps=100, batch_size=32, d_model=32, n_layers=1, n_heads=2,
                         n_train=2000),
        calibration=(
            CalibrationSetup("calibration", PADDED_HMM.spec, length=16, prompt_len=2, instances=64,
                             blocks=(1, 2), factors=(0.25, 1.0, 4.0), steps=(4, 8)),
            CalibrationSetup("calibration-trained", PADDED_HMM.spec, length=16, prompt_len=2, instances=64,
                             blocks=(1, 2), factors=(1.0,), steps=(4, 8), train_seeds=(0, 1),
                             train=TrainSetup(PADDED_HMM.spec, max_steps=40, batch_size=32, d_model=32,
                                              n_layers=1, n_heads=2, n_train=2000))),
    ),
    "full": Preset(
        toy=ToyConfig(),
        languages=(LanguageSetup(NGRAM, "ser"), LanguageSetup(HMM, "ter"), PADDED_HMM),
        length=64,
        steps=(4, 8, 16, 32, 64),
        samples=512,
        tune=TuneSetup(),
        train=TrainSetup(NGRAM, max_steps=1500, batch_size=64, d_model=64, n_layers=2, n_heads=4, lr=2e-3,
                         n_train=50_000),
        calibration=(
            CalibrationSetup("calibration", PADDED_HMM.spec, instances=256),
            CalibrationSetup("calibration-trained", PADDED_HMM.spec, length=32, blocks=(1, 2, 4),
                             factors=(1.0,), steps=(8, 16, 32), train_seeds=(0, 1, 2), train=_PADDED_MODEL)),
    ),
}
