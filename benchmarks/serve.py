"""`mdm serve` under load: step-level batching vs one request at a time, side by side in one run.

Two real servers on loopback serve the same checkpoint (a randomly initialised transformer over a
char tokenizer, weights drawn wide so that outputs are not ties): ``mdm serve`` (step-level
continuous batching) and ``mdm serve --one-at-a-time``.  For 1, 4 and 16 concurrent clients each
client sends its share of a fixed list of requests (different prompts, lengths, samplers,
temperatures and seeds) and waits for each answer; the two servers take turns at each concurrency,
their order rotated every repeat, ``--repeats`` (>= 3) times, so machine load affects both alike;
each column is the median over the repeats (lost/wrong count over all repeats).  Reported:
requests/s, generated tokens/s, p50/p99 latency (wall clock: what a client sees), the server
process's CPU seconds per run (``/proc/PID/stat``, all its threads) and generated tokens per server
CPU second -- on a loaded machine wall time also counts other jobs' turns, the server's CPU time
does not -- and the goals of issue 31: throughput at 16 clients >= 3x one-at-a-time (in wall and in
CPU time), p99 at 16 clients <= 2x a lone request's latency.  The machine line (CPU, capability,
load average) is printed first.  Nothing may be lost: every request must be
answered with HTTP 200 and its text must equal ``mdm.sample`` for it alone (computed offline
first); the run fails otherwise.  Bounded: ``--requests`` per concurrency level, a per-request
timeout and an overall ``--max-seconds``.

    .venv/bin/python benchmarks/serve.py                 # 48 requests per level
    .venv/bin/python benchmarks/serve.py --requests 16 --repeats 1   # a quick check
    .venv/bin/python benchmarks/serve.py --d-model 32 --layers 2      # a model whose pass is cheap
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import torch

import mdm
from mdm.models.transformer import TransformerConfig, TransformerDenoiser
from mdm.sampling import from_spec
from mdm.tokenizers import CharTokenizer
from mdm.train import checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchtools import machine_line  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "serve"))
from serve_support import Server  # noqa: E402  (the test suite's `mdm serve` subprocess launcher)

ALPHABET = "abcdefghijklmnopqrstuvwxyz ,.\n"
WORDS = ["in", "the", "beginning", "god", "created", "heaven", "and", "earth", "light", "darkness", "waters"]
SAMPLERS = ["topk", "scheduled:steps=12", "eb:gamma=0.3", "topk:k=2", "threshold:tau=0.3"]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=48, help="requests per concurrency level and server")
    p.add_argument("--clients", default="1,4,16", help="concurrency levels")
    p.add_argument("--repeats", type=int, default=3, help="runs per level and server (>= 3; medians)")
    p.add_argument("--d-model", type=int, default=128)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--max-len", type=int, default=64)
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    p.add_argument("--max-seconds", type=float, default=900.0, help="stop starting levels after this long")
    args = p.parse_args(argv)
    if args.repeats < 3:
        p.error("--repeats must be >= 3 (medians)")
    return args


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system, all threads) of process ``pid`` so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def make_checkpoint(path: Path, args) -> Path:
    tok = CharTokenizer(ALPHABET)
    torch.manual_seed(0)
    cfg = TransformerConfig(vocab_size=tok.vocab_size, mask_id=tok.mask_id, d_model=args.d_model,
                            n_layers=args.layers, n_heads=4, max_len=args.max_len)
    model = TransformerDenoiser(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.5)
    return checkpoint.save(path, model, tok)


def workload(n: int, max_len: int) -> list[dict]:
    """``n`` different requests: prompts of 1-4 words, 16-40 tokens (within the model's length),
    five samplers, T in {0, 1}."""
    out = []
    for i in range(n):
        prompt = " ".join(WORDS[(i * 3 + k) % len(WORDS)] for k in range(1 + i % 4))
        length = min(16 + (i * 7) % 25, max_len - len(prompt))
        out.append({"prompt": prompt, "max_tokens": length, "temperature": float(i % 2), "seed": i,
                    "mdm": {"unmasker": SAMPLERS[i % len(SAMPLERS)]}})
    return out


def offline_texts(ckpt: Path, bodies: list[dict]) -> list[str]:
    """What `mdm.sample` gives for each request alone (no stop sequences: the whole region)."""
    model, tok = mdm.load(ckpt)
    model.eval()
    texts = []
    for b in bodies:
        ids = tok.encode(b["prompt"])
        out = mdm.sample(model, length=b["max_tokens"], prompt=torch.tensor(ids),
                         unmasker=from_spec(b["mdm"]["unmasker"], length=b["max_tokens"]),
                         temperature=b["temperature"], seed=b["seed"], pad_id=tok.pad_id)
        texts.append(tok.decode(out.tokens[0, len(ids):]))
    return texts


def run_level(url: str, bodies: list[dict], clients: int, timeout: float) -> dict:
    """Each of ``clients`` threads sends every ``clients``-th request in turn."""
    latencies, answers, errors = [0.0] * len(bodies), [None] * len(bodies), []
    start = threading.Barrier(clients + 1)

    def client(c: int) -> None:
        with httpx.Client(timeout=timeout) as http:
            start.wait()
            for i in range(c, len(bodies), clients):
                t0 = time.perf_counter()
                try:
                    r = http.post(url + "/v1/completions", json=bodies[i])
                    latencies[i] = time.perf_counter() - t0
                    if r.status_code != 200:
                        errors.append(f"request {i}: HTTP {r.status_code} {r.text[:200]}")
                    else:
                        answers[i] = r.json()["choices"][0]["text"]
                except httpx.HTTPError as e:
                    errors.append(f"request {i}: {type(e).__name__}")

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    tokens = sum(b["max_tokens"] for b in bodies)
    lat = sorted(latencies)
    return {"wall": wall, "rps": len(bodies) / wall, "tps": tokens / wall, "p50": statistics.median(lat),
            "p99": lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))], "answers": answers, "errors": errors}


def main(argv=None) -> int:
    args = parse_args(argv)
    levels = [int(c) for c in args.clients.split(",")]
    print("mdm serve benchmark --", machine_line())
    print("servers run with OMP_NUM_THREADS=1; other jobs may share this machine (timings are relative)")
    bodies = workload(args.requests, args.max_len)
    began = time.monotonic()
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = make_checkpoint(Path(tmp) / "bench", args)
        expected = offline_texts(ckpt, bodies)
        servers = {"batched": Server(ckpt, "--max-pending", "256"),
                   "one-at-a-time": Server(ckpt, "--max-pending", "256", "--one-at-a-time")}
        try:
            for srv in servers.values():  # warm up: first requests pay for lazy initialisation
                run_level(srv.url, bodies[:2], 1, args.timeout)
            results: dict[tuple[str, int], dict] = {}
            print(f"\n{'server':<14}{'clients':>8}{'requests':>9}{'req/s':>8}{'tok/s':>9}{'p50 s':>8}"
                  f"{'p99 s':>8}{'srv CPU s':>10}{'tok/CPU s':>10}{'lost':>6}{'wrong':>7}")
            for clients in levels:
                if time.monotonic() - began > args.max_seconds:
                    print(f"(stopped before {clients} clients: --max-seconds {args.max_seconds:g} reached)")
                    break
                runs: dict[str, list[dict]] = {name: [] for name in servers}
                names = list(servers)
                for r in range(args.repeats):  # the servers take turns, their order rotated each repeat
                    for name in names[r % len(names):] + names[:r % len(names)]:
                        srv = servers[name]
                        cpu0 = process_cpu(srv.proc.pid)
                        res = run_level(srv.url, bodies, clients, args.timeout)
                        res["cpu"] = process_cpu(srv.proc.pid) - cpu0
                        res["tpc"] = sum(b["max_tokens"] for b in bodies) / max(res["cpu"], 1e-9)
                        res["wrong"] = sum(a is not None and a != e for a, e in zip(res["answers"], expected))
                        res["lost"] = sum(a is None for a in res["answers"])
                        failed |= bool(res["wrong"] or res["lost"] or res["errors"])
                        runs[name].append(res)
                for name, reps in runs.items():
                    res = {k: statistics.median(r[k] for r in reps)
                           for k in ("rps", "tps", "p50", "p99", "cpu", "tpc")}  # medians over repeats
                    wrong, lost = sum(r["wrong"] for r in reps), sum(r["lost"] for r in reps)
                    results[(name, clients)] = res
                    print(f"{name:<14}{clients:>8}{len(bodies):>9}{res['rps']:>8.2f}{res['tps']:>9.1f}"
                          f"{res['p50']:>8.3f}{res['p99']:>8.3f}{res['cpu']:>10.2f}{res['tpc']:>10.1f}"
                          f"{lost:>6}{wrong:>7}")
                    for e in [e for r in reps for e in r["errors"]][:3]:
                        print("   ", e)
        finally:
            for srv in servers.values():
                srv.close()
    top = max(levels)
    if ("batched", top) in results and ("one-at-a-time", top) in results and ("batched", 1) in results:
        b, o, lone = results[("batched", top)], results[("one-at-a-time", top)], results[("batched", 1)]
        print(f"\nthroughput at {top} clients, batched / one-at-a-time: {b['tps'] / o['tps']:.2f}x in wall "
              f"time, {b['tpc'] / o['tpc']:.2f}x in tokens per server CPU second (goal >= 3x)")
        print(f"p99 latency at {top} clients / a lone request's p50: {b['p99'] / lone['p50']:.2f}x "
              "(goal <= 2x)")
    print("every request answered and identical to mdm.sample offline:", "no" if failed else "yes")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
