"""Tabular data from the datasets bundled inside scikit-learn, one token per column.

For the learned-order experiment (Garg et al., arXiv 2511.19152, evaluate on six tables; their
"Default" credit table and the other five are not available offline, so we use the tables that
ship with scikit-learn and load with no download): ``iris``, ``wine``, ``breast_cancer``,
``digits``, ``diabetes``.  Each row becomes a sequence of ``L = n_features + 1`` tokens (the
target is the last column).  A column with at most ``n_bins`` distinct values keeps them as
categories; any other is cut into ``n_bins`` quantile bins whose edges are fitted on the training
split only.  Splits are seeded: 70 % train, 15 % validation (``DataBundle.valid``), 15 % test
(``DataBundle.val``, what the trainer scores), as for the other verified tasks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from mdm.errors import DataError, DependencyError
from mdm.tasks.base import DataBundle, TensorItems, register_task
from mdm.tasks.exact import language_alphabet
from mdm.tokenizers import CharTokenizer

__all__ = ["TABLES", "Table", "load_table", "table_task"]

TABLES = ("iris", "wine", "breast_cancer", "digits", "diabetes")


@dataclass
class Table:
    """Token splits ``[N, L]`` of one table; ``n_values[c]`` tokens are used by column ``c``."""

    name: str
    train: torch.Tensor
    valid: torch.Tensor
    test: torch.Tensor
    n_values: list[int]

    @property
    def vocab(self) -> int:
        return max(self.n_values)


def _raw(name: str) -> np.ndarray:
    try:
        from sklearn import datasets
    except ImportError as e:  # pragma: no cover - scikit-learn is a declared extra
        raise DependencyError("the table task needs scikit-learn: pip install 'mdm[tables]'") from e
    if name not in TABLES:
        raise DataError(f"unknown table {name!r}; the bundled ones are {', '.join(TABLES)}")
    bunch = getattr(datasets, f"load_{name}")()
    return np.column_stack([bunch.data, bunch.target]).astype(np.float64)


def _tokenize_column(train: np.ndarray, other: list[np.ndarray], n_bins: int) -> tuple[list[np.ndarray], int]:
    values = np.unique(train)
    if len(values) <= n_bins:  # categorical: its own values (unseen ones go to the nearest)
        return [np.clip(np.searchsorted(values, c), 0, len(values) - 1) for c in [train, *other]], len(values)
    edges = np.unique(np.quantile(train, np.linspace(0, 1, n_bins + 1)[1:-1]))
    return [np.searchsorted(edges, c, side="right") for c in [train, *other]], len(edges) + 1


def load_table(name: str, *, n_bins: int = 8, seed: int = 0) -> Table:
    """The table ``name`` as token splits (module docstring)."""
    if not isinstance(n_bins, int) or n_bins < 2:
        raise DataError(f"n_bins must be an int >= 2, got {n_bins!r}")
    data = _raw(name)
    order = np.random.default_rng(seed).permutation(len(data))
    n_train, n_valid = int(0.7 * len(data)), int(0.15 * len(data))
    parts = [data[order[:n_train]], data[order[n_train:n_train + n_valid]], data[order[n_train + n_valid:]]]
    cols, n_values = [], []
    target = data[:, -1]
    classes = int(len(np.unique(target))) if np.all(target == np.round(target)) else 0
    for c in range(data.shape[1]):
        bins = max(n_bins, classes) if c == data.shape[1] - 1 else n_bins  # class labels stay whole
        toks, k = _tokenize_column(parts[0][:, c], [parts[1][:, c], parts[2][:, c]], bins)
        cols.append(toks)
        n_values.append(k)
    splits = [torch.from_numpy(np.stack([col[i] for col in cols], axis=1).astype(np.int64)) for i in range(3)]
    return Table(name, *splits, n_values=n_values)


@register_task("table")
def table_task(*, seq_len: int, seed: int = 0, table: str = "iris", n_bins: int = 8,
               split_seed: int = 0) -> DataBundle:
    """Rows of the bundled table ``table``; ``seq_len`` must equal its number of columns."""
    name = table
    table = load_table(name, n_bins=n_bins, seed=split_seed)
    if seq_len != table.train.shape[1]:
        raise DataError(f"table {name!r} has {table.train.shape[1]} columns: set data.seq_len to that")
    return DataBundle(train=TensorItems(table.train), val=TensorItems(table.test),
                      valid=TensorItems(table.valid), tokenizer=CharTokenizer(language_alphabet(table.vocab)),
                      seq_len=seq_len)
