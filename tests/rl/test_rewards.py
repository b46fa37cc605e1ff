"""Rewards on hand-worked cases (each task: right, wrong, malformed; the format penalty)."""

from __future__ import annotations

import random

import pytest
import torch

from mdm.errors import ConfigError, TokenError
from mdm.rl.puzzles import (
    countdown_ok,
    countdown_problem,
    countdown_tokenizer,
    countdown_value,
    encode_sudoku4,
    sudoku4_puzzle,
    sudoku4_solutions,
)
from mdm.rl.rewards import REWARDS
from mdm.tasks.arithmetic import ArithmeticConfig, Problem, encode_problem, tokenizer


def _arith(answer: str, prompt: str = "12+34=") -> torch.Tensor:
    tok = tokenizer()
    ids = [tok.pad_id] * (12 - len(prompt)) + tok.encode(prompt) + tok.encode(answer)
    return torch.tensor(ids + [tok.pad_id] * (20 - len(ids)))


def test_arithmetic_exact_match_and_format():
    tok = tokenizer()
    eos = "\x00"
    good = _arith("46").clone()
    good[14] = tok.eos_id
    wrong = _arith("47").clone()
    wrong[14] = tok.eos_id
    no_eos = _arith("46")
    junk_after = good.clone()
    junk_after[16] = tok.encode("3")[0]  # answer read up to eos: correct, but not eos pad*
    rows = torch.stack([good, wrong, no_eos, junk_after])
    assert REWARDS.get("arithmetic")()(rows, 12).tolist() == [1.0, 0.0, 0.0, 1.0]
    assert REWARDS.get("arithmetic")(format_penalty=0.5)(rows, 12).tolist() == [1.0, 0.0, -0.5, 0.5]
    # the packaged encoding is rewarded 1, in both digit orders
    for reverse in (False, True):
        cfg = ArithmeticConfig(max_digits=5, ops=("+",), reverse=reverse)
        row = encode_problem(Problem(907, "+", 95), cfg).unsqueeze(0)
        assert REWARDS.get("arithmetic")(reverse=reverse)(row, cfg.prompt_len).tolist() == [1.0]
        assert REWARDS.get("arithmetic")(reverse=not reverse)(row, cfg.prompt_len).tolist() == [0.0]
    del eos


def test_sudoku_validity_clues_and_format():
    from mdm.tasks.sudoku.dataset import encode_grid

    solution = [((r * 3 + r // 3 + c) % 9) + 1 for r in range(9) for c in range(9)]  # a valid grid
    puzzle = [v if i % 3 == 0 else 0 for i, v in enumerate(solution)]
    good = torch.cat([encode_grid(puzzle), encode_grid(solution)])
    swapped = solution[:]
    swapped[0], swapped[1] = swapped[1], swapped[0]  # breaks columns and a clue
    other = [(v % 9) + 1 for v in solution]  # valid grid, clues not kept
    blank = solution[:]
    blank[5] = 0
    rows = torch.stack(
        [
            good,
            torch.cat([encode_grid(puzzle), encode_grid(swapped)]),
            torch.cat([encode_grid(puzzle), encode_grid(other)]),
            torch.cat([encode_grid(puzzle), encode_grid(blank)]),
        ]
    )
    assert REWARDS.get("sudoku")()(rows, 89).tolist() == [1.0, 0.0, 0.0, 0.0]
    assert REWARDS.get("sudoku")(format_penalty=1.0)(rows, 89).tolist() == [1.0, 0.0, 0.0, -1.0]
    with pytest.raises(TokenError):
        REWARDS.get("sudoku")()(rows, 80)


def test_sudoku4_by_hand():
    assert len(sudoku4_solutions()) == 288  # the known count of 4x4 Sudoku grids
    sol = (1, 2, 3, 4, 3, 4, 1, 2, 2, 1, 4, 3, 4, 3, 2, 1)
    puzzle = tuple(v if i in (0, 5, 10, 15) else 0 for i, v in enumerate(sol))
    bad_box = (1, 2, 3, 4, 2, 1, 4, 3, 3, 4, 1, 2, 4, 3, 2, 1)  # rows/cols ok? box 1 holds 1,2,2,1
    clue_broken = (2, 1, 4, 3, 4, 3, 2, 1, 1, 2, 3, 4, 3, 4, 1, 2)  # valid grid, first clue is 1 not 2
    assert clue_broken in sudoku4_solutions() and bad_box not in sudoku4_solutions()
    half = encode_sudoku4(sol)
    half[2] = 0  # a blank left: malformed
    rows = torch.tensor(
        [encode_sudoku4(puzzle) + encode_sudoku4(s) for s in (sol, bad_box, clue_broken)]
        + [encode_sudoku4(puzzle) + half]
    )
    assert REWARDS.get("sudoku4")()(rows, 19).tolist() == [1.0, 0.0, 0.0, 0.0]
    assert REWARDS.get("sudoku4")(format_penalty=0.2)(rows, 19).tolist() == pytest.approx([1.0, 0, 0, -0.2])
    p, s = sudoku4_puzzle(random.Random(0), clues=6)
    assert sum(v != 0 for v in p) == 6 and s in sudoku4_solutions()
    assert REWARDS.get("sudoku4")()(torch.tensor([encode_sudoku4(p) + encode_sudoku4(s)]), 19).tolist() == [
        1.0
    ]


def _countdown_row(prompt: str, answer: str, total: int = 24) -> list[int]:
    tok = countdown_tokenizer()
    ids = tok.encode(prompt) + tok.encode(answer) + [tok.eos_id]
    return ids + [tok.pad_id] * (total - len(ids))


def test_countdown_verifier_and_reward():
    assert countdown_value("(3+5)*2") == 16 and countdown_value("7/2") * 2 == 7
    assert (
        countdown_value("3/(2-2)") is None and countdown_value("-3") is None and countdown_value("03") is None
    )
    assert countdown_ok([3, 5, 2], 16, "(3+5)*2") and countdown_ok([3, 5, 2], 16, "2*(5+3)")
    assert not countdown_ok([3, 5, 2], 16, "3+5*2")  # 13
    assert not countdown_ok([3, 5, 2], 16, "(3+5)*2*1")  # an extra number
    assert not countdown_ok([3, 5, 2], 8, "3+5")  # a number left unused
    assert countdown_ok([6, 4, 2], 4, "6/(4/2)+2-2") is False
    prompt = "3,5,2=16:"
    tok = countdown_tokenizer()
    rows = torch.tensor(
        [_countdown_row(prompt, "(3+5)*2"), _countdown_row(prompt, "3+5*2"), _countdown_row(prompt, "3+*5")]
    )
    no_eos = [tok.encode(c)[0] for c in prompt] + [tok.encode("1")[0]] * 15
    rows = torch.cat([rows, torch.tensor([no_eos])])
    assert REWARDS.get("countdown")()(rows, len(prompt)).tolist() == [1.0, 0.0, 0.0, 0.0]
    assert REWARDS.get("countdown")(format_penalty=0.1)(rows, len(prompt)).tolist() == pytest.approx(
        [1.0, 0.0, -0.1, -0.1]
    )
    rng = random.Random(1)
    for _ in range(50):
        nums, target, expr = countdown_problem(rng)
        assert countdown_ok(nums, target, expr)


def test_bad_options_and_names():
    with pytest.raises(ConfigError, match="format_penalty"):
        REWARDS.get("arithmetic")(format_penalty=-1)
    with pytest.raises(ConfigError, match="countdown"):
        REWARDS.get("nope")
