"""Real processes for integration tests: gateway and workers started like `melancia up` does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def service_env(bootstrap: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MELANCIA_")}
    env.update(
        MELANCIA_KAFKA_BOOTSTRAP=bootstrap,
        MELANCIA_HOME=str(Path(os.environ.get("MELANCIA_HOME", ROOT / "var")).resolve()),
        MELANCIA_LOG_LEVEL="INFO",
        MELANCIA_ENV="development",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


@dataclass
class Process:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Fleet:
    """Processes started by one test or fixture; all stopped together."""

    log_dir: Path
    processes: list[Process] = field(default_factory=list)

    def start(self, name: str, args: list[str], env: dict[str, str]) -> Process:
        log = self.log_dir / f"{name}.log"
        handle = log.open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "melancia", *args],
            env=env,
            stdout=handle,
            stderr=handle,
            cwd=ROOT,
        )
        process = Process(name, proc, log)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.tail()}" for p in self.processes)


def wait_until(predicate, timeout_s: float, what: str, interval_s: float = 0.2):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    raise TimeoutError(f"timed out after {timeout_s}s waiting for {what}")


def health(base_url: str) -> httpx.Response | None:
    try:
        return httpx.get(f"{base_url}/health", timeout=3)
    except httpx.HTTPError:
        return None


def healthy(base_url: str, workers: int = 1) -> bool:
    response = health(base_url)
    return bool(
        response is not None
        and response.status_code == 200
        and response.json()["inference_workers"] >= workers
    )


@dataclass
class SseEvent:
    event: str
    id: str | None
    data: dict[str, object]


def parse_sse(lines: Iterator[str]) -> Iterator[SseEvent]:
    """Minimal SSE parser for tests (pings are comments and are skipped)."""
    event, ident, data = "message", None, []
    for line in lines:
        if line == "":
            if data:
                yield SseEvent(event, ident, json.loads("\n".join(data)))
            event, ident, data = "message", None, []
        elif line.startswith(":"):
            continue
        else:
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if key == "event":
                event = value
            elif key == "id":
                ident = value
            elif key == "data":
                data.append(value)
