"""Unmasker specs (mdm.sampling.from_spec / to_spec / UNMASKERS): the grammar, defaults, errors,
the round trip and a user's own unmasker registered by name."""

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mdm.errors import SamplingError
from mdm.sampling import (
    UNMASKERS,
    Ancestral,
    EntropyBounded,
    Param,
    ReMDM,
    Scheduled,
    Threshold,
    TopK,
    Unmasker,
    UnmaskerForm,
    from_spec,
    to_spec,
)
from mdm.sampling.specs import FLOAT, INT
from mdm.schedules import BetaEnergy, Cosine, Linear, LogLinear, Polynomial


@pytest.mark.parametrize("spec, expected", [
    ("ancestral:steps=64", Ancestral(64)),
    ("ancestral:64,schedule=cosine", Ancestral(64, Cosine())),
    ("scheduled:steps=64,schedule=beta:0.9,0.3", Scheduled(64, BetaEnergy(0.9, 0.3))),
    ("scheduled:schedule=beta:0.9,0.3,steps=64,proxy=margin", Scheduled(64, BetaEnergy(0.9, 0.3), "margin")),
    ("topk:k=2", TopK(2)),
    ("topk:2", TopK(2)),
    ("topk", TopK(1)),
    (" topk : 3 , proxy = random ", TopK(3, proxy="random")),
    ("eb:gamma=0.1,proxy=margin", EntropyBounded(0.1, proxy="margin")),
    ("eb", EntropyBounded(0.1)),
    ("threshold:0.9", Threshold(0.9)),
    ("threshold:tau=0.5", Threshold(0.5)),
    ("remdm:steps=32,eta=0.1,strategy=rescale", ReMDM(32, eta=0.1, strategy="rescale")),
    ("remdm:32,loop_t=0.6,0.4,alpha_on=0.8", ReMDM(32, loop_t=(0.6, 0.4), alpha_on=0.8)),
])
def test_specs_build_the_unmasker_they_name(spec, expected):
    assert from_spec(spec) == expected


def test_length_fills_steps_as_the_cli_does():
    assert from_spec("ancestral", length=16) == Ancestral(16)
    assert from_spec("scheduled:proxy=random", length=8) == Scheduled(8, proxy="random")
    assert from_spec("remdm", length=16) == ReMDM(32)
    assert from_spec("ancestral:steps=4", length=16) == Ancestral(4)  # an explicit value wins


def test_keyword_settings_add_to_the_spec():
    assert from_spec("scheduled:proxy=margin", steps=4, schedule=Cosine()) == Scheduled(4, Cosine(), "margin")
    u = TopK(2)
    assert from_spec(u) is u


@pytest.mark.parametrize("spec, words", [
    ("nope", ["unknown unmasker 'nope'", "ancestral", "topk"]),
    ("topk:j=2", ["unknown key 'j'", "k, proxy"]),
    ("topk:2.5", ["bad k='2.5'", "k=4"]),
    ("topk:0", ["TopK(k=...) must be an int >= 1"]),
    ("eb:gamma=-1", ["gamma"]),
    ("eb:gamma=nan", ["bad gamma"]),
    ("threshold:tau=2", ["(0, 1]"]),
    ("scheduled:4,schedule=beta:1", ["bad schedule='beta:1'", "beta:A,B"]),
    ("scheduled:4,schedule=wiggly", ["unknown schedule 'wiggly'"]),
    ("ancestral", ["needs steps", "ancestral:steps="]),
    ("topk:k=2,k=3", ["k given twice"]),
    ("topk:", ["nothing after ':'"]),
    ("eb:proxy=bogus", ["unknown proxy 'bogus'", "confidence"]),
    ("remdm:8,strategy=zigzag", ["strategy"]),
    ("remdm:8,loop_t=0.5", ["bad loop_t"]),
    ("", ["spec is a string"]),
])
def test_bad_specs_raise_sampling_error_naming_the_valid_ones(spec, words):
    with pytest.raises(SamplingError) as e:
        from_spec(spec)
    for w in words:
        assert w in str(e.value)


def test_a_setting_given_twice_is_an_error():
    with pytest.raises(SamplingError, match="both in the spec and as a keyword"):
        from_spec("topk:2", k=3)
    with pytest.raises(SamplingError, match="no setting 'tau'"):
        from_spec("topk", tau=0.5)


def test_to_spec_is_canonical_and_rejects_what_it_cannot_write():
    expected = "scheduled:steps=8,schedule=beta:0.9,0.3,proxy=margin"
    assert to_spec(Scheduled(8, BetaEnergy(0.9, 0.3), "margin")) == expected
    assert to_spec(EntropyBounded(0.1)) == "eb"
    assert to_spec(TopK(2)) == "topk:k=2"

    class Mine(Unmasker):
        pass

    with pytest.raises(SamplingError, match="Mine has no spec"):
        to_spec(Mine())


@dataclass(frozen=True)
class EveryOther(Unmasker):
    """A user's unmasker: reveal every ``stride``-th eligible position, at least one."""

    stride: int = 2
    scale: float = 1.0

    def select(self, state):  # pragma: no cover - only the spec machinery is tested here
        return state.eligible


def test_a_user_unmasker_registers_by_name_and_round_trips():
    UNMASKERS.register("every-other", UnmaskerForm(EveryOther, (Param("stride", INT), Param("scale", FLOAT)),
                                                   "a test unmasker"))
    try:
        assert from_spec("every-other:3") == EveryOther(3)
        assert from_spec("every-other:scale=0.5") == EveryOther(2, 0.5)
        assert to_spec(EveryOther(3, 0.5)) == "every-other:stride=3,scale=0.5"
        assert "every-other" in UNMASKERS.names()
    finally:
        UNMASKERS._entries.pop("every-other")


_SCHEDULES = st.one_of(
    st.just(Linear()), st.just(Cosine()),
    st.builds(Polynomial, st.floats(0.1, 5.0)),
    st.builds(LogLinear, st.floats(1e-5, 0.1)),
    st.builds(BetaEnergy, st.floats(0.1, 3.0), st.floats(0.1, 3.0)),
)
_PROXIES = st.sampled_from(["confidence", "margin", "entropy", "random"])
_STEPS = st.integers(1, 4096)
_UNMASKERS = st.one_of(
    st.builds(Ancestral, _STEPS, _SCHEDULES),
    st.builds(Scheduled, _STEPS, _SCHEDULES, _PROXIES),
    st.builds(TopK, st.integers(1, 64), _PROXIES),
    st.builds(EntropyBounded, st.floats(0.0, 1e6, allow_nan=False), _PROXIES),
    st.builds(Threshold, st.floats(1e-9, 1.0, exclude_min=True), _PROXIES),
    st.builds(ReMDM, _STEPS, st.floats(0.0, 1.0), _SCHEDULES, st.sampled_from(["cap", "rescale", "conf"])),
    st.builds(lambda s, e, ab, c: ReMDM(s, eta=e, loop_t=(max(ab), min(ab)), alpha_on=c),
              _STEPS, st.floats(0.0, 1.0), st.tuples(st.floats(0.01, 0.99), st.floats(0.01, 0.99))
              .filter(lambda ab: ab[0] != ab[1]), st.floats(0.01, 0.99)),
)


@settings(max_examples=300, deadline=None)
@given(_UNMASKERS)
def test_round_trip(unmasker):
    spec = to_spec(unmasker)
    assert from_spec(spec) == unmasker
    assert to_spec(from_spec(spec)) == spec
