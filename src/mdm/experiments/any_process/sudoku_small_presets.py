"""The setups of the small-Sudoku parts of ``mdm exp any-process`` (issue 27, item 3b): light (no torch),
so that :mod:`.presets` can register them.  The parts themselves are in :mod:`.sudoku_small`."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SmallSudokuSetup", "QUICK", "FULL"]


@dataclass(frozen=True)
class SmallSudokuSetup:
    """Per grid shape: ``n_train`` training-set sizes (nested: the first k of one train split),
    ``n_test`` test and ``n_valid`` validation puzzles, ``seeds`` training seeds (offset by the run's
    seed); model size and training (shared by the three arms; ``steps`` per shape); AP-MDM
    generation at most ``ap_steps`` transitions, temperature chosen on validation among
    ``temperatures``; the MDM decoded top-1 and with a confidence threshold ``threshold``."""

    shapes: tuple[str, ...] = ("4x4", "6x6")
    n_train: tuple[int, ...] = (100, 1000)
    n_test: int = 200
    n_valid: int = 50
    data_seed: int = 0
    seeds: tuple[int, ...] = (0, 1, 2)
    d_model: int = 32
    n_heads: int = 4
    n_layers: int = 2
    steps: tuple[tuple[str, int], ...] = (("4x4", 400), ("6x6", 300))
    batch_size: int = 64
    lr: float = 3e-3
    traces_per_puzzle: int = 2
    ap_steps: int = 48
    temperatures: tuple[float, ...] = (0.0, 1.0)
    threshold: float = 0.9


# seconds: tiny models, 2 seeds; for the tests (not on --preset quick: its result stays the baseline's)
QUICK = SmallSudokuSetup(shapes=("4x4",), n_train=(20,), n_test=16, n_valid=8, seeds=(0, 1), d_model=16,
                         n_layers=1, n_heads=2, steps=(("4x4", 20),), batch_size=16, traces_per_puzzle=1,
                         ap_steps=12, temperatures=(0.0,))
# ~8 min of one core (what a machine loaded ~12x could give it before the deadline):
# 2 shapes x 2 training-set sizes x 3 seeds x 3 arms, d 32, 2 layers
FULL = SmallSudokuSetup()
