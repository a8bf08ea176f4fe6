"""Bus overhead and concurrency of streamed answers (a benchmark, not a test).

(a) the same generation in-process vs gateway → Kafka → worker → SSE: time to first token and
    total time, p50/p95; (b) latency and aggregate tokens/s at 1, 4 and 8 concurrent streams.

The two paths run in pairs: each question goes through the bus, then the system's processes
(broker, gateway, worker) are stopped with SIGSTOP and the same question is answered in-process,
then they are continued. Each pair shares the machine's state of that moment (a VM's neighbours,
clocks, caches), and the in-process answer has the cores to itself, as it would without the
system. Besides p50/p95 of each path, the median of the paired differences is printed, and a
bootstrap interval of each overhead (pairs resampled) says how far one run can be trusted.

    python -m bench.streaming_bench --model gemma3-270m --requests 50 --max-new-tokens 64
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from melancia import heap

QUESTIONS = [
    "Explique em detalhes o que é ACOS e como calcular.",
    "Como funciona o ROAS nos anúncios do Mercado Livre?",
    "Quais cuidados tomar com o orçamento diário na Black Friday?",
    "O que fazer quando o CPC sobe muito rápido?",
    "Qual a diferença entre TACoS e ACOS?",
]


Sample = tuple[float, float, int]  # time to first token (ms), total (ms), tokens
Samples = dict[str, list[float]]
SETTLE_S = 0.3
# After a stop every consumer's held fetch has run out and its timers are due at once; the
# background consumers wait 1 s per fetch, so the next pair starts once that has passed.
RESUME_SETTLE_S = 1.2


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def overhead_interval(
    bus: list[float], local: list[float], q: float, resamples: int = 2000
) -> tuple[float, float]:
    """95% bootstrap interval of pct(bus, q) - pct(local, q), resampling whole pairs (each pair
    shares its moment), seeded so that a run prints the same interval twice."""
    rng = random.Random(0)
    n = len(bus)
    diffs = []
    for _ in range(resamples):
        idx = [rng.randrange(n) for _ in range(n)]
        diffs.append(pct([bus[i] for i in idx], q) - pct([local[i] for i in idx], q))
    return pct(diffs, 2.5), pct(diffs, 97.5)


def load_in_process(model: str, home: Path) -> Any:
    """The service the worker builds (retrieval, adapter, prompt, generation)."""
    from workers.inference.app import load_service
    from workers.inference.settings import InferenceSettings

    with heap.loading():  # as the worker loads
        return load_service(InferenceSettings(base_model=model, home=home))


async def one_local(service: Any, question: str, max_new_tokens: int, query_id: str) -> Sample:
    """The same answer without the bus: the worker's service called directly; the first token
    is timed where the sink receives it."""
    from schemas.common import GenerationParams
    from schemas.query import QueryRequested, TokenChunk

    class Sink:
        first: float | None = None

        async def send(self, reply: object) -> None:
            if isinstance(reply, TokenChunk) and self.first is None:
                self.first = time.perf_counter()

    request = QueryRequested(
        query_id=query_id,
        question=question,
        params=GenerationParams(max_new_tokens=max_new_tokens),
    )
    sink = Sink()
    started = time.perf_counter()
    completed = await service.answer(request, sink)
    end = time.perf_counter()
    assert sink.first is not None
    return (sink.first - started) * 1000, (end - started) * 1000, completed.completion_tokens


def descendants(pid: int) -> list[int]:
    """Child processes of pid, recursively (Linux /proc; elsewhere none)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = entry.read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        parents.setdefault(ppid, []).append(int(entry.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


@contextlib.contextmanager
def stopped(procs: list[subprocess.Popen]) -> Iterator[None]:
    """The system's processes stopped (SIGSTOP) for the duration, then continued."""
    pids = [p.pid for p in procs]
    pids += [kid for pid in list(pids) for kid in descendants(pid)]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)


async def until_healthy(client: httpx.AsyncClient, base: str, timeout_s: float = 30.0) -> None:
    """After a stop: wait until the gateway sees the worker's heartbeat again."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if (await client.get(f"{base}/health")).status_code == 200:
                return
        await asyncio.sleep(0.1)
    raise RuntimeError("the system did not come back after the in-process request")


async def paired(
    service: Any, procs: list[subprocess.Popen], base: str, n: int, max_new_tokens: int
) -> tuple[Samples, Samples]:
    """n pairs (after two warm-up pairs): the question through the bus, then in-process with
    the system stopped."""
    bus: Samples = {"ttft_ms": [], "total_ms": [], "tokens": []}
    local: Samples = {"ttft_ms": [], "total_ms": [], "tokens": []}
    async with httpx.AsyncClient(timeout=300) as client:
        for i in range(n + 2):
            question = QUESTIONS[i % len(QUESTIONS)]
            through = await one_stream(client, base, question, max_new_tokens)
            await asyncio.sleep(SETTLE_S)  # the worker logs the answer and commits
            with stopped(procs):
                alone = await one_local(service, question, max_new_tokens, f"local-{i}")
            await until_healthy(client, base)
            await asyncio.sleep(RESUME_SETTLE_S)
            if i < 2:
                continue  # warm-up
            for samples, sample in ((bus, through), (local, alone)):
                for key, value in zip(("ttft_ms", "total_ms", "tokens"), sample, strict=True):
                    samples[key].append(value)
    return bus, local


async def one_stream(
    client: httpx.AsyncClient, base: str, question: str, max_new_tokens: int
) -> Sample:
    body = {"question": question, "max_new_tokens": max_new_tokens}
    started = time.perf_counter()
    first = None
    tokens = 0
    async with client.stream("POST", f"{base}/api/v1/query/stream", json=body) as response:
        response.raise_for_status()
        event = ""
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and event == "token":
                first = first or time.perf_counter()
            elif line.startswith("data:") and event == "done":
                tokens = json.loads(line[5:])["usage"]["completion_tokens"]
            elif line.startswith("data:") and event == "error":
                raise RuntimeError(line)
    end = time.perf_counter()
    return ((first or end) - started) * 1000, (end - started) * 1000, tokens


async def concurrent(base: str, users: int, rounds: int, max_new_tokens: int) -> dict[str, float]:
    latencies: list[float] = []
    ttfts: list[float] = []
    tokens = 0

    async def user(u: int) -> None:
        nonlocal tokens
        async with httpx.AsyncClient(timeout=600) as client:
            for r in range(rounds):
                q = QUESTIONS[(u + r) % len(QUESTIONS)]
                ttft, total, n = await one_stream(client, base, q, max_new_tokens)
                ttfts.append(ttft)
                latencies.append(total)
                tokens += n

    started = time.perf_counter()
    await asyncio.gather(*(user(u) for u in range(users)))
    wall = time.perf_counter() - started
    return {
        "users": users,
        "requests": len(latencies),
        "ttft_p50": pct(ttfts, 50),
        "ttft_p95": pct(ttfts, 95),
        "lat_p50": pct(latencies, 50),
        "lat_p95": pct(latencies, 95),
        "tok_s": tokens / wall,
    }


def start_system(
    model: str, home: Path, port: int, logs: Path
) -> tuple[list[subprocess.Popen], str, float]:
    from events.embedded import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith("MELANCIA_")}
    env.update(
        MELANCIA_BASE_MODEL=model,
        MELANCIA_HOME=str(home),
        MELANCIA_PORT=str(port),
        MELANCIA_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}",
        MELANCIA_LOG_LEVEL="WARNING",
        MELANCIA_ENV="development",
        MELANCIA_ANSWER_CACHE_TTL_S="0",  # repeated questions must reach the model
    )
    broker_port = env["MELANCIA_KAFKA_BOOTSTRAP"].rsplit(":", 1)[1]
    log = (logs / "system.log").open("wb")
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "melancia", "broker", "--port", broker_port],
            env=env,
            stdout=log,
            stderr=log,
        )
    ]
    time.sleep(0.3)
    for args in (["gateway"], ["worker", "inference"]):
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "melancia", *args], env=env, stdout=log, stderr=log
            )
        )
    base = f"http://127.0.0.1:{port}"
    while time.perf_counter() - started < 300:
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return procs, base, time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError("system did not become healthy; see " + str(logs / "system.log"))


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in reversed(procs):
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def row(name: str, d: dict[str, list[float]]) -> str:
    tok_s = sum(d["tokens"]) / (sum(d["total_ms"]) / 1000)
    return (
        f"| {name} | {pct(d['ttft_ms'], 50):.0f} | {pct(d['ttft_ms'], 95):.0f} | "
        f"{pct(d['total_ms'], 50):.0f} | {pct(d['total_ms'], 95):.0f} | "
        f"{statistics.mean(d['tokens']):.1f} | {tok_s:.1f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--concurrency", default="1,4,8")
    parser.add_argument("--rounds", type=int, default=2, help="requests per user per level")
    parser.add_argument("--home", default=os.environ.get("MELANCIA_HOME", "var"))
    args = parser.parse_args()
    home = Path(args.home).resolve()
    from events.embedded import free_port

    print(
        f"model={args.model} requests={args.requests} max_new_tokens={args.max_new_tokens} "
        f"cores={os.cpu_count()}",
        flush=True,
    )
    service = load_in_process(args.model, home)
    print(f"in-process: serving {service.model_name} (adapter: {service.adapter})", flush=True)
    with tempfile.TemporaryDirectory() as logs:
        procs, base, ready_s = start_system(args.model, home, free_port(), Path(logs))
        try:
            bus, local = asyncio.run(
                paired(service, procs, base, args.requests, args.max_new_tokens)
            )
            levels = [
                asyncio.run(concurrent(base, int(u), args.rounds, args.max_new_tokens))
                for u in args.concurrency.split(",")
            ]
        finally:
            stop(procs)
    heap.thaw()
    print(f"\nsystem healthy {ready_s:.1f} s after start (broker + gateway + worker, cached model)")
    print("\n(a) bus overhead, sequential requests in pairs")
    print("| path | TTFT p50 ms | TTFT p95 ms | total p50 ms | total p95 ms | tokens | tok/s |")
    print("|---|---|---|---|---|---|---|")
    print(row("in-process", local))
    print(row("gateway→Kafka→worker→SSE", bus))
    d50 = pct(bus["ttft_ms"], 50) - pct(local["ttft_ms"], 50)
    d95 = pct(bus["ttft_ms"], 95) - pct(local["ttft_ms"], 95)
    ratio = (sum(bus["tokens"]) / sum(bus["total_ms"])) / (
        sum(local["tokens"]) / sum(local["total_ms"])
    )
    diffs = [b - a for b, a in zip(bus["ttft_ms"], local["ttft_ms"], strict=True)]
    lo50, hi50 = overhead_interval(bus["ttft_ms"], local["ttft_ms"], 50)
    lo95, hi95 = overhead_interval(bus["ttft_ms"], local["ttft_ms"], 95)
    print(
        f"\nTTFT overhead: p50 {d50:+.1f} ms (95% interval {lo50:+.1f} to {hi50:+.1f}), "
        f"p95 {d95:+.1f} ms ({lo95:+.1f} to {hi95:+.1f}); "
        f"median of the paired differences {statistics.median(diffs):+.1f} ms; "
        f"bus/in-process tok/s = {ratio:.3f}"
    )
    print("\n(b) concurrent streams")
    print(
        "| users | requests | TTFT p50 ms | TTFT p95 ms | latency p50 ms | latency p95 ms | aggregate tok/s |"
    )
    print("|---|---|---|---|---|---|---|")
    for lv in levels:
        print(
            f"| {lv['users']} | {lv['requests']} | {lv['ttft_p50']:.0f} | {lv['ttft_p95']:.0f} | "
            f"{lv['lat_p50']:.0f} | {lv['lat_p95']:.0f} | {lv['tok_s']:.1f} |"
        )


if __name__ == "__main__":
    main()
