"""Char, byte and BPE tokenizers through the app (in process): the streamed text deltas add up to
the answer, and the step events carry each revealed token's text piece for the page."""

import json

import pytest
from serve_support import make_tokenizer, tiny_checkpoint
from starlette.testclient import TestClient

import mdm
from mdm.serve import create_app


@pytest.mark.parametrize("kind", ["char", "byte", "bpe"])
def test_stream_adds_up_and_names_pieces(kind, tmp_path):
    model, tok = mdm.load(tiny_checkpoint(tmp_path / kind, make_tokenizer(kind)))
    body = {"prompt": "in the héginning" if kind != "char" else "in the beginning", "max_tokens": 12,
            "temperature": 1.0, "seed": 4, "mdm": {"unmasker": "topk:k=2"}}
    with TestClient(create_app(model.eval(), tok, model_id=kind)) as client:
        whole = client.post("/v1/completions", json=body).json()
        with client.stream("POST", "/v1/completions", json={**body, "stream": True}) as r:
            chunks = [json.loads(x[6:]) for x in r.iter_lines() if x.startswith("data: {")]
    assert "".join(c["choices"][0]["text"] for c in chunks) == whole["choices"][0]["text"]
    steps = [c["mdm"] for c in chunks]
    assert len(steps[0]["prompt"]) == len(tok.encode(body["prompt"]))
    revealed = [r for s in steps for r in s["revealed"]]
    assert sorted(pos for pos, _, _ in revealed) == list(range(12))
    assert all(piece == tok.decode([t], skip_special=False) for _, t, piece in revealed)
    if kind != "byte":  # a byte piece can be half a UTF-8 character; char and BPE pieces are whole
        assert "".join(steps[0]["prompt"]) == body["prompt"]
