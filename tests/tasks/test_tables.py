"""Bundled scikit-learn tables as token rows; fidelity metrics on them."""

from __future__ import annotations

import pytest
import torch

from mdm.errors import MDMError
from mdm.eval.tabular import association_error, cramers_v, marginal_tv
from mdm.tasks.base import build_task
from mdm.tasks.tables import TABLES, load_table


@pytest.mark.parametrize("name", TABLES)
def test_tables_load_as_tokens(name):
    t = load_table(name, n_bins=8, seed=0)
    n = t.train.shape[0] + t.valid.shape[0] + t.test.shape[0]
    assert t.train.shape[1] == t.test.shape[1] == len(t.n_values)
    assert abs(t.train.shape[0] / n - 0.7) < 0.02
    for split in (t.train, t.valid, t.test):
        assert (split >= 0).all() and (split < torch.tensor(t.n_values)).all()
    # quantile bins are fitted on train: binned columns there are roughly balanced
    binned = [c for c, k in enumerate(t.n_values) if k == 8]
    if binned:
        c = binned[0]
        counts = torch.bincount(t.train[:, c], minlength=8).double() / t.train.shape[0]
        assert counts.max() < 0.5


def test_digits_keeps_its_ten_classes():
    assert load_table("digits").n_values[-1] == 10


def test_task_checks_its_options():
    bundle = build_task("table", seq_len=5, table="iris")
    assert bundle.valid is not None and bundle.train.input_ids.shape[1] == 5
    with pytest.raises(MDMError, match="columns"):
        build_task("table", seq_len=6, table="iris")
    with pytest.raises(MDMError, match="unknown table"):
        build_task("table", seq_len=5, table="adult")


def test_fidelity_metrics_on_known_cases():
    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 4, (4000,), generator=g)
    b = torch.randint(0, 4, (4000,), generator=g)
    assert abs(cramers_v(a, a) - 1.0) < 1e-9 and cramers_v(a, b) < 0.05
    x = torch.stack([a, a, b], 1)
    y = torch.stack([a, b, b], 1)
    assert marginal_tv(x, x) == 0.0 and association_error(x, x) == 0.0
    assert association_error(x, y) > 0.3  # the first pair lost its perfect association
    assert marginal_tv(x, torch.zeros_like(x)) > 0.7
    with pytest.raises(MDMError):
        marginal_tv(x, y[:, :2])
