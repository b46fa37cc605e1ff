"""Evaluation metrics: ELBO perplexity, TER/SER under exact languages, sample quality."""
