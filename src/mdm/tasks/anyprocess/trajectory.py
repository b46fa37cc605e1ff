"""Solver trajectories for AP-MDM training: transitions x_k -> x_{k+1}, their replay and their items.

A :class:`Transition` is the state ``x`` and what the solver does to it: the token each MASK
receives (``tokens``) and the three bits.  The next state is always
:func:`mdm.sampling.anyprocess.apply_transition` of it, so :func:`replay` runs a trajectory through
the same rule the sampler uses.  A trajectory ends with its answer's fixed point (all bits off), so
the model is also taught when to stop.  :class:`TransitionDataset` turns transitions into training
items for the ``anyprocess`` model family (Yang et al., arXiv 2510.06190).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mdm.errors import DataError
from mdm.sampling.anyprocess import apply_transition

__all__ = ["Transition", "next_state", "replay", "unroll", "TransitionDataset"]


@dataclass(frozen=True)
class Transition:
    """``x`` the state; ``tokens[i]`` what a MASK at i receives (ignored elsewhere); the bits."""

    x: tuple[int, ...]
    tokens: tuple[int, ...]
    remask: tuple[bool, ...]
    insert: tuple[bool, ...]
    delete: tuple[bool, ...]

    @classmethod
    def build(cls, x: Sequence[int], *, tokens=None, remask=(), insert=(), delete=()) -> Transition:
        """From index sets: ``tokens`` a dict position -> token, bits as the positions where they are on."""
        n = len(x)
        tok = list(x)
        for i, v in (tokens or {}).items():
            tok[i] = v
        on = lambda where: tuple(i in set(where) for i in range(n))  # noqa: E731
        return cls(tuple(x), tuple(tok), on(remask), on(insert), on(delete))

    def receives(self, mask_id: int) -> tuple[bool, ...]:
        """Positions that receive a token: MASK, neither remasked nor deleted."""
        return tuple(v == mask_id and not r and not d for v, r, d in zip(self.x, self.remask, self.delete))


def next_state(t: Transition, *, mask_id: int, pad_id: int) -> list[int]:
    row = lambda v, dt=torch.long: torch.tensor([list(v)], dtype=dt)  # noqa: E731
    out, n = apply_transition(row(t.x), row(t.tokens), row(t.remask, torch.bool), row(t.insert, torch.bool),
                              row(t.delete, torch.bool), mask_id=mask_id, pad_id=pad_id)
    return out[0, : int(n[0])].tolist()


def unroll(state: Sequence[int], step, *, mask_id: int, pad_id: int) -> list[Transition]:
    """A solver's transitions from ``state``: ``step(state)`` (a :class:`Transition`, or None to stop)
    applied to each state it reaches."""
    state, out = list(state), []
    while (t := step(state)) is not None:
        out.append(t)
        state = next_state(t, mask_id=mask_id, pad_id=pad_id)
    return out


def replay(transitions: Sequence[Transition], *, mask_id: int, pad_id: int) -> list[int]:
    """Apply each transition to the result of the one before; return the final state.  Raises
    :class:`DataError` when a transition's ``x`` is not the state the chain has reached."""
    if not transitions:
        raise DataError("an empty trajectory has no final state")
    state = list(transitions[0].x)
    for k, t in enumerate(transitions):
        if list(t.x) != state:
            raise DataError(f"transition {k} starts from {list(t.x)}, but the trajectory is at {state}")
        state = next_state(t, mask_id=mask_id, pad_id=pad_id)
    return state


class TransitionDataset(torch.utils.data.Dataset):
    """Items for :func:`mdm.models.anyprocess.anyprocess_loss`, padded to ``seq_len`` with ``pad_id``:
    ``input_ids``, ``attention_mask``, ``eligible`` (receives a token), ``targets``, ``remask``,
    ``insert``, ``delete``."""

    def __init__(self, transitions: Sequence[Transition], seq_len: int, *, mask_id: int, pad_id: int):
        if not transitions:
            raise DataError("a transition dataset needs at least one transition")
        longest = max(len(t.x) for t in transitions)
        if longest > seq_len:
            raise DataError(f"a state has {longest} tokens, more than seq_len={seq_len}; raise seq_len")
        N = len(transitions)
        self.input_ids = torch.full((N, seq_len), pad_id, dtype=torch.long)
        self.targets = torch.zeros((N, seq_len), dtype=torch.long)
        flags = {k: torch.zeros((N, seq_len), dtype=torch.bool)
                 for k in ("attention_mask", "eligible", "remask", "insert", "delete")}
        for i, t in enumerate(transitions):
            n = len(t.x)
            self.input_ids[i, :n] = torch.tensor(t.x)
            recv = torch.tensor(t.receives(mask_id))
            self.targets[i, :n] = torch.tensor(t.tokens).masked_fill(~recv, 0)
            flags["attention_mask"][i, :n] = True
            flags["eligible"][i, :n] = recv
            for k in ("remask", "insert", "delete"):
                flags[k][i, :n] = torch.tensor(getattr(t, k))
        self.flags = flags

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.input_ids[i], "targets": self.targets[i],
                **{k: v[i] for k, v in self.flags.items()}}
