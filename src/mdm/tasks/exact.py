"""Sequences drawn from an exact language, for training a model scored under that same language.

The ``exact-language`` task: train and validation sequences sampled from a language of
:mod:`mdm.languages` given as a spec string (``ngram:vocab=8,order=2,branching=4,seed=0`` or
``hmm:states=8,vocab=8,seed=0``, the syntax of ``mdm tune-schedule --language``).  Token ``i`` of
the language is the character ``chr(ord('a') + i)``, so the model's ids ``0 .. V-1`` are the
language's tokens and :class:`mdm.languages.LanguageView` turns the trained model into a Denoiser
directly comparable with ``language.denoiser()``.  Used by ``mdm exp energy-schedules``.
"""

from __future__ import annotations

import torch

from mdm.tasks.base import DataBundle, TensorItems, register_task
from mdm.tokenizers import CharTokenizer

__all__ = ["language_alphabet", "exact_language_task"]


def language_alphabet(vocab_size: int) -> str:
    """The characters standing for a language's tokens: ``a``, ``b``, ... (``vocab_size`` of them)."""
    return "".join(chr(ord("a") + i) for i in range(vocab_size))


DEFAULT_SPEC = "ngram:vocab=8,order=2,branching=4,seed=0"


@register_task("exact-language")
def exact_language_task(*, seq_len: int, seed: int = 0, spec: str = DEFAULT_SPEC, n_train: int = 20_000,
                        n_val: int = 512) -> DataBundle:
    """``n_train`` / ``n_val`` sequences of ``seq_len`` tokens sampled from ``spec`` (seeded)."""
    from mdm.languages import parse_language_spec

    language = parse_language_spec(spec)
    gen = torch.Generator().manual_seed(seed)
    train = TensorItems(language.sample(n_train, seq_len, gen))
    val = TensorItems(language.sample(n_val, seq_len, gen))
    return DataBundle(train=train, val=val, tokenizer=CharTokenizer(language_alphabet(language.vocab_size)),
                      seq_len=seq_len)
