import pytest


@pytest.fixture(scope="session")
def eb_quick(tmp_path_factory):
    """``(out_dir, result)`` of ``mdm exp eb-sampler --preset quick``, run once per test session: its
    tiny models (trained here), cached parts and report are shared by every test that reads them."""
    from mdm import experiments

    out = tmp_path_factory.mktemp("eb-quick")
    return out, experiments.run("eb-sampler", "quick", out, seed=0)
