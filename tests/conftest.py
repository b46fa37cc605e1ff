import os

import pytest
import torch

# Deterministic, quiet defaults for the whole suite; CI has 2 cores.
torch.set_num_threads(int(os.environ.get("MDM_TEST_THREADS", "2")))
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
