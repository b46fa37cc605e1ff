"""benchmarks/shape_peak.py: the matmuls of a step are recorded with their layouts (forward and
backward) and replayed with the closed-form FLOP count."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.append(str(Path(__file__).resolve().parents[2] / "benchmarks"))
from shape_peak import Replay, record_matmuls  # noqa: E402


def test_a_linear_layer_records_its_three_matmuls_with_their_layouts():
    torch.manual_seed(0)
    b, d_in, d_out = 6, 8, 4
    plain, biased = torch.nn.Linear(d_in, d_out, bias=False), torch.nn.Linear(d_in, d_out)
    x = torch.randn(b, d_in, requires_grad=True)

    def step():
        (plain(x).square().sum() + biased(x).sum()).backward()

    calls = record_matmuls(step)
    names = sorted(func.__name__ for func, _, _ in calls)
    # forward x @ W^T of each layer (mm, addmm), backward grad_x = g @ W and grad_W = g^T @ x of each
    assert names == ["addmm.default"] + ["mm.default"] * 5
    forward = next(spec for func, spec, _ in calls if func.__name__ == "mm.default")
    assert forward[1][:2] == ((d_in, d_out), (1, d_in))  # W^T: a transposed view, kept so
    replay = Replay(calls)
    assert replay.flops == 2 * 3 * 2 * b * d_in * d_out
    for (_, spec, _), (_, args, _) in zip(calls, replay.calls):
        assert [(tuple(a.shape), a.stride()) for a in args] == [s[:2] for s in spec]
    replay()  # runs outside any model
    top = replay.shapes(1)
    assert len(top) == 1 and 0 < top[0][1] <= 1
