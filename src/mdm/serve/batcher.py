"""Step-level continuous batching: one worker thread advances every running request by one
denoising step per forward pass.

Between two passes the worker admits waiting requests (while the batch has room for their rows)
and drops the ones that finished or whose client left, so a request that arrives while others
are denoising joins at the next step and never waits for the batch to drain (continuous
batching at the granularity of a step, as Orca does for autoregressive LMs at the token).  Each
pass answers all running requests' pending forwards with one denoiser call
(:func:`mdm.sampling.stepper.answer_together`); each request's unmasker, generator and stop rule
stay its own, so its tokens are ``mdm.sample``'s for it alone.

After every pass each request gets a :class:`StepEvent` through its callback (called on the
worker thread: the app hands it to the event loop).  The queue is bounded: :meth:`Batcher.submit`
raises :class:`QueueFull` when ``max_pending`` requests are already waiting or running.
``one_at_a_time=True`` runs requests strictly one after another (the benchmark's baseline).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from mdm.sampling.stepper import Stepper, answer_together

__all__ = ["Batcher", "Job", "QueueFull", "StepEvent"]


class QueueFull(Exception):
    """Too many requests waiting or running: the client should retry later (HTTP 429)."""


@dataclass
class StepEvent:
    """What one pass did to one request: per row, positions revealed (index in the generated
    region) with their tokens and positions sent back to the mask; NFE so far; ``done`` at the
    end (``error`` when the sampler failed)."""

    step: int
    nfe: list[int]
    revealed: list[list[tuple[int, int]]]
    remasked: list[list[int]]
    tokens: torch.Tensor
    done: bool = False
    error: str | None = None


@dataclass
class Job:
    """A group of steppers (one per prompt of a request) and where its events go."""

    steppers: list[Stepper]
    on_event: Callable[[int, StepEvent], None]  # (stepper index, event)
    every_step: bool = True  # False: only the final event of each stepper (a non-streaming request)
    cancelled: bool = False
    steps: int = 0
    last: list[torch.Tensor] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(s.tokens.shape[0] for s in self.steppers)

    def cancel(self) -> None:
        """The client left: the worker drops this job's rows before its next pass."""
        self.cancelled = True


class Batcher:
    """The worker thread and its queue (module docstring)."""

    def __init__(self, *, max_rows: int = 64, max_pending: int = 64, one_at_a_time: bool = False):
        self.max_rows, self.max_pending, self.one_at_a_time = max_rows, max_pending, one_at_a_time
        self._waiting: deque[Job] = deque()
        self._running: list[Job] = []
        self._cond = threading.Condition()
        self._stopped = False
        self.passes = 0  # batched forward passes run so far
        self._thread = threading.Thread(target=self._work, name="mdm-serve-batcher", daemon=True)
        self._thread.start()

    def submit(self, job: Job) -> None:
        with self._cond:
            if len(self._waiting) + len(self._running) >= self.max_pending:
                raise QueueFull(f"{self.max_pending} requests are already waiting or running; retry later")
            job.last = [s.tokens.clone() for s in job.steppers]
            self._waiting.append(job)
            self._cond.notify()

    def stats(self) -> dict:
        with self._cond:
            return {"running_requests": len(self._running),
                    "running_rows": sum(j.rows for j in self._running),
                    "waiting_requests": len(self._waiting), "passes": self.passes}

    def close(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify()
        self._thread.join(timeout=10)

    def _admit(self) -> None:
        """Move waiting jobs into the batch while their rows fit (one job at a time in baseline mode)."""
        self._waiting = deque(j for j in self._waiting if not j.cancelled)
        self._running = [j for j in self._running if not j.cancelled]
        rows = sum(j.rows for j in self._running)
        while self._waiting:
            job = self._waiting[0]
            if self._running and (self.one_at_a_time or rows + job.rows > self.max_rows):
                break
            self._running.append(self._waiting.popleft())
            rows += job.rows

    def _work(self) -> None:
        while True:
            with self._cond:
                self._admit()
                while not self._running and not self._stopped:
                    self._cond.wait(timeout=1.0)
                    self._admit()
                if self._stopped:
                    return
                jobs = list(self._running)
            self._step(jobs)
            with self._cond:
                self._running = [j for j in self._running if not j.cancelled and
                                 not all(s.done for s in j.steppers)]

    def _step(self, jobs: list[Job]) -> None:
        live = [(j, s) for j in jobs for s in j.steppers if not s.done]
        try:
            answers = answer_together([s.pending for _, s in live])
        except Exception as e:  # the shared pass failed: every job in it ends, never the server
            for j in jobs:
                _fail(j, e)
            return
        for (j, s), answer in zip(live, answers):
            if j.cancelled:
                continue
            try:
                s.advance(answer)
            except Exception as e:  # one sampler failed: only its job ends
                _fail(j, e)
        self.passes += 1
        for j in jobs:
            j.steps += 1
        for j, s in live:
            if not j.cancelled and (j.every_step or s.done):
                i = j.steppers.index(s)
                j.on_event(i, _event(j, i, s))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """True once nothing waits or runs (tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            st = self.stats()
            if not st["running_requests"] and not st["waiting_requests"]:
                return True
            time.sleep(0.01)
        return False


def _fail(job: Job, e: Exception) -> None:
    job.cancelled = True
    error = f"{type(e).__name__}: {e}"
    for i, s in enumerate(job.steppers):
        job.on_event(i, StepEvent(job.steps, [], [], [], s.tokens, done=True, error=error))


def _event(job: Job, i: int, s: Stepper) -> StepEvent:
    before, now = job.last[i], s.tokens.clone()
    job.last[i] = now
    p, mask = s.prompt_len, s.mask_id
    was, is_ = before[:, p:] == mask, now[:, p:] == mask
    revealed, remasked = [], []
    for r in range(now.shape[0]):
        cols = (was[r] & ~is_[r]).nonzero().squeeze(1).tolist()
        revealed.append([(c, int(now[r, p + c])) for c in cols])
        remasked.append((~was[r] & is_[r]).nonzero().squeeze(1).tolist())
    return StepEvent(job.steps, [int(v) for v in s.nfe], revealed, remasked, now, done=s.done)
