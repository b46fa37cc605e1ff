"""Errors raised on bad input.

Every error mdm raises for a caller's mistake is an :class:`MDMError` (itself a
``ValueError``) whose message says what was wrong and how to fix it.  The CLI turns
them into one line on stderr and exit code 2.
"""

from __future__ import annotations


class MDMError(ValueError):
    """Base class of every input error mdm raises."""


class ScheduleError(MDMError):
    """Bad schedule parameters (w <= 0, a or b <= 0, steps < 1, ...)."""


class TokenError(MDMError):
    """Bad token tensors: wrong shape or dtype, out-of-vocabulary ids, mask in a prompt."""


class SamplingError(MDMError):
    """Bad sampler settings (length <= 0, block_size not dividing length, gamma < 0, ...)."""


class LanguageError(MDMError):
    """Bad ground-truth language parameters or inputs."""


class ModelConfigError(MDMError):
    """Inconsistent model configuration (width not divisible by heads, ...)."""


class ConfigError(MDMError):
    """Bad training / experiment configuration or override."""


class CheckpointError(MDMError):
    """Missing, truncated or corrupted checkpoint."""


class DataError(MDMError):
    """Bad dataset, corpus or tokenizer input."""


class DependencyError(MDMError):
    """An optional dependency needed for this feature is not installed."""


class RunLockedError(MDMError):
    """Another live process is training into the same run folder."""


class NonFiniteError(MDMError):
    """Training stopped: too many consecutive steps had a NaN/inf loss or gradient."""


class StatsError(MDMError):
    """Bad input to a statistic: NaN values, unmatched pairs, a choice made on the reported split."""
