"""Fixtures of tests/serve: a tiny checkpoint and a real `mdm serve` process on a free loopback port."""

from pathlib import Path

import pytest
from serve_support import Server, tiny_checkpoint


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory) -> Path:
    return tiny_checkpoint(tmp_path_factory.mktemp("serve") / "tiny")


@pytest.fixture(scope="session")
def server(tiny_ckpt):
    s = Server(tiny_ckpt, "--max-pending", "64")
    yield s
    s.close()
