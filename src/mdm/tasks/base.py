"""The dataset interface every corpus and synthetic task implements.

An **item** is a dict of equal-length 1-D tensors:

* ``input_ids``      LongTensor ``[L]`` -- the clean sequence x0;
* ``eligible``       BoolTensor ``[L]`` -- True where the loss may mask (False for prompt and padding);
* ``attention_mask`` BoolTensor ``[L]`` (optional) -- True for real tokens, False for padding.

A dataset is anything with ``__len__`` and ``__getitem__(i) -> item`` (a ``torch.utils.data.Dataset``
works); :func:`collate` stacks items into a batch of ``[B, L]`` tensors.  A task is published to the
trainer by a builder ``f(seq_len=..., seed=..., **options) -> DataBundle`` registered with
:func:`register_task`; the trainer's ``data.task`` names it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import torch

from mdm.errors import DataError
from mdm.registry import Registry

__all__ = [
    "SequenceDataset",
    "TensorItems",
    "DataBundle",
    "PromptAnswerItems",
    "distinct_sequences",
    "collate",
    "check_item",
    "sft_item",
    "TASKS",
    "register_task",
    "build_task",
    "task_names",
]


@runtime_checkable
class SequenceDataset(Protocol):
    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]: ...


class TensorItems:
    """A dataset backed by ``[N, L]`` tensors (the simplest :class:`SequenceDataset`).

    ``eligible`` defaults to all True (no prompt, no padding); ``attention_mask`` is optional.
    """

    def __init__(
        self,
        input_ids: torch.Tensor,
        eligible: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
    ) -> None:
        if not isinstance(input_ids, torch.Tensor) or input_ids.dtype != torch.long or input_ids.dim() != 2:
            got = getattr(input_ids, "shape", None)
            raise DataError(f"input_ids must be a torch.long tensor [N, L], got {got}")
        if eligible is None:
            eligible = torch.ones_like(input_ids, dtype=torch.bool)
        for name, t in (("eligible", eligible), ("attention_mask", attention_mask)):
            if t is not None and (t.dtype != torch.bool or t.shape != input_ids.shape):
                raise DataError(f"{name} must be a bool tensor of shape {tuple(input_ids.shape)}")
        self.input_ids, self.eligible, self.attention_mask = input_ids, eligible, attention_mask

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = {"input_ids": self.input_ids[index], "eligible": self.eligible[index]}
        if self.attention_mask is not None:
            item["attention_mask"] = self.attention_mask[index]
        return item

    @classmethod
    def from_items(cls, items: Sequence[dict[str, torch.Tensor]]) -> TensorItems:
        batch = collate(items)
        return cls(batch["input_ids"], batch["eligible"], batch.get("attention_mask"))


@dataclass
class DataBundle:
    """What a task builder returns: train and validation splits plus the tokenizer that reads them.

    ``chars_per_token`` (validation characters / validation tokens) turns bits per token into bits
    per character; ``None`` where characters mean nothing (synthetic tasks).

    ``val`` is what the trainer evaluates on; for the verified tasks (Sudoku, arithmetic) it is the
    test split.  ``valid``, when the task was asked for one, is a further split disjoint from both:
    choose settings (samplers, hyperparameters) on it, then report ``val`` once.
    """

    train: SequenceDataset
    val: SequenceDataset
    tokenizer: Any  # mdm.tokenizers.Tokenizer (kept untyped to keep this module import-light)
    seq_len: int
    chars_per_token: float | None = None
    valid: SequenceDataset | None = None


def check_item(item: dict[str, torch.Tensor], vocab_size: int | None = None) -> None:
    """Raise :class:`DataError` unless ``item`` follows the item convention above."""
    ids = item.get("input_ids")
    if not isinstance(ids, torch.Tensor) or ids.dtype != torch.long or ids.dim() != 1:
        raise DataError("item['input_ids'] must be a 1-D torch.long tensor")
    for key in ("eligible", "attention_mask"):
        t = item.get(key)
        if t is None and key == "attention_mask":
            continue
        if not isinstance(t, torch.Tensor) or t.dtype != torch.bool or t.shape != ids.shape:
            raise DataError(f"item[{key!r}] must be a bool tensor of shape {tuple(ids.shape)}")
    if "attention_mask" in item and bool((item["eligible"] & ~item["attention_mask"]).any()):
        raise DataError("item has eligible positions outside its attention_mask (padding must not be masked)")
    if vocab_size is not None and ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise DataError(f"item has ids outside [0, {vocab_size})")


def collate(items: Sequence[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack items into ``[B, L]`` tensors.  ``attention_mask`` is kept if any item has one."""
    if not items:
        raise DataError("cannot collate an empty list of items")
    lengths = {int(it["input_ids"].shape[0]) for it in items}
    if len(lengths) != 1:
        raise DataError(f"items in one batch must share a length, got {sorted(lengths)}; pad them first")
    out = {
        "input_ids": torch.stack([it["input_ids"] for it in items]),
        "eligible": torch.stack([it["eligible"] for it in items]),
    }
    # Further per-position keys (e.g. the transition targets of AP-MDM items) are stacked when every
    # item has them.
    for key in sorted(set(items[0]) - {"input_ids", "eligible", "attention_mask"}):
        if all(key in it for it in items):
            out[key] = torch.stack([it[key] for it in items])
    if any("attention_mask" in it for it in items):
        out["attention_mask"] = torch.stack(
            [it.get("attention_mask", torch.ones_like(it["eligible"])) for it in items]
        )
    return out


