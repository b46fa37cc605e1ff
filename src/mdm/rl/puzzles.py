"""Two small verifiable tasks for RL: 4x4 Sudoku and countdown (generators and verifiers).

**4x4 Sudoku** (the small Sudoku of d1's RL tasks, Zhao et al., arXiv 2504.12216): a grid is its 16
cells row by row with ``|`` after rows 1-3 (19 tokens, blank ``.``), over :data:`SUDOKU4_ALPHABET`;
an item is ``puzzle (19) + answer (19)``.  Correct = a well-formed answer grid whose rows, columns and
2x2 boxes each hold 1-4 once and which keeps every clue of the puzzle.

**Countdown** (TinyZero's task, also in d1 and SPG): given numbers and a target, write an arithmetic
expression (``+ - * /``, parentheses) that uses each given number exactly once and equals the target
(exact rational arithmetic; division by zero is wrong).  The prompt is ``n1,n2,n3=target:`` and the
answer the expression, ended by ``eos`` (over :data:`COUNTDOWN_ALPHABET`).
"""

from __future__ import annotations

import ast
import random
from collections import Counter
from fractions import Fraction

from mdm.tokenizers import CharTokenizer

__all__ = [
    "SUDOKU4_ALPHABET",
    "SUDOKU4_TOKENS",
    "sudoku4_tokenizer",
    "sudoku4_solutions",
    "sudoku4_puzzle",
    "encode_sudoku4",
    "sudoku4_ok",
    "sudoku4_well_formed",
    "COUNTDOWN_ALPHABET",
    "countdown_tokenizer",
    "countdown_problem",
    "countdown_value",
    "countdown_ok",
]

SUDOKU4_ALPHABET = ".1234|"
SUDOKU4_TOKENS = 19
_CELLS = tuple(5 * r + c for r in range(4) for c in range(4))
_SEPS = (4, 9, 14)
_UNITS = (
    [[4 * r + c for c in range(4)] for r in range(4)]
    + [[4 * r + c for r in range(4)] for c in range(4)]
    + [[4 * (br + r) + bc + c for r in range(2) for c in range(2)] for br in (0, 2) for bc in (0, 2)]
)


def sudoku4_tokenizer() -> CharTokenizer:
    return CharTokenizer(SUDOKU4_ALPHABET)


def _valid(cells) -> bool:
    return all(sorted(cells[i] for i in unit) == [1, 2, 3, 4] for unit in _UNITS)


def sudoku4_solutions() -> list[tuple[int, ...]]:
    """All 288 valid 4x4 grids (16 cells each, row by row)."""
    import itertools

    rows = list(itertools.permutations((1, 2, 3, 4)))
    return [sum(g, ()) for g in itertools.product(rows, repeat=4) if _valid(sum(g, ()))]


def sudoku4_puzzle(rng: random.Random, clues: int = 8) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A random solution and a puzzle keeping ``clues`` of its cells (0 = blank)."""
    solution = rng.choice(sudoku4_solutions())
    keep = set(rng.sample(range(16), clues))
    return tuple(v if i in keep else 0 for i, v in enumerate(solution)), solution


def encode_sudoku4(cells) -> list[int]:
    """The 19 ids of a grid (``0`` = blank = ``.``, digit d = id d, ``|`` = 5)."""
    ids = [5] * SUDOKU4_TOKENS
    for i, pos in enumerate(_CELLS):
        ids[pos] = int(cells[i])
    return ids


def sudoku4_well_formed(answer: list[int]) -> bool:
    return (
        len(answer) == SUDOKU4_TOKENS
        and all(answer[p] == 5 for p in _SEPS)
        and all(1 <= answer[p] <= 4 for p in _CELLS)
    )


def sudoku4_ok(puzzle: list[int], answer: list[int]) -> bool:
    """Well formed, every unit holds 1-4 once, every clue kept (ids as :func:`encode_sudoku4`)."""
    if not sudoku4_well_formed(answer):
        return False
    a = [answer[p] for p in _CELLS]
    clues = [puzzle[p] for p in _CELLS]
    return _valid(a) and all(c == 0 or c == v for c, v in zip(clues, a, strict=True))


COUNTDOWN_ALPHABET = "0123456789+-*/()=,:"


def countdown_tokenizer() -> CharTokenizer:
    return CharTokenizer(COUNTDOWN_ALPHABET)


def countdown_problem(rng: random.Random, n: int = 3, high: int = 20) -> tuple[list[int], int, str]:
    """``(numbers, target, a solution)``: a random expression over ``n`` numbers in ``1..high``."""
    while True:
        nums = [rng.randint(1, high) for _ in range(n)]
        expr = str(nums[0])
        for v in nums[1:]:
            expr = (
                f"({expr}){rng.choice('+-*')}{v}" if rng.random() < 0.5 else f"{expr}{rng.choice('+-*')}{v}"
            )
        value = countdown_value(expr)
        if value is not None and value.denominator == 1 and value > 0:
            order = nums[:]
            rng.shuffle(order)
            return order, int(value), expr


_OPS = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
}


def _eval(node, used: list[int]) -> Fraction:
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        a, b = _eval(node.left, used), _eval(node.right, used)
        return _OPS[type(node.op)](a, b)
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        used.append(node.value)
        return Fraction(node.value)
    raise ValueError("not a countdown expression")


def countdown_value(expr: str, used: list[int] | None = None) -> Fraction | None:
    """The exact value of ``expr`` (digits, ``+ - * /``, parentheses), or None if malformed or it
    divides by zero; ``used`` collects the numbers it contains."""
    if not expr or any(ch not in "0123456789+-*/()" for ch in expr):
        return None
    try:
        tree = ast.parse(expr, mode="eval")
        return _eval(tree.body, used if used is not None else [])
    except (SyntaxError, ValueError, ZeroDivisionError, RecursionError):
        return None


def countdown_ok(numbers: list[int], target: int, expr: str) -> bool:
    """``expr`` uses each of ``numbers`` exactly once and equals ``target``."""
    used: list[int] = []
    value = countdown_value(expr, used)
    return value is not None and value == target and Counter(used) == Counter(numbers)
