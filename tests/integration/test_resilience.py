"""The gateway without a broker or without workers: honest health and bounded waits."""

from __future__ import annotations

import time

import httpx
import pytest

from events.embedded import EmbeddedBroker, free_port
from tests.integration.harness import Fleet, health, healthy, service_env, wait_until

pytestmark = pytest.mark.integration


def test_gateway_started_without_broker_is_503_then_recovers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    kafka_port, http_port = free_port(), free_port()
    bootstrap = f"127.0.0.1:{kafka_port}"
    base = f"http://127.0.0.1:{http_port}"
    fleet = Fleet(tmp_path)
    broker = EmbeddedBroker(port=kafka_port)
    try:
        fleet.start(
            "gateway",
            ["gateway"],
            service_env(bootstrap, MELANCIA_PORT=str(http_port), MELANCIA_WORKER_WAIT_S="2"),
        )
        down = wait_until(lambda: health(base), 60, "gateway answering HTTP")
        assert down.status_code == 503
        assert any("unreachable" in r for r in down.json()["reasons"])
        refused = httpx.post(f"{base}/api/v1/query", json={"question": "Oi"}, timeout=10)
        assert refused.status_code == 503
        assert "unreachable" in refused.json()["detail"]

        broker.start()
        # Broker up, no worker yet: still 503, and a query is refused after a bounded wait.
        wait_until(
            lambda: (h := health(base)) is not None and h.json()["broker"], 60, "broker seen"
        )
        started = time.monotonic()
        no_worker = httpx.post(f"{base}/api/v1/query", json={"question": "Oi"}, timeout=30)
        waited = time.monotonic() - started
        assert no_worker.status_code == 503
        assert "no inference worker" in no_worker.json()["detail"]
        assert waited < 15
        assert health(base).status_code == 503  # type: ignore[union-attr]

        fleet.start(
            "worker",
            ["worker", "inference"],
            service_env(bootstrap, MELANCIA_BASE_MODEL="tiny", MELANCIA_HEARTBEAT_S="1"),
        )
        wait_until(lambda: healthy(base), 120, "gateway healthy after the broker came up")
        ok = httpx.post(
            f"{base}/api/v1/query", json={"question": "Oi", "max_new_tokens": 4}, timeout=60
        )
        assert ok.status_code == 200, ok.text
    except BaseException:
        print(fleet.logs())
        raise
    finally:
        fleet.stop()
        broker.stop()
