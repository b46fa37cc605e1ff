from mdm.languages.markov_oracle import MarkovOracle, fast_oracle  # noqa: F401  (moved to mdm.languages)
