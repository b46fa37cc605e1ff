"""Solver traces of small Sudokus for AP-MDM training (Yang et al., arXiv 2510.06190), remask/unmask only.

The state is the ``n * n`` cells row by row.  A clue digit d is the token ``"123456789"[d-1]`` (the
prompt: never edited); a digit d the process wrote is ``"abcdefghi"[d-1]``, so the model can tell
its own guesses from the clues; an empty cell is MASK.  The trace is the same procedure as the 9x9
``ap-sudoku`` task's (:mod:`mdm.tasks.anyprocess.sudoku`), for any box shape, with each transition
labelled by its kind (:data:`KINDS`):

* ``contradiction`` -- a unit holds a digit twice, or an empty cell has no candidate: **remask**
  every written cell (a restart from the puzzle; the clues stay);
* ``assign`` -- every naked single (one candidate) and hidden single (a digit with one place in a
  unit) is unmasked, all in one step;
* ``guess`` -- nothing is forced: the empty cell with fewest candidates (lowest index on ties) gets a
  candidate drawn by the trace's seed, so a model learns a distribution over candidates;
* ``halt`` -- a full grid without contradiction: the fixed point (all bits off), so halting is
  supervised.

Every MASK that receives no token has its remask bit on ("stay masked"), as the transition rule of
:func:`mdm.sampling.anyprocess.apply_transition` requires.  No insert or delete.
"""

from __future__ import annotations

import random

import torch

from mdm.errors import DataError
from mdm.tasks.anyprocess.trajectory import Transition, next_state
from mdm.tasks.minisudoku.grid import Shape, candidates, conflicts, is_solution
from mdm.tokenizers import CharTokenizer

__all__ = ["KINDS", "tokenizer", "start_state", "decode", "step", "trajectory", "verify"]

KINDS = ("assign", "guess", "contradiction", "halt")
_CLUE, _WRITTEN = "123456789", "abcdefghi"


def tokenizer(shape: Shape) -> CharTokenizer:
    """Clue digits (ids ``0..n-1``), written digits (ids ``n..2n-1``), then pad, bos, eos, unk, mask."""
    return CharTokenizer(_CLUE[: shape.n] + _WRITTEN[: shape.n])


def start_state(shape: Shape, puzzle, tok: CharTokenizer | None = None) -> list[int]:
    tok = tok or tokenizer(shape)
    return [v - 1 if v else tok.mask_id for v in shape.check(puzzle)]


def decode(shape: Shape, state, tok: CharTokenizer | None = None) -> list[int]:
    """The grid of a state: digits ``1..n`` (clue or written), 0 where a cell holds anything else."""
    n = shape.n
    cells = list(state)[: shape.cells] + [-1] * max(0, shape.cells - len(state))
    return [v % n + 1 if 0 <= v < 2 * n else 0 for v in cells]


def _forced(shape: Shape, grid: list[int]) -> dict[int, int]:
    forced = {}
    for i in range(shape.cells):
        if not grid[i] and len(c := candidates(shape, grid, i)) == 1:
            forced[i] = c.pop()
    for unit in shape.units:
        for d in range(1, shape.n + 1):
            if any(grid[i] == d for i in unit):
                continue
            places = [i for i in unit if not grid[i] and d in candidates(shape, grid, i)]
            if len(places) == 1 and places[0] not in forced:
                forced[places[0]] = d
    return forced


def step(shape: Shape, state: list[int], rng: random.Random, tok: CharTokenizer | None = None
         ) -> tuple[str, Transition]:
    """The solver's next transition from ``state`` and its kind (one of :data:`KINDS`)."""
    tok = tok or tokenizer(shape)
    M, n = tok.mask_id, shape.n
    grid = decode(shape, state, tok)
    empty = [i for i in range(shape.cells) if state[i] == M]
    if conflicts(shape, grid) or any(not candidates(shape, grid, i) for i in empty):
        written = [i for i in range(shape.cells) if n <= state[i] < 2 * n]
        return "contradiction", Transition.build(state, remask=written + empty)
    if not empty:
        return "halt", Transition.build(state)
    kind, fill = "assign", _forced(shape, grid)
    if not fill:
        cell = min(empty, key=lambda i: (len(candidates(shape, grid, i)), i))
        kind, fill = "guess", {cell: rng.choice(sorted(candidates(shape, grid, cell)))}
    return kind, Transition.build(state, tokens={i: n + d - 1 for i, d in fill.items()},
                                  remask=[i for i in empty if i not in fill])


def trajectory(shape: Shape, puzzle, *, seed: int = 0, max_steps: int = 200,
               tok: CharTokenizer | None = None) -> tuple[list[Transition], list[str]]:
    """``(transitions, kinds)`` from the puzzle to its solution, ending with the fixed point.  Raises
    :class:`DataError` when the randomised search has not finished within ``max_steps``."""
    tok = tok or tokenizer(shape)
    rng = random.Random(seed)
    state = start_state(shape, puzzle, tok)
    transitions, kinds = [], []
    for _ in range(max_steps):
        kind, t = step(shape, state, rng, tok)
        transitions.append(t)
        kinds.append(kind)
        if kind == "halt":
            return transitions, kinds
        state = next_state(t, mask_id=tok.mask_id, pad_id=tok.pad_id)
    raise DataError(f"the {shape.name} Sudoku trace did not finish within {max_steps} steps; raise max_steps")


def verify(shape: Shape, outputs, puzzles, tok: CharTokenizer | None = None) -> torch.Tensor:
    """Which output states are ``n * n`` cells, no MASK, holding a valid solution that keeps every clue."""
    tok = tok or tokenizer(shape)
    ok = [len(o) == shape.cells and tok.mask_id not in o and is_solution(shape, p, decode(shape, o, tok))
          for o, p in zip(outputs, puzzles)]
    return torch.tensor(ok, dtype=torch.bool)
