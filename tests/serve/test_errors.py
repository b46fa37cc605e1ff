"""Bad input answers HTTP 400 with an OpenAI-style error object (never 500), a full queue 429, and
a client that disconnects mid-stream frees its rows."""

import json
import socket
import time

import httpx
import pytest
from serve_support import Server

# A request that keeps denoising for a long time: ReMDM remasks, so every one of its steps is a pass.
LONG = {"prompt": "and", "max_tokens": 40, "n": 4, "stream": True,
        "mdm": {"unmasker": "remdm:steps=4000,eta=0.5"}}

BAD = [
    (b"{not json", None),
    (b"[1, 2]", None),
    (b"", None),
    ({"max_tokens": 4}, "prompt"),
    ({"prompt": "a", "max_tokens": 4, "colour": "red"}, "colour"),
    ({"prompt": "a", "mdm": {"unmasker": "nonsense"}}, "mdm.unmasker"),
    ({"prompt": "a", "mdm": {"unmasker": "eb:gamma=-1"}}, "mdm.unmasker"),
    ({"prompt": "a", "mdm": {"unmasker": "topk", "steps": 4}}, "mdm.unmasker"),
    ({"prompt": "a", "mdm": {"sampler": "topk"}}, "mdm.sampler"),
    ({"prompt": "a", "mdm": {"block_size": 5}, "max_tokens": 8}, "mdm.block_size"),
    ({"prompt": "a", "mdm": {"cache": "all"}}, "mdm.cache"),
    ({"prompt": "a" * 60}, "prompt"),
    ({"prompt": "a", "max_tokens": 48}, "max_tokens"),
    ({"prompt": "a", "max_tokens": 0}, "max_tokens"),
    ({"prompt": "a", "n": 9}, "n"),
    ({"prompt": "a", "n": True}, "n"),
    ({"prompt": "a", "temperature": "hot"}, "temperature"),
    ({"prompt": "a", "temperature": -1}, "temperature"),
    ({"prompt": "a", "top_p": 0}, "top_p"),
    ({"prompt": "a", "stop": [""]}, "stop"),
    ({"prompt": "a", "stop": ["é"]}, "stop"),
    ({"prompt": "ÉÉ"}, "prompt"),
    ({"prompt": [40, 41]}, "prompt"),  # the mask id (34) and beyond the vocabulary are not tokens
    ({"prompt": [34]}, "prompt"),
    ({"prompt": "a", "seed": -1}, "seed"),
    ({"prompt": "a", "stream": "yes"}, "stream"),
    ({"prompt": "a", "logprobs": 3}, "logprobs"),
    ({"prompt": "a", "model": "/etc/passwd"}, "model"),
    ({"prompt": "a", "model": "../../tiny"}, "model"),
]


@pytest.mark.parametrize("body,param", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_requests_get_400_with_an_openai_error(server, body, param):
    if isinstance(body, bytes):
        r = httpx.post(server.url + "/v1/completions", content=body,
                       headers={"content-type": "application/json"})
    else:
        r = httpx.post(server.url + "/v1/completions", json=body)
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "invalid_request_error" and err["message"]
    assert err["param"] == param


def test_unknown_routes_and_methods_are_openai_errors(server):
    r = httpx.get(server.url + "/v1/completions")
    assert r.status_code == 405 and "error" in r.json()
    r = httpx.get(server.url + "/v1/chat/nothing")
    assert r.status_code == 404 and "error" in r.json()


def _events(lines, k):
    """The next k data events from ``lines`` (a response's iter_lines(): keep it referenced, as
    dropping it closes the connection)."""
    out = []
    for line in lines:
        if line.startswith("data: "):
            out.append(json.loads(line[6:]))
            if len(out) == k:
                return out
    return out


def _wait(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_a_client_that_disconnects_frees_its_rows(server):
    with httpx.stream("POST", server.url + "/v1/completions", json=LONG, timeout=30) as r:
        assert r.status_code == 200
        lines = r.iter_lines()
        assert len(_events(lines, 12)) == 12  # 4 choices x 3 steps: it is denoising
        assert server.health()["running_rows"] == 4
        assert len(_events(lines, 4)) == 4
        assert server.health()["running_rows"] == 4
    assert _wait(lambda: server.health()["running_rows"] == 0)
    passes = server.health()["passes"]
    time.sleep(0.3)
    assert server.health()["passes"] == passes  # nothing runs for the departed client


def test_a_non_streaming_client_that_leaves_frees_its_rows_too(server):
    body = {**LONG, "stream": False}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(server.url + "/v1/completions", json=body, timeout=1.0)
    assert _wait(lambda: server.health()["running_rows"] == 0)


def test_a_full_queue_answers_429(tiny_ckpt):
    s = Server(tiny_ckpt, "--max-pending", "1")
    try:
        with httpx.stream("POST", s.url + "/v1/completions", json=LONG, timeout=30) as r:
            lines = r.iter_lines()
            _events(lines, 1)
            busy = httpx.post(s.url + "/v1/completions", json={"prompt": "a", "max_tokens": 2})
            assert busy.status_code == 429
            assert busy.json()["error"]["code"] == "rate_limit_exceeded"
        assert _wait(lambda: s.health()["running_rows"] == 0)
        ok = httpx.post(s.url + "/v1/completions", json={"prompt": "a", "max_tokens": 2})
        assert ok.status_code == 200
    finally:
        s.close()


def test_the_server_binds_loopback_by_default(server):
    host = server.url.split("//")[1].rsplit(":", 1)[0]
    assert host == "127.0.0.1"
    with socket.create_connection((host, int(server.url.rsplit(":", 1)[1])), timeout=5):
        pass
