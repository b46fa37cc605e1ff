"""Sorting a digit sequence: a task with long answers (``length`` answer tokens, e.g. 32).

One problem is a sequence of ``length`` digits drawn uniformly from ``0 .. n_symbols - 1``; the
example is the prompt, ``=``, then the same digits in ascending order::

    prompt (length + 1 tokens)            answer (length tokens)
    3 1 4 1 5 9 2 6 ... =                 1 1 2 3 4 5 6 9 ...

Every answer position is eligible for masking, the prompt never is.  The answer tokens are strongly
dependent given the prompt (a sorted sequence is determined by its counts, and neighbours bound each
other), so the denoising loss of a masked answer token depends on how many of the others are visible:
the regime where the mask *rate* (B in Jia et al., arXiv 2511.18159) can matter, unlike a 2-digit sum
(P = 4).  Splits come from their own seeded streams, test first; train skips every test sequence, so
the two are disjoint and each holds no repeats.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from mdm.errors import DataError
from mdm.tasks.base import PromptAnswerItems, distinct_sequences
from mdm.tokenizers import CharTokenizer

__all__ = ["SortingConfig", "SortingDataset", "encode", "make_splits", "tokenizer", "verify"]

_DIGITS = "0123456789"
_TOK = CharTokenizer(_DIGITS + "=")
_EQ = _TOK.encode("=")[0]


def tokenizer() -> CharTokenizer:
    """``0123456789=`` then pad, bos, eos, unk, mask (16 ids); digit ``d`` has id ``d``."""
    return CharTokenizer(_DIGITS + "=")


@dataclass(frozen=True)
class SortingConfig:
    """``length`` digits per problem from ``n_symbols`` symbols; ``n_train`` / ``n_test`` problems."""

    length: int = 32
    n_symbols: int = 10
    n_train: int = 2000
    n_test: int = 200
    seed: int = 0

    def __post_init__(self) -> None:
        if not (isinstance(self.length, int) and self.length >= 1):
            raise DataError(f"SortingConfig.length must be a positive integer, got {self.length!r}")
        if not (isinstance(self.n_symbols, int) and 2 <= self.n_symbols <= 10):
            raise DataError(f"SortingConfig.n_symbols must be an integer in 2..10, got {self.n_symbols!r}")
        if min(self.n_train, self.n_test) < 0:
            raise DataError("SortingConfig.n_train and n_test must be >= 0")
        if self.n_train + self.n_test > self.n_symbols ** self.length:
            raise DataError(f"only {self.n_symbols}^{self.length} distinct sequences exist; asked for "
                            f"{self.n_train} + {self.n_test}: ask for fewer or longer sequences")

    @property
    def prompt_len(self) -> int:
        return self.length + 1

    @property
    def seq_len(self) -> int:
        return 2 * self.length + 1


def make_splits(config: SortingConfig) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """``(train, test)`` digit sequences: deterministic in ``config.seed``, disjoint, no repeats."""
    def draw(split: str, n: int, banned=()):  # __post_init__ made sure enough distinct sequences exist
        return distinct_sequences(f"mdm.sorting/{config.seed}/{split}", n, config.length, config.n_symbols,
                                  banned)

    test = draw("test", config.n_test)
    return draw("train", config.n_train, test), test


def encode(seq: tuple[int, ...]) -> torch.Tensor:
    """``digits = sorted(digits)`` as a LongTensor of ``2 * len(seq) + 1`` ids."""
    return torch.tensor([*seq, _EQ, *sorted(seq)], dtype=torch.long)


def verify(tokens: torch.Tensor, *, length: int) -> torch.Tensor:
    """Which rows ``prompt = answer`` hold exactly the sorted prompt: BoolTensor [B].

    The prompt must be ``length`` digits then ``=``; the answer must be those digits in ascending
    order (a mask, pad or other token anywhere makes the row incorrect)."""
    tokens = torch.as_tensor(tokens)
    if tokens.ndim != 2 or tokens.shape[1] != 2 * length + 1:
        raise DataError(f"verify needs tokens of shape [B, {2 * length + 1}], got {tuple(tokens.shape)}")
    prompt, answer = tokens[:, :length], tokens[:, length + 1:]
    well_formed = (prompt < 10).all(1) & (tokens[:, length] == _EQ)
    return well_formed & (answer == prompt.sort(dim=1).values).all(1)


class SortingDataset(PromptAnswerItems):
    """A split of sorting problems (:class:`~mdm.tasks.base.PromptAnswerItems`: the answer eligible,
    ``prompts()``, ``answer_len``), with its verifier."""

    def __init__(self, seqs, config: SortingConfig) -> None:
        self.config, self.seqs = config, list(seqs)
        empty = torch.zeros(0, config.seq_len, dtype=torch.long)
        tokens = torch.stack([encode(s) for s in self.seqs]) if self.seqs else empty
        super().__init__(tokens, config.prompt_len)
        self.tokenizer = tokenizer()

    @classmethod
    def splits(cls, config: SortingConfig) -> tuple[SortingDataset, SortingDataset]:
        train, test = make_splits(config)
        return cls(train, config), cls(test, config)

    def verify(self, tokens: torch.Tensor) -> torch.Tensor:
        return verify(tokens, length=self.config.length)
