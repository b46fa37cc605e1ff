"""Learned-order masked diffusion (Garg, Kohli, Sarawagi, arXiv 2511.19152).

Per-position schedules ``alpha_l(t) = 1 - t^{w_l}`` with learnable ``w = softplus(theta)``
(:class:`PerPositionSchedule`); their decoding order is Plackett--Luce(``w``) (:func:`sample_order`,
:class:`LearnedOrder` for :func:`mdm.sample`); the NELBO is an expected autoregressive loss along
those orders (:func:`multivariate_nelbo`); its gradient in ``w`` needs a score-function term,
estimated with RLOO (:mod:`mdm.order.rloo`), at times drawn by :class:`PowerTime` (unbiased with
finite variance for every ``w``, :mod:`mdm.order.times`); exact order oracles of small joint laws
(the easy-first push, the order-1 NELBO and its best orders) are in :mod:`mdm.order.oracle`.
"""

from mdm.order.nelbo import expected_order_loss, model_nelbo, multivariate_nelbo, order_losses
from mdm.order.plackett_luce import (
    decode_ranks,
    kendall_tau,
    order_log_prob,
    sample_order,
    step_probabilities,
)
from mdm.order.rloo import gradient_stats, order_loss
from mdm.order.schedule import PerPositionSchedule
from mdm.order.times import PowerTime
from mdm.order.unmasker import LearnedOrder

__all__ = [
    "LearnedOrder",
    "PerPositionSchedule",
    "PowerTime",
    "decode_ranks",
    "expected_order_loss",
    "gradient_stats",
    "kendall_tau",
    "model_nelbo",
    "multivariate_nelbo",
    "order_log_prob",
    "order_loss",
    "order_losses",
    "sample_order",
    "step_probabilities",
]
