import pytest


@pytest.fixture(scope="session")
def eb_quick(tmp_path_factory):
    """``(out_dir, result)`` of ``mdm exp eb-sampler --preset quick``, run once per test session: its
    two tiny models (trained here), cached parts and report are shared by every test that reads them."""
    from mdm.experiments import eb_sampler

    out = tmp_path_factory.mktemp("eb-quick")
    return out, eb_sampler.run("quick", out, seed=0, progress=False)
