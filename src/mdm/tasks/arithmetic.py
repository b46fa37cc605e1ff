"""Multi-digit addition and multiplication: variable-length answers ended by ``eos``.

A problem ``a op b`` (``op`` in ``+ *``; each operand has 1 to ``max_digits`` digits) is one
fixed-length sequence::

    prompt (2*max_digits + 2 tokens)       answer region (answer_len tokens)
    <pad> <pad> 1 2 3 * 4 5 =              5 5 3 5 <eos> <pad> <pad> ...

The prompt is left-padded with ``pad`` so ``=`` always ends it; the answer region holds the result's
digits, ``eos``, then ``pad`` up to ``answer_len`` (default: the longest possible result + 1).  The
whole answer region is eligible for masking -- the model must learn where the answer ends (``eos``)
and that only ``pad`` follows -- while the prompt is not.  No attention mask is used: the prompt's
padding is an ordinary visible token, exactly as the sampler will show it.

``zero_pad=True`` writes each operand with leading zeros to ``max_digits`` digits instead
(``00123+00045=``): every digit of a given place then sits at a fixed position, which a small model
with learned positions finds far sooner than the varying offsets of left padding.  The answer is
unchanged (no leading zeros, variable length, ``eos``).

Answer digits are written most-significant first by default (natural order: the hard, realistic
setting, since a carry decides the leading digits last); ``reverse=True`` writes them
least-significant first, the order in which carries propagate.  Variable answer lengths make the
sampler's stop rule (done once ``eos`` is unmasked with every position before it clean) and
semi-autoregressive blocks matter.

Operands are drawn by first picking a digit count uniformly in ``1..max_digits`` and then a number
with that many digits uniformly (so short operands are not vanishingly rare).  Splits are drawn from
their own seeded streams: the test split first, then the train split, which skips repeats and every
test problem in either operand order -- no problem appears twice, and none of the test split (nor
its commuted form) is seen in training.  An optional validation split (``n_valid``) is drawn last,
from its own stream, skipping every train and test problem in either order: it leaves train and test
as they are and shares no problem with either, so settings chosen on it say nothing of the test.
"""

from __future__ import annotations

import hashlib
import operator
import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from mdm.errors import DataError, TokenError
from mdm.tasks.base import DataBundle, register_task
from mdm.tokenizers import CharTokenizer

__all__ = [
    "ALPHABET",
    "tokenizer",
    "Problem",
    "ArithmeticConfig",
    "sample_problem",
    "make_splits",
    "make_valid",
    "encode_problem",
    "verify",
    "ArithmeticDataset",
    "arithmetic_task",
]

ALPHABET = "0123456789+*="  # digit d has id d
_OPS = {"+": operator.add, "*": operator.mul}
_TOK = CharTokenizer(ALPHABET)
_EQ, _PAD, _EOS = _TOK.encode("=")[0], _TOK.pad_id, _TOK.eos_id


def tokenizer() -> CharTokenizer:
    """The fixed arithmetic vocabulary: ``0123456789+*=`` then pad, bos, eos, unk, mask (18 ids)."""
    return CharTokenizer(ALPHABET)


@dataclass(frozen=True)
class Problem:
    """``a op b`` with non-negative integer operands."""

    a: int
    op: str
    b: int

    @property
    def result(self) -> int:
        return _OPS[self.op](self.a, self.b)

    @property
    def prompt(self) -> str:
        return f"{self.a}{self.op}{self.b}="

    def padded_prompt(self, digits: int) -> str:
        """The prompt with both operands zero-padded to ``digits`` digits."""
        return f"{self.a:0{digits}d}{self.op}{self.b:0{digits}d}="

    def answer(self, reverse: bool = False) -> str:
        """The result's digits, least-significant first when ``reverse``."""
        digits = str(self.result)
        return digits[::-1] if reverse else digits


