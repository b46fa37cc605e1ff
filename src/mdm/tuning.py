"""Post-training tuning of the Beta energy schedule: grid search, then refine the best few.

Chen et al., "Masked Diffusion Models as Energy Minimization" (arXiv 2509.13866), Sec. on
practical schedules: with ``alpha = sin^2(pi/2 * I(a, b))`` the schedule is two numbers, so it
can be tuned for a task after training: score every (a, b) on a grid (the paper uses
{0.1, ..., 1.0}^2 on 50-150 items), then re-score the best few on more items and keep the best.

The search is driven by an *objective*: any callable ``objective(schedule, n_items, seed) ->
float`` (accuracy from a verifier, token error under an exact language, ...).  Every score is
written to a JSON cache as soon as it is computed, so an interrupted search resumes where it
stopped.  Builders for the two common objectives live here too (:func:`language_objective`,
:func:`verifier_objective`); the ``mdm tune-schedule`` command is :mod:`mdm.cli.tune_schedule`.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mdm.errors import ConfigError, ScheduleError
from mdm.schedules import BetaEnergy

__all__ = [
    "DEFAULT_GRID",
    "TuneConfig",
    "TuneResult",
    "tune_schedule",
    "format_table",
    "plot_heatmap",
    "language_objective",
    "verifier_objective",
    "sample_in_batches",
]

Objective = Callable[[BetaEnergy, int, int], float]

DEFAULT_GRID: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(1, 11))
CACHE_VERSION = 1


def _check_param(name: str, v) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise ScheduleError(
            f"Beta schedule parameter {name} must be a finite number > 0, got {v!r} "
            "(the Beta(a, b) CDF is undefined for a <= 0 or b <= 0)"
        )
    return float(v)


@dataclass(frozen=True)
class TuneConfig:
    """What to search and how hard.

    ``samples`` items score each grid cell (common random numbers: every cell sees the same
    ``seed``); the ``refine_top`` best cells, plus ``always_refine`` (linear by default, the usual
    baseline), are re-scored on ``refine_samples`` fresh items (seed ``seed + 1``), which avoids
    crowning a cell that was merely lucky on the first items.
    """

    steps: int
    grid_a: tuple[float, ...] = DEFAULT_GRID
    grid_b: tuple[float, ...] = DEFAULT_GRID
    samples: int = 64
    refine_top: int = 3
    refine_samples: int = 256
    maximize: bool = True
    seed: int = 0
    always_refine: tuple[tuple[float, float], ...] = ((0.5, 0.5),)

    def __post_init__(self):
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise ConfigError(f"steps must be an integer >= 1, got {self.steps!r}")
        for name in ("grid_a", "grid_b"):
            values = tuple(getattr(self, name))
            if not values:
                raise ConfigError(f"{name} is empty: give at least one value")
            object.__setattr__(self, name, tuple(_check_param(name[-1], v) for v in values))
        pairs = tuple((_check_param("a", a), _check_param("b", b)) for a, b in self.always_refine)
        object.__setattr__(self, "always_refine", pairs)
        for name in ("samples", "refine_samples"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ConfigError(f"{name} must be an integer >= 1, got {v!r}")
        if isinstance(self.refine_top, bool) or not isinstance(self.refine_top, int) or self.refine_top < 0:
            raise ConfigError(f"refine_top must be an integer >= 0, got {self.refine_top!r}")


@dataclass
class TuneResult:
    """Grid scores, refined scores and the winner (``a``, ``b``)."""

    config: TuneConfig
    grid: dict[tuple[float, float], float]
    refined: dict[tuple[float, float], float]
    a: float
    b: float
    score: float
    evaluations: int = 0  # objective calls made in this run (cached ones excluded)
    extra: dict = field(default_factory=dict)

    def schedule(self) -> BetaEnergy:
        return BetaEnergy(self.a, self.b)

    def to_dict(self) -> dict:
        cfg = asdict(self.config)
        return {
            "config": cfg,
            "best": {"a": self.a, "b": self.b, "score": self.score},
            "grid": [{"a": a, "b": b, "score": s} for (a, b), s in self.grid.items()],
            "refined": [{"a": a, "b": b, "score": s} for (a, b), s in self.refined.items()],
            "evaluations": self.evaluations,
        }


class _Cache:
    """Scores keyed by (a, b), items and seed; rewritten atomically after every score."""

    def __init__(self, path: Path | None, fingerprint: dict):
        self.path, self.fingerprint, self.scores = path, fingerprint, {}
        if path is None or not path.exists():
            return
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ConfigError(
                f"cannot read the tuning cache {path}: {err}; delete it to start over"
            ) from None
        if data.get("version") != CACHE_VERSION or data.get("fingerprint") != fingerprint:
            raise ConfigError(
                f"the tuning cache {path} was written by a different search "
                f"({data.get('fingerprint')}); delete it or write to another directory"
            )
        self.scores = dict(data.get("scores", {}))

    @staticmethod
    def key(a: float, b: float, n: int, seed: int) -> str:
        return f"{a:.6g}|{b:.6g}|{n}|{seed}"

    def put(self, key: str, value: float) -> None:
        self.scores[key] = value
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps({"version": CACHE_VERSION, "fingerprint": self.fingerprint,
                                   "scores": self.scores}, indent=1))
        os.replace(tmp, self.path)


def tune_schedule(
    objective: Objective,
    config: TuneConfig,
    *,
    cache: str | Path | None = None,
    name: str = "objective",
    progress: bool = True,
) -> TuneResult:
    """Grid-search (a, b), refine the best ``config.refine_top`` cells, return the winner.

    ``objective(BetaEnergy(a, b), n_items, seed) -> float`` is higher-is-better when
    ``config.maximize`` (accuracy) and lower-is-better otherwise (token error).  ``cache`` is a
    JSON file: scores already in it are reused, so rerunning an interrupted search finishes it;
    ``name`` (with the config) identifies the search, and a cache written by another raises.
    Non-finite scores (NaN) count as the worst possible.
    """
    from tqdm.auto import tqdm

    # Keys carry (a, b, items, seed), so only what changes a score's meaning is fingerprinted:
    # a bigger grid or more finalists reuse every score already cached.
    fingerprint = {"name": name, "steps": config.steps, "maximize": config.maximize}
    store = _Cache(Path(cache) if cache is not None else None, fingerprint)
    sign = 1.0 if config.maximize else -1.0

    def better_key(score: float) -> float:
        return sign * score if math.isfinite(score) else -math.inf

    cells = [(a, b) for a in config.grid_a for b in config.grid_b]
    n_refine = min(config.refine_top, len(cells)) + len(config.always_refine)
    bar = tqdm(total=len(cells) + n_refine, desc=f"tune {name}", disable=not progress, leave=False)
    calls = 0

    def score(a: float, b: float, n: int, seed: int) -> float:
        nonlocal calls
        key = _Cache.key(a, b, n, seed)
        if key not in store.scores:
            store.put(key, float(objective(BetaEnergy(a, b), n, seed)))
            calls += 1
        bar.update(1)
        bar.set_postfix(a=a, b=b, score=f"{store.scores[key]:.4g}")
        return store.scores[key]

    try:
        grid = {(a, b): score(a, b, config.samples, config.seed) for a, b in cells}
        ranked = sorted(cells, key=lambda c: -better_key(grid[c]))  # stable: grid order breaks ties
        finalists = list(dict.fromkeys(ranked[: config.refine_top] + list(config.always_refine)))
        refined = {c: score(*c, config.refine_samples, config.seed + 1) for c in finalists}
    finally:
        bar.close()
    pool = refined if refined else grid
    best = max(pool, key=lambda c: better_key(pool[c]))
    return TuneResult(config, grid, refined, best[0], best[1], pool[best], evaluations=calls)


# ----------------------------------------------------------------------------- reporting


def format_table(result: TuneResult, metric: str = "score") -> str:
    """The grid as a text table (rows a, columns b) and the refined finalists below it."""
    cfg = result.config
    direction = "higher" if cfg.maximize else "lower"
    width = max(8, len(metric))
    lines = [f"{metric} on {cfg.samples} items, {cfg.steps} steps ({direction} is better); rows a, columns b"]
    lines.append("a\\b".rjust(6) + "".join(f"{b:>{width}.3g}" for b in cfg.grid_b))
    for a in cfg.grid_a:
        lines.append(f"{a:>6.3g}" + "".join(f"{result.grid[(a, b)]:>{width}.4g}" for b in cfg.grid_b))
    if result.refined:
        lines.append(f"refined on {cfg.refine_samples} fresh items:")
        order = sorted(result.refined.items(), key=lambda kv: -kv[1] if cfg.maximize else kv[1])
        for (a, b), s in order:
            tag = "  <- best" if (a, b) == (result.a, result.b) else ""
            lines.append(f"  Beta({a:.3g}, {b:.3g}): {metric} {s:.4g}{tag}")
    lines.append(f"best: Beta({result.a:.3g}, {result.b:.3g}) with {metric} {result.score:.4g}")
    return "\n".join(lines)


def plot_heatmap(
    result: TuneResult, path: str | Path, metric: str = "score", title: str | None = None
) -> Path:
    """Write the grid scores as a heatmap PNG (a on the y axis, b on the x axis)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    cfg = result.config
    z = np.array([[result.grid[(a, b)] for b in cfg.grid_b] for a in cfg.grid_a])
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * len(cfg.grid_b), 0.8 + 0.5 * len(cfg.grid_a)))
    im = ax.imshow(z, origin="lower", cmap="viridis" if cfg.maximize else "viridis_r", aspect="auto")
    ax.set_xticks(range(len(cfg.grid_b)), [f"{b:.2g}" for b in cfg.grid_b])
    ax.set_yticks(range(len(cfg.grid_a)), [f"{a:.2g}" for a in cfg.grid_a])
    ax.set_xlabel("b")
    ax.set_ylabel("a")
    if len(cfg.grid_a) * len(cfg.grid_b) <= 144:
        for i in range(len(cfg.grid_a)):
            for j in range(len(cfg.grid_b)):
                ax.text(j, i, f"{z[i, j]:.3g}", ha="center", va="center", fontsize=6, color="w")
    if (result.a in cfg.grid_a) and (result.b in cfg.grid_b):
        ax.plot(cfg.grid_b.index(result.b), cfg.grid_a.index(result.a), "r*", ms=14, label="best")
        ax.legend(loc="upper right", fontsize=7)
    fig.colorbar(im, ax=ax, label=metric)
    ax.set_title(title or f"{metric}, {cfg.steps} steps, {cfg.samples} items")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------- objectives


