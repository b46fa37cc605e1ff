"""PerPositionSchedule: alpha_l = 1 - t^{w_l}, its derivative, weight, inverse, and the loss plug-in."""

from __future__ import annotations

import pytest
import torch

from mdm.errors import MDMError
from mdm.losses import diffusion_loss
from mdm.order import PerPositionSchedule
from mdm.schedules import Polynomial
from mdm.variance import UniformTime


def test_matches_polynomial_per_position_and_derivatives():
    w = torch.tensor([0.5, 1.0, 3.0])
    s = PerPositionSchedule(3, init=w)
    assert torch.allclose(s.w, w, atol=1e-6)
    t = torch.tensor([0.1, 0.5, 0.9], dtype=torch.float64)
    for col, wl in enumerate(w.tolist()):
        p = Polynomial(wl)
        assert torch.allclose(s.alpha(t)[:, col], p.alpha(t), atol=1e-6)
        assert torch.allclose(s.dalpha(t)[:, col], p.dalpha(t), atol=1e-5)
        assert torch.allclose(s.weight(t.unsqueeze(1))[:, col], p.weight(t), atol=1e-5)
    a = s.alpha(t)
    assert torch.allclose(s.inverse(a), t.unsqueeze(1).expand(3, 3), atol=1e-5)
    assert s.alpha(0.25).shape == (3,)


def test_gradient_flows_to_theta_and_column_ids_share_weights():
    s = PerPositionSchedule(4, init=torch.tensor([1.0, 2.0]), column_ids=torch.tensor([0, 1, 1, 0]))
    assert torch.allclose(s.w, torch.tensor([1.0, 2.0, 2.0, 1.0]), atol=1e-6)
    s.alpha(torch.tensor([0.5])).sum().backward()
    assert s.theta.grad.shape == (2,) and (s.theta.grad != 0).all()


def test_plugs_into_diffusion_loss_with_mask_log_prob(table):
    model = table
    s = PerPositionSchedule(3, init=torch.tensor([0.5, 1.0, 2.0]))
    x0 = torch.tensor([[0, 1, 1], [1, 0, 1]])
    out = diffusion_loss(model, x0, schedule=s, mask_log_prob=True, time_sampler=UniformTime(eps=0.0),
                         generator=torch.Generator().manual_seed(0))
    (out.loss + out.mask_log_prob.sum()).backward()
    assert s.theta.grad is not None and torch.isfinite(s.theta.grad).all()


@pytest.mark.parametrize("kwargs", [dict(length=0), dict(length=3, init=0.0), dict(length=3, init=-1.0),
                                    dict(length=3, init=torch.ones(2)),
                                    dict(length=3, column_ids=torch.tensor([0, 1]))])
def test_bad_input_raises(kwargs):
    with pytest.raises(MDMError):
        PerPositionSchedule(**kwargs)
