"""A string rewrite that needs both insertion and deletion: ``a -> aA``, ``b -> (nothing)``, ``c -> c``.

The answer's length differs from the input's in both directions, so a fixed-length MDM cannot write it
in place; an AP-MDM does it in two parallel steps, whatever the length:

1. every ``a`` inserts a MASK after itself; every ``b`` is remasked;
2. a MASK right after an ``a`` becomes ``A``; every other MASK (a former ``b``) is deleted.

Then the answer is a fixed point (an ``a`` followed by ``A`` inserts nothing).  BOS and EOS are the
prompt.  Validity is tested at 4x the training length (the issue's edit-task criterion).
"""

from __future__ import annotations

import random

import torch

from mdm.errors import DataError
from mdm.tasks.anyprocess.trajectory import Transition, next_state
from mdm.tokenizers import CharTokenizer

__all__ = ["tokenizer", "start_state", "rewrite", "trajectory", "verify", "random_inputs"]

INPUT_ALPHABET = "abc"


def tokenizer() -> CharTokenizer:
    """``A a b c``, then pad, bos, eos, unk, mask (9 ids)."""
    return CharTokenizer("Aabc")


def rewrite(text: str) -> str:
    """The answer: ``a -> aA``, ``b`` dropped, ``c`` kept."""
    return "".join({"a": "aA", "b": "", "c": "c"}[ch] for ch in text)


def start_state(text: str, tok: CharTokenizer | None = None) -> tuple[list[int], list[bool]]:
    tok = tok or tokenizer()
    if not text or any(ch not in INPUT_ALPHABET for ch in text):
        raise DataError(f"rewrite inputs are non-empty strings over {INPUT_ALPHABET!r}, got {text!r}")
    ids = tok.encode(text)
    return [tok.bos_id, *ids, tok.eos_id], [False, *([True] * len(ids)), False]


def trajectory(text: str, tok: CharTokenizer | None = None) -> list[Transition]:
    """Start -> step 1 -> step 2 -> the fixed point (see the module docstring)."""
    tok = tok or tokenizer()
    (a, b, A), M = tok.encode("abA"), tok.mask_id
    s, _ = start_state(text, tok)
    first = Transition.build(s, insert=[i for i, v in enumerate(s) if v == a],
                             remask=[i for i, v in enumerate(s) if v == b])
    s = next_state(first, mask_id=M, pad_id=tok.pad_id)
    after_a = [i for i in range(1, len(s)) if s[i] == M and s[i - 1] == a]
    second = Transition.build(s, tokens={i: A for i in after_a},
                              delete=[i for i, v in enumerate(s) if v == M and i not in after_a])
    s = next_state(second, mask_id=M, pad_id=tok.pad_id)
    return [first, second, Transition.build(s)]


def verify(outputs: list[list[int]], inputs: list[str], tok: CharTokenizer | None = None) -> torch.Tensor:
    """Which outputs are exactly ``BOS rewrite(input) EOS``."""
    tok = tok or tokenizer()
    want = [[tok.bos_id, *tok.encode(rewrite(t)), tok.eos_id] for t in inputs]
    return torch.tensor([o == w for o, w in zip(outputs, want)], dtype=torch.bool)


def random_inputs(n: int, min_len: int, max_len: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    sizes = [rng.randint(min_len, max_len) for _ in range(n)]
    return ["".join(rng.choice(INPUT_ALPHABET) for _ in range(k)) for k in sizes]
