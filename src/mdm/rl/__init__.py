"""Reinforcement learning of masked diffusion models on verifiable tasks (issue 29): likelihood
estimators (:mod:`.likelihood`), rewards (:mod:`.rewards`), rollouts (:mod:`.rollout`), the
surrogates (:mod:`.surrogates`) and the trainer objectives ``diffu-grpo`` and ``spg``
(:mod:`.objectives`); :mod:`.tabular` is the exact oracle the tests use."""
