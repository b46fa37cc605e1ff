"""AP-MDM tasks: every trajectory replays (through apply_transition) to the solver's answer, and the
verifiers reject corrupted outputs."""

import itertools
import random

import numpy as np
import pytest
import torch

from mdm.errors import MDMError
from mdm.tasks.anyprocess import Transition, TransitionDataset, parity, replay, rewrite, sudoku
from mdm.tasks.base import build_task
from mdm.tasks.sudoku import generate as sudoku_generate

PT = parity.tokenizer()
PIDS = dict(mask_id=PT.mask_id, pad_id=PT.pad_id)


@pytest.mark.parametrize("length", [1, 2, 3, 4, 7, 12])
def test_parity_trajectories_replay_to_the_parity(length):
    for bits in parity.random_bits(20, length, seed=length):
        traj = parity.trajectory(bits)
        final = replay(traj, **PIDS)
        assert final == [PT.bos_id, sum(bits) % 2, PT.eos_id]
        assert not any(traj[-1].remask + traj[-1].insert + traj[-1].delete)  # ends at a fixed point
        assert parity.verify([final], [bits]).all()


def test_parity_length_two_cases_use_all_seven_types():
    windows = set()
    for bits in itertools.product((0, 1), repeat=2):
        for t in parity.trajectory(bits)[:-1]:
            windows.add(tuple(t.x[:3]))
    M, E = PT.mask_id, PT.eos_id
    assert windows == {(3, 0, 0), (3, 0, 1), (3, M, 0), (3, M, 1), (3, 1, 1), (3, M, M), (3, 1, 0),
                       (3, 1, M), (3, M, E)}  # T1 (x2), T2 (x2), T3, T4, T5, T6, T7


def test_parity_verifier_rejects_corruptions():
    bits = [1, 0, 1]
    good = [PT.bos_id, 0, PT.eos_id]
    assert parity.verify([good], [bits]).tolist() == [True]
    bad = [[PT.bos_id, 1, PT.eos_id], [PT.bos_id, 0], [PT.bos_id, 0, 0, PT.eos_id],
           [PT.bos_id, PT.mask_id, PT.eos_id]]
    assert not parity.verify(bad, [bits] * 4).any()


RT = rewrite.tokenizer()


def test_rewrite_trajectories_replay_to_the_rewrite_and_use_insert_and_delete():
    for text in rewrite.random_inputs(50, 1, 12, seed=0) + ["a", "b", "ab", "ba", "bbb", "aaa"]:
        traj = rewrite.trajectory(text)
        final = replay(traj, mask_id=RT.mask_id, pad_id=RT.pad_id)
        assert RT.decode(final) == rewrite.rewrite(text)
        assert rewrite.verify([final], [text]).all()
    t = rewrite.trajectory("ab")
    assert any(t[0].insert) and any(t[1].delete)


def test_rewrite_verifier_rejects_corruptions():
    good = [RT.bos_id, *RT.encode("aAc"), RT.eos_id]
    assert rewrite.verify([good], ["abc"]).all()
    for bad in ([RT.bos_id, *RT.encode("aAbc"), RT.eos_id], [RT.bos_id, *RT.encode("ac"), RT.eos_id],
                [RT.bos_id, *RT.encode("aAc")], [RT.bos_id, RT.mask_id, *RT.encode("Ac"), RT.eos_id]):
        assert not rewrite.verify([bad], ["abc"]).any()


ST = sudoku.tokenizer()


def test_sudoku_traces_replay_to_the_solution():
    puzzles, solutions = sudoku_generate(4, min_clues=34, max_clues=40, seed=3)
    hard_p, hard_s = sudoku_generate(2, min_clues=24, max_clues=24, seed=5)  # these need guesses
    guessed = False
    for p, s in zip([*puzzles, *hard_p], [*solutions, *hard_s]):
        traj = sudoku.trajectory(p, seed=1, max_steps=2000)
        final = replay(traj, mask_id=ST.mask_id, pad_id=ST.pad_id)
        assert (sudoku.decode(final) == s).all()
        assert sudoku.verify([final], p[None]).all()
        for t in traj:
            assert not any(t.insert) and not any(t.delete)
            clue = [i for i in range(81) if p[i]]
            assert all(not t.remask[i] and t.x[i] == p[i] - 1 for i in clue)  # clues never edited
        guessed |= any(sum(t.receives(ST.mask_id)) == 1 for t in traj)
    assert guessed


