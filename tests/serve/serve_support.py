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


def tiny_checkpoint(path: Path) -> Path:
    """A 2-layer transformer over a char tokenizer, weights drawn wide so that its logits do not
    tie (an untrained model's near-uniform ones would); saved with the checkpoint code."""
    tok = CharTokenizer(ALPHABET)
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=tok.vocab_size, mask_id=tok.mask_id, d_model=32, n_layers=2, n_heads=4,
                            max_len=MAX_LEN)
    model = TransformerDenoiser(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.5)
    return checkpoint.save(path, model, tok)


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
