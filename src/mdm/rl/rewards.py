"""Verifiable rewards from a registry: ``REWARDS.get(name)(**options)`` is a function
``reward(tokens [N, L] long, prompt_len) -> float [N]`` scoring prompt + completion rows.

Every reward is ``1[correct] - format_penalty * 1[malformed]`` (``format_penalty`` >= 0, default 0),
where *correct* is the task's verifier and *malformed* says the completion does not even have the
answer's shape:

* ``arithmetic`` -- :func:`mdm.tasks.arithmetic.verify` (exact match; ``reverse`` as the data);
  malformed: the answer region is not ``digits eos pad*``.
* ``sudoku`` -- :func:`mdm.tasks.sudoku.dataset.verify` (a valid grid that keeps the clues);
  malformed: the answer half is not a grid of digits with its separators.
* ``sudoku4`` -- :func:`mdm.rl.puzzles.sudoku4_ok`; malformed as for ``sudoku``.
* ``countdown`` -- :func:`mdm.rl.puzzles.countdown_ok`; malformed: no ``eos``, or the text before it
  is no expression.

Add one with ``REWARDS.register("name", factory)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from mdm.errors import ConfigError, TokenError
from mdm.registry import Registry
from mdm.rl.puzzles import (
    SUDOKU4_TOKENS,
    countdown_ok,
    countdown_tokenizer,
    countdown_value,
    sudoku4_ok,
    sudoku4_well_formed,
)

__all__ = ["Reward", "REWARDS", "arithmetic_reward", "sudoku_reward", "sudoku4_reward", "countdown_reward"]

Reward = Callable[[torch.Tensor, int], torch.Tensor]
REWARDS: Registry[Callable[..., Reward]] = Registry("loss.reward", ConfigError)


def _check(tokens: torch.Tensor, prompt_len: int) -> None:
    if not isinstance(tokens, torch.Tensor) or tokens.dtype != torch.long or tokens.dim() != 2:
        raise TokenError(f"a reward scores a long tensor [N, L], got {getattr(tokens, 'shape', tokens)!r}")
    if not 0 < prompt_len < tokens.shape[1]:
        raise TokenError(f"prompt_len {prompt_len} must leave a completion in rows of {tokens.shape[1]}")


def _penalty(value: float) -> float:
    if not (isinstance(value, (int, float)) and value >= 0):
        raise ConfigError(f"format_penalty must be a number >= 0, got {value!r}")
    return float(value)


def _combine(correct, malformed, penalty: float) -> torch.Tensor:
    return torch.as_tensor(correct, dtype=torch.float32) - penalty * torch.as_tensor(
        malformed, dtype=torch.float32
    )


def arithmetic_reward(*, reverse: bool = False, format_penalty: float = 0.0) -> Reward:
    from mdm.tasks.arithmetic import _TOK, verify

    penalty = _penalty(format_penalty)
    digits = set(_TOK.encode("0123456789"))

    def reward(tokens: torch.Tensor, prompt_len: int) -> torch.Tensor:
        _check(tokens, prompt_len)
        correct = verify(tokens, prompt_len=prompt_len, reverse=reverse)
        bad = []
        for row in tokens[:, prompt_len:].tolist():
            end = row.index(_TOK.eos_id) if _TOK.eos_id in row else -1
            bad.append(
                end < 1
                or any(v not in digits for v in row[:end])
                or any(v != _TOK.pad_id for v in row[end + 1 :])
            )
        return _combine(correct, bad, penalty)

    return reward


def sudoku_reward(*, format_penalty: float = 0.0) -> Reward:
    from mdm.tasks.sudoku.dataset import _CELL_POS, _SEP, _SEP_POS, GRID_TOKENS, verify

    penalty = _penalty(format_penalty)

    def reward(tokens: torch.Tensor, prompt_len: int) -> torch.Tensor:
        _check(tokens, prompt_len)
        if prompt_len != GRID_TOKENS:
            raise TokenError(
                f"a Sudoku row is puzzle ({GRID_TOKENS}) + answer: prompt_len must be {GRID_TOKENS}"
            )
        answer = tokens[:, GRID_TOKENS:]
        cells = answer[:, list(_CELL_POS)]
        shaped = (answer[:, list(_SEP_POS)] == _SEP).all(1) & ((cells >= 1) & (cells <= 9)).all(1)
        return _combine(verify(tokens), ~shaped, penalty)

    return reward


def sudoku4_reward(*, format_penalty: float = 0.0) -> Reward:
    penalty = _penalty(format_penalty)

    def reward(tokens: torch.Tensor, prompt_len: int) -> torch.Tensor:
        _check(tokens, prompt_len)
        if prompt_len != SUDOKU4_TOKENS or tokens.shape[1] != 2 * SUDOKU4_TOKENS:
            raise TokenError(f"a 4x4 Sudoku row is puzzle + answer, {SUDOKU4_TOKENS} tokens each")
        rows = tokens.tolist()
        ok = [sudoku4_ok(r[:prompt_len], r[prompt_len:]) for r in rows]
        bad = [not sudoku4_well_formed(r[prompt_len:]) for r in rows]
        return _combine(ok, bad, penalty)

    return reward


def countdown_reward(*, format_penalty: float = 0.0) -> Reward:
    penalty = _penalty(format_penalty)
    tok = countdown_tokenizer()

    def text(ids: list[int]) -> str | None:
        """The plain text of ``ids`` (None if a special token is inside)."""
        if any(i >= len(tok.alphabet) for i in ids):
            return None
        return "".join(tok.alphabet[i] for i in ids)

    def reward(tokens: torch.Tensor, prompt_len: int) -> torch.Tensor:
        _check(tokens, prompt_len)
        ok, bad = [], []
        for row in tokens.tolist():
            prompt = text([i for i in row[:prompt_len] if i != tok.pad_id]) or ""
            answer = row[prompt_len:]
            expr = text(answer[: answer.index(tok.eos_id)]) if tok.eos_id in answer else None
            head, _, tail = prompt.partition("=")
            try:
                numbers, target = [int(v) for v in head.split(",")], int(tail.rstrip(":"))
            except ValueError:  # a malformed prompt: nothing can be right
                numbers, target = None, None
            bad.append(expr is None or countdown_value(expr) is None)
            ok.append(numbers is not None and expr is not None and countdown_ok(numbers, target, expr))
        return _combine(ok, bad, penalty)

    return reward


REWARDS.register("arithmetic", arithmetic_reward)
REWARDS.register("sudoku", sudoku_reward)
REWARDS.register("sudoku4", sudoku4_reward)
REWARDS.register("countdown", countdown_reward)
