import os

import pytest
import torch

# One torch thread: tiny tensors dominate the suite, and intra-op threads only add overhead (and stall
# badly when the 2 cores are oversubscribed). MDM_TEST_THREADS overrides.
torch.set_num_threads(int(os.environ.get("MDM_TEST_THREADS", "1")))
os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip_gpu = pytest.mark.skip(reason="needs a CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip_gpu)
