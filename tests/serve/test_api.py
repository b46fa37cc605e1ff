"""The OpenAI schema, checked with the official `openai` client against a real `mdm serve` process,
and the outputs: each request's text and NFE equal mdm.sample's for it alone with the same seed,
also when several requests of different lengths and samplers are denoised in the same passes."""

import threading

import httpx
import pytest
import torch

import mdm
from mdm.sampling import from_spec

openai = pytest.importorskip("openai")


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def offline(tiny_ckpt):
    model, tok = mdm.load(tiny_ckpt)
    return model.eval(), tok


def expected(offline, prompt: str, *, max_tokens: int, unmasker="topk", temperature=1.0, seed=0, n=1,
             stop=None, block_size=None):
    """(texts, nfe, finish reasons) of mdm.sample for this request alone, cut before the first stop
    like OpenAI."""
    model, tok = offline
    ids = tok.encode(prompt)
    stops = [tok.encode(s) for s in stop] if stop else None
    out = mdm.sample(model, batch_size=n, length=max_tokens, prompt=torch.tensor(ids) if ids else None,
                     unmasker=from_spec(unmasker, length=max_tokens), temperature=temperature, seed=seed,
                     stop=stops, pad_id=tok.pad_id, block_size=block_size)
    texts, reasons = [], []
    for row in out.tokens[:, len(ids):].tolist():
        cut = len(row)
        for s in stops or []:
            for i in range(len(row) - len(s) + 1):
                if row[i:i + len(s)] == s:
                    cut = min(cut, i)
                    break
        texts.append(tok.decode(row[:cut]))
        reasons.append("stop" if cut < len(row) else "length")
    return texts, out.nfe.tolist(), reasons


def test_models_and_health(client, server):
    models = client.models.list()
    assert [m.id for m in models.data] == ["tiny"]
    card = httpx.get(server.url + "/v1/models").json()["data"][0]
    assert card["mdm"]["max_len"] == 48 and "eb" in [u["name"] for u in card["mdm"]["unmaskers"]]
    health = server.health()
    assert health["status"] == "ok" and health["model"] == "tiny"


def test_completion_through_the_openai_client_equals_mdm_sample(client, offline):
    res = client.completions.create(model="tiny", prompt="in the beginning", max_tokens=12, temperature=0.0,
                                    seed=3, extra_body={"mdm": {"unmasker": "eb:gamma=0.5"}})
    texts, nfe, _ = expected(offline, "in the beginning", max_tokens=12, unmasker="eb:gamma=0.5",
                             temperature=0.0, seed=3)
    assert res.object == "text_completion" and res.model == "tiny"
    assert [c.text for c in res.choices] == texts
    assert res.choices[0].finish_reason == "length" and res.choices[0].index == 0
    assert res.usage.prompt_tokens == len("in the beginning") and res.usage.completion_tokens == 12
    assert res.model_extra["mdm"]["nfe"] == nfe


def test_n_choices_stop_and_several_prompts(client, offline):
    res = client.completions.create(model="tiny", prompt=["and god", "the"], max_tokens=20, temperature=1.0,
                                    n=3, seed=11, stop=["y", "vk"])
    assert [c.index for c in res.choices] == list(range(6))
    for k, prompt in enumerate(["and god", "the"]):
        texts, _, reasons = expected(offline, prompt, max_tokens=20, temperature=1.0, seed=11, n=3,
                                     stop=["y", "vk"])
        assert [c.text for c in res.choices[3 * k:3 * k + 3]] == texts
        assert [c.finish_reason for c in res.choices[3 * k:3 * k + 3]] == reasons
    assert "stop" in [c.finish_reason for c in res.choices]
    for c in res.choices:
        assert "y" not in c.text and "vk" not in c.text


def test_streaming_deltas_add_up_to_the_answer(client, offline):
    kw = dict(model="tiny", prompt="let there be", max_tokens=16, temperature=0.0, seed=0, stop=["x"],
              extra_body={"mdm": {"unmasker": "topk:k=2"}})
    whole = client.completions.create(**kw)
    chunks = list(client.completions.create(stream=True, **kw))
    assert "".join(c.choices[0].text for c in chunks) == whole.choices[0].text
    steps = [c.model_extra["mdm"] for c in chunks]
    assert steps[0]["step"] == 0 and steps[0]["length"] == 16
    assert "".join(steps[0]["prompt"]) == "let there be"
    assert [s["step"] for s in steps] == list(range(len(steps)))
    revealed = [pos for s in steps for pos, _, _ in s["revealed"]]
    assert sorted(revealed) == list(range(16))  # every position revealed exactly once
    assert steps[-1]["nfe"] == whole.model_extra["mdm"]["nfe"][0]
    assert chunks[-1].choices[0].finish_reason == whole.choices[0].finish_reason


def test_stream_usage_chunk(server):
    body = {"prompt": "a", "max_tokens": 4, "stream": True, "stream_options": {"include_usage": True}}
    with httpx.stream("POST", server.url + "/v1/completions", json=body, timeout=30) as r:
        lines = [x for x in r.iter_lines() if x.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    import json

    usage = json.loads(lines[-2][6:])
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 4


REQUESTS = [  # different prompts, lengths, samplers, temperatures, seeds, stops
    dict(prompt="in the beginning", max_tokens=30, unmasker="topk", temperature=0.0, seed=1),
    dict(prompt="and", max_tokens=44, unmasker="eb:gamma=0.3", temperature=1.0, seed=2),
    dict(prompt="the earth was without form", max_tokens=20, unmasker="scheduled:steps=10", temperature=0.8,
         seed=3, n=2),
    dict(prompt="", max_tokens=36, unmasker="ancestral:steps=18", temperature=1.0, seed=4),
    dict(prompt="god said", max_tokens=32, unmasker="threshold:tau=0.2", temperature=1.0, seed=5, stop=["q"],
         block_size=8),
    dict(prompt="light", max_tokens=24, unmasker="topk:k=3", temperature=0.5, seed=6, n=3),
]


def test_concurrent_requests_share_passes_and_equal_mdm_sample_alone(server, offline):
    before = server.health()["passes"]
    results, barrier = [None] * len(REQUESTS), threading.Barrier(len(REQUESTS))

    def go(i):
        kw = dict(REQUESTS[i])
        body = {k: kw.pop(k) for k in ("prompt", "max_tokens", "temperature", "seed")}
        body.update({"n": kw.pop("n", 1), "mdm": {"unmasker": kw.pop("unmasker")}})
        if "stop" in kw:
            body["stop"] = kw.pop("stop")
        if "block_size" in kw:
            body["mdm"]["block_size"] = kw.pop("block_size")
        barrier.wait()
        results[i] = httpx.post(server.url + "/v1/completions", json=body, timeout=120).json()

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(REQUESTS))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    steps = 0
    for kw, res in zip(REQUESTS, results):
        texts, nfe, _ = expected(offline, **kw)
        assert [c["text"] for c in res["choices"]] == texts, kw
        assert res["mdm"]["nfe"] == nfe, kw
        steps += res["mdm"]["steps"]
    passes = server.health()["passes"] - before
    assert passes < steps  # requests were denoised in shared forward passes
