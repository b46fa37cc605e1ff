"""Shared by tests/serve and the benchmark: a tiny checkpoint and a real `mdm serve` process."""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import torch

from mdm.models.transformer import TransformerConfig, TransformerDenoiser
from mdm.tokenizers import CharTokenizer
from mdm.train import checkpoint

ALPHABET = "abcdefghijklmnopqrstuvwxyz ,.\n"
MAX_LEN = 48


def tiny_checkpoint(path: Path, tokenizer=None) -> Path:
    """A 2-layer transformer over ``tokenizer`` (default: chars of ALPHABET), weights drawn wide so
    that its logits do not tie (an untrained model's near-uniform ones would); saved with the
    checkpoint code."""
    tok = CharTokenizer(ALPHABET) if tokenizer is None else tokenizer
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=tok.vocab_size, mask_id=tok.mask_id, d_model=32, n_layers=2, n_heads=4,
                            max_len=MAX_LEN)
    model = TransformerDenoiser(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.5)
    return checkpoint.save(path, model, tok)


def make_tokenizer(kind: str):
    """``char`` (ALPHABET), ``byte`` or ``bpe`` (GPT-2)."""
    from mdm.tokenizers import ByteTokenizer, GPT2Tokenizer

    return {"char": lambda: CharTokenizer(ALPHABET), "byte": ByteTokenizer, "bpe": GPT2Tokenizer}[kind]()


class Server:
    """`mdm serve CKPT --port 0 ARGS` in a subprocess; ``url`` once it listens."""

    def __init__(self, ckpt: Path, *args: str, timeout: float = 60.0):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        argv = [sys.executable, "-m", "mdm.cli", "serve", str(ckpt), "--port", "0", *args]
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 -- a file, not a pipe that could fill
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log, text=True, env=env)
        line = self.proc.stdout.readline()
        if not line.startswith("mdm serve: http://"):
            self.close()
            raise RuntimeError(f"mdm serve did not start: {line!r} {self.stderr()[-2000:]}")
        self.url = line.split()[2].rstrip("/")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        self.close()
        raise RuntimeError("mdm serve never answered /health")

    def stderr(self) -> str:
        self.log.seek(0)
        return self.log.read()

    def health(self) -> dict:
        return httpx.get(self.url + "/health", timeout=5).json()

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def denoise_in_browser(url: str, screenshot: Path, *, prompt: str, max_tokens: int, unmasker: str,
                       options: str = "", steps: str = "", temperature: float = 0.0, seed: int = 0,
                       stop: str = "", timeout_ms: int = 60_000) -> dict:
    """Open the page at ``url`` in headless Chromium (Debian's, through Playwright), submit a
    prompt, wait until the stream is done, save a screenshot; returns what the page shows."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 980, "height": 560})
            page.goto(url + "/", timeout=timeout_ms)
            page.wait_for_function("document.getElementById('unmasker').options.length > 0",
                                   timeout=timeout_ms)
            page.fill("#prompt", prompt)
            page.select_option("#unmasker", unmasker)
            page.fill("#options", options)
            page.fill("#steps", steps)
            page.fill("#max_tokens", str(max_tokens))
            page.fill("#temperature", str(temperature))
            page.fill("#seed", str(seed))
            page.fill("#stop", stop)
            page.click("#go")
            page.wait_for_selector("#status[data-state=done], #status[data-state=error]", timeout=timeout_ms)
            shown = page.evaluate("""() => {
                const s = window.mdmState, c = document.getElementById('canvas');
                const ctx = c.getContext('2d'), masked = [];
                const n = s.prompt.length;  // read the canvas itself: a masked cell is dark slate
                s.cells.forEach((_, j) => {
                    const i = n + j, x = 2 + (i % 34) * 26 + 4, y = 2 + Math.floor(i / 34) * 30 + 4;
                    const [r, g, b] = ctx.getImageData(x, y, 1, 1).data;
                    if (r === 51 && g === 65 && b === 85) masked.push(j);
                });
                return {state: document.getElementById('status').dataset.state, length: s.length,
                        revealed: s.revealed, text: document.getElementById('text').textContent,
                        nfe: s.nfe, steps: s.step, masked_cells: masked,
                        stats: ['step', 'nfe', 'tps', 'wall'].map(
                            id => document.getElementById(id).textContent)};
            }""")
            page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return shown
