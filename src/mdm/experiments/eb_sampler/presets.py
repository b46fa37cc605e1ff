"""The setups and presets of ``mdm exp eb-sampler``: packaged training configs plus overrides."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

from mdm.eval.eb_bound import GAMMA_GRID


@dataclass(frozen=True)
class SamplerGrid:
    """Which samplers a task is swept with (``gammas``: arXiv 2505.24857's grid, besides 0)."""

    topk: tuple[int, ...] = (1, 2, 4, 8)
    gammas: tuple[float, ...] = GAMMA_GRID
    proxies: tuple[str, ...] = ("confidence", "entropy", "margin")
    taus: tuple[float, ...] = (0.99, 0.9, 0.7, 0.5)
    scheduled_steps: tuple[int, ...] | None = None  # None: the task's own
    # the gammas of every proxy after the first (None: ``gammas``), a coarser grid where CPU is short
    other_gammas: tuple[float, ...] | None = None

    def gammas_of(self, proxy: str) -> tuple[float, ...]:
        """The gamma grid swept with ``proxy``: ``gammas`` for the first proxy, else ``other_gammas``."""
        return self.gammas if proxy == self.proxies[0] or self.other_gammas is None else self.other_gammas


@dataclass(frozen=True)
class TaskSetup:
    """A task model and how it is evaluated.

    ``config``: a packaged training config, ``overrides`` its ``key=value`` changes (the quick preset
    shrinks model and data); ``shared_checkpoint``: train into the config's own ``out_dir`` (so
    ``mdm train CONFIG`` and the experiment share one model) rather than ``OUT/models``.  ``blocks``:
    semi-AR block sizes (None: one block); ``stop_rule``: sweep with (True) and/or without (False)
    the stop rule on ``eos``.  The equal-accuracy setting is chosen on ``n_valid`` validation
    prompts (disjoint from train and test) and reported on ``n_eval`` test prompts.
    """

    name: str
    config: str
    overrides: tuple[str, ...] = ()
    shared_checkpoint: bool = False
    n_valid: int = 300
    n_eval: int = 1000
    batch_size: int = 250
    blocks: tuple[int | None, ...] = (None,)
    scheduled_steps: tuple[int, ...] = (8, 16, 32)
    stop_rule: tuple[bool, ...] = (True,)
    grid: SamplerGrid | None = None


@dataclass(frozen=True)
class BoundSetup:
    """The exact HMM of the bound check (:func:`mdm.eval.eb_bound.check_bound`).  One token per
    state (``emitted=1``) pins the hidden path, so positions are strongly correlated and EB picks
    sets of several positions (with V/2 tokens per state it reveals one for every gamma <= 0.25)."""

    n_hidden: int = 8
    vocab_size: int = 6
    successors: int = 2
    emitted: int | None = 1
    length: int = 12
    n_trials: int = 200


@dataclass(frozen=True)
class FrontierSetup:
    """The EB-vs-Threshold comparison (issue 28): one task swept with fine grids on every model of
    ``models`` (training seeds, each trained or loaded by ``task_model(task, ..., seed)``), compared
    at the matched NFE values ``nfe_grid``; bands with ``n_boot`` resamples."""

    task: TaskSetup
    grid: SamplerGrid
    models: tuple[int, ...] = (0, 1, 2)
    nfe_grid: tuple[float, ...] = (6, 8, 10, 12, 14, 16, 20, 24, 32)
    n_boot: int = 2_000


@dataclass(frozen=True)
class Preset:
    tasks: tuple[TaskSetup, ...]
    grid: SamplerGrid = field(default_factory=SamplerGrid)
    bound: BoundSetup = field(default_factory=BoundSetup)
    precision: str = "fp32"  # of the sampling forward passes
    frontier: FrontierSetup | None = None


QUICK_MODEL = ("model.d_model=32", "model.n_layers=1", "model.n_heads=2", "max_steps=40", "batch_size=16",
               "eval_every=0", "save_every=0", "ema=0.0", "precision=fp32", "threads=1", "log_every=10",
               "optim.warmup_steps=5")
_SUDOKU = "n_train: 128, n_test: 8, min_clues: {}, max_clues: {}, workers: 1, progress: false"  # clue range


def _quick(name: str, config: str, data_options: str, **kw) -> TaskSetup:
    """A tiny model trained in ``OUT/models``, evaluated on 8 validation and 8 test prompts."""
    return TaskSetup(name, config, (*QUICK_MODEL, f"data.options={{{data_options}}}"),
                     n_valid=8, n_eval=8, batch_size=8, **kw)


_full = partial(TaskSetup, shared_checkpoint=True)  # the model `mdm train CONFIG` trains
_QUICK_HARD = _quick("sudoku-hard", "sudoku-hard", _SUDOKU.format(30, 35), scheduled_steps=(8,))
PRESETS: dict[str, Preset] = {
    "quick": Preset(
        tasks=(_quick("sudoku", "sudoku-small", _SUDOKU.format(34, 40), scheduled_steps=(8,)),
               _quick("arithmetic", "arithmetic-small", "max_digits: 5, ops: ['+'], n_train: 512, n_test: 8",
                      blocks=(None, 4), scheduled_steps=(4,)),
               _QUICK_HARD,
               _quick("arithmetic-padded", "arithmetic-padded",
                      "max_digits: 5, ops: ['+'], reverse: true, zero_pad: true, n_train: 512, n_test: 8",
                      blocks=(None, 8),
                      scheduled_steps=(8,), stop_rule=(True, False))),
        grid=SamplerGrid(topk=(1, 4), gammas=(0.01, 1.0), proxies=("confidence", "entropy"), taus=(0.9,)),
        bound=BoundSetup(n_hidden=3, vocab_size=3, emitted=None, length=8, n_trials=20),
        # an untrained model is unsure everywhere: large gammas and small taus keep its NFE low
        frontier=FrontierSetup(_QUICK_HARD, SamplerGrid(topk=(4, 8), gammas=(10.0, 50.0), taus=(0.05, 0.1),
                                                        scheduled_steps=(8,)),
                               models=(0, 1), nfe_grid=(4, 8, 16), n_boot=200),
    ),
    "full": Preset(
        tasks=(_full("sudoku", "sudoku-small", n_valid=300, n_eval=300, batch_size=300),
               _full("arithmetic", "arithmetic-small", n_valid=1000, batch_size=500, blocks=(None, 4, 2),
                         scheduled_steps=(2, 4, 8)),
               # issue 17, sized for one CPU session (a 1.9M model's top-1 pass over 500 puzzles: 14 min)
               _full("sudoku-hard", "sudoku-hard", n_valid=100, n_eval=200, batch_size=200,
                         scheduled_steps=(32,), grid=SamplerGrid(topk=(1, 4), gammas=(0.001, 0.01, 0.1, 0.5),
                                                                 proxies=("margin",), taus=(0.99, 0.9))),
               _full("arithmetic-padded", "arithmetic-padded", n_valid=500, batch_size=500, blocks=(None, 8),
                         scheduled_steps=(4, 8, 16, 32), stop_rule=(True, False),
                         grid=SamplerGrid(topk=(1, 2, 4, 8), gammas=(0.001, 0.01, 0.1, 0.5, 1.0),
                                          proxies=("confidence", "margin"), taus=(0.99, 0.9, 0.7)))),
        # issue 28: 3 models x (150 validation + 1,000 test puzzles) at 30-35 clues, grids over the
        # NFE range of these models (8-27; measured on the seed-0 model): ~195 passes per puzzle,
        # sized for one CPU session.  The confidence proxy (Threshold's ranking too) gets the fine
        # gamma grid, entropy and margin one point each.
        frontier=FrontierSetup(_full("sudoku-hard", "sudoku-hard", n_valid=150), SamplerGrid(
            topk=(8,), gammas=(0.003, 0.01, 0.03, 0.1, 0.3), other_gammas=(0.03,),
            taus=(0.9, 0.97, 0.99, 0.995, 0.999), scheduled_steps=(8,)),
            nfe_grid=(8, 9, 10, 12, 14, 16, 18, 20, 24)),
    ),
}
