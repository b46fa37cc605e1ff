"""The demo's model: the packaged ``kjv-char-tiny`` training config and its quick variant.

Shared by ``mdm demo`` (:mod:`mdm.demo`) and the ReMDM experiment, which samples the same model;
kept apart from :mod:`mdm.demo` so that the experiments never import the demo (no import cycle).
"""

from __future__ import annotations

__all__ = ["DEMO_CONFIG", "QUICK_OVERRIDES", "QUICK_STEPS", "demo_config"]

DEMO_CONFIG = "kjv-char-tiny"
# The quick variant: a model and data small enough for tests to run the whole demo in seconds.
QUICK_OVERRIDES = [
    "model.d_model=32", "model.n_layers=1", "model.n_heads=2", "data.seq_len=32", "data.max_chars=20000",
    "batch_size=8", "eval_every=0", "eval_batches=1", "log_every=5", "optim.warmup_steps=5",
]
QUICK_STEPS = 30


def demo_config(quick: bool = False, steps: int | None = None, seed: int = 0):
    """The packaged ``kjv-char-tiny`` config (``quick``: the tiny variant), ``steps`` training steps."""
    from mdm.train import load_config

    overrides = list(QUICK_OVERRIDES) if quick else []
    if steps is not None or quick:
        overrides.append(f"max_steps={steps if steps is not None else QUICK_STEPS}")
    overrides.append(f"seed={seed}")
    return load_config(DEMO_CONFIG, overrides)
