"""The request body of ``POST /v1/completions``, checked field by field into a :class:`Completion`.

The OpenAI completions schema (``prompt``, ``max_tokens``, ``temperature``, ``top_p``, ``stop``,
``n``, ``seed``, ``stream``, ``stream_options``, ``model``, ``user``) plus one extension object,
``"mdm": {"unmasker": SPEC, "steps": N, "block_size": N, "cache": "prefix" | "dual" | null}``.
A stop string ``"<eos>"`` means the tokenizer's end-of-text token.
OpenAI fields this server does not implement (``echo``, ``logprobs``, ``best_of``, penalties,
``logit_bias``, ``suffix``) are accepted only at their neutral value; any other field is an
error.  Every mistake raises :class:`APIError`, which the app turns into HTTP 400 with an
OpenAI-style error object naming the field.  Nothing in a request names a file: ``model`` is
compared with the one served model's id and never opened.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

__all__ = ["APIError", "Completion", "Limits", "parse_completion"]


class APIError(Exception):
    """An error answered to the client: ``status`` (400, 429, ...) and an OpenAI-style body."""

    def __init__(self, message: str, *, param: str | None = None, status: int = 400,
                 code: str | None = None, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.message, self.param, self.status, self.code, self.kind = message, param, status, code, kind

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


@dataclass(frozen=True)
class Limits:
    """What one request may ask for (``mdm serve`` options)."""

    max_n: int = 8
    max_prompts: int = 16
    max_stop: int = 4
    max_stop_chars: int = 64
    max_steps: int = 4096


@dataclass
class Completion:
    """A checked request: prompts as text or token ids, the rest as ``mdm.sample`` wants it."""

    prompts: list[str | list[int]]
    max_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    n: int = 1
    seed: int | None = None
    stream: bool = False
    include_usage: bool = False
    model: str | None = None
    unmasker: str = "topk"
    steps: int | None = None
    block_size: int | None = None
    cache: str | None = None


_NEUTRAL = {"echo": (False,), "logprobs": (None, 0), "best_of": (None, 1), "presence_penalty": (None, 0),
            "frequency_penalty": (None, 0), "logit_bias": (None,), "suffix": (None, "")}
_MDM_KEYS = ("unmasker", "steps", "block_size", "cache")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _int(v, name: str, lo: int, hi: int) -> int:
    if not _is_int(v) or not lo <= v <= hi:
        raise APIError(f"{name} must be an integer in [{lo}, {hi}], got {_show(v)}", param=name)
    return v


def _number(v, name: str, lo: float, hi: float, *, lo_open: bool = False) -> float:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if not ok or v > hi or v < lo or (lo_open and v == lo):
        left = "(" if lo_open else "["
        raise APIError(f"{name} must be a number in {left}{lo:g}, {hi:g}], got {_show(v)}", param=name)
    return float(v)


def _show(v) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _prompts(v, limits: Limits) -> list[str | list[int]]:
    """A string, a list of strings, a list of token ids, or a list of lists of token ids."""
    if isinstance(v, str):
        return [v]
    if isinstance(v, list) and v and all(_is_int(i) for i in v):
        return [list(v)]
    if isinstance(v, list) and v and all(isinstance(p, str) for p in v):
        prompts = list(v)
    elif isinstance(v, list) and v and all(isinstance(p, list) and all(_is_int(i) for i in p) for p in v):
        prompts = [list(p) for p in v]
    else:
        raise APIError("prompt must be a string, a list of strings, a list of token ids or a list of such "
                       f"lists, got {_show(v)}", param="prompt")
    if len(prompts) > limits.max_prompts:
        raise APIError(f"at most {limits.max_prompts} prompts per request, got {len(prompts)}",
                       param="prompt")
    return prompts


def _stop(v, limits: Limits) -> list[str]:
    stops = [v] if isinstance(v, str) else v
    if stops is None:
        return []
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops):
        raise APIError(f"stop must be a non-empty string or a list of them, got {_show(v)}", param="stop")
    if len(stops) > limits.max_stop or any(len(s) > limits.max_stop_chars for s in stops):
        raise APIError(f"stop takes at most {limits.max_stop} strings of at most {limits.max_stop_chars} "
                       "characters", param="stop")
    return list(stops)


def _mdm(v, out: Completion, limits: Limits) -> None:
    if not isinstance(v, dict):
        raise APIError(f"mdm must be an object with keys {', '.join(_MDM_KEYS)}, got {_show(v)}", param="mdm")
    for key in v:
        if key not in _MDM_KEYS:
            raise APIError(f"mdm.{key} is not a field; the mdm object takes {', '.join(_MDM_KEYS)}",
                           param=f"mdm.{key}")
    if v.get("unmasker") is not None:
        spec = v["unmasker"]
        if not isinstance(spec, str) or not spec.strip() or len(spec) > 200:
            raise APIError(f"mdm.unmasker must be an unmasker spec such as 'eb:gamma=0.1', got {_show(spec)}",
                           param="mdm.unmasker")
        out.unmasker = spec
    if v.get("steps") is not None:
        out.steps = _int(v["steps"], "mdm.steps", 1, limits.max_steps)
    if v.get("block_size") is not None:
        out.block_size = _int(v["block_size"], "mdm.block_size", 1, 1 << 20)
    if v.get("cache") is not None:
        if v["cache"] not in ("prefix", "dual"):
            raise APIError(f"mdm.cache must be null, 'prefix' or 'dual', got {_show(v['cache'])}",
                           param="mdm.cache")
        out.cache = v["cache"]


def parse_completion(body: Any, limits: Limits | None = None) -> Completion:
    """Check a decoded JSON body; raises :class:`APIError` naming the first bad field."""
    limits = Limits() if limits is None else limits
    if not isinstance(body, dict):
        raise APIError(f"the request body must be a JSON object, got {type(body).__name__}")
    if "prompt" not in body:
        raise APIError("prompt is required (a string or a list of strings)", param="prompt")
    out = Completion(prompts=_prompts(body["prompt"], limits))
    for key, value in body.items():
        if key == "prompt":
            continue
        if key in _NEUTRAL:
            if value not in _NEUTRAL[key] or isinstance(value, bool) != isinstance(_NEUTRAL[key][0], bool):
                raise APIError(f"{key} is not supported by this server (leave it out)", param=key)
        elif key == "max_tokens":
            out.max_tokens = None if value is None else _int(value, key, 1, 1 << 20)
        elif key == "temperature":
            out.temperature = 1.0 if value is None else _number(value, key, 0.0, 100.0)
        elif key == "top_p":
            out.top_p = 1.0 if value is None else _number(value, key, 0.0, 1.0, lo_open=True)
        elif key == "stop":
            out.stop = _stop(value, limits)
        elif key == "n":
            out.n = 1 if value is None else _int(value, key, 1, limits.max_n)
        elif key == "seed":
            out.seed = None if value is None else _int(value, key, 0, 2**63 - 1)
        elif key == "stream":
            if not isinstance(value, bool) and value is not None:
                raise APIError(f"stream must be true or false, got {_show(value)}", param=key)
            out.stream = bool(value)
        elif key == "stream_options":
            if value is not None:
                if not isinstance(value, dict) or set(value) - {"include_usage"}:
                    raise APIError('stream_options must be {"include_usage": true|false}', param=key)
                out.include_usage = value.get("include_usage") is True
        elif key == "model":
            if not isinstance(value, str) and value is not None:
                raise APIError(f"model must be a string, got {_show(value)}", param=key)
            out.model = value
        elif key == "user":
            if not isinstance(value, str) and value is not None:
                raise APIError(f"user must be a string, got {_show(value)}", param=key)
        elif key == "mdm":
            if value is not None:
                _mdm(value, out, limits)
        else:
            raise APIError(f"{key!s:.40} is not a field of /v1/completions (diffusion settings go in the "
                           "'mdm' object)", param=str(key)[:40])
    if out.include_usage and not out.stream:
        raise APIError("stream_options needs stream: true", param="stream_options")
    return out