@dataclass(frozen=True)
class ArithmeticConfig:
    """An arithmetic task: operand size, operations, answer order and split sizes."""

    max_digits: int = 3
    ops: tuple[str, ...] = ("+", "*")
    reverse: bool = False  # answer digits least-significant first
    n_train: int = 20_000
    n_test: int = 1_000
    seed: int = 0
    answer_len: int | None = None  # None: the longest possible result + 1 (for eos)
    n_valid: int = 0  # validation problems, disjoint from train and test (drawn after both)
    zero_pad: bool = False  # operands with leading zeros to max_digits (fixed digit positions)

    def __post_init__(self) -> None:
        for name in ("reverse", "zero_pad"):
            if not isinstance(getattr(self, name), bool):
                raise DataError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.max_digits < 1:
            raise DataError(f"max_digits must be >= 1, got {self.max_digits}")
        ops = tuple(self.ops)
        if not ops or len(set(ops)) != len(ops) or any(op not in _OPS for op in ops):
            raise DataError(f"ops must be distinct operations from {sorted(_OPS)}, got {self.ops!r}")
        object.__setattr__(self, "ops", ops)
        if min(self.n_train, self.n_test, self.n_valid) < 0:
            raise DataError(
                f"n_train, n_valid and n_test must be >= 0, got {self.n_train}, {self.n_valid}, {self.n_test}"
            )
        if self.answer_len is not None and self.answer_len < self.min_answer_len:
            raise DataError(
                f"answer_len {self.answer_len} cannot hold the longest result and eos; "
                f"use answer_len >= {self.min_answer_len} (or None)"
            )

    @property
    def prompt_len(self) -> int:
        return 2 * self.max_digits + 2

    @property
    def min_answer_len(self) -> int:
        """The longest possible result's digits + 1 (for eos)."""
        top = 10**self.max_digits - 1
        return max(len(str(_OPS[op](top, top))) for op in self.ops) + 1

    @property
    def answer_region(self) -> int:
        """Tokens after the prompt: answer digits, eos and padding."""
        return self.answer_len if self.answer_len is not None else self.min_answer_len

    @property
    def seq_len(self) -> int:
        return self.prompt_len + self.answer_region

    @property
    def n_problems(self) -> int:
        """How many distinct problems exist (operands 0 .. 10**max_digits - 1)."""
        return len(self.ops) * 10 ** (2 * self.max_digits)


def _operand(rng: random.Random, max_digits: int) -> int:
    d = rng.randint(1, max_digits)
    return rng.randint(10 ** (d - 1) if d > 1 else 0, 10**d - 1)


def sample_problem(rng: random.Random, max_digits: int, ops: Sequence[str] = ("+", "*")) -> Problem:
    """One problem: a uniform op, each operand with a uniform digit count then a uniform value."""
    return Problem(_operand(rng, max_digits), rng.choice(list(ops)), _operand(rng, max_digits))