def sample_in_batches(denoiser, n: int, batch_size: int, seed: int, on_batch=None, **kw):
    """``n`` samples (``mdm.sample(**kw)``) in batches of ``batch_size``, all drawn from one
    generator seeded with ``seed`` (on the device the sampler runs on).  ``prompts=`` gives one
    row per sample; ``on_batch(result)`` sees each batch's full :func:`mdm.sample` result (its
    trace, with ``trace=True``)."""
    import torch

    from mdm.protocol import device_of
    from mdm.sampling import sample

    gen = torch.Generator(device=device_of(denoiser)).manual_seed(seed)
    prompts = kw.pop("prompts", None)
    chunks = []
    for start in range(0, n, batch_size):
        b = min(batch_size, n - start)
        prompt = None if prompts is None else prompts[start:start + b].to(gen.device)
        res = sample(denoiser, batch_size=b, prompt=prompt, generator=gen, **kw)
        if on_batch is not None:
            on_batch(res)
        chunks.append(res.tokens.cpu())
    return torch.cat(chunks)


def language_objective(
    language,
    steps: int,
    *,
    length: int,
    denoiser=None,
    metric: str = "ser",
    proxy: str = "random",
    temperature: float = 1.0,
    batch_size: int = 256,
    entropy=None,
) -> Objective:
    """Score a schedule by sampling ``n`` sequences and measuring them under the TRUE ``language``.

    ``metric``: ``"ser"`` (fraction of impossible sequences) or ``"ter"`` (token error: the
    perplexity of the valid samples under the language, :func:`mdm.eval.sequence_metrics.token_error`);
    both lower-is-better.  ``denoiser``: default the language's exact oracle (isolates the
    sampler's error); pass a :class:`mdm.languages.LanguageView` of a trained model to include model error.
    """
    from mdm.eval.sequence_metrics import sequence_error_rate, token_error
    from mdm.sampling import from_spec

    if metric not in ("ser", "ter"):
        raise ConfigError(f"language metric must be 'ser' or 'ter', got {metric!r}")
    den = language.denoiser() if denoiser is None else denoiser
    if metric == "ter" and entropy is None:
        entropy = language.entropy(length)  # estimated once, reused by every evaluation

    def objective(schedule: BetaEnergy, n: int, seed: int) -> float:
        x = sample_in_batches(den, n, batch_size, seed, length=length, temperature=temperature,
                            unmasker=from_spec("scheduled", steps=steps, schedule=schedule, proxy=proxy))
        if metric == "ser":
            return sequence_error_rate(language, x)
        return token_error(language, x, entropy=entropy).perplexity

    return objective


