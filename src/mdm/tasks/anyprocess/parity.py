"""Parity by any-process generation: 7 local transition types over BOS / EOS / MASK / 0 / 1.

Yang et al. (arXiv 2510.06190) solve parity of any length with a tiny AP-MDM trained on length-2
inputs.  Our transition types (the paper lists "BOS 0 1 -> BOS M 1", "BOS M 1 -> BOS 1",
"BOS M M -> BOS"; the full set here is our own, each looks at most two positions past BOS):

==== ==================== =========================================  ===============
type  window             action                                      bits
==== ==================== =========================================  ===============
T1    BOS 0 b            the leading 0 is dropped: remask it           remask 1
T2    BOS M b            delete the MASK                               delete 1
T3    BOS 1 1            both go (1 xor 1 = 0): remask both            remask 1, 2
T4    BOS M M            delete the first, the second stays masked     delete 1, remask 2
T5    BOS 1 0            the 0 goes: remask it                         remask 2
T6    BOS 1 M            delete the MASK                               delete 2
T7    BOS M EOS          nothing left: the parity is 0                 unmask 1 -> 0
==== ==================== =========================================  ===============

``b`` is a bit.  Every other position keeps its token.  ``BOS p EOS`` is the fixed point and ``p``
the parity.  BOS and EOS are the prompt (never edited); the bits and masks are editable.
"""

from __future__ import annotations

import random

import torch

from mdm.errors import DataError
from mdm.tasks.anyprocess.trajectory import Transition
from mdm.tokenizers import CharTokenizer

__all__ = ["tokenizer", "start_state", "trajectory", "verify", "random_bits"]


def tokenizer() -> CharTokenizer:
    """``0``, ``1``, then pad, bos, eos, unk, mask (7 ids)."""
    return CharTokenizer("01")


def start_state(bits, tok: CharTokenizer | None = None) -> tuple[list[int], list[bool]]:
    """``BOS bits EOS`` and which positions are editable (the bits)."""
    tok = tok or tokenizer()
    bits = [int(b) for b in bits]
    if not bits or any(b not in (0, 1) for b in bits):
        raise DataError("parity needs a non-empty sequence of 0/1 bits")
    return [tok.bos_id, *bits, tok.eos_id], [False, *([True] * len(bits)), False]


def _step(s: list[int], tok: CharTokenizer) -> Transition | None:
    """The solver's transition from state ``s`` (None at the fixed point ``BOS p EOS``)."""
    M, E = tok.mask_id, tok.eos_id
    a, b = s[1], s[2]
    build = lambda **kw: Transition.build(s, **kw)  # noqa: E731
    if a in (0, 1) and b == E:
        return None
    if a == 0 and b in (0, 1):
        return build(remask=[1])  # T1
    if a == M and b in (0, 1):
        return build(delete=[1])  # T2
    if a == 1 and b == 1:
        return build(remask=[1, 2])  # T3
    if a == M and b == M:
        return build(delete=[1], remask=[2])  # T4
    if a == 1 and b == 0:
        return build(remask=[2])  # T5
    if a == 1 and b == M:
        return build(delete=[2])  # T6
    if a == M and b == E:
        return build(tokens={1: 0})  # T7
    raise DataError(f"state {s} is not reachable by the parity process")


def trajectory(bits, tok: CharTokenizer | None = None) -> list[Transition]:
    """The solver's transitions from ``BOS bits EOS`` to ``BOS parity EOS``, ending with the fixed point."""
    from mdm.tasks.anyprocess.trajectory import next_state, unroll

    tok = tok or tokenizer()
    out = unroll(start_state(bits, tok)[0], lambda s: _step(s, tok), mask_id=tok.mask_id, pad_id=tok.pad_id)
    end = next_state(out[-1], mask_id=tok.mask_id, pad_id=tok.pad_id) if out else start_state(bits, tok)[0]
    out.append(Transition.build(end))  # the answer is a fixed point: every bit off
    return out


def verify(outputs: list[list[int]], bits: list[list[int]], tok: CharTokenizer | None = None) -> torch.Tensor:
    """Which outputs are exactly ``BOS parity EOS`` of their input."""
    tok = tok or tokenizer()
    return torch.tensor([o == [tok.bos_id, sum(b) % 2, tok.eos_id] for o, b in zip(outputs, bits)])


def random_bits(n: int, length: int, seed: int) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randint(0, 1) for _ in range(length)] for _ in range(n)]
