"""The HTTP routes: ``POST /v1/completions``, ``GET /v1/models``, ``GET /health``, the page at ``/``.

Errors are OpenAI-style objects ``{"error": {"message", "type", "param", "code"}}``: 400 for any
bad request (malformed JSON, unknown fields, bad values, unknown unmaskers, prompts longer than
the model), 429 when the queue is full, 404/405 for unknown routes; a 500 is a bug.

Streaming (``"stream": true``) sends Server-Sent Events ``data: {chunk}`` in the OpenAI
completion-chunk format: ``choices[0].text`` is text a client can append (the clean prefix
of the canvas as it grows, :class:`~mdm.serve.jobs.TextView`), and each chunk also carries the
denoising step under ``"mdm"`` -- ``{"step", "nfe", "revealed": [[position, token, piece], ...],
"remasked": [...]}`` -- which the page draws and OpenAI clients keep as an extra field.  The
stream ends with ``data: [DONE]``.  A client that disconnects cancels its job: the batcher drops
its rows before the next pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from mdm.sampling import UNMASKERS
from mdm.serve.batcher import Batcher, Job, QueueFull, StepEvent
from mdm.serve.jobs import ServedModel, TextView, make_steppers
from mdm.serve.schemas import APIError, Completion, Limits, parse_completion

__all__ = ["create_app"]

STATIC = Path(__file__).parent / "static"
MAX_BODY = 1 << 20  # bytes


async def _json_body(request: Request):
    size = request.headers.get("content-length")
    if size is not None and (not size.isdigit() or int(size) > MAX_BODY):
        raise APIError(f"the request body must be at most {MAX_BODY} bytes")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise APIError(f"the request body must be at most {MAX_BODY} bytes")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise APIError("the request body is not valid JSON") from None


class _Completions:
    """``POST /v1/completions`` against one served model and one batcher."""

    def __init__(self, served: ServedModel, batcher: Batcher, limits: Limits):
        self.served, self.batcher, self.limits = served, batcher, limits

    async def handle(self, request: Request) -> Response:
        req = parse_completion(await _json_body(request), self.limits)
        if req.model is not None and req.model != self.served.id:
            raise APIError(f"model {req.model[:80]!r} is not served here; this server serves "
                           f"{self.served.id!r} (GET /v1/models)", param="model", code="model_not_found")
        pairs = make_steppers(self.served, req)
        loop, events = asyncio.get_running_loop(), asyncio.Queue()

        def on_event(i: int, ev: StepEvent) -> None:
            loop.call_soon_threadsafe(events.put_nowait, (i, ev))

        job = Job([s for s, _ in pairs], on_event, every_step=req.stream)
        try:
            self.batcher.submit(job)
        except QueueFull as e:
            raise APIError(str(e), status=429, code="rate_limit_exceeded", kind="rate_limit_error") from None
        head = {"id": f"cmpl-{uuid.uuid4().hex[:24]}", "object": "text_completion",
                "created": int(time.time()), "model": self.served.id}
        views = [v for _, v in pairs]
        if req.stream:
            return StreamingResponse(self._stream(req, job, views, events, head),
                                     media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
        return await self._collect(request, req, job, views, events, head)

    async def _collect(self, request, req: Completion, job: Job, views, events, head) -> Response:
        finals: dict[int, StepEvent] = {}
        left = asyncio.ensure_future(_disconnected(request))
        try:
            while len(finals) < len(job.steppers):
                get = asyncio.ensure_future(events.get())
                await asyncio.wait({get, left}, return_when=asyncio.FIRST_COMPLETED)
                if not get.done():  # the client left: free its rows, answer no one
                    get.cancel()
                    return Response(status_code=499)
                i, ev = get.result()
                if ev.error:
                    raise APIError(f"sampling failed: {ev.error}", status=500, kind="server_error")
                if ev.done:
                    finals[i] = ev
        finally:
            left.cancel()
            job.cancel()  # no-op once done
        choices, completion_tokens = [], 0
        for i, view in enumerate(views):
            for r, row in enumerate(finals[i].tokens):
                text, reason, used = view.final(row)
                completion_tokens += used
                choices.append(_choice(i * req.n + r, text, reason))
        prompt_tokens = sum(s.prompt_len for s in job.steppers)
        return JSONResponse({**head, "choices": choices, "usage": {
            "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens},
            "mdm": {"nfe": [n for i in sorted(finals) for n in finals[i].nfe], "steps": job.steps}})

    async def _stream(self, req: Completion, job: Job, views: list[TextView], events, head):
        try:
            for i, s in enumerate(job.steppers):
                prompt = [self.served.piece(t) for t in s.tokens[0, :s.prompt_len].tolist()]
                for r in range(req.n):
                    yield _sse({**head, "choices": [_choice(i * req.n + r, "", None)],
                                "mdm": {"step": 0, "nfe": 0, "length": s.tokens.shape[1] - s.prompt_len,
                                        "prompt": prompt, "revealed": [], "remasked": []}})
            done, completion_tokens = 0, 0
            while done < len(job.steppers):
                i, ev = await events.get()
                if ev.error:
                    yield _sse({"error": {"message": f"sampling failed: {ev.error}", "type": "server_error",
                                          "param": None, "code": None}})
                    return
                for r, revealed in enumerate(ev.revealed):
                    reason = None
                    if ev.done:
                        _, reason, used = views[i].final(ev.tokens[r])
                        completion_tokens += used
                    text = views[i].delta(r, ev.tokens[r], ev.done)
                    yield _sse({**head, "choices": [_choice(i * req.n + r, text, reason)],
                                "mdm": {"step": ev.step, "nfe": ev.nfe[r], "remasked": ev.remasked[r],
                                        "revealed": [[c, t, self.served.piece(t)] for c, t in revealed]}})
                done += ev.done
            if req.include_usage:
                prompt_tokens = sum(s.prompt_len for s in job.steppers)
                yield _sse({**head, "choices": [], "usage": {
                    "prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens}})
            yield "data: [DONE]\n\n"
        finally:
            job.cancel()


async def _disconnected(request: Request) -> None:
    """Returns once the client has gone (the body is already read: only a disconnect can come)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _choice(index: int, text: str, reason: str | None) -> dict:
    return {"index": index, "text": text, "logprobs": None, "finish_reason": reason}


