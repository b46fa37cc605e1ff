"""The one inference engine behind :class:`NGram` and :class:`HMM`: a sparse finite-state chain.

A chain has ``S`` hidden states, an initial distribution ``pi``, transitions ``A`` and emissions
``E``: ``p(x) = sum_s pi(s_0) E(s_0, x_0) prod_t A(s_{t-1}, s_t) E(s_t, x_t)``.  An n-gram is the
special case of context states with deterministic emissions.

Inference is forward-backward (Rabiner 1989), float64, vectorised over the batch and the states,
looping over positions.  A masked position emits with likelihood 1, so
``alpha_t(s) beta_t(s) = p(s_t = s, clean positions)`` and

    p(x_t = v, clean) = sum_s alpha_t(s) beta_t(s) E(s, v)

at every masked ``t``; normalised over ``v`` it is the exact conditional.

Fast path (:meth:`SparseChain.scaled`): Rabiner's *scaled* variables in linear space, each
forward and backward vector divided by its max after every step (the scales are kept in log
space, so ``log p(x)`` is their sum): one (dense or CSR) matmul and one product per position and
direction.  It is exact unless a possible state's scaled value drops below ``exp(-230)`` (then a
product of three such factors could underflow to 0 and a possible path would read as
impossible): those rows, and chains with weights below ``exp(-230)``, are recomputed in log space
(:class:`LogLinearMap`, the reference path), so the answer never depends on which path ran.
"""

from __future__ import annotations

import warnings

import torch

from mdm.languages.base import NEG_INF, Language, check_sample_args, gumbel_argmax

__all__ = ["LogLinearMap", "SparseChain", "edge_lists"]

# exp(-300) ~ 5e-131: products of two such factors stay normal float64 numbers (> 2.2e-308).
_SAFE = 300.0
# The scaled path multiplies three factors (state value, transition, emission) per step.
_LIN_SAFE = 230.0
_LIN_FLOOR = float(torch.tensor(-_LIN_SAFE, dtype=torch.float64).exp())
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


def _right_product(mt: torch.Tensor):
    """``v [B, n_in] -> v @ M`` given ``M^T`` (dense: one contiguous matmul; CSR: ``(M^T v^T)^T``)."""
    if mt.layout == torch.strided:
        m = mt.T.contiguous()
        return lambda v: v @ m
    return lambda v: (mt @ v.T).T


def _too_small(v: torch.Tensor) -> torch.Tensor:
    """``[B]``: rows of scaled vectors ``[L, B, S]`` holding a possible value below ``exp(-230)``."""
    return ((v > 0) & (v < _LIN_FLOOR)).any(-1).any(0)


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
        self._lin: dict[torch.device, tuple] = {}
        weights = torch.cat([self.log_init, log_trans.to(torch.float64), self.log_emit.reshape(-1)])
        self.exact_only = bool((weights[torch.isfinite(weights)] < -_LIN_SAFE).any())

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

    def _linear(self, device):
        """Linear-space tables on ``device``: ``pi [S]``, evidence ``[V + 1, S]`` (a row of ones
        for the mask token) and the maps ``v -> v @ A``, ``v -> v @ A^T``, ``v -> v @ E``."""
        device = torch.device(device)
        if device not in self._lin:
            self._lin[device] = (self.log_init.exp().to(device), self.emit_table.exp().to(device),
                                 *(_right_product(m.to(device).mt)
                                   for m in (self.forward_map, self.backward_map, self.emit_map)))
        return self._lin[device]

    def scaled(self, x: torch.Tensor, posteriors: bool = True):
        """Scaled forward-backward (Rabiner 1989) on ``x [B, L]``; the id ``V`` means no evidence.

        Returns ``(post, log_evidence, risky)``: ``post [L, B, S]`` is ``p(s_t = s, evidence)`` up
        to a positive factor per ``(t, b)`` (None unless ``posteriors``), ``log_evidence [B]`` is
        ``log p(evidence)`` and ``risky [B]`` marks rows this path cannot vouch for (module doc).
        """
        init, ev_table, times_a, times_a_t, _ = self._linear(x.device)
        ev = ev_table[x.T]  # [L, B, S]
        n = x.shape[1]
        fwd, tops = torch.empty_like(ev), torch.empty_like(ev[:, :, :1])
        f = init * ev[0]
        for i in range(n):
            if i:
                f = times_a(f).mul_(ev[i])
            top = torch.amax(f, -1, keepdim=True, out=tops[i]).clamp_min_(_TINY)
            f = torch.div(f, top, out=fwd[i])  # impossible rows (all 0) stay 0 ...
        log_z = tops.log_().sum(0).squeeze(-1) + f.sum(-1).log()  # ... and get log 0 = -inf here
        risky = self.exact_only | _too_small(fwd)
        if not posteriors:
            return None, log_z, risky
        bwd = torch.empty_like(ev)
        bwd[-1] = 1.0
        for i in range(n - 2, -1, -1):
            beta = times_a_t(bwd[i + 1] * ev[i + 1])
            torch.div(beta, beta.amax(-1, keepdim=True).clamp_min_(_TINY), out=bwd[i])
        return fwd.mul_(bwd), log_z, risky | _too_small(bwd)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x)`` for clean tokens ``x [B, L]`` (forward algorithm)."""
        _, log_z, risky = self.scaled(x, posteriors=False)
        if risky.any():
            log_z[risky] = self.log_prob_exact(x[risky])
        return log_z

    def log_joint_masked(self, x: torch.Tensor, mask_id: int, chunk: int = 1 << 16) -> torch.Tensor:
        """``[B, L, V]``: ``log p(x_t = v, clean positions)`` at masked ``t`` (-inf elsewhere), up
        to an additive constant per ``(b, t)`` (callers normalise over ``v``)."""
        masked = x == mask_id
        post, _, risky = self.scaled(torch.where(masked, self.vocab_size, x))
        times_e = self._linear(x.device)[4]
        out = torch.full((*x.shape, self.vocab_size), NEG_INF, dtype=torch.float64, device=x.device)
        b, t = masked.nonzero(as_tuple=True)
        for lo in range(0, b.numel(), chunk):
            bb, tt = b[lo:lo + chunk], t[lo:lo + chunk]
            p = times_e(post[tt, bb])
            # log(0) takes a slow special-value path on CPU: take logs of normal numbers, then fill.
            out[bb, tt] = p.clamp_min(_TINY).log_().masked_fill_(p == 0, NEG_INF)
        if risky.any():
            out[risky] = self.log_joint_masked_exact(x[risky], mask_id, chunk)
        return out

    def log_prob_exact(self, x: torch.Tensor) -> torch.Tensor:
        """``log p(x)`` by the log-space forward algorithm (the reference path)."""
        return torch.logsumexp(self._forward(x, keep=False), dim=-1)

    def log_joint_masked_exact(self, x: torch.Tensor, mask_id: int, chunk: int = 1 << 16) -> torch.Tensor:
        """:meth:`log_joint_masked` by log-space forward-backward (the reference path)."""
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
