"""The one inference engine behind :class:`NGram` and :class:`HMM`: a sparse finite-state chain.

A chain has ``S`` hidden states, an initial distribution ``pi``, transitions ``A`` and emissions
``E``: ``p(x) = sum_s pi(s_0) E(s_0, x_0) prod_t A(s_{t-1}, s_t) E(s_t, x_t)``.  An n-gram is the
special case of context states with deterministic emissions.

Inference is forward-backward (Rabiner 1989) in log space, float64, vectorised over the batch and
the states, looping over positions.  A masked position emits with likelihood 1 (log-emission
0), so ``alpha_t(s) + beta_t(s) = log p(s_t = s, clean positions)`` and

    log p(x_t = v, clean) = logsumexp_s [ alpha_t(s) + beta_t(s) + log E(s, v) ]

at every masked ``t``; normalised over ``v`` it is the exact conditional.

Every step above is a *log-linear map* ``y = log(exp(x) @ M)`` for a non-negative matrix ``M``
(``A``, ``A^T`` or ``E``), computed by :class:`LogLinearMap`.  Cost of one denoiser call:
``L`` maps of ``B x S`` rows each way (dense matmul for small ``S``, CSR beyond), and
``L * B * S`` float64 of memory for the stored forward variables.
"""

from __future__ import annotations

import warnings

import torch

from mdm.languages.base import NEG_INF, Language, check_sample_args, gumbel_argmax

__all__ = ["LogLinearMap", "SparseChain", "edge_lists"]

# exp(-300) ~ 5e-131: products of two such factors stay normal float64 numbers (> 2.2e-308).
_SAFE = 300.0
_TINY = torch.finfo(torch.float64).tiny


def edge_lists(rows: torch.Tensor, cols: torch.Tensor, logw: torch.Tensor, n_rows: int):
    """Group finite-weight edges ``rows[e] -> cols[e]`` by row into padded ``[n_rows, D]`` lists.

    Returns ``(idx, logw)``; padding has index 0 and weight -inf.  ``D`` is the largest row degree.
    """
    keep = torch.isfinite(logw)
    rows, cols, logw = rows[keep], cols[keep], logw[keep]
    order = torch.argsort(rows, stable=True)
    rows, cols, logw = rows[order], cols[order], logw[order]
    degree = torch.bincount(rows, minlength=n_rows)
    width = max(int(degree.max()) if degree.numel() else 0, 1)
    start = torch.cumsum(degree, 0) - degree
    slot = torch.arange(rows.numel()) - start[rows]
    idx = torch.zeros(n_rows, width, dtype=torch.long)
    w = torch.full((n_rows, width), NEG_INF, dtype=torch.float64)
    idx[rows, slot] = cols
    w[rows, slot] = logw
    return idx, w


