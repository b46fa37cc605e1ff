"""Session fixtures: the tiny local HF models of tiny_hf, saved once per run."""

import pytest
from tiny_hf import save_custom, save_masked_lm


@pytest.fixture(scope="session")
def masked_lm_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf-mlm")
    return {arch: save_masked_lm(arch, root) for arch in ("bert", "roberta", "modernbert")}


@pytest.fixture(scope="session")
def custom_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("hf-custom")
    return {"llada": save_custom(root, "llada", 0), "dream": save_custom(root, "Dream", 1)}
