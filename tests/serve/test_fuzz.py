"""Hypothesis fuzz of /v1/completions bodies against a real server: every answer is 200 with
choices or 400 with an OpenAI error object -- never a 500, never a dropped connection.  Three
properties: whole bodies (valid, mutated, anything), a valid body with one field replaced (per
field), raw bytes.  A fast run in the default suite; under `slow`, 500 bodies + 500 one-field
cases + 100 raw ones."""

import json

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from fuzz_support import fuzz_settings

FAST, SLOW = 12, 500

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 60), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["", "a b", "é", "<eos>", "\n", "topk", "../x"]))
junk = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8)
specs = st.sampled_from([
    "topk", "topk:k=2", "eb:gamma=0.3", "threshold:tau=0.5", "ancestral", "scheduled:steps=4", "remdm",
    "eb:gamma=x", "nope", "topk:k=0", "scheduled:steps=4,schedule=cosine", ":", "eb:",
    "ancestral:steps=3,steps=4", "threshold:2.0"])
mdm_obj = st.fixed_dictionaries({}, optional={
    "unmasker": specs | junk, "steps": st.integers(-1, 40) | junk,
    "block_size": st.sampled_from([1, 2, 4, 5, 0]) | junk,
    "cache": st.sampled_from([None, "prefix", "dual", "x"]), "bogus": junk})
prompts = st.one_of(st.text(alphabet="abcdefgh ,.\n", max_size=20), st.text(max_size=8),
                    st.lists(st.integers(-2, 40), max_size=6), st.lists(scalars, min_size=1, max_size=4),
                    st.lists(st.text(alphabet="abc", max_size=5), max_size=3), junk)
FIELDS = {  # each field of a body: valid values, near misses and anything at all
    "prompt": prompts, "max_tokens": st.integers(-1, 12) | st.sampled_from([47, 48, 10**9]) | junk,
    "temperature": st.floats(-1, 3) | junk, "top_p": st.floats(-0.5, 1.5) | junk,
    "stop": st.lists(st.text(alphabet="abc", max_size=3), max_size=5) | junk, "n": st.integers(-1, 10) | junk,
    "seed": st.integers(-5, 2**64) | junk, "stream": st.booleans() | junk,
    "model": st.sampled_from(["tiny", "x"]) | junk, "mdm": mdm_obj | junk, "echo": junk, "logprobs": junk,
    "stream_options": junk, "extra": junk}
bodies = st.fixed_dictionaries({}, optional=FIELDS)
valid_mdm = st.fixed_dictionaries({}, optional={"unmasker": specs, "block_size": st.sampled_from([1, 2, 4]),
                                               "cache": st.none()})
valid_bodies = st.fixed_dictionaries({"prompt": st.text(alphabet="abcdefgh ,.", max_size=20)}, optional={
    "max_tokens": st.integers(1, 12), "temperature": st.floats(0, 2), "top_p": st.floats(0.05, 1),
    "stop": st.lists(st.text(alphabet="abc", min_size=1, max_size=2), max_size=3), "n": st.integers(1, 3),
    "seed": st.integers(0, 2**63 - 1), "stream": st.booleans(), "model": st.just("tiny"), "mdm": valid_mdm})
# Valid bodies, valid bodies with one field (or the first two of a random body) replaced, anything.
one_bad = st.sampled_from(sorted(FIELDS)).flatmap(
    lambda key: st.tuples(valid_bodies, st.just(key), FIELDS[key])).map(lambda t: {**t[0], t[1]: t[2]})
mutated = st.tuples(valid_bodies, bodies).map(lambda vb: {**vb[0], **dict(list(vb[1].items())[:2])})
any_bodies = st.one_of(valid_bodies, one_bad, mutated, bodies)
raw_bodies = st.one_of(st.binary(max_size=40), st.sampled_from([
    b"{", b'{"prompt": "a",}', b"null", b"[]", b'"x"', b'{"prompt": NaN}', b"[" * 5000 + b"]" * 5000]))

def _check(r: httpx.Response, stream: bool) -> None:
    assert r.status_code in (200, 400), (r.status_code, r.text[:500])
    if r.status_code == 400:
        err = r.json()["error"]
        assert isinstance(err["message"], str) and err["message"] and err["type"] == "invalid_request_error"
    elif stream:
        lines = [x for x in r.text.split("\n") if x.startswith("data: ")]
        assert lines[-1] == "data: [DONE]" and all("error" not in json.loads(x[6:]) for x in lines[:-1])
    else:
        assert r.json()["choices"]


def _post(server, content: bytes) -> httpx.Response:
    return httpx.post(server.url + "/v1/completions", content=content,
                      headers={"content-type": "application/json"}, timeout=60)


def make_body_test(n):
    @fuzz_settings(n)
    @given(body=any_bodies)
    def test(server, body):
        content = json.dumps(body).encode()
        _check(_post(server, content), body.get("stream") is True)

    return test


def make_field_test(n):
    @pytest.mark.parametrize("key", sorted(FIELDS))
    def test(server, key):
        @fuzz_settings(n)
        @given(body=valid_bodies, value=FIELDS[key])
        def one_field(body, value):  # a valid body with this one field replaced
            body = {**body, key: value}
            _check(_post(server, json.dumps(body).encode()), body.get("stream") is True)

        one_field()

    return test


def make_raw_test(n):
    @fuzz_settings(n)
    @given(content=raw_bodies)
    def test(server, content):
        _check(_post(server, content), False)

    return test


test_fuzz_bodies = make_body_test(FAST)
test_fuzz_bodies_slow = pytest.mark.slow(make_body_test(SLOW))
test_fuzz_one_field = make_field_test(1)
test_fuzz_one_field_slow = pytest.mark.slow(make_field_test(SLOW // len(FIELDS) + 1))
test_fuzz_raw_bodies = make_raw_test(FAST // 2)
test_fuzz_raw_bodies_slow = pytest.mark.slow(make_raw_test(SLOW // 5))
