"""Does a model reproduce a solver's run?  Its greedy AP-MDM steps checked against the solver's.

A model *follows* a solver from a start state ``x_0`` when, for every k, one greedy transition of the
model from ``x_k`` (:func:`mdm.sampling.anyprocess.apply_transition` of its argmax tokens and its
bits at 0.5, prompt positions frozen) gives exactly ``x_{k+1} = solver(x_k)``, until the solver
stops (returns None).  Following to the end means the model writes the solver's answer through the
solver's states; a run stops at the first step that differs, so a model that fails early costs one
forward pass.  The solver is a next-state function, so a 10,000-bit run never stores its ~15,000
states.

:func:`follow` runs batches through any model (each step one forward pass of the whole state).
:func:`follow_local` is the same test for a windowed model (``window`` set: the output at a position
is a function of the positions within ``window * n_layers`` of it, with relative positions only):
after a step it recomputes only the positions whose neighbourhood changed (:func:`_refresh`, tested
against a full pass).  Both stop a run after ``max_cpu_s`` seconds of CPU time (None: unfinished).

:func:`local_contexts` is the exact side of the same question: a windowed model's action at a
position is a function of its context (the ``2 * halo + 1`` symbols around it), so it can be exact on
test states only if every context there occurs in training with the same action.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import torch

from mdm.errors import SamplingError
from mdm.sampling.anyprocess import apply_transition

__all__ = ["follow", "follow_local", "greedy_decisions", "local_contexts"]

Solver = Callable[[list[int]], "list[int] | None"]


def greedy_decisions(out, x: torch.Tensor, frozen: torch.Tensor):
    """Greedy tokens and bits (the model's logits exclude MASK), prompt positions kept and bits off."""
    tokens = torch.where(frozen, x, out.logits.argmax(-1))
    free = ~frozen
    return tokens, (out.remask > 0) & free, (out.insert > 0) & free, (out.delete > 0) & free


def _frozen(x: torch.Tensor, prompt_ids: Sequence[int]) -> torch.Tensor:
    return torch.isin(x, torch.tensor(list(prompt_ids), dtype=x.dtype))


@torch.no_grad()
def follow(model, starts: Sequence[Sequence[int]], solver: Solver, *, mask_id: int, pad_id: int,
           prompt_ids: Sequence[int], batch_size: int = 64,
           max_cpu_s: float | None = None) -> list[tuple[int, bool] | None]:
    """For each start state, ``(k, exact)``: the model reproduced the solver's first ``k`` steps and
    ``exact`` when that is all of them; None where ``max_cpu_s`` ran out first.  Positions holding
    a ``prompt_ids`` token are frozen."""
    t0 = time.process_time()
    out: list[tuple[int, bool] | None] = []
    for i in range(0, len(starts), batch_size):
        states = [list(s) for s in starts[i:i + batch_size]]
        done: list[tuple[int, bool] | None] = [None] * len(states)
        wants = [solver(s) for s in states]
        active = []
        for j, w in enumerate(wants):
            if w is None:
                done[j] = (0, True)
            else:
                active.append(j)
        k = 0
        while active and (max_cpu_s is None or time.process_time() - t0 <= max_cpu_s):
            n = torch.tensor([len(states[j]) for j in active])
            x = torch.full((len(active), int(n.max())), pad_id, dtype=torch.long)
            for r, j in enumerate(active):
                x[r, : len(states[j])] = torch.tensor(states[j])
            valid = torch.arange(x.shape[1])[None, :] < n[:, None]
            tokens, remask, insert, delete = greedy_decisions(model(x, attention_mask=valid), x,
                                                        _frozen(x, prompt_ids) | ~valid)
            nxt, m = apply_transition(x, tokens, remask, insert, delete, mask_id=mask_id, pad_id=pad_id,
                                      lengths=n)
            still = []
            for r, j in enumerate(active):
                if nxt[r, : int(m[r])].tolist() != wants[j]:
                    done[j] = (k, False)
                    continue
                states[j] = wants[j]
                wants[j] = solver(states[j])
                if wants[j] is None:
                    done[j] = (k + 1, True)
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
def follow_local(model, start: Sequence[int], solver: Solver, *, mask_id: int, pad_id: int,
                 prompt_ids: Sequence[int], max_cpu_s: float | None = None) -> tuple[int, bool] | None:
    """:func:`follow` of one start state for a windowed model, recomputing only what a step changed."""
    window = getattr(getattr(model, "config", None), "window", None)
    if window is None:
        raise SamplingError("follow_local needs a windowed model (config.window set); use follow")
    halo = window * model.config.n_layers
    t0 = time.process_time()

    def run(s: list[int]):
        x = torch.tensor([s])
        return [v[0] for v in greedy_decisions(model(x), x, _frozen(x, prompt_ids))]

    state = list(start)
    want = solver(state)
    if want is None:
        return 0, True
    cache = run(state)  # tokens, remask, insert, delete: [L] each, for ``state``
    k = 0
    while True:
        if max_cpu_s is not None and time.process_time() - t0 > max_cpu_s:
            return None
        nxt, m = apply_transition(torch.tensor([state]), *(c[None] for c in cache), mask_id=mask_id,
                                  pad_id=pad_id)
        if nxt[0, : int(m[0])].tolist() != want:
            return k, False
        k += 1
        after = solver(want)
        if after is None:
            return k, True
        cache = _refresh(run, cache, state, want, halo)
        state, want = want, after


def local_contexts(transitions, halo: int, mask_id: int) -> dict[tuple, set[tuple]]:
    """Context -> the actions the transitions take there.  A context is the ``2 * halo + 1`` symbols
    around a position (None beyond either end); an action is ``(token received or None, remask,
    insert, delete)``.  A context with two actions cannot be served by any model that sees only it."""
    out: dict[tuple, set[tuple]] = {}
    for t in transitions:
        x, n = t.x, len(t.x)
        for i in range(n):
            ctx = tuple(x[j] if 0 <= j < n else None for j in range(i - halo, i + halo + 1))
            gets = t.tokens[i] if x[i] == mask_id and not t.remask[i] and not t.delete[i] else None
            out.setdefault(ctx, set()).add((gets, t.remask[i], t.insert[i], t.delete[i]))
    return out
