"""``mdm serve CKPT | --hf DIR``: the OpenAI-compatible server and its live page (:mod:`mdm.serve`).

Binds 127.0.0.1 by default; ``--port 0`` takes a free port.  The first line on stdout is
``mdm serve: http://HOST:PORT/ (model ID)`` once the socket is bound."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from mdm.cli.args import int_at_least
from mdm.cli.source import add_model_source
from mdm.errors import ConfigError

__all__ = ["add", "run"]


def add(sub) -> None:
    p = sub.add_parser("serve", help="serve a model over an OpenAI-compatible HTTP API with a live page",
                       description="Serve a checkpoint (or --hf DIR) at POST /v1/completions (OpenAI schema "
                       "+ an 'mdm' object: unmasker spec, steps, block_size, cache), GET /v1/models, "
                       "GET /health, and a live denoising page at /.")
    add_model_source(p)
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int_at_least(0), default=8000,
                   help="port (default 8000; 0 = any free port)")
    p.add_argument("--device", default="cpu", help="where the model runs: cpu (default), cuda, cuda:N")
    p.add_argument("--model-id", help="the id clients name in 'model' (default: the folder's name)")
    p.add_argument("--max-batch-rows", type=int_at_least(1), default=64,
                   help="rows denoised together per forward pass (default 64)")
    p.add_argument("--max-pending", type=int_at_least(1), default=64,
                   help="requests waiting or running before new ones get HTTP 429 (default 64)")
    p.add_argument("--max-n", type=int_at_least(1), default=8, help="largest n per request (default 8)")
    p.add_argument("--one-at-a-time", action="store_true",
                   help="no batching: run requests one after another (a baseline for benchmarks)")
    p.set_defaults(func=run)


def _bind(host: str, port: int) -> socket.socket:
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as e:
        raise ConfigError(f"cannot listen on {host}:{port} ({e.strerror}); pick another --port or --host"
                          ) from None
    return sock


def run(args) -> int:
    try:
        import uvicorn
    except ImportError:
        from mdm.errors import DependencyError

        raise DependencyError("mdm serve needs the 'serve' extra: pip install 'mdm-lab[serve]'") from None
    from mdm.cli.source import load_source
    from mdm.serve import Limits, create_app

    model, tokenizer = load_source(args, args.device)
    if hasattr(model, "eval"):
        model.eval()
    source = Path(args.checkpoint if args.checkpoint is not None else args.hf).resolve()
    model_id = args.model_id or (source.parent.name if source.name == "checkpoint" else source.name)
    sock = _bind(args.host, args.port)
    app = create_app(model, tokenizer, model_id=model_id, limits=Limits(max_n=args.max_n),
                     max_rows=args.max_batch_rows, max_pending=args.max_pending,
                     one_at_a_time=args.one_at_a_time)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"mdm serve: http://{shown}:{port}/ (model {model_id})", flush=True)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2)
    uvicorn.Server(config).run(sockets=[sock])
    print("mdm serve: stopped", file=sys.stderr)
    return 0
