"""lm-evaluation-harness for MDMs: :class:`MDMHarnessLM`, an ``lm_eval`` ``LM`` over any Denoiser.

An MDM has no exact ``log p``: its likelihood is the negative ELBO, an upper bound on ``-log p``
(MDLM, Sahoo et al., arXiv 2406.07524; LLaDA, Nie et al., arXiv 2502.09992, scores multiple-choice
benchmarks the same way).  So every ``loglikelihood`` this model reports is a Monte-Carlo estimate
of a LOWER BOUND on ``log p(continuation | context)``:

    loglikelihood(context, continuation) = -NELBO(continuation | context)
        = -E_k E_M [ L'/k * sum_{l in M} -log p(x_l | context, rest of continuation) ],

computed by :func:`mdm.elbo` with the context as a never-masked prompt (draws of ``k ~ U{1..L'}``
and a uniform ``k``-subset ``M`` of the ``L'`` continuation positions).  Rankings between choices
compare bounds, not exact probabilities.  The number of draws follows a target Monte-Carlo
standard error (``target_stderr``, nats): draws are added until the estimate's standard error
(sample standard deviation of the draws / sqrt(n)) is at most the target, between
``min_samples`` and ``max_samples``; ``samples=N`` fixes it instead.  The errors reached are kept
per task (:meth:`MDMHarnessLM.mc_summary`) and ``mdm harness`` reports them as the ``nelbo``
row of lm-eval's table: the mean NELBO per request, and in the stderr column the Monte-Carlo
standard error of that mean.  A continuation holding a token the model never predicts ([UNK],
specials of a masked LM) raises :class:`~mdm.errors.TokenError` naming it (its bound would be -inf).
Every forward pass counts in ``stats["nfe"]`` (one per ELBO draw and request, and the
sampling passes of ``generate_until`` and the greedy check).
``generate_until`` runs :func:`mdm.sample` with any unmasker and block size, stopping a sequence
once an ``until`` string is generated with everything before it revealed (the EB-sampler paper's
rule), and cuts the text at the first ``until`` string.
"""

from __future__ import annotations

import math

import torch

from mdm.errors import ConfigError, DependencyError

try:
    from lm_eval.api.model import LM
except ImportError:  # the class still imports without lm-eval; building one says what to install
    LM = object

__all__ = ["BOUND_NOTE", "MDMHarnessLM"]

BOUND_NOTE = ("loglikelihood = -NELBO: a Monte-Carlo estimate of a LOWER BOUND on log p(continuation | "
              "context) ({samples} per request), not an exact log-probability")


def _max_len(denoiser) -> int | None:
    config = getattr(denoiser, "config", None)
    for value in (getattr(denoiser, "max_len", None), getattr(config, "max_len", None),
                  getattr(denoiser, "fixed_length", None)):
        if isinstance(value, int) and value > 0:
            return value
    return None


