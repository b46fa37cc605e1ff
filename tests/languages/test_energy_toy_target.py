"""The energy paper's toy targets (Chen et al., arXiv 2509.13866) as exact languages."""

import math

import pytest

from mdm.errors import LanguageError
from mdm.languages import energy_toy_target


def _strings(language):
    return sorted("".join("ab"[int(v)] for v in s) for s in language.sequences)


def test_targets_are_the_papers():
    a, b = energy_toy_target("A"), energy_toy_target("B")
    assert _strings(a) == ["aaaaa", "bbbbb"] and a.probs.tolist() == [0.5, 0.5]
    assert len(b.sequences) == math.comb(5, 2) + math.comb(5, 3) == 20
    assert all(s.count("a") in (2, 3) for s in _strings(b))
    assert float(b.probs.sum()) == pytest.approx(1.0) and a.vocab_size == b.vocab_size == 2
    with pytest.raises(LanguageError, match="'A' and 'B'"):
        energy_toy_target("C")
