"""AP-MDM traces of small Sudokus: each replays, through the sampler's transition rule, to the
puzzle's solution; the kinds do what they say; plain sequences verify."""

import random

import pytest
import torch

from mdm.errors import DataError
from mdm.tasks.anyprocess import replay
from mdm.tasks.minisudoku import SHAPES, generate_splits, plain, traces

S4, S6 = SHAPES["4x4"], SHAPES["6x6"]


@pytest.mark.parametrize("shape,n,seeds", [(S4, 40, 1), (S6, 30, 4)])
def test_every_trace_replays_to_the_solution_and_halts(shape, n, seeds):
    tok = traces.tokenizer(shape)
    kinds_seen = set()
    for i, (p, s) in enumerate(zip(*generate_splits(shape, {"t": n}, seed=5)["t"])):
        for r in range(seeds):
            ts, kinds = traces.trajectory(shape, p, seed=100 * i + r, tok=tok)
            final = replay(ts, mask_id=tok.mask_id, pad_id=tok.pad_id)
            assert traces.decode(shape, final, tok) == s
            assert bool(traces.verify(shape, [final], [p], tok)[0])
            assert kinds[-1] == "halt" and "halt" not in kinds[:-1]
            assert not any(ts[-1].remask) and ts[-1].tokens == ts[-1].x  # the fixed point: bits off
            for t in ts:  # clues are never touched; no insert or delete
                clue = [v < shape.n for v in t.x]
                assert not any(r and c for r, c in zip(t.remask, clue)) and not any(t.insert + t.delete)
            kinds_seen.update(kinds)
    if shape is S6:  # 6x6 minimal puzzles sometimes need a guess, and some guesses fail
        assert kinds_seen == set(traces.KINDS)


def test_a_contradiction_remasks_every_written_cell():
    tok = traces.tokenizer(S4)
    M = tok.mask_id
    # row 0 holds the written digit 1 twice (ids 4 = 'a'); clue 2 (id 1) stays
    state = [4, 4, 1, M] + [M] * 12
    kind, t = traces.step(S4, state, random.Random(0), tok)
    assert kind == "contradiction"
    assert list(t.remask) == [True, True, False] + [True] * 13
    from mdm.tasks.anyprocess import next_state

    assert next_state(t, mask_id=M, pad_id=tok.pad_id) == [M, M, 1] + [M] * 13


def test_an_assign_step_fills_forced_cells_and_keeps_the_rest_masked():
    tok = traces.tokenizer(S4)
    M = tok.mask_id
    state = [0, 1, 2, M] + [M] * 12  # clues 1 2 3: cell 3 is a naked single (4 -> written 'd', id 7)
    kind, t = traces.step(S4, state, random.Random(0), tok)
    assert kind == "assign" and t.tokens[3] == 7
    recv = t.receives(M)
    assert recv[3] and all(t.remask[i] != recv[i] for i in range(3, 16))


def test_a_trace_that_cannot_finish_raises():
    p, _ = generate_splits(S6, {"t": 1}, seed=0)["t"]
    with pytest.raises(DataError, match="raise max_steps"):
        traces.trajectory(S6, p[0], max_steps=1)


def test_plain_sequences_verify():
    (ps, ss) = generate_splits(S4, {"t": 5}, seed=6)["t"]
    data = plain.PlainSudoku(S4, ps, ss)
    assert data.answer_len == 16 and data.prompts().shape == (5, 16) and len(data) == 5
    assert data.verify(data.tokens).all()
    bad = data.tokens.clone()
    bad[:, 16] = bad[:, 16] % 4 + 1
    assert not data.verify(bad).any()
    assert int(data[0]["eligible"].sum()) == 16
    with pytest.raises(Exception, match="puzzle \\+ answer"):
        data.verify(torch.zeros(5, 10, dtype=torch.long))
