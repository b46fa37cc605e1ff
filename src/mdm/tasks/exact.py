"""Sequences drawn from an exact language, for training a model scored under that same language.

The ``exact-language`` task: train and validation sequences sampled from a language of
:mod:`mdm.languages` given as a spec string (``ngram:vocab=8,order=2,branching=4,seed=0`` or
``hmm:states=8,vocab=8,seed=0``, the syntax of ``mdm tune-schedule --language``).  Token ``i`` of
the language is the character ``chr(ord('a') + i)``, so the model's ids ``0 .. V-1`` are the
language's tokens and :class:`mdm.languages.LanguageView` turns the trained model into a Denoiser
directly comparable with ``language.denoiser()``.  Used by ``mdm exp energy-schedules``.

``lengths=[16, 32, 64]`` makes one dataset of several lengths (``mdm exp steps-vs-length``): each
item is a sample at one of them, right-padded to ``seq_len`` with ``attention_mask`` and
``eligible`` False on the padding (never masked, scored or attended to).  Items per length are
proportional to ``1/L`` (:func:`length_counts`), so every length gets about the same tokens.
"""

from __future__ import annotations

import torch

from mdm.errors import DataError
from mdm.tasks.base import DataBundle, TensorItems, register_task
from mdm.tokenizers import CharTokenizer

__all__ = ["language_alphabet", "length_counts", "exact_language_task"]


def language_alphabet(vocab_size: int) -> str:
    """The characters standing for a language's tokens: ``a``, ``b``, ... (``vocab_size`` of them)."""
    return "".join(chr(ord("a") + i) for i in range(vocab_size))


def length_counts(n: int, lengths) -> list[int]:
    """How many of ``n`` items have each of ``lengths``: shares proportional to ``1/L`` (equal
    tokens per length), rounded by largest remainder so that they sum to ``n``."""
    share = [n / length / sum(1 / m for m in lengths) for length in lengths]
    counts = [int(s) for s in share]
    by_remainder = sorted(range(len(share)), key=lambda i: counts[i] - share[i])
    for i in by_remainder[: n - sum(counts)]:
        counts[i] += 1
    return counts


def _mixed_lengths(language, n: int, lengths, seq_len: int, pad_id: int, gen) -> TensorItems:
    ids = torch.full((n, seq_len), pad_id, dtype=torch.long)
    real = torch.zeros(n, seq_len, dtype=torch.bool)
    row = 0
    for length, count in zip(lengths, length_counts(n, lengths)):
        if count:
            ids[row : row + count, :length] = language.sample(count, length, gen)
            real[row : row + count, :length] = True
            row += count
    order = torch.randperm(n, generator=gen)  # so any slice (e.g. the trainer's eval slice) mixes lengths
    return TensorItems(ids[order], eligible=real[order], attention_mask=real[order].clone())


DEFAULT_SPEC = "ngram:vocab=8,order=2,branching=4,seed=0"


@register_task("exact-language")
def exact_language_task(*, seq_len: int, seed: int = 0, spec: str = DEFAULT_SPEC, n_train: int = 20_000,
                        n_val: int = 512, lengths: list[int] | None = None) -> DataBundle:
    """``n_train`` / ``n_val`` sequences of ``seq_len`` tokens sampled from ``spec`` (seeded), or
    of the ``lengths`` (each at most ``seq_len``), right-padded to ``seq_len``."""
    from mdm.languages import parse_language_spec

    language = parse_language_spec(spec)
    tokenizer = CharTokenizer(language_alphabet(language.vocab_size))
    gen = torch.Generator().manual_seed(seed)
    if lengths is None:
        train = TensorItems(language.sample(n_train, seq_len, gen))
        val = TensorItems(language.sample(n_val, seq_len, gen))
    else:
        if not lengths or any(not isinstance(n, int) or not 1 <= n <= seq_len for n in lengths):
            raise DataError(f"lengths must be a non-empty list of ints in [1, seq_len={seq_len}], "
                            f"got {lengths!r}; pass e.g. lengths=[16, 32] with seq_len=32")
        train = _mixed_lengths(language, n_train, lengths, seq_len, tokenizer.pad_id, gen)
        val = _mixed_lengths(language, n_val, lengths, seq_len, tokenizer.pad_id, gen)
    return DataBundle(train=train, val=val, tokenizer=tokenizer, seq_len=seq_len)