def _sse(obj: dict) -> str:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n"


def _model_card(served: ServedModel) -> dict:
    unmaskers = [{"name": name, "settings": [p.name for p in form.params], "summary": form.summary}
                 for name, form in UNMASKERS.items()]
    return {"id": served.id, "object": "model", "created": 0, "owned_by": "mdm",
            "mdm": {"max_len": served.max_len, "vocab_size": served.model.vocab_size,
                    "tokenizer": type(served.tokenizer).__name__, "unmaskers": unmaskers}}


def create_app(model, tokenizer, *, model_id: str = "mdm", limits: Limits | None = None, max_rows: int = 64,
               max_pending: int = 64, one_at_a_time: bool = False) -> Starlette:
    """The ASGI app serving ``model`` (a Denoiser) and ``tokenizer``; run it with uvicorn."""
    limits = Limits() if limits is None else limits
    served = ServedModel(model, tokenizer, model_id)
    batcher = Batcher(max_rows=max_rows, max_pending=max_pending, one_at_a_time=one_at_a_time)

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "model": served.id, **batcher.stats()})

    async def models(request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [_model_card(served)]})

    async def api_error(request: Request, exc: APIError) -> Response:
        return JSONResponse(exc.body(), status_code=exc.status)

    async def http_error(request: Request, exc: HTTPException) -> Response:
        body = APIError(str(exc.detail), status=exc.status_code, code=str(exc.status_code)).body()
        return JSONResponse(body, status_code=exc.status_code)

    async def server_error(request: Request, exc: Exception) -> Response:
        body = APIError(f"internal error: {type(exc).__name__}", status=500, kind="server_error").body()
        return JSONResponse(body, status_code=500)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        batcher.close()

    routes = [Route("/", index), Route("/health", health), Route("/v1/models", models),
              Route("/v1/completions", _Completions(served, batcher, limits).handle, methods=["POST"]),
              Mount("/static", StaticFiles(directory=STATIC), name="static")]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={APIError: api_error, HTTPException: http_error, 500: server_error})
    app.state.batcher, app.state.served = batcher, served
    return app