def sft_item(
    prompt: Sequence[int],
    answer: Sequence[int],
    length: int,
    *,
    pad_id: int,
    eos_id: int | None = None,
    pad_eligible: bool = False,
) -> dict[str, torch.Tensor]:
    """A prompt/answer (SFT) item: ``prompt + answer [+ eos] + pad...`` of exactly ``length``.

    The prompt is never eligible (conditioning is always visible, as in LLaDA's SFT); the answer and
    its ``eos`` are.  Padding is outside the attention mask and not eligible -- unless
    ``pad_eligible`` (LLaDA trains on trailing EOS padding so the model learns where answers end), in
    which case padding is attended to and may be masked.
    """
    body = [*prompt, *answer] + ([eos_id] if eos_id is not None else [])
    if len(body) > length:
        raise DataError(f"prompt + answer take {len(body)} tokens, more than the length {length}")
    n_pad = length - len(body)
    ids = torch.tensor(body + [pad_id] * n_pad, dtype=torch.long)
    eligible = torch.zeros(length, dtype=torch.bool)
    eligible[len(prompt) : len(body)] = True
    attention = torch.ones(length, dtype=torch.bool)
    if pad_eligible:
        eligible[len(body) :] = True
    else:
        attention[len(body) :] = False
    return {"input_ids": ids, "eligible": eligible, "attention_mask": attention}


# --- synthetic prompt/answer tasks -------------------------------------------------------------------


def distinct_sequences(stream: str, n: int, length: int, n_symbols: int, banned=()) -> list[tuple[int, ...]]:
    """``n`` distinct sequences of ``length`` uniform symbols ``0..n_symbols-1`` drawn from the random
    stream named ``stream`` (seeded by its SHA-256, e.g. ``"mdm.copy/0/test"``), none in ``banned``.
    The caller makes sure that enough distinct sequences exist (else this never returns)."""
    import hashlib
    import random

    rng = random.Random(int.from_bytes(hashlib.sha256(stream.encode()).digest()[:8], "little"))
    out: list[tuple[int, ...]] = []
    seen = set(banned)
    while len(out) < n:
        seq = tuple(rng.randrange(n_symbols) for _ in range(length))
        if seq not in seen:
            seen.add(seq)
            out.append(seq)
    return out


class PromptAnswerItems(torch.utils.data.Dataset):
    """A split of a verified prompt/answer task held as one ``[N, L]`` tensor: items
    ``{"input_ids", "eligible"}`` with the answer (positions ``prompt_len..``) eligible, and the
    interface of :func:`mdm.eval.verified.decode_verified` (``prompts()``, ``answer_len``; a subclass
    adds ``verify``)."""

    def __init__(self, tokens: torch.Tensor, prompt_len: int) -> None:
        self._tokens = tokens
        self._eligible = torch.arange(tokens.shape[1]) >= prompt_len
        self._prompt_len = prompt_len

    @property
    def prompt_len(self) -> int:
        return self._prompt_len

    @property
    def answer_len(self) -> int:
        return self._tokens.shape[1] - self._prompt_len

    def __len__(self) -> int:
        return self._tokens.shape[0]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self._tokens[index], "eligible": self._eligible.clone()}

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(input_ids [N, L], eligible [N, L])`` of the whole split."""
        return self._tokens.clone(), self._eligible.expand(len(self), -1).clone()

    def prompts(self) -> torch.Tensor:
        return self._tokens[:, :self._prompt_len]


# --- the task registry (users add their own tasks here) -------------------------------------------

TaskBuilder = Callable[..., DataBundle]
# Built-in tasks live in modules that register themselves on import.
TASKS: Registry[TaskBuilder] = Registry("task", DataError, lazy={
    "text": "mdm.tasks.text",
    "sudoku": "mdm.tasks.sudoku",
    "arithmetic": "mdm.tasks.arithmetic",
    "copy": "mdm.tasks.copy",
    "exact-language": "mdm.tasks.exact",
    "ap-parity": "mdm.tasks.anyprocess",
    "ap-rewrite": "mdm.tasks.anyprocess",
    "ap-sudoku": "mdm.tasks.anyprocess",
    "ap-parity-paper": "mdm.tasks.anyprocess",
    "ap-brackets": "mdm.tasks.anyprocess",
    "brackets-mdm": "mdm.tasks.anyprocess",
    "planted-order": "mdm.tasks.planted",
    "table": "mdm.tasks.tables",
})


def register_task(name: str) -> Callable[[TaskBuilder], TaskBuilder]:
    """Decorator: ``@register_task("sudoku") def build(seq_len, seed, **options) -> DataBundle``."""
    return TASKS.register(name)


def task_names() -> list[str]:
    return TASKS.names()


def build_task(name: str, *, seq_len: int, seed: int = 0, **options: Any) -> DataBundle:
    """Build the registered task ``name``.  Unknown names raise :class:`DataError` listing the known."""
    builder = TASKS.get(name)
    try:
        inspect.signature(builder).bind(seq_len=seq_len, seed=seed, **options)
    except TypeError as e:
        raise DataError(f"bad options for task {name!r}: {e}") from e
    return builder(seq_len=seq_len, seed=seed, **options)