class MDMHarnessLM(LM):
    """An ``lm_eval`` LM over ``denoiser`` (any Denoiser) and ``tokenizer`` (``encode``/``decode``).

    * ``target_stderr`` / ``min_samples`` / ``max_samples`` -- ELBO draws per request chosen from a
      target Monte-Carlo standard error in nats (module docstring); ``samples`` -- a fixed number
      of draws instead.  ``seed`` fixes them (each request gets its own seed from it).
    * ``batch_size`` -- loglikelihood requests of the same context and continuation lengths are
      scored together, up to this many per forward batch (results then depend on the batching
      through the random streams, not in distribution).
    * ``greedy_check`` -- also decode each continuation greedily (``temperature 0`` with
      ``unmasker``) to fill ``is_greedy``; off, ``is_greedy`` is False (saves NFE).
    * ``unmasker`` / ``block_size`` / ``temperature`` / ``max_gen_toks`` -- for ``generate_until``
      (``block_size`` rounds the generated length up to a multiple of it).
    * ``prefix_ids`` -- tokens every sequence starts with (``[CLS]`` for masked LMs; default the
      tokenizer's ``prefix_ids``), never scored.

    ``stats`` counts requests and NFE.  See the module docstring: loglikelihoods are bounds.
    """

    def __init__(self, denoiser, tokenizer, *, samples: int | None = None, target_stderr: float = 0.2,
                 min_samples: int = 16, max_samples: int = 1024, seed: int = 0, greedy_check: bool = True,
                 unmasker=None, block_size: int | None = None, temperature: float = 0.0,
                 max_gen_toks: int = 64, prefix_ids=None, max_len: int | None = None, batch_size: int = 1):
        if LM is object:
            raise DependencyError("the harness needs lm-eval: pip install 'mdm-lab[eval]'")
        super().__init__()
        for name, value in (("min_samples", min_samples), ("max_samples", max_samples),
                            ("max_gen_toks", max_gen_toks), ("batch_size", batch_size),
                            *((("samples", samples),) if samples is not None else ())):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be an int >= 1, got {value!r}")
        if min_samples < 2 or max_samples < min_samples:
            raise ConfigError(f"need 2 <= min_samples <= max_samples, got {min_samples} and {max_samples}")
        if isinstance(target_stderr, bool) or not isinstance(target_stderr, (int, float)) \
                or not target_stderr > 0:
            raise ConfigError(f"target_stderr must be a number > 0 (nats), got {target_stderr!r}")
        self.denoiser, self.tok = denoiser, tokenizer
        self.samples, self.seed, self.greedy_check = samples, seed, greedy_check
        self.target_stderr = float(target_stderr)
        self.min_samples, self.max_samples = min_samples, max_samples
        self.batch_size = batch_size
        self._mc: dict[str, list[tuple[float, float, int]]] = {}  # task -> (nelbo, stderr, draws)
        self.unmasker, self.block_size, self.temperature = unmasker, block_size, temperature
        self.max_gen_toks = max_gen_toks
        self.prefix_ids = list(getattr(tokenizer, "prefix_ids", []) if prefix_ids is None else prefix_ids)
        self.max_len = max_len if max_len is not None else _max_len(denoiser)
        self.stats = {"loglikelihood": 0, "loglikelihood_rolling": 0, "generate_until": 0, "nfe": 0}
        self._calls = 0

    @property
    def bound_note(self) -> str:
        if self.samples is not None:
            return BOUND_NOTE.format(samples=f"{self.samples} ELBO samples")
        return BOUND_NOTE.format(samples=f"{self.min_samples}-{self.max_samples} ELBO samples, until the "
                                 f"Monte-Carlo standard error is <= {self.target_stderr:g} nats")

    def mc_summary(self) -> dict[str, dict[str, float]]:
        """Per task: mean NELBO per loglikelihood request, the Monte-Carlo standard error of that
        mean (sqrt(sum se_i^2) / n), the largest per-request error and the mean number of draws."""
        out = {}
        for task, rows in self._mc.items():
            n = len(rows)
            out[task] = {"nelbo": sum(r[0] for r in rows) / n,
                         "nelbo_stderr": math.sqrt(sum(r[1] ** 2 for r in rows)) / n,
                         "max_request_stderr": max(r[1] for r in rows),
                         "mean_draws": sum(r[2] for r in rows) / n, "requests": n}
        return out

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

    def _nelbo(self, context: list[int], target: list[int], task: str | None = None) -> float:
        return self._nelbo_rows([(context, target)], task)[0]

    def _nelbo_rows(self, pairs, task: str | None) -> list[float]:
        """NELBO of each ``(context, target)`` (all of one context length and one target length),
        draws added until every row's Monte-Carlo standard error meets the target."""
        from mdm.losses import elbo_draws

        rows = [self.prefix_ids + self._fit(c, t) + t for c, t in pairs]
        prompt_len = len(rows[0]) - len(pairs[0][1])
        x0 = torch.tensor(rows, dtype=torch.long, device=self._model_device())
        n = self.samples or self.min_samples
        draws = elbo_draws(self.denoiser, x0, samples=n, prompt_len=prompt_len, seed=self._next_seed()).cpu()
        while self.samples is None:
            se = draws.std(dim=0) / math.sqrt(draws.shape[0])
            if bool((se <= self.target_stderr).all()) or draws.shape[0] >= self.max_samples:
                break
            want = int(((draws.std(dim=0).max() / self.target_stderr) ** 2).ceil()) + 1
            more = min(self.max_samples, max(want, draws.shape[0] + 1)) - draws.shape[0]
            draws = torch.cat([draws, elbo_draws(self.denoiser, x0, samples=more, prompt_len=prompt_len,
                                                 seed=self._next_seed()).cpu()])
        self.stats["nfe"] += draws.numel()  # one forward pass of one sequence per draw
        nelbo, se = draws.mean(dim=0), draws.std(dim=0) / math.sqrt(draws.shape[0])
        for v, e in zip(nelbo.tolist(), se.tolist()):
            self._mc.setdefault(task or "?", []).append((v, e, draws.shape[0]))
        return nelbo.tolist()

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
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        groups: dict[tuple, list[int]] = {}
        encoded = []
        for i, req in enumerate(requests):
            context, continuation = req.args
            ctx, cont = self.tok.encode(context), self.tok.encode(continuation)
            encoded.append((ctx, cont))
            if not cont:
                results[i] = (0.0, True)
                continue
            fitted = len(self._fit(ctx, cont))
            groups.setdefault((getattr(req, "task_name", None), fitted, len(cont)), []).append(i)
        for (task, _, _), idx in groups.items():
            for start in range(0, len(idx), self.batch_size):
                chunk = idx[start:start + self.batch_size]
                nelbos = self._nelbo_rows([encoded[i] for i in chunk], task)
                for i, v in zip(chunk, nelbos):
                    ctx, cont = encoded[i]
                    greedy = self.greedy_check and self._generate(ctx, len(cont), temperature=0.0) == cont
                    results[i] = (-v, bool(greedy))
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
                total -= self._nelbo(ids[:start], ids[start:start + chunk], getattr(req, "task_name", None))
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


def _register() -> None:
    """``mdm`` in lm-eval's model registry (lazily: :mod:`mdm.eval.lm_eval_model` loads on use)."""
    try:
        import lm_eval.models  # noqa: F401 -- lm-eval's own models first (it fills an empty registry only)
        from lm_eval.api.registry import model_registry
    except ImportError:
        return
    if "mdm" not in model_registry:
        model_registry.register("mdm", target="mdm.eval.lm_eval_model:MDMLM")


_register()
