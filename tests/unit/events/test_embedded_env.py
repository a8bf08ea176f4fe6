"""The embedded broker's environment."""

from __future__ import annotations

import pytest

from events.embedded import broker_env


def test_the_embedded_broker_runs_one_runtime_thread_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TOKIO_WORKER_THREADS", raising=False)
    monkeypatch.setenv("MELANCIA_PORT", "8123")
    env = broker_env()
    assert env["TOKIO_WORKER_THREADS"] == "1"
    assert env["MELANCIA_PORT"] == "8123"  # the rest of the environment is passed on
    monkeypatch.setenv("TOKIO_WORKER_THREADS", "4")
    assert broker_env()["TOKIO_WORKER_THREADS"] == "4"
