"""Exact languages from a spec string: ``ngram:vocab=8,order=2,branching=2,seed=0`` or
``hmm:states=8,vocab=8,seed=0`` (``end=K``: answers of mean length K then end-of-text padding;
the syntax of ``mdm tune-schedule --language``, the
``exact-language`` task and the experiments' configs)."""

from __future__ import annotations

from mdm.errors import ConfigError

__all__ = ["parse_language_spec"]

# spec key -> keyword of NGram.random / HMM.random
_LANGUAGE_KEYS = {
    "ngram": {"vocab": "vocab_size", "order": "order", "branching": "branching", "seed": "seed"},
    "hmm": {"states": "n_states", "vocab": "vocab_size", "seed": "seed", "successors": "successors",
            "emitted": "emitted", "end": "end"},
}


def parse_language_spec(spec: str):
    """``ngram:vocab=8,order=2,branching=2,seed=0`` or ``hmm:states=8,vocab=8,seed=0`` -> a language
    from :mod:`mdm.languages` (``NGram.random`` / ``HMM.random``; omitted keys take their defaults)."""
    from mdm.languages.hmm import HMM
    from mdm.languages.ngram import NGram

    kind, _, rest = spec.strip().partition(":")
    if kind not in _LANGUAGE_KEYS:
        raise ConfigError(f"language {spec!r}: start with 'ngram:' or 'hmm:', e.g. ngram:vocab=8,order=2")
    kw = {}
    for part in filter(None, rest.split(",")):
        key, eq, value = part.partition("=")
        if not eq or key.strip() not in _LANGUAGE_KEYS[kind]:
            raise ConfigError(f"language {spec!r}: {part!r} is not one of "
                              f"{', '.join(k + '=INT' for k in _LANGUAGE_KEYS[kind])}")
        try:
            kw[_LANGUAGE_KEYS[kind][key.strip()]] = int(value)
        except ValueError:
            raise ConfigError(f"language {spec!r}: {key} needs an integer, got {value!r}") from None
    if kind == "ngram":
        return NGram.random(kw.pop("vocab_size", 8), **kw)
    if "n_states" not in kw or "vocab_size" not in kw:
        raise ConfigError(f"language {spec!r}: an HMM needs states= and vocab=")
    return HMM.random(kw.pop("n_states"), kw.pop("vocab_size"), **kw)
