"""Copy the start of a long prompt: every answer token is read from far back in the context.

A problem is ``prompt_len`` symbols drawn uniformly from ``n_symbols``; the answer is its first
``answer_len`` symbols::

    prompt (prompt_len tokens)                        answer (answer_len tokens)
    3 b 0 e 7 ... (uniform, nothing to predict)       3 b 0 e ...

Only the answer is eligible for masking.  Answering needs attention across the whole prompt (the
token to copy sits ``prompt_len`` positions back), which makes the task a probe of what the
approximate KV caches of Fast-dLLM (Wu et al., arXiv 2505.22618) cost: ``mdm exp decoding``
trains on it (``mdm train copy``) and decodes with every cache mode.  Splits come from their own
seeded streams, test first; train skips every test sequence, so the two are disjoint.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mdm.errors import DataError
from mdm.tasks.base import DataBundle, PromptAnswerItems, distinct_sequences, register_task
from mdm.tokenizers import CharTokenizer

__all__ = ["CopyConfig", "CopyDataset", "copy_task", "tokenizer", "verify"]

_SYMBOLS = "0123456789abcdefghijklmnopqrstuv"


def tokenizer(n_symbols: int) -> CharTokenizer:
    """The first ``n_symbols`` of ``0-9a-v`` then pad, bos, eos, unk, mask; symbol ``i`` has id ``i``."""
    return CharTokenizer(_SYMBOLS[:n_symbols])


@dataclass(frozen=True)
class CopyConfig:
    """``prompt_len`` symbols of ``n_symbols`` per problem, answered by the first ``answer_len``."""

    prompt_len: int = 240
    answer_len: int = 16
    n_symbols: int = 16
    n_train: int = 6400
    n_test: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("prompt_len", "answer_len", "n_symbols"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise DataError(f"copy: {name} must be a positive integer, got {getattr(self, name)!r}")
        if self.answer_len > self.prompt_len:
            raise DataError(f"copy: answer_len {self.answer_len} exceeds prompt_len {self.prompt_len}")
        if not 2 <= self.n_symbols <= len(_SYMBOLS):
            raise DataError(f"copy: n_symbols must lie in 2..{len(_SYMBOLS)}, got {self.n_symbols}")
        if min(self.n_train, self.n_test) < 0:
            raise DataError("copy: n_train and n_test must be >= 0")
        if self.n_train + self.n_test > self.n_symbols ** self.prompt_len:
            raise DataError(f"copy: only {self.n_symbols}^{self.prompt_len} distinct prompts exist")

    @property
    def seq_len(self) -> int:
        return self.prompt_len + self.answer_len


def verify(tokens: torch.Tensor, *, prompt_len: int, answer_len: int, n_symbols: int) -> torch.Tensor:
    """Which rows hold a prompt of symbols followed by exactly its first ``answer_len``: BoolTensor [B]."""
    tokens = torch.as_tensor(tokens)
    if tokens.ndim != 2 or tokens.shape[1] != prompt_len + answer_len:
        raise DataError(f"verify needs tokens of shape [B, {prompt_len + answer_len}], "
                        f"got {tuple(tokens.shape)}")
    prompt, answer = tokens[:, :prompt_len], tokens[:, prompt_len:]
    return (prompt < n_symbols).all(1) & (answer == prompt[:, :answer_len]).all(1)


class CopyDataset(PromptAnswerItems):
    """A split of copy problems (:class:`~mdm.tasks.base.PromptAnswerItems`), with its verifier."""

    def __init__(self, prompts: list[tuple[int, ...]], config: CopyConfig) -> None:
        self.config, self.tokenizer = config, tokenizer(config.n_symbols)
        p = torch.tensor(prompts, dtype=torch.long).reshape(len(prompts), config.prompt_len)
        super().__init__(torch.cat([p, p[:, :config.answer_len]], dim=1), config.prompt_len)

    def verify(self, tokens: torch.Tensor) -> torch.Tensor:
        c = self.config
        return verify(tokens, prompt_len=c.prompt_len, answer_len=c.answer_len, n_symbols=c.n_symbols)


@register_task("copy")
def copy_task(*, seq_len: int | None = None, seed: int = 0, prompt_len: int = 240, answer_len: int = 16,
              n_symbols: int = 16, n_train: int = 6400, n_test: int = 256) -> DataBundle:
    """The copy task for the trainer: train and test (as ``val``) splits; ``seq_len`` (if given)
    must be ``prompt_len + answer_len``."""
    config = CopyConfig(prompt_len, answer_len, n_symbols, n_train, n_test, seed)
    if seq_len is not None and seq_len != config.seq_len:
        raise DataError(f"copy: seq_len {seq_len} != prompt_len + answer_len = {config.seq_len}")

    def draw(split: str, n: int, banned=()):  # __post_init__ made sure enough distinct prompts exist
        return distinct_sequences(f"mdm.copy/{seed}/{split}", n, prompt_len, n_symbols, banned)

    test = draw("test", n_test)
    train = CopyDataset(draw("train", n_train, test), config)
    return DataBundle(train=train, val=CopyDataset(test, config), tokenizer=train.tokenizer,
                      seq_len=config.seq_len)
