"""Fast exact denoisers for first-order token chains (same answers as ``language.denoiser()``).

Sweeps over steps and lengths (the steps-vs-length experiment, after Feng et al., "Theoretical
Benefit and Limitation of Diffusion Language Model", arXiv 2502.09622) call the exact conditional
``p(x_i | clean positions)`` hundreds of thousands of times.
:meth:`mdm.languages.Language.denoiser` runs a scaled forward-backward over the chain's states (one
matmul per position and direction); for first-order token chains there is a closed form:

* :class:`MarkovOracle` -- first-order chains on the tokens themselves (``NGram`` of order 1 or
  2).  The Markov property gives the conditional in closed form from the nearest clean
  neighbours ``l < i < r``::

      p(x_i = v | clean) ∝ P^(i-l)[x_l, v] · P^(r-i)[v, x_r]      (left factor pi P^i if no l,
                                                                   right factor 1 if no r)

  with the matrix powers precomputed once: a few gathers per call, no loop over positions.
* everything else (hidden Markov models, higher-order n-grams) -- ``language.denoiser()``, whose
  engine (:class:`mdm.languages.chain.SparseChain`) is itself a scaled forward-backward.

The closed form follows the languages' rule for evidence of probability zero: every masked
position of such a row gets the uniform distribution.  ``fast_oracle(language)`` picks it where it
applies.  Tests check it against ``language.denoiser()`` on random masks.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mdm.errors import LanguageError
from mdm.languages.ngram import NGram
from mdm.protocol import check_tokens

__all__ = ["MarkovOracle", "fast_oracle"]

NEG_INF = float("-inf")
TINY = torch.finfo(torch.float64).tiny


class _Oracle:
    """Shared Denoiser plumbing: ids check, clean one-hots, the mask column, ``output_mask``.

    With ``output_mask`` (bool ``[B, L]``) only the selected positions are computed and logits
    ``[n, V + 1]`` come back in ``x[output_mask]`` order, as :mod:`mdm.sampling` asks of
    denoisers that set ``supports_output_mask``: an ancestral step then scores only the few
    positions it reveals.
    """

    time_conditioned = False
    supports_output_mask = True

    def __init__(self, language):
        self.language = language
        self.n_tokens = language.vocab_size  # V, the language's tokens
        self.vocab_size = language.vocab_size + 1  # with the mask token
        self.mask_id = language.vocab_size
        # Row v: the one-hot log distribution of a clean position holding token v.
        self._one_hot = torch.full((self.n_tokens + 1, self.n_tokens), NEG_INF, dtype=torch.float64)
        self._one_hot[: self.n_tokens].fill_diagonal_(0.0)

    def _probs(self, x: torch.Tensor, masked: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor):
        """Unnormalised ``p(x_i = v | clean)`` ``[n, V]`` at positions ``(rows, cols)`` (any
        positive scale per position) and the rows ``[B]`` whose clean evidence has probability 0."""
        raise NotImplementedError

    def __call__(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None,
                 output_mask: torch.Tensor | None = None, **kw) -> torch.Tensor:
        check_tokens(x, self.vocab_size, "x")
        masked = x == self.mask_id
        want = masked if output_mask is None else output_mask & masked
        rows, cols = want.nonzero(as_tuple=True)
        probs, dead = self._probs(x, masked, rows, cols)
        z = probs.sum(-1, keepdim=True)
        # log(0) takes a slow special-value path on CPU: take logs of normal numbers, then fill.
        cond = (probs / z.clamp_min(TINY)).clamp_min_(TINY).log_().masked_fill_(probs == 0, NEG_INF)
        # Impossible evidence: the uniform distribution, as the languages answer.
        cond.masked_fill_(dead[rows].unsqueeze(-1) | (z == 0), -math.log(self.n_tokens))
        if output_mask is None:
            out = self._one_hot[x]  # clean positions; the mask row is overwritten below
            out[rows, cols] = cond
        else:  # selected clean positions (if any were asked for) get their one-hot
            out = self._one_hot[x[output_mask]]
            out[masked[output_mask]] = cond
        return F.pad(out, (0, 1), value=NEG_INF)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.language!r})"


class MarkovOracle(_Oracle):
    """Exact conditionals of a first-order token chain ``pi [V]``, ``P [V, V]`` (see module doc)."""

    def __init__(self, language: NGram):
        super().__init__(language)
        if language.order == 1:
            self.initial = language.next_probs
            self.trans = language.next_probs.expand(self.n_tokens, -1).contiguous()
        elif language.order == 2:
            self.initial, self.trans = language.initial, language.next_probs
        else:
            raise LanguageError(
                f"MarkovOracle needs an NGram of order 1 or 2, got order {language.order}: use "
                "fast_oracle(), which falls back to language.denoiser()"
            )
        self._powers = torch.eye(self.n_tokens, dtype=torch.float64).unsqueeze(0)  # P^0 .. P^k
        self._marginals = self.initial.unsqueeze(0)  # pi P^0 .. pi P^k

    def _ensure(self, length: int) -> None:
        have = self._powers.shape[0]
        if have > length:
            return
        pw, mu = [self._powers], [self._marginals]
        last_p, last_m = self._powers[-1], self._marginals[-1]
        for _ in range(have, length + 1):
            last_p, last_m = last_p @ self.trans, last_m @ self.trans
            pw.append(last_p.unsqueeze(0))
            mu.append(last_m.unsqueeze(0))
        self._powers, self._marginals = torch.cat(pw), torch.cat(mu)

    def _probs(self, x, masked, rows, cols):
        b, n = x.shape
        self._ensure(n)
        pos = torch.arange(n).expand(b, n)
        clean = ~masked
        tok = torch.where(clean, x, 0)
        # Nearest clean position strictly left of i (-1: none) and strictly right of i (n: none).
        left = torch.where(clean, pos, -1).cummax(dim=1).values
        right = torch.where(clean, pos, n).flip(1).cummin(dim=1).values.flip(1)
        prev = F.pad(left[:, :-1], (1, 0), value=-1)
        nxt = F.pad(right[:, 1:], (0, 1), value=n)
        # The evidence is possible iff each clean token is reachable from the previous clean one.
        x_prev = tok.gather(1, prev.clamp_min(0))
        reach = torch.where(prev >= 0, self._powers[pos - prev.clamp_min(0), x_prev, tok],
                            self._marginals[pos, tok])
        dead = (clean & (reach == 0)).any(dim=1)
        # Left factor p(x_i = . | x_prev) (the marginal of position i if none), right factor
        # p(x_next | x_i = .) (1 if none), at the wanted positions only.
        p, q = prev[rows, cols], nxt[rows, cols]
        left_f = torch.where((p >= 0).unsqueeze(-1), self._powers[cols - p, x_prev[rows, cols]],
                             self._marginals[cols])
        right_f = self._powers[(q - cols).clamp_max(n), :, tok[rows, q.clamp_max(n - 1)]]
        right_f = torch.where((q < n).unsqueeze(-1), right_f, 1.0)
        return left_f * right_f, dead


def fast_oracle(language):
    """The fastest exact denoiser available for ``language`` (``language.denoiser()`` otherwise)."""
    if isinstance(language, NGram) and language.order <= 2:
        return MarkovOracle(language)
    return language.denoiser()
