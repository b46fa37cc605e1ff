"""lm-evaluation-harness for MDMs: :class:`MDMHarnessLM`, an ``lm_eval`` ``LM`` over any Denoiser.

An MDM has no exact ``log p``: its likelihood is the negative ELBO, an upper bound on ``-log p``
(MDLM, Sahoo et al., arXiv 2406.07524; LLaDA, Nie et al., arXiv 2502.09992, scores multiple-choice
benchmarks the same way).  So every ``loglikelihood`` this model reports is a Monte-Carlo estimate
of a LOWER BOUND on ``log p(continuation | context)``:

    loglikelihood(context, continuation) = -NELBO(continuation | context)
        = -E_k E_M [ L'/k * sum_{l in M} -log p(x_l | context, rest of continuation) ],

computed by :func:`mdm.elbo` with the context as a never-masked prompt (``samples`` draws of
``k ~ U{1..L'}`` and a uniform ``k``-subset ``M`` of the ``L'`` continuation positions).  Rankings
between choices compare bounds, not exact probabilities; more ``samples`` lower the noise.
``generate_until`` runs :func:`mdm.sample` with any unmasker and block size, stopping a sequence
once an ``until`` string is generated with everything before it revealed (the EB-sampler paper's
rule), and cuts the text at the first ``until`` string.
"""

from __future__ import annotations

import torch

from mdm.errors import ConfigError, DependencyError
from mdm.protocol import max_len_of

try:
    from lm_eval.api.model import LM
except ImportError:  # the class still imports without lm-eval; building one says what to install
    LM = object

__all__ = ["BOUND_NOTE", "MDMHarnessLM"]

BOUND_NOTE = ("loglikelihood = -NELBO: a Monte-Carlo estimate of a LOWER BOUND on log p(continuation | "
              "context) ({samples} ELBO samples per request), not an exact log-probability")


def _max_len(denoiser) -> int | None:
    for value in (max_len_of(denoiser), getattr(denoiser, "fixed_length", None)):
        if isinstance(value, int) and value > 0:
            return value
    return None


