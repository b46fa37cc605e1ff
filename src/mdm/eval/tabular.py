"""Fidelity of sampled table rows against held-out rows (tokens, one per column).

Beside a NELBO, so that a lower NELBO that samples worse is visible (the learned-order paper,
Garg et al. arXiv 2511.19152, reports fidelity next to its validation loss):

* :func:`marginal_tv` -- per column, the total variation between the token frequencies of the
  samples and of the reference rows, averaged over columns;
* :func:`association_error` -- per column pair, ``|V_samples - V_reference|`` of Cramer's V (the
  chi-square association of two categorical columns, in [0, 1]), averaged over pairs.
"""

from __future__ import annotations

import itertools

import torch

from mdm.errors import DataError

__all__ = ["marginal_tv", "cramers_v", "association_error"]


def _check(samples: torch.Tensor, reference: torch.Tensor) -> None:
    for name, x in (("samples", samples), ("reference", reference)):
        if not isinstance(x, torch.Tensor) or x.dtype != torch.long or x.dim() != 2 or x.shape[0] == 0:
            raise DataError(f"{name} must be a non-empty long tensor [N, L] of tokens")
    if samples.shape[1] != reference.shape[1]:
        raise DataError(f"samples have {samples.shape[1]} columns, reference {reference.shape[1]}")


def marginal_tv(samples: torch.Tensor, reference: torch.Tensor) -> float:
    """Mean over columns of ``0.5 * sum_v |p_samples(v) - p_reference(v)|``."""
    _check(samples, reference)
    size = int(max(samples.max(), reference.max())) + 1
    tvs = []
    for c in range(samples.shape[1]):
        p = torch.bincount(samples[:, c], minlength=size).double() / samples.shape[0]
        q = torch.bincount(reference[:, c], minlength=size).double() / reference.shape[0]
        tvs.append(0.5 * float((p - q).abs().sum()))
    return sum(tvs) / len(tvs)


def cramers_v(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cramer's V of two token columns (0 when either is constant)."""
    ka, kb = int(a.max()) + 1, int(b.max()) + 1
    table = torch.zeros(ka, kb, dtype=torch.float64)
    table.index_put_((a, b), torch.ones(a.shape[0], dtype=torch.float64), accumulate=True)
    table = table[table.sum(1) > 0][:, table.sum(0) > 0]
    r, k = table.shape
    if min(r, k) < 2:
        return 0.0
    n = table.sum()
    expected = table.sum(1, keepdim=True) * table.sum(0, keepdim=True) / n
    chi2 = float(((table - expected) ** 2 / expected).sum())
    return (chi2 / (float(n) * (min(r, k) - 1))) ** 0.5


def association_error(samples: torch.Tensor, reference: torch.Tensor, max_pairs: int = 400) -> float:
    """Mean over column pairs of ``|V_samples - V_reference|`` (Cramer's V); for wide tables an
    evenly strided subset of at most ``max_pairs`` pairs."""
    _check(samples, reference)
    pairs = list(itertools.combinations(range(samples.shape[1]), 2))
    pairs = pairs[:: -(-len(pairs) // max_pairs)] if pairs else pairs
    if not pairs:
        return 0.0
    errs = [abs(cramers_v(samples[:, i], samples[:, j]) - cramers_v(reference[:, i], reference[:, j]))
            for i, j in pairs]
    return sum(errs) / len(errs)
