"""Parity with the paper's own transition set: 7 length-3 windows, no EOS (Yang et al., arXiv 2510.06190).

The released generator of AP-MDM (``dataset/parity`` in chr26195/AP-MDM, read, not copied) trains on
exactly seven windows ``BOS a b -> x'``; nothing follows ``b``, there is no EOS, and the answer is
what is left: ``BOS`` (even) or ``BOS p``.  The rules, applied to the two symbols after BOS:

======== =========================== ======================
window    next state                   bits
======== =========================== ======================
BOS 0 1   BOS M 1                      remask 1
BOS M 1   BOS 1                        delete 1
BOS 1 0   BOS 1 M                      remask 2
BOS 1 M   BOS 1                        delete 2
BOS 0 0   BOS M M                      remask 1, 2
BOS 1 1   BOS M M                      remask 1, 2
BOS M M   BOS                          delete 1, 2
======== =========================== ======================

On a longer input ``BOS b1 b2 ... bn`` the same rule acts on the first two symbols and everything
after them is kept, so the state shrinks by one or two bits every two transitions and the parity of
the ones left never changes.  It stops at ``BOS``, ``BOS 0`` (both: parity 0) or ``BOS 1``.  Halting is
not part of the paper's data (no window is a fixed point); :func:`trajectory` ends at the answer.

:func:`paper_windows` are the paper's training items; :func:`transitions` the same rules on every
input of given lengths (our wider training set, for the ablation).
"""

from __future__ import annotations

import itertools

import torch

from mdm.errors import DataError
from mdm.tasks.anyprocess.parity import random_bits, tokenizer
from mdm.tasks.anyprocess.trajectory import Transition, unroll
from mdm.tokenizers import CharTokenizer

__all__ = ["tokenizer", "start_state", "paper_windows", "trajectory", "solver", "transitions", "answer",
           "verify", "random_bits"]


def start_state(bits, tok: CharTokenizer | None = None) -> tuple[list[int], list[bool]]:
    """``BOS bits`` (no EOS) and which positions are editable (the bits)."""
    tok = tok or tokenizer()
    bits = [int(b) for b in bits]
    if not bits or any(b not in (0, 1) for b in bits):
        raise DataError("parity needs a non-empty sequence of 0/1 bits")
    return [tok.bos_id, *bits], [False, *([True] * len(bits))]


def _step(s: list[int], tok: CharTokenizer) -> Transition | None:
    """The paper's rule on the two symbols after BOS (None once at most one symbol is left)."""
    if len(s) <= 2:
        return None
    M = tok.mask_id
    rules = {(0, 1): dict(remask=[1]), (M, 1): dict(delete=[1]), (1, 0): dict(remask=[2]),
             (1, M): dict(delete=[2]), (0, 0): dict(remask=[1, 2]), (1, 1): dict(remask=[1, 2]),
             (M, M): dict(delete=[1, 2])}
    rule = rules.get((s[1], s[2]))
    if rule is None:
        raise DataError(f"state {s} is not reachable by the paper's parity process")
    return Transition.build(s, **rule)


def trajectory(bits, tok: CharTokenizer | None = None) -> list[Transition]:
    """The paper's transitions from ``BOS bits`` to the answer (no fixed-point step: never trained)."""
    tok = tok or tokenizer()
    return unroll(start_state(bits, tok)[0], lambda s: _step(s, tok), mask_id=tok.mask_id, pad_id=tok.pad_id)


def solver(tok: CharTokenizer | None = None):
    """The next-state function of the process: ``state -> next state`` (None at the answer), the rule
    written on the two symbols after BOS only, so a step costs O(1) rule work whatever the length
    (the long tests of :mod:`mdm.tasks.anyprocess.follow` use it; :func:`trajectory` is the reference)."""
    tok = tok or tokenizer()
    M = tok.mask_id
    front = {(0, 1): [M, 1], (M, 1): [1], (1, 0): [1, M], (1, M): [1], (0, 0): [M, M], (1, 1): [M, M],
             (M, M): []}

    def step(state: list[int]) -> list[int] | None:
        if len(state) <= 2:
            return None
        new = front.get((state[1], state[2]))
        if new is None:
            raise DataError(f"state {state[:3]}... is not reachable by the paper's parity process")
        return [state[0], *new, *state[3:]]

    return step


def paper_windows(tok: CharTokenizer | None = None) -> list[Transition]:
    """The paper's 7 training windows ``BOS a b`` (the table above), in its order."""
    tok = tok or tokenizer()
    M, B = tok.mask_id, tok.bos_id
    return [_step([B, a, b], tok) for a, b in ((0, 1), (M, 1), (1, 0), (1, M), (0, 0), (1, 1), (M, M))]


def transitions(lengths, tok: CharTokenizer | None = None) -> list[Transition]:
    """Every transition of every input of the given ``lengths`` (full states, the same rules)."""
    tok = tok or tokenizer()
    if not lengths or any(not isinstance(n, int) or n < 1 for n in lengths):
        raise DataError(f"lengths must be positive ints, got {lengths!r}")
    return [t for n in lengths for bits in itertools.product((0, 1), repeat=n) for t in trajectory(bits, tok)]


def answer(state: list[int], tok: CharTokenizer | None = None) -> int | None:
    """The parity a final state says: ``BOS`` or ``BOS 0`` -> 0, ``BOS 1`` -> 1; None for anything else."""
    tok = tok or tokenizer()
    if state == [tok.bos_id]:
        return 0
    if len(state) == 2 and state[0] == tok.bos_id and state[1] in (0, 1):
        return state[1]
    return None


def verify(outputs: list[list[int]], bits: list[list[int]], tok: CharTokenizer | None = None) -> torch.Tensor:
    """Which outputs are a final state (see :func:`answer`) that says the parity of their input."""
    tok = tok or tokenizer()
    return torch.tensor([answer(o, tok) == sum(b) % 2 for o, b in zip(outputs, bits)], dtype=torch.bool)
