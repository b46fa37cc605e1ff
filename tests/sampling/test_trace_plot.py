"""The denoising-trace PNG explains itself: which sampler drew it, what a mark is, and steps counted
the way the sample table counts them (every loop step, not only those that revealed something)."""

from __future__ import annotations

import torch

import mdm
from mdm.languages import HMM
from mdm.sampling import Ancestral, plot_trace


def test_trace_plot_names_the_sampler_explains_marks_and_counts_every_step(tmp_path):
    oracle = HMM.random(n_states=4, vocab_size=5, seed=0).denoiser()
    unmasker = Ancestral(steps=40)
    out = mdm.sample(oracle, batch_size=2, length=8, unmasker=unmasker, temperature=1.0, seed=0, trace=True)
    active = [len(out.trace.active_steps(r)) for r in range(2)]
    assert out.trace.num_steps == 40 and max(active) < 40  # 8 positions cannot fill 40 steps
    png = tmp_path / "trace.png"
    fig = plot_trace(out.trace, png, rows=(0, 1), sampler=repr(unmasker))
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert repr(unmasker) in fig._suptitle.get_text()
    for ax, n in zip(fig.axes, active):
        assert ax.get_title().startswith(f"sequence {fig.axes.index(ax)}: 40 steps, the {n} ")
        assert ax.get_xlabel() and ax.get_ylabel()
        # y ticks are real step numbers (each drawn row is a step at which something was revealed)
        ticks = [int(t.get_text()) for t in ax.get_yticklabels()]
        assert set(ticks) <= set(out.trace.active_steps(fig.axes.index(ax)))
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("revealed at this step" in t for t in labels) and any("prompt" in t for t in labels)
    assert torch.equal(out.trace.tokens, out.tokens)