def _stream(config: ArithmeticConfig, split: str) -> random.Random:
    digest = hashlib.sha256(f"mdm.arithmetic/{config.seed}/{split}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


def _commuted(p: Problem) -> Problem:
    return Problem(p.b, p.op, p.a)  # both operations commute


def _draw_unique(
    rng: random.Random, config: ArithmeticConfig, n: int, taken: set[Problem], banned: set[Problem]
) -> list[Problem]:
    out: list[Problem] = []
    budget = 100 * n + 10_000  # rejection sampling: generous, but bounded
    while len(out) < n:
        if budget == 0:
            raise DataError(
                f"could not draw {n} distinct problems with max_digits={config.max_digits} and "
                f"ops={config.ops}; ask for fewer problems or more digits"
            )
        budget -= 1
        p = sample_problem(rng, config.max_digits, config.ops)
        if p not in taken and p not in banned:
            taken.add(p)
            out.append(p)
    return out


def make_splits(config: ArithmeticConfig) -> tuple[list[Problem], list[Problem]]:
    """``(train, test)`` problem lists: deterministic in ``config.seed``, disjoint, without repeats.

    The test split is drawn first from its own stream, so it does not change with ``n_train``.
    Train excludes every test problem and its commuted form (``b op a``), so a model cannot pass the
    test by having memorised the same operands in the other order.
    """
    if config.n_train + config.n_test > config.n_problems:
        raise DataError(
            f"only {config.n_problems} distinct problems exist with max_digits={config.max_digits} and "
            f"ops={config.ops}; asked for {config.n_train} + {config.n_test}"
        )
    test = _draw_unique(_stream(config, "test"), config, config.n_test, set(), set())
    banned = set(test) | {_commuted(p) for p in test}
    train = _draw_unique(_stream(config, "train"), config, config.n_train, set(), banned)
    return train, test


def make_valid(config: ArithmeticConfig, train: Sequence[Problem], test: Sequence[Problem]) -> list[Problem]:
    """``config.n_valid`` validation problems, given the :func:`make_splits` of ``config``.

    Drawn from their own stream after train and test (which therefore stay as they are), without
    repeats and without any train or test problem in either operand order.
    """
    if config.n_train + config.n_test + config.n_valid > config.n_problems:
        raise DataError(
            f"only {config.n_problems} distinct problems exist with max_digits={config.max_digits} and "
            f"ops={config.ops}; asked for {config.n_train} + {config.n_test} + {config.n_valid} (validation)"
        )
    banned = {q for p in (*train, *test) for q in (p, _commuted(p))}
    return _draw_unique(_stream(config, "valid"), config, config.n_valid, set(), banned)


def encode_problem(problem: Problem, config: ArithmeticConfig) -> torch.Tensor:
    """``[pad...] prompt | answer eos [pad...]`` as a LongTensor [config.seq_len]."""
    text = problem.padded_prompt(config.max_digits) if config.zero_pad else problem.prompt
    prompt = _TOK.encode(text)
    answer = _TOK.encode(problem.answer(config.reverse)) + [_EOS]
    n_pad_prompt, n_pad_answer = config.prompt_len - len(prompt), config.answer_region - len(answer)
    if n_pad_prompt < 0 or n_pad_answer < 0:
        raise DataError(f"{problem.prompt} does not fit max_digits={config.max_digits}")
    return torch.tensor([_PAD] * n_pad_prompt + prompt + answer + [_PAD] * n_pad_answer, dtype=torch.long)


def _parse_prompt(ids: list[int]) -> Problem | None:
    k = 0
    while k < len(ids) and ids[k] == _PAD:
        k += 1
    text = "".join(ALPHABET[i] if 0 <= i < len(ALPHABET) else "\0" for i in ids[k:])
    if not text.endswith("=") or text.count("=") != 1:
        return None
    for op in _OPS:
        a, sep, b = text[:-1].partition(op)
        if sep and a.isdigit() and b.isdigit():
            return Problem(int(a), op, int(b))
    return None


def verify(tokens: torch.Tensor, *, prompt_len: int, reverse: bool = False) -> torch.Tensor:
    """Which sequences ``prompt + answer region`` hold the exact answer: BoolTensor [B] (or [] for [L]).

    The answer is read up to the first ``eos`` (what follows it is ignored); it is correct iff that
    ``eos`` exists and the tokens before it are exactly the result's digits in the configured order
    (no leading zeros, no mask, pad or other token).  A malformed prompt makes the sequence incorrect.
    """
    if not isinstance(tokens, torch.Tensor) or tokens.dtype != torch.long or tokens.dim() not in (1, 2):
        got = f"{getattr(tokens, 'dtype', type(tokens).__name__)} {tuple(getattr(tokens, 'shape', ()))}"
        raise TokenError(f"verify takes a torch.long tensor [B, L] (prompt + answer region), got {got}")
    if tokens.dim() == 1:
        return verify(tokens.unsqueeze(0), prompt_len=prompt_len, reverse=reverse)[0]
    if not 0 < prompt_len < tokens.shape[1]:
        raise TokenError(
            f"prompt_len {prompt_len} must leave an answer region in sequences of {tokens.shape[1]}"
        )
    ok = []
    for row in tokens.tolist():
        problem = _parse_prompt(row[:prompt_len])
        answer = row[prompt_len:]
        if problem is None or _EOS not in answer:
            ok.append(False)
            continue
        ok.append(answer[: answer.index(_EOS)] == _TOK.encode(problem.answer(reverse)))
    return torch.tensor(ok, dtype=torch.bool)


class ArithmeticDataset(torch.utils.data.Dataset):
    """Items ``{"input_ids": [L], "eligible": [L]}``: prompt (not eligible) + answer region (eligible).

    Build the splits of an :class:`ArithmeticConfig` with :meth:`split` / :meth:`splits`, or wrap a
    list of problems with the constructor.
    """

    def __init__(self, problems: Sequence[Problem], config: ArithmeticConfig | None = None) -> None:
        self.config = config or ArithmeticConfig()
        self.problems = list(problems)
        rows = [encode_problem(p, self.config) for p in self.problems]
        empty = torch.zeros(0, self.seq_len, dtype=torch.long)
        self._tokens = (torch.stack(rows) if rows else empty).to(torch.uint8)  # every id is < 18
        self._eligible = torch.arange(self.seq_len) >= self.prompt_len
        self.tokenizer = tokenizer()

    @classmethod
    def split(cls, name: str, config: ArithmeticConfig | None = None) -> ArithmeticDataset:
        """The ``"train"``, ``"valid"`` or ``"test"`` split of ``config`` (default
        :class:`ArithmeticConfig`).  The validation split depends on ``n_train`` (it excludes train)."""
        if name not in ("train", "valid", "test"):
            raise DataError(f"split must be 'train', 'valid' or 'test', got {name!r}")
        config = config or ArithmeticConfig()
        train, test = make_splits(config)
        if name == "valid":
            return cls(make_valid(config, train, test), config)
        return cls(train if name == "train" else test, config)

    @classmethod
    def splits(cls, config: ArithmeticConfig | None = None) -> tuple[ArithmeticDataset, ArithmeticDataset]:
        """``(train, test)`` of ``config``."""
        config = config or ArithmeticConfig()
        train, test = make_splits(config)
        return cls(train, config), cls(test, config)

    @property
    def prompt_len(self) -> int:
        return self.config.prompt_len

    @property
    def answer_len(self) -> int:
        return self.config.answer_region

    @property
    def seq_len(self) -> int:
        return self.config.seq_len

    def __len__(self) -> int:
        return self._tokens.shape[0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self._tokens[index].long(), "eligible": self._eligible.clone()}

    def prompts(self) -> torch.Tensor:
        """The left-padded prompts, LongTensor [N, prompt_len]: the ``prompt=`` of :func:`mdm.sample`."""
        return self._tokens[:, : self.prompt_len].long()

    def verify(self, tokens: torch.Tensor) -> torch.Tensor:
        """:func:`verify` with this dataset's prompt length and answer order."""
        return verify(tokens, prompt_len=self.prompt_len, reverse=self.config.reverse)


@register_task("arithmetic")
def arithmetic_task(
    *,
    seq_len: int | None = None,
    seed: int = 0,
    max_digits: int = 3,
    ops: Sequence[str] = ("+", "*"),
    reverse: bool = False,
    n_train: int = 20_000,
    n_test: int = 1_000,
    n_valid: int = 0,
    zero_pad: bool = False,
) -> DataBundle:
    """The arithmetic task for the trainer: train / test (as ``val``) splits, and ``n_valid``
    validation problems (as ``valid``, disjoint from both) when asked for.

    ``seq_len`` None takes the shortest that fits; a longer one pads the answer region further.
    ``zero_pad`` writes the operands with leading zeros (see the module docstring).
    """
    shortest = ArithmeticConfig(max_digits=max_digits, ops=tuple(ops), n_train=0, n_test=0).seq_len
    if seq_len is not None and seq_len < shortest:
        raise DataError(
            f"seq_len {seq_len} is too short for max_digits={max_digits} and ops={ops}: use >= {shortest}"
        )
    config = ArithmeticConfig(
        max_digits=max_digits,
        ops=tuple(ops),
        reverse=reverse,
        n_train=n_train,
        n_test=n_test,
        seed=seed,
        answer_len=None if seq_len is None else seq_len - 2 * max_digits - 2,
        n_valid=n_valid,
        zero_pad=zero_pad,
    )
    train, test = make_splits(config)
    valid = ArithmeticDataset(make_valid(config, train, test), config) if n_valid else None
    train_set = ArithmeticDataset(train, config)
    return DataBundle(train=train_set, val=ArithmeticDataset(test, config), tokenizer=train_set.tokenizer,
                      seq_len=config.seq_len, valid=valid)
