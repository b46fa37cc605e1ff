"""Does a model reproduce a solver trajectory?  Its greedy AP-MDM steps checked against the solver's.

A model *follows* a trajectory ``x_0 -> x_1 -> ... -> x_K`` when, for every k, one greedy transition of
the model from ``x_k`` (:func:`mdm.sampling.anyprocess.apply_transition` of its argmax tokens and bits
at 0.5, prompt positions frozen) gives exactly ``x_{k+1}``.  Following to the end means the model
writes the solver's answer through the solver's states; a run stops at the first step that differs,
so a model that fails early costs one forward pass, not thousands.

:func:`follow` runs batches through any model (each step one forward pass of the whole state).
:func:`follow_local` is the same test for a windowed model (``window`` set: the output at a position
is a function of the positions within ``window * n_layers`` of it, with relative positions only):
after a step it recomputes only the positions whose neighbourhood changed, so a 10,000-bit parity
rollout costs O(steps) small passes.  Its tests check it against :func:`follow` exactly.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import torch

from mdm.errors import SamplingError
from mdm.sampling.anyprocess import apply_transition
from mdm.tasks.anyprocess.trajectory import Transition, next_state

__all__ = ["follow", "follow_local"]


def _decisions(out, x: torch.Tensor, frozen: torch.Tensor):
    """Greedy tokens and bits (the model's logits exclude MASK), prompt positions kept and bits off."""
    tokens = torch.where(frozen, x, out.logits.argmax(-1))
    free = ~frozen
    return tokens, (out.remask > 0) & free, (out.insert > 0) & free, (out.delete > 0) & free


def _frozen(x: torch.Tensor, prompt_ids: Sequence[int]) -> torch.Tensor:
    return torch.isin(x, torch.tensor(list(prompt_ids), dtype=x.dtype))


def _targets(traj: Sequence[Transition], mask_id: int, pad_id: int) -> list[list[int]]:
    """The states ``x_1 .. x_K`` each transition should reach."""
    return [next_state(t, mask_id=mask_id, pad_id=pad_id) for t in traj]


@torch.no_grad()
def follow(model, trajectories: Sequence[Sequence[Transition]], *, mask_id: int, pad_id: int,
           prompt_ids: Sequence[int], batch_size: int = 64,
           max_wall_s: float | None = None) -> list[int | None]:
    """For each trajectory, how many of its leading transitions the model reproduces (``len`` = all);
    None where ``max_wall_s`` ran out first.  Positions holding a ``prompt_ids`` token are frozen."""
    t0 = time.perf_counter()
    out: list[int | None] = []
    for i in range(0, len(trajectories), batch_size):
        group = list(trajectories[i:i + batch_size])
        targets = [_targets(t, mask_id, pad_id) for t in group]
        done: list[int | None] = [None] * len(group)
        active = [j for j, t in enumerate(group) if t] or []
        for j, t in enumerate(group):
            if not t:
                done[j] = 0
        k = 0
        while active:
            if max_wall_s is not None and time.perf_counter() - t0 > max_wall_s:
                break
            states = [list(group[j][k].x) for j in active]
            n = torch.tensor([len(s) for s in states])
            x = torch.full((len(states), int(n.max())), pad_id, dtype=torch.long)
            for r, s in enumerate(states):
                x[r, : len(s)] = torch.tensor(s)
            valid = torch.arange(x.shape[1])[None, :] < n[:, None]
            res = model(x, attention_mask=valid)
            tokens, remask, insert, delete = _decisions(res, x, _frozen(x, prompt_ids) | ~valid)
            nxt, m = apply_transition(x, tokens, remask, insert, delete, mask_id=mask_id, pad_id=pad_id,
                                      lengths=n)
            still = []
            for r, j in enumerate(active):
                if nxt[r, : int(m[r])].tolist() != targets[j][k]:
                    done[j] = k
                elif k + 1 == len(group[j]):
                    done[j] = k + 1
                else:
                    still.append(j)
            active, k = still, k + 1
        out += done
    return out


def _refresh(run, cache: list[torch.Tensor], state: list[int], want: list[int],
             halo: int) -> list[torch.Tensor]:
    """The outputs ``run(want)`` from those of ``state`` (``cache``), for a model whose output at a
    position is a function of the positions within ``halo`` of it (relative positions only): the
    common suffix of the two states keeps its outputs, except within ``halo`` of where they differ."""
    n = min(len(state), len(want))
    differs = (torch.tensor(state[len(state) - n:]) != torch.tensor(want[len(want) - n:])).flip(0)
    same = int(differs.nonzero()[0]) if bool(differs.any()) else n  # length of the common suffix
    fresh = len(want) - same + halo  # positions [0, fresh) of ``want`` are recomputed
    if fresh + halo >= len(want):
        return run(want)
    head = run(want[: fresh + halo])  # its last ``halo`` positions see a cut edge: not used
    tail_from = len(state) - (len(want) - fresh)
    return [torch.cat([h[:fresh], c[tail_from:]]) for h, c in zip(head, cache)]


@torch.no_grad()
def follow_local(model, trajectory: Sequence[Transition], *, mask_id: int, pad_id: int,
                 prompt_ids: Sequence[int], max_wall_s: float | None = None) -> int | None:
    """:func:`follow` of one trajectory for a windowed model, recomputing only what a step changed."""
    window = getattr(getattr(model, "config", None), "window", None)
    if window is None:
        raise SamplingError("follow_local needs a windowed model (config.window set); use follow")
    halo = window * model.config.n_layers
    if not trajectory:
        return 0
    t0 = time.perf_counter()
    targets = _targets(trajectory, mask_id, pad_id)

    def run(state: list[int]):
        x = torch.tensor([state])
        res = model(x)
        return [v[0] for v in _decisions(res, x, _frozen(x, prompt_ids))]

    state = list(trajectory[0].x)
    cache = run(state)  # tokens, remask, insert, delete: [L] each, for ``state``
    for k, want in enumerate(targets):
        if list(trajectory[k].x) != state:
            raise SamplingError(f"transition {k} does not start where transition {k - 1} ends")
        if max_wall_s is not None and time.perf_counter() - t0 > max_wall_s:
            return None
        x = torch.tensor([state])
        nxt, m = apply_transition(x, *(c[None] for c in cache), mask_id=mask_id, pad_id=pad_id)
        if nxt[0, : int(m[0])].tolist() != want:
            return k
        if k + 1 == len(targets):
            return k + 1
        cache = _refresh(run, cache, state, want, halo)
        state = want
    return len(targets)