def verifier_objective(
    denoiser,
    dataset,
    steps: int,
    *,
    proxy: str = "confidence",
    temperature: float = 0.0,
    batch_size: int = 64,
    block_size: int | None = None,
) -> Objective:
    """Score a schedule by the accuracy of answers to ``n`` prompts of ``dataset`` (higher is better).

    ``dataset`` has ``prompts() -> [N, P]``, ``answer_len`` and ``verify(tokens) -> BoolTensor``
    (a validation split of the Sudoku or arithmetic task of :mod:`mdm.tasks`: choose on it, report
    on test).  Each evaluation takes the first ``n`` prompts of a permutation seeded by ``seed``,
    so the refinement stage (another seed, more items) sees items the grid stage mostly did not.
    """
    import torch

    from mdm.sampling import from_spec

    prompts = dataset.prompts()
    total = prompts.shape[0]
    if total == 0:
        raise ConfigError("the dataset has no prompts to score a schedule on")

    def objective(schedule: BetaEnergy, n: int, seed: int) -> float:
        idx = torch.randperm(total, generator=torch.Generator().manual_seed(seed))[: min(n, total)]
        x = sample_in_batches(denoiser, len(idx), batch_size, seed, prompts=prompts[idx],
                            length=dataset.answer_len, temperature=temperature, block_size=block_size,
                            unmasker=from_spec("scheduled", steps=steps, schedule=schedule, proxy=proxy))
        return float(dataset.verify(x).double().mean())

    return objective
