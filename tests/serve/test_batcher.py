"""The batcher on its own (no HTTP): jobs joining a running batch, one failing sampler ending only
its own job, the bounded queue, cancelled jobs leaving."""

import threading

import pytest
import torch
from serve_support import tiny_checkpoint

import mdm
from mdm.sampling import TopK, from_spec
from mdm.sampling.stepper import Stepper
from mdm.serve.batcher import Batcher, Job, QueueFull


class Breaks(TopK):
    """TopK that raises at its third selection (a buggy sampler)."""

    def __init__(self):
        super().__init__(k=1)
        object.__setattr__(self, "_calls", [0])

    def select(self, state):
        self._calls[0] += 1
        if self._calls[0] == 3:
            raise RuntimeError("sampler bug")
        return super().select(state)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    m, _ = mdm.load(tiny_checkpoint(tmp_path_factory.mktemp("batcher") / "m"))
    return m.eval()


def _job(stepper, done: threading.Event, seen: list):
    def on_event(i, ev):
        seen.append(ev)
        if ev.done:
            done.set()
    return Job([stepper], on_event)


def test_a_failing_sampler_ends_only_its_job(model):
    batcher = Batcher()
    try:
        kw = dict(prompt=torch.tensor([1, 2, 3]), length=10, temperature=1.0, seed=3)
        ok_done, bad_done, ok_seen, bad_seen = threading.Event(), threading.Event(), [], []
        good = _job(Stepper(model, **kw), ok_done, ok_seen)
        bad = _job(Stepper(model, length=10, unmasker=Breaks(), seed=1), bad_done, bad_seen)
        batcher.submit(good)
        batcher.submit(bad)
        assert ok_done.wait(30) and bad_done.wait(30)
        assert bad_seen[-1].error and "sampler bug" in bad_seen[-1].error
        assert ok_seen[-1].error is None
        assert torch.equal(good.steppers[0].output.tokens, mdm.sample(model, **kw).tokens)
        assert batcher.wait_idle()
    finally:
        batcher.close()


def test_the_queue_is_bounded_and_cancelled_jobs_leave(model):
    batcher = Batcher(max_pending=1)
    try:
        done, seen = threading.Event(), []
        remdm = from_spec("remdm:steps=4000,eta=0.5", length=40)  # thousands of passes
        job = _job(Stepper(model, length=40, unmasker=remdm, seed=0), done, seen)
        batcher.submit(job)
        with pytest.raises(QueueFull):
            batcher.submit(_job(Stepper(model, length=4, seed=0), threading.Event(), []))
        job.cancel()
        assert batcher.wait_idle()
        assert not done.is_set() and len(seen) < 3000  # it stopped before its end
    finally:
        batcher.close()
