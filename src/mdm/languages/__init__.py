"""Ground-truth languages with exact conditionals: the oracles every sampler, loss and metric
is checked against.

* :class:`Enumerated` -- listed sequences and probabilities (toys with hand-computable answers)
* :class:`NGram`      -- sparse n-gram Markov chains (``NGram.random``)
* :class:`HMM`        -- sparse hidden Markov models (``HMM.random``)

Each has ``sample``, ``log_prob``, ``is_valid``, ``entropy``, ``log_conditionals`` and
``denoiser()`` (a Denoiser with ``mask_id == vocab_size`` and logits width ``vocab_size + 1``).

:func:`parse_language_spec` builds one from a spec string (``ngram:vocab=8,order=2``);
:class:`LanguageView` shows a model trained on a language's tokens as a Denoiser over them.
:class:`MarkovOracle` is a closed-form exact denoiser for first-order token chains (``NGram`` of
order 1 or 2), same answers as ``denoiser()`` at a fraction of the cost; :func:`fast_oracle`
picks it where it applies and falls back to ``language.denoiser()`` elsewhere.
:class:`Miscalibrated` reweights a token group (end-of-text) of an exact oracle by a known factor;
:func:`energy_toy_target` gives the energy paper's two 5-token toy targets.
"""

from mdm.languages.base import EntropyEstimate, ExactDenoiser, Language
from mdm.languages.energy_toy import energy_toy_target
from mdm.languages.enumerated import Enumerated
from mdm.languages.hmm import HMM
from mdm.languages.markov_oracle import MarkovOracle, fast_oracle
from mdm.languages.miscalibrated import Miscalibrated
from mdm.languages.ngram import NGram
from mdm.languages.spec import parse_language_spec
from mdm.languages.view import LanguageView

__all__ = ["HMM", "EntropyEstimate", "Enumerated", "ExactDenoiser", "Language", "LanguageView",
           "MarkovOracle", "Miscalibrated", "NGram", "energy_toy_target", "fast_oracle",
           "parse_language_spec"]
