"""Sudoku by remasking and unmasking only: solver traces for AP-MDM (Yang et al., arXiv 2510.06190).

State: the 81 cells row by row.  A clue digit d is the token ``"d"`` (never edited: the prompt); a
digit d the process wrote is ``"abcdefghi"[d-1]``, so the model can tell its own guesses from the
clues; an empty cell is MASK.  The solver's trace, one transition per step:

* **contradiction** (a unit holds a digit twice, or an empty cell has no candidate): remask every
  written cell -- a restart from the puzzle;
* otherwise **unmask what is forced**: every naked single (one candidate) and hidden single (a digit
  with one place in a unit), all in one step;
* otherwise **guess**: the empty cell with fewest candidates (lowest index on ties) gets a candidate
  drawn at random -- so the model learns a distribution over candidates and sampling at temperature 1
  searches;
* a full grid without contradiction is the answer: a fixed point.

Every MASK that receives no token has its remask bit on ("stay masked").  No insert or delete.
"""

from __future__ import annotations

import random

import numpy as np
import torch

from mdm.errors import DataError
from mdm.tasks.anyprocess.trajectory import Transition, next_state
from mdm.tasks.sudoku.solver import _PEERS, _UNIT_CELLS, is_solution
from mdm.tokenizers import CharTokenizer

__all__ = ["tokenizer", "start_state", "trajectory", "decode", "verify", "CLUE", "WRITTEN"]

CLUE, WRITTEN = "123456789", "abcdefghi"
_UNITS = _UNIT_CELLS.tolist()


def tokenizer() -> CharTokenizer:
    """Clue digits ``1-9`` (ids 0-8), written digits ``a-i`` (ids 9-17), then pad, bos, eos, unk, mask."""
    return CharTokenizer(CLUE + WRITTEN)


def start_state(puzzle, tok: CharTokenizer | None = None) -> list[int]:
    tok = tok or tokenizer()
    cells = np.asarray(puzzle).reshape(-1)
    if cells.shape != (81,):
        raise DataError(f"a puzzle has 81 cells, got shape {np.shape(puzzle)}")
    return [int(v) - 1 if v else tok.mask_id for v in cells]


def decode(state, tok: CharTokenizer | None = None) -> np.ndarray:
    """The grid of a state: digits 1-9, 0 where a cell is empty (or not a digit)."""
    tok = tok or tokenizer()
    out = np.zeros(81, dtype=np.int64)
    for i, v in enumerate(list(state)[:81]):
        if 0 <= v < 18:
            out[i] = v % 9 + 1
    return out


def _candidates(grid: list[int], i: int) -> set[int]:
    return set(range(1, 10)) - {grid[j] for j in _PEERS[i]}


def _contradiction(grid: list[int]) -> bool:
    for unit in _UNITS:
        digits = [grid[i] for i in unit if grid[i]]
        if len(digits) != len(set(digits)):
            return True
    return any(not grid[i] and not _candidates(grid, i) for i in range(81))


def _forced(grid: list[int]) -> dict[int, int]:
    forced = {}
    for i in range(81):
        if not grid[i] and len(c := _candidates(grid, i)) == 1:
            forced[i] = c.pop()
    for unit in _UNITS:
        for d in range(1, 10):
            if d in (grid[i] for i in unit):
                continue
            places = [i for i in unit if not grid[i] and d in _candidates(grid, i)]
            if len(places) == 1 and places[0] not in forced:
                forced[places[0]] = d
    return forced


def _step(state: list[int], tok: CharTokenizer, rng: random.Random) -> Transition | None:
    M = tok.mask_id
    grid = list(decode(state, tok))
    empty = [i for i in range(81) if state[i] == M]
    if _contradiction(grid):
        written = [i for i in range(81) if 9 <= state[i] < 18]
        return Transition.build(state, remask=written + empty)
    if not empty:
        return None
    fill = _forced(grid)
    if not fill:
        cell = min(empty, key=lambda i: (len(_candidates(grid, i)), i))
        fill = {cell: rng.choice(sorted(_candidates(grid, cell)))}
    return Transition.build(state, tokens={i: 8 + d for i, d in fill.items()},
                            remask=[i for i in empty if i not in fill])


def trajectory(puzzle, *, seed: int = 0, max_steps: int = 200, tok: CharTokenizer | None = None
               ) -> list[Transition]:
    """The solver's trace from the puzzle to its solution, ending with the fixed point.  Raises
    :class:`DataError` if the randomised search has not finished within ``max_steps``."""
    tok = tok or tokenizer()
    rng = random.Random(seed)
    state = start_state(puzzle, tok)
    out = []
    for _ in range(max_steps):
        t = _step(state, tok, rng)
        if t is None:
            out.append(Transition.build(state))
            return out
        out.append(t)
        state = next_state(t, mask_id=tok.mask_id, pad_id=tok.pad_id)
    raise DataError(f"the Sudoku trace did not finish within {max_steps} steps; raise max_steps")


def verify(outputs: list[list[int]], puzzles, tok: CharTokenizer | None = None) -> torch.Tensor:
    """Which outputs are 81 cells holding a valid solution that keeps every clue."""
    tok = tok or tokenizer()
    ok = []
    for o, p in zip(outputs, np.asarray(puzzles).reshape(len(outputs), 81)):
        ok.append(len(o) == 81 and tok.mask_id not in o and is_solution(p, decode(o, tok)))
    return torch.tensor(ok, dtype=torch.bool)
