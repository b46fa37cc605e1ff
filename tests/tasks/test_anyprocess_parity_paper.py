"""The paper's parity data (7 windows, no EOS): the table, the full-length process, the verifier."""

import itertools

import pytest
import torch

from mdm.errors import MDMError
from mdm.tasks.anyprocess import parity_paper as pp
from mdm.tasks.anyprocess import replay
from mdm.tasks.base import build_task

T = pp.tokenizer()
B, M = T.bos_id, T.mask_id
IDS = dict(mask_id=M, pad_id=T.pad_id)


def test_the_seven_windows_are_the_papers_table():
    nxt = [replay([t], **IDS) for t in pp.paper_windows()]
    assert [list(t.x) for t in pp.paper_windows()] == [[B, 0, 1], [B, M, 1], [B, 1, 0], [B, 1, M], [B, 0, 0],
                                                       [B, 1, 1], [B, M, M]]
    assert nxt == [[B, M, 1], [B, 1], [B, 1, M], [B, 1], [B, M, M], [B, M, M], [B]]
    # they are exactly the distinct transitions of the four length-2 inputs
    from_inputs = {(t.x, t.remask, t.delete) for bits in itertools.product((0, 1), repeat=2)
                   for t in pp.trajectory(bits)}
    assert from_inputs == {(t.x, t.remask, t.delete) for t in pp.paper_windows()}
    assert not any(any(t.insert) for t in pp.paper_windows())


@pytest.mark.parametrize("length", range(1, 9))
def test_every_input_reaches_its_parity_acting_only_next_to_bos(length):
    for bits in itertools.product((0, 1), repeat=length):
        traj = pp.trajectory(bits)
        for t in traj:  # only the two symbols after BOS change; the rest is kept as it is
            assert not any(t.remask[3:] + t.delete[3:] + t.insert)
        final = replay(traj, **IDS) if traj else [B, *bits]
        assert pp.answer(final) == sum(bits) % 2
        assert len(traj) <= 2 * length  # one or two bits go every two transitions


def test_verify_rejects_wrong_and_unfinished_answers():
    bits = [[1, 1, 0], [1, 0, 0], [0, 0]]
    assert pp.verify([[B], [B, 1], [B, 0]], bits).tolist() == [True, True, True]
    assert pp.verify([[B, 1], [B], [B, 1]], bits).tolist() == [False, False, False]
    for bad in ([B, M], [B, 0, 0], [B, 1, 0], [0], [], [T.eos_id], [B, T.eos_id]):
        assert pp.answer(bad) is None


def test_the_registered_task_holds_the_windows_or_every_transition():
    paper = build_task("ap-parity-paper", seq_len=3, seed=0)
    assert len(paper.train) == 7
    item = paper.train[0]  # BOS 0 1 -> remask position 1
    assert item["remask"].tolist() == [False, True, False] and not item["eligible"].any()
    wide = build_task("ap-parity-paper", seq_len=6, seed=0, lengths=[1, 2, 3, 4, 5])
    assert len(wide.train) == len(pp.transitions([1, 2, 3, 4, 5])) > 7
    with pytest.raises(MDMError):
        build_task("ap-parity-paper", seq_len=3, seed=0, lengths=[0])
    with pytest.raises(MDMError):
        pp.start_state([2])
    assert torch.equal(paper.val.input_ids, paper.train.input_ids)


def test_the_fast_solver_steps_exactly_as_the_trajectories_replay():
    step = pp.solver(T)
    for length in range(1, 8):
        for bits in itertools.product((0, 1), repeat=length):
            state = pp.start_state(bits)[0]
            for t in pp.trajectory(bits):
                assert list(t.x) == state
                state = step(state)
                assert state == replay([t], **IDS)
            assert step(state) is None and pp.answer(state) == sum(bits) % 2
