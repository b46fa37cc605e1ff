"""``mdm serve``: an OpenAI-compatible HTTP server for masked diffusion models, with a live page.

* :mod:`mdm.serve.schemas` -- the request body, checked into a :class:`Completion` (400 on error).
* :mod:`mdm.serve.jobs` -- a request becomes ``mdm.sample`` calls (:class:`~mdm.sampling.stepper.Stepper`),
  their tokens become OpenAI text.
* :mod:`mdm.serve.batcher` -- step-level continuous batching on one worker thread.
* :mod:`mdm.serve.app` -- the routes; ``static/`` -- the page at ``/`` (plain HTML/JS, no build step).

Why Starlette on uvicorn: a mature, small ASGI stack (the one FastAPI itself is built on) whose
``StreamingResponse`` cancels a stream when its client disconnects -- which is how a client that
leaves frees its rows.  FastAPI's extra layer (pydantic models, automatic 422 responses) would
have to be overridden to answer OpenAI-style 400s naming the bad field, so the server checks
bodies itself (:mod:`mdm.serve.schemas`) and needs only Starlette.
"""

from mdm.serve.app import create_app
from mdm.serve.schemas import APIError, Completion, Limits, parse_completion

__all__ = ["APIError", "Completion", "Limits", "create_app", "parse_completion"]
