"""Evaluation metrics: ELBO perplexity, TER/SER under exact languages, sample quality."""

from mdm.eval.sequence_metrics import TokenErrorResult, sequence_error_rate, token_error

__all__ = ["TokenErrorResult", "sequence_error_rate", "token_error"]