class MDMHarnessLM(LM):
    """An ``lm_eval`` LM over ``denoiser`` (any Denoiser) and ``tokenizer`` (``encode``/``decode``).

    * ``samples`` -- ELBO draws per ``loglikelihood`` request (the bound's Monte-Carlo noise falls
      as 1/sqrt(samples)); ``seed`` fixes them (each request gets its own seed from it).
    * ``greedy_check`` -- also decode each continuation greedily (``temperature 0`` with
      ``unmasker``) to fill ``is_greedy``; off, ``is_greedy`` is False (saves NFE).
    * ``unmasker`` / ``block_size`` / ``temperature`` / ``max_gen_toks`` -- for ``generate_until``
      (``block_size`` rounds the generated length up to a multiple of it).
    * ``prefix_ids`` -- tokens every sequence starts with (``[CLS]`` for masked LMs; default the
      tokenizer's ``prefix_ids``), never scored.

    ``stats`` counts requests and NFE.  See the module docstring: loglikelihoods are bounds.
    """

    def __init__(self, denoiser, tokenizer, *, samples: int = 32, seed: int = 0, greedy_check: bool = True,
                 unmasker=None, block_size: int | None = None, temperature: float = 0.0,
                 max_gen_toks: int = 64, prefix_ids=None, max_len: int | None = None):
        if LM is object:
            raise DependencyError("the harness needs lm-eval: pip install 'mdm-lab[eval]'")
        super().__init__()
        for name, value in (("samples", samples), ("max_gen_toks", max_gen_toks)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be an int >= 1, got {value!r}")
        self.denoiser, self.tok = denoiser, tokenizer
        self.samples, self.seed, self.greedy_check = samples, seed, greedy_check
        self.unmasker, self.block_size, self.temperature = unmasker, block_size, temperature
        self.max_gen_toks = max_gen_toks
        self.prefix_ids = list(getattr(tokenizer, "prefix_ids", []) if prefix_ids is None else prefix_ids)
        self.max_len = max_len if max_len is not None else _max_len(denoiser)
        self.stats = {"loglikelihood": 0, "loglikelihood_rolling": 0, "generate_until": 0, "nfe": 0}
        self._calls = 0

    @property
    def bound_note(self) -> str:
        return BOUND_NOTE.format(samples=self.samples)

    def _next_seed(self) -> int:
        self._calls += 1
        return self.seed * 1_000_003 + self._calls

    def _fit(self, context: list[int], target: list[int]) -> list[int]:
        """The context, cut from the left so that prefix + context + target fits ``max_len``."""
        if self.max_len is None:
            return context
        room = self.max_len - len(self.prefix_ids) - len(target)
        if room < 0:
            raise ConfigError(f"a continuation of {len(target)} tokens does not fit the model's length "
                              f"{self.max_len} (after {len(self.prefix_ids)} prefix tokens)")
        return context[len(context) - room:] if len(context) > room else context

    def _model_device(self):
        import itertools

        if isinstance(self.denoiser, torch.nn.Module):
            p = next(itertools.chain(self.denoiser.parameters(), self.denoiser.buffers()), None)
            if p is not None:
                return p.device
        return torch.device("cpu")

    def _nelbo(self, context: list[int], target: list[int]) -> float:
        import mdm

        ctx = self.prefix_ids + self._fit(context, target)
        x0 = torch.tensor([ctx + target], dtype=torch.long, device=self._model_device())
        return float(mdm.elbo(self.denoiser, x0, samples=self.samples, prompt_len=len(ctx),
                              seed=self._next_seed())[0])

    def _generate(self, context: list[int], length: int, *, stop=None, temperature=None, unmasker=None):
        import mdm

        ctx = self.prefix_ids + self._fit(context, [0] * length)
        from mdm.protocol import block_size_of

        # semi-AR blocks must tile the generation, except on a block-causal model (any length decodes)
        tiles = self.block_size is not None and (length % self.block_size == 0
                                                 or block_size_of(self.denoiser) is not None)
        block = self.block_size if tiles else None
        out = mdm.sample(self.denoiser, length=length, prompt=torch.tensor(ctx, dtype=torch.long),
                         unmasker=unmasker if unmasker is not None else self.unmasker, block_size=block,
                         temperature=self.temperature if temperature is None else temperature, stop=stop,
                         seed=self._next_seed(), pad_id=getattr(self.tok, "pad_id", None))
        self.stats["nfe"] += int(out.nfe[0])
        return out.tokens[0, len(ctx):].tolist()

    # --- the lm_eval LM interface ---------------------------------------------------------------

    def loglikelihood(self, requests) -> list[tuple[float, bool]]:
        """``(-NELBO, is_greedy)`` per ``(context, continuation)``: a lower bound on the log-likelihood."""
        results = []
        for req in requests:
            context, continuation = req.args
            ctx, cont = self.tok.encode(context), self.tok.encode(continuation)
            if not cont:
                results.append((0.0, True))
                continue
            ll = -self._nelbo(ctx, cont)
            greedy = self.greedy_check and self._generate(ctx, len(cont), temperature=0.0) == cont
            results.append((ll, bool(greedy)))
            self.stats["loglikelihood"] += 1
        return results

    def loglikelihood_rolling(self, requests) -> list[float]:
        """``-NELBO`` of each whole text (a lower bound on its log-likelihood).  Texts longer than the
        model are scored in chunks of half its length, each given the preceding tokens that fit."""
        results = []
        for req in requests:
            ids = self.tok.encode(req.args[0])
            room = None if self.max_len is None else self.max_len - len(self.prefix_ids)
            chunk = len(ids) if room is None or len(ids) <= room else max(1, room // 2)
            total = 0.0
            for start in range(0, len(ids), max(chunk, 1)):
                total -= self._nelbo(ids[:start], ids[start:start + chunk])
            results.append(total)
            self.stats["loglikelihood_rolling"] += 1
        return results

    def generate_until(self, requests) -> list[str]:
        """Text generated after each context, cut at the first ``until`` string (not included)."""
        results = []
        for req in requests:
            context, kwargs = req.args
            kwargs = dict(kwargs or {})
            until = kwargs.get("until") or []
            until = [until] if isinstance(until, str) else list(until)
            length = int(kwargs.get("max_gen_toks", self.max_gen_toks))
            if self.block_size:
                length = -(-length // self.block_size) * self.block_size
            stop = [ids for ids in (self.tok.encode(u) for u in until) if ids] or None
            temperature = float(kwargs["temperature"]) if kwargs.get("do_sample") else None
            ids = self._generate(self.tok.encode(context), length, stop=stop, temperature=temperature)
            text = self.tok.decode(ids)
            cuts = [text.find(u) for u in until if u and u in text]
            results.append(text[:min(cuts)] if cuts else text)
            self.stats["generate_until"] += 1
        return results