def test_sudoku_contradiction_remasks_every_written_cell():
    puzzles, solutions = sudoku_generate(1, min_clues=34, max_clues=40, seed=3)
    p, s = puzzles[0], solutions[0]
    state = sudoku.start_state(p)
    blanks = [i for i in range(81) if not p[i]]
    i = blanks[0]
    j = next(k for k in range(9 * (i // 9), 9 * (i // 9) + 9) if p[k])  # a clue in i's row
    state[i] = 9 + int(p[j]) - 1  # written: the same digit as that clue -> a duplicate
    state[blanks[1]] = 8 + int(s[blanks[1]])  # a right written digit: remasked too
    t = sudoku._step(state, ST, random.Random(0))
    assert [k for k in range(81) if t.remask[k]] == blanks
    assert not any(t.receives(ST.mask_id))


def test_sudoku_verifier_rejects_corruptions():
    puzzles, solutions = sudoku_generate(1, min_clues=34, max_clues=40, seed=3)
    p, s = puzzles[0], solutions[0]
    good = [int(v) - 1 if p[i] else 8 + int(v) for i, v in enumerate(s)]
    assert sudoku.verify([good], p[None]).all()
    blanks = [i for i in range(81) if not p[i]]
    swapped = list(good)
    swapped[blanks[0]], swapped[blanks[1]] = swapped[blanks[1]], swapped[blanks[0]]
    masked = list(good)
    masked[blanks[0]] = ST.mask_id
    clue_changed = list(good)
    clue = next(i for i in range(81) if p[i])
    clue_changed[clue] = (clue_changed[clue] + 1) % 9
    relabelled = [(v // 9) * 9 + {0: 1, 1: 0}.get(v % 9, v % 9) for v in good]  # 1 <-> 2: valid, wrong clues
    assert sudoku.decode(relabelled).tolist() != s.tolist()
    for bad in (swapped, masked, clue_changed, good[:80], relabelled):
        if bad is swapped and (s[blanks[0]] == s[blanks[1]]):
            continue
        assert not sudoku.verify([bad], p[None]).any()


def test_replay_rejects_a_broken_chain_and_items_mark_receiving_positions():
    t1 = Transition.build([3, 6, 1, 4], delete=[1])
    with pytest.raises(MDMError):
        replay([t1, Transition.build([3, 6, 1, 4])], **PIDS)
    t = Transition.build([3, 6, 6, 4], tokens={1: 0}, remask=[2])
    ds = TransitionDataset([t], 6, **PIDS)
    item = ds[0]
    assert item["eligible"].tolist() == [False, True, False, False, False, False]
    assert item["targets"][1] == 0 and item["remask"][2] and item["attention_mask"].sum() == 4
    with pytest.raises(MDMError):
        TransitionDataset([t], 3, **PIDS)


def test_registered_tasks_build():
    assert len(build_task("ap-parity", seq_len=4).train) == 13
    b = build_task("ap-rewrite", seq_len=18, n_train=20, n_val=5)
    assert len(b.train) == 60 and b.tokenizer == RT
    b = build_task("ap-sudoku", seq_len=81, n_train=3, n_test=2, n_val=1)
    assert b.train[0]["input_ids"].shape == (81,)
    with pytest.raises(MDMError):
        build_task("ap-sudoku", seq_len=82)
    with pytest.raises(MDMError):
        build_task("ap-parity", seq_len=4, lengths=[0])


def test_mdm_train_trains_an_anyprocess_model(tmp_path):
    from mdm.models.anyprocess import AnyProcessModel
    from mdm.train import train
    from mdm.train.checkpoint import load

    cfg = {"model": {"family": "anyprocess", "d_model": 8, "n_layers": 1, "n_heads": 1, "window": 1},
           "data": {"task": "ap-parity", "seq_len": 4}, "optim": {"lr": 1e-2, "warmup_steps": 1},
           "batch_size": 8, "max_steps": 3, "eval_every": 0, "log_every": 1, "threads": 1}
    r = train(cfg, out_dir=tmp_path, progress=False)
    model, tok = load(r.checkpoint)
    assert isinstance(model, AnyProcessModel) and model.pad_id == tok.pad_id == PT.pad_id
    assert "val_loss_per_position" in r.final_val and np.isfinite(r.final_val["val_loss_per_position"])
    assert torch.isfinite(torch.tensor([m["loss"] for m in r.metrics if m["split"] == "train"])).all()
