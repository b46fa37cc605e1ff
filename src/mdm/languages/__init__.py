"""Ground-truth languages with exact conditionals: the oracles every sampler, loss and metric
is checked against.

* :class:`Enumerated` -- listed sequences and probabilities (toys with hand-computable answers)
* :class:`NGram`      -- sparse n-gram Markov chains (``NGram.random``)
* :class:`HMM`        -- sparse hidden Markov models (``HMM.random``)

Each has ``sample``, ``log_prob``, ``is_valid``, ``entropy``, ``log_conditionals`` and
``denoiser()`` (a Denoiser with ``mask_id == vocab_size`` and logits width ``vocab_size + 1``).
"""

from mdm.languages.base import EntropyEstimate, ExactDenoiser, Language
from mdm.languages.enumerated import Enumerated
from mdm.languages.hmm import HMM
from mdm.languages.ngram import NGram

__all__ = ["HMM", "EntropyEstimate", "Enumerated", "ExactDenoiser", "Language", "NGram"]
