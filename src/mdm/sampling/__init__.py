"""Sampling from masked diffusion models: one loop (:func:`sample`) for every unmasker.

* :func:`sample` -- the engine (``mdm.sample``); returns :class:`SampleOutput`.
* Unmaskers -- :class:`Ancestral`, :class:`Scheduled`, :class:`TopK`, :class:`EntropyBounded`,
  :class:`Threshold`, :class:`ReMDM` (remasking); subclass :class:`Unmasker` for a new one.
  By name: :func:`from_spec` (``"eb:gamma=0.1"``, ``"topk:2"``), :func:`to_spec`, the registry
  :data:`UNMASKERS` (:mod:`mdm.sampling.specs`).
* Batched prompts of different lengths (:mod:`mdm.sampling.prompts`, ``prompt_mask=``) and
  classifier-free guidance (:mod:`mdm.sampling.guidance`, ``cfg_scale=``).
* Proxies -- :class:`Confidence`, :class:`Margin`, :class:`Entropy`, :class:`Random` (or their
  names); subclass :class:`Proxy` for a new one.
* Traces -- :class:`Trace`, :func:`plot_trace` (PNG), :func:`render_denoising` (terminal frames).
* :mod:`mdm.sampling.exact` -- the exact output law of model-free samplers on tiny vocabularies.
"""

from mdm.sampling.distribution import Distribution
from mdm.sampling.loop import SampleOutput, sample
from mdm.sampling.prompts import left_pad
from mdm.sampling.proxies import PROXIES, Confidence, Entropy, Margin, Proxy, Random, get_proxy
from mdm.sampling.remask import ReMDM
from mdm.sampling.specs import UNMASKERS, Param, UnmaskerForm, from_spec, to_spec
from mdm.sampling.trace import Trace, plot_trace, render_denoising
from mdm.sampling.unmaskers import (
    Ancestral,
    EntropyBounded,
    Scheduled,
    StepState,
    Threshold,
    TopK,
    Unmasker,
    best_first,
    take_best,
)

__all__ = [
    "PROXIES",
    "UNMASKERS",
    "Ancestral",
    "Confidence",
    "Distribution",
    "Entropy",
    "EntropyBounded",
    "Margin",
    "Param",
    "Proxy",
    "ReMDM",
    "Random",
    "SampleOutput",
    "Scheduled",
    "StepState",
    "Threshold",
    "TopK",
    "Trace",
    "Unmasker",
    "UnmaskerForm",
    "best_first",
    "from_spec",
    "get_proxy",
    "left_pad",
    "plot_trace",
    "render_denoising",
    "sample",
    "take_best",
    "to_spec",
]
