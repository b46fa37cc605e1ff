"""Balance a bracket string by deleting its unmatched brackets: an edit that needs non-local deletion.

Whether a bracket is kept depends on its partner, which can be anywhere in the string (``(`` at the
start is matched or not by a ``)`` at the end), so no rule that reads a bounded neighbourhood can
decide it: unlike :mod:`~mdm.tasks.anyprocess.rewrite`, this task is non-local.  The answer is the
input with every bracket left unmatched by the usual stack matching removed; it is balanced and the
longest balanced subsequence of the input (a greedy matching is a maximum one).

Trace (Yang et al., arXiv 2510.06190, the AP-MDM transition): 1. remask every unmatched bracket;
2. delete every MASK; then the answer is a fixed point.  An input with nothing unmatched is already
its answer (one fixed-point transition).  BOS and EOS are the prompt.

:func:`valid` is the checker: an output is valid when it is balanced, a subsequence of the input and
as long as the longest balanced subsequence (any such output is accepted, not only :func:`balance`'s).
"""

from __future__ import annotations

import random

import torch

from mdm.errors import DataError
from mdm.tasks.anyprocess.trajectory import Transition, next_state
from mdm.tokenizers import CharTokenizer

__all__ = ["tokenizer", "unmatched", "balance", "is_balanced", "is_subsequence", "valid", "start_state",
           "trajectory", "verify", "random_inputs"]


def tokenizer() -> CharTokenizer:
    """``(`` ``)``, then pad, bos, eos, unk, mask (7 ids)."""
    return CharTokenizer("()")


def unmatched(text: str) -> list[int]:
    """Indices of the brackets stack matching leaves unmatched (sorted)."""
    stack, lone = [], []
    for i, ch in enumerate(text):
        if ch == "(":
            stack.append(i)
        elif ch == ")":
            (stack.pop() if stack else lone.append(i))
        else:
            raise DataError(f"bracket strings hold only '(' and ')', got {ch!r} in {text!r}")
    return sorted(lone + stack)


def balance(text: str) -> str:
    """The input without its unmatched brackets."""
    drop = set(unmatched(text))
    return "".join(ch for i, ch in enumerate(text) if i not in drop)


def is_balanced(text: str) -> bool:
    depth = 0
    for ch in text:
        depth += 1 if ch == "(" else -1 if ch == ")" else 10**9
        if depth < 0 or depth > len(text):
            return False
    return depth == 0


def is_subsequence(small: str, big: str) -> bool:
    it = iter(big)
    return all(ch in it for ch in small)


def valid(output: str, text: str) -> bool:
    """Balanced, a subsequence of ``text`` and of the greatest length a balanced subsequence can have."""
    return (len(output) == len(text) - len(unmatched(text)) and is_balanced(output)
            and is_subsequence(output, text))


def start_state(text: str, tok: CharTokenizer | None = None) -> tuple[list[int], list[bool]]:
    tok = tok or tokenizer()
    if not text or any(ch not in "()" for ch in text):
        raise DataError(f"inputs are non-empty strings over '()', got {text!r}")
    ids = tok.encode(text)
    return [tok.bos_id, *ids, tok.eos_id], [False, *([True] * len(ids)), False]


def trajectory(text: str, tok: CharTokenizer | None = None) -> list[Transition]:
    """Remask the unmatched, delete the masks, then the fixed point (see the module docstring)."""
    tok = tok or tokenizer()
    s, _ = start_state(text, tok)
    lone = [i + 1 for i in unmatched(text)]  # +1: BOS
    if not lone:
        return [Transition.build(s)]
    first = Transition.build(s, remask=lone)
    s = next_state(first, mask_id=tok.mask_id, pad_id=tok.pad_id)
    second = Transition.build(s, delete=lone)
    s = next_state(second, mask_id=tok.mask_id, pad_id=tok.pad_id)
    return [first, second, Transition.build(s)]


def verify(outputs: list[list[int]], inputs: list[str], tok: CharTokenizer | None = None) -> torch.Tensor:
    """Which outputs are ``BOS y EOS`` with ``y`` :func:`valid` for their input."""
    tok = tok or tokenizer()
    ok = []
    for o, text in zip(outputs, inputs):
        inner = o[1:-1]
        well_formed = (len(o) >= 2 and o[0] == tok.bos_id and o[-1] == tok.eos_id
                       and all(i in tok.encode("()") for i in inner))
        ok.append(well_formed and valid(tok.decode(inner), text))
    return torch.tensor(ok, dtype=torch.bool)


def random_inputs(n: int, min_len: int, max_len: int, seed: int) -> list[str]:
    """Uniform random strings over ``()`` of uniform random length in ``[min_len, max_len]``."""
    rng = random.Random(seed)
    sizes = [rng.randint(min_len, max_len) for _ in range(n)]
    return ["".join(rng.choice("()") for _ in range(k)) for k in sizes]
