"""Evaluation metrics: ELBO perplexity, TER/SER under exact languages, sample quality, generative PPL."""

from mdm.eval.genppl import (
    GenPPL,
    ReferenceLM,
    generative_perplexity,
    load_reference_lm,
    reference_lm_available,
)
from mdm.eval.likelihood import LikelihoodResult, validation_nelbo
from mdm.eval.sample_quality import (
    SampleQuality,
    entropy_bits,
    js_divergence_bits,
    ngram_counts,
    ngram_entropy_bits,
    ngram_js_bits,
    sample_quality,
    sequence_entropy_bits,
)
from mdm.eval.sequence_metrics import TokenErrorResult, sequence_error_rate, token_error

__all__ = [
    "GenPPL", "ReferenceLM", "generative_perplexity", "load_reference_lm", "reference_lm_available",
    "LikelihoodResult", "validation_nelbo",
    "SampleQuality", "entropy_bits", "js_divergence_bits", "ngram_counts", "ngram_entropy_bits",
    "ngram_js_bits", "sample_quality", "sequence_entropy_bits",
    "TokenErrorResult", "sequence_error_rate", "token_error",
]