class LogLinearMap:
    """``x [B, n_in] -> log(exp(x) @ M) [B, n_out]`` exactly, for ``M >= 0`` given by its entries
    ``M[rows[e], cols[e]] = exp(logw[e])``.

    Fast path: shift each row by its max, one (dense or CSR) matmul in linear space.  That is
    exact unless some input is below ``max - 300`` (its product with small weights could
    underflow): those rows are recomputed with ``logsumexp`` over the padded edge lists, so tiny
    but possible paths are never rounded to impossible.  Maps with weights below exp(-300) always
    take the exact path.
    """

    def __init__(self, rows, cols, logw, n_in: int, n_out: int):
        logw = logw.to(torch.float64)
        self.n_in, self.n_out = n_in, n_out
        self.idx, self.w = edge_lists(cols, rows, logw, n_out)  # inputs feeding each output
        finite = torch.isfinite(logw)
        self.exact_only = bool((logw[finite] < -_SAFE).any())
        mt = torch.zeros(n_out, n_in, dtype=torch.float64)  # M^T, so that y^T = M^T @ x^T
        mt.index_put_((cols[finite], rows[finite]), logw[finite].exp(), accumulate=True)
        nnz = int(finite.sum())
        if n_in * n_out > 1 << 16 and nnz * 8 < n_in * n_out:
            with warnings.catch_warnings():  # CSR support is labelled beta in torch
                warnings.simplefilter("ignore", UserWarning)
                mt = mt.to_sparse_csr()
        self.mt = mt
        self._cache: dict[torch.device, LogLinearMap] = {}

    def to(self, device) -> LogLinearMap:
        device = torch.device(device)
        if device == self.mt.device:
            return self
        if device not in self._cache:
            other = object.__new__(LogLinearMap)
            other.__dict__.update(self.__dict__)
            other.idx, other.w, other.mt = self.idx.to(device), self.w.to(device), self.mt.to(device)
            other._cache = {}
            self._cache[device] = other
        return self._cache[device]

    def exact(self, x: torch.Tensor) -> torch.Tensor:
        return torch.logsumexp(x[:, self.idx] + self.w, dim=-1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.exact_only:
            return self.exact(x)
        top = x.amax(dim=-1, keepdim=True)
        top = torch.where(torch.isfinite(top), top, 0.0)  # all -inf rows stay -inf below
        y = (self.mt @ (x - top).exp().T).T
        # log(0) takes a slow special-value path on CPU: take logs of normal numbers, then fill.
        y = y.clamp_min(_TINY).log_().masked_fill_(y == 0, NEG_INF) + top
        risky = ((x < top - _SAFE) & (x > NEG_INF)).any(dim=-1)
        if risky.any():
            y[risky] = self.exact(x[risky])
        return y


class SparseChain:
    """Exact inference and sampling for a finite-state chain with sparse edges.

    ``log_init [S]``, ``log_emit [S, V]`` and the transitions as edges ``src -> dst`` with log
    weights (-inf edges are dropped).  CPU float64 tensors; per-device copies are made on use.
    """

    def __init__(self, log_init, src, dst, log_trans, log_emit):
        self.n_states, self.vocab_size = log_emit.shape
        s, v = self.n_states, self.vocab_size
        self.log_init = log_init.to(torch.float64)
        self.log_emit = log_emit.to(torch.float64)
        self.forward_map = LogLinearMap(src, dst, log_trans, s, s)
        self.backward_map = LogLinearMap(dst, src, log_trans, s, s)
        state = torch.arange(s).repeat_interleave(v)
        self.emit_map = LogLinearMap(state, torch.arange(v).repeat(s), self.log_emit.reshape(-1), s, v)
        self.succ_idx, self.succ_w = edge_lists(src, dst, log_trans, s)  # for sampling
        # Log-emission per token id, with a zero row for the mask token (emits with prob 1).
        self.emit_table = torch.cat([self.log_emit.T, torch.zeros(1, s, dtype=torch.float64)])
        self._tables: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def _on(self, device):
        device = torch.device(device)
        if device not in self._tables:
            self._tables[device] = (self.log_init.to(device), self.emit_table.to(device))
        log_init, emit_table = self._tables[device]
        return log_init, emit_table, self.forward_map.to(device), self.backward_map.to(device)

    def _forward(self, x: torch.Tensor, keep: bool = True) -> torch.Tensor:
        """``alpha [L, B, S]`` (only the last ``[B, S]`` unless ``keep``): ``log p(s_t = s,
        evidence at positions <= t)``.  ``x`` may hold the mask id ``V`` (no evidence)."""
        log_init, emit_table, fwd, _ = self._on(x.device)
        a = log_init + emit_table[x[:, 0]]
        alpha = torch.empty(x.shape[1], *a.shape, dtype=a.dtype, device=a.device) if keep else None
        for i in range(x.shape[1]):
            if i:
                a = fwd(a) + emit_table[x[:, i]]
            if keep:
                alpha[i] = a
        return alpha if keep else a

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x)`` for clean tokens ``x [B, L]`` (forward algorithm)."""
        return torch.logsumexp(self._forward(x, keep=False), dim=-1)

    def log_joint_masked(self, x: torch.Tensor, mask_id: int, chunk: int = 1 << 16) -> torch.Tensor:
        """``[B, L, V]``: ``log p(x_t = v, clean positions)`` at masked ``t`` (-inf elsewhere)."""
        _, emit_table, _, bwd = self._on(x.device)
        masked = x == mask_id
        x = torch.where(masked, self.vocab_size, x)
        gamma = self._forward(x)  # becomes alpha + beta in place, position by position
        beta = torch.zeros_like(gamma[0])
        for i in range(x.shape[1] - 2, -1, -1):
            beta = bwd(beta + emit_table[x[:, i + 1]])
            gamma[i] += beta
        out = torch.full((*x.shape, self.vocab_size), NEG_INF, dtype=torch.float64, device=x.device)
        b, t = masked.nonzero(as_tuple=True)
        emit = self.emit_map.to(x.device)
        for lo in range(0, b.numel(), chunk):
            bb, tt = b[lo:lo + chunk], t[lo:lo + chunk]
            out[bb, tt] = emit(gamma[tt, bb])
        return out

    def state_marginals(self, length: int) -> torch.Tensor:
        """``[length, S]``: ``P(s_t = s)``, by propagating the initial distribution."""
        mu = torch.empty(length, self.n_states, dtype=torch.float64)
        mu[0] = self.log_init.exp()
        for i in range(1, length):
            mu[i] = self.forward_map(mu[i - 1].log().unsqueeze(0)).exp().squeeze(0)
        return mu

    def sample(self, n: int, length: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Ancestral draw of ``n`` token sequences ``[n, length]`` (states, then emissions)."""
        state = gumbel_argmax(self.log_init.expand(n, -1), generator)
        out = torch.empty(n, length, dtype=torch.long)
        for i in range(length):
            out[:, i] = gumbel_argmax(self.log_emit[state], generator)
            if i + 1 < length:
                state = self.succ_idx[state, gumbel_argmax(self.succ_w[state], generator)]
        return out


class ChainLanguage(Language):
    """A language whose law is a :class:`SparseChain` (``self.chain``): sampling, ``log_prob`` and
    the exact masked marginals all come from the one forward-backward engine."""

    chain: SparseChain

    def sample(self, n: int, length: int, generator: torch.Generator | None = None) -> torch.Tensor:
        check_sample_args(n, length)
        return self.chain.sample(n, length, generator)

    def _log_prob(self, x: torch.Tensor) -> torch.Tensor:
        return self.chain.log_prob(x)

    def _log_joint_masked(self, x: torch.Tensor) -> torch.Tensor:
        return self.chain.log_joint_masked(x, self.mask_id)
