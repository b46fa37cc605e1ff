"""The page at `/` in a real headless Chromium (Debian's `chromium`, driven by Playwright's Python
API; no browser download): submit a prompt, watch the canvas fill, compare with the API -- for a
char, a byte and a BPE (GPT-2) tokenizer."""

import importlib.util
import os
from pathlib import Path

import httpx
import pytest
from serve_support import CHROMIUM, Server, denoise_in_browser, make_tokenizer, tiny_checkpoint

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).exists() or importlib.util.find_spec("playwright") is None:
        why = f"needs {CHROMIUM} (apt-get install chromium) and the playwright package"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {why}")  # .ci/run installs both
        pytest.skip(why)


@pytest.fixture(scope="module", params=["char", "byte", "bpe"])
def kind_server(request, server, tmp_path_factory):
    if request.param == "char":
        yield server
        return
    ckpt = tiny_checkpoint(tmp_path_factory.mktemp("browser") / request.param, make_tokenizer(request.param))
    s = Server(ckpt)
    yield s
    s.close()


def test_the_page_fills_the_canvas_and_shows_the_api_answer(kind_server, chromium, tmp_path):
    shot = tmp_path / "serve-page.png"
    shown = denoise_in_browser(kind_server.url, shot, prompt="in the beginning", max_tokens=28, unmasker="eb",
                               options="gamma=0.5", temperature=0.0, seed=7)
    assert shown["state"] == "done", shown
    assert shown["length"] == 28 and shown["revealed"] == 28 and shown["masked_cells"] == []
    api = httpx.post(kind_server.url + "/v1/completions", timeout=60, json={
        "prompt": "in the beginning", "max_tokens": 28, "temperature": 0.0, "seed": 7,
        "mdm": {"unmasker": "eb:gamma=0.5"}}).json()
    assert shown["text"] == api["choices"][0]["text"]
    assert shown["nfe"] == api["mdm"]["nfe"][0] and shown["steps"] == api["mdm"]["steps"]
    assert shot.stat().st_size > 10_000  # a real screenshot, saved under the test's tmp dir
