"""`melancia up` on embedded defaults: healthy, answers, and stops cleanly on Ctrl-C."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx
import pytest

from events.embedded import free_port
from tests.integration.harness import ROOT, healthy, service_env, wait_until

pytestmark = pytest.mark.integration


def test_up_starts_broker_gateway_and_worker_and_stops_on_sigint(tmp_path) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    env = service_env("unused", MELANCIA_BASE_MODEL="tiny", MELANCIA_PORT=str(port))
    del env["MELANCIA_KAFKA_BOOTSTRAP"]  # no Kafka configured: up starts the embedded broker
    log = (tmp_path / "up.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "melancia", "up", "--broker-port", str(free_port())],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"

    def up_healthy() -> bool:
        if proc.poll() is not None:  # a child died and `up` stopped the rest: no use waiting
            raise AssertionError(f"melancia up exited with {proc.returncode} before healthy")
        return healthy(base)

    try:
        wait_until(up_healthy, 120, "melancia up healthy")
        answer = httpx.post(
            f"{base}/api/v1/query", json={"question": "Oi", "max_new_tokens": 4}, timeout=60
        )
        assert answer.status_code == 200, answer.text
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{base}/health", timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
        output = (tmp_path / "up.log").read_text(errors="replace")
        print(said_and_errors(output))
        print("\n".join(output.splitlines()[-60:]))
    assert "embedded Kafka-protocol broker" in output
    assert "[gateway]" in output and "[inference-0]" in output


def said_and_errors(log: str) -> str:
    """What `up` itself logged (which child exited) and every error with its traceback."""
    kept, keeping = [], False
    for line in log.splitlines():
        if line[:2].isdigit():  # a new record: "2026-11-25 06:31:28,110 LEVEL [name] ..."
            keeping = "[up]" in line or " ERROR " in line
        elif line.startswith("Traceback"):  # printed straight to stderr by a dying process
            keeping = True
        if keeping:
            kept.append(line)
    return "\n".join(kept)
