"""Every worker with a metrics port serves its registry where MELANCIA_METRICS_* say."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

# worker → a metric of its own, to tell its registry from an empty one
WORKERS = {
    "alerts": "melancia_alerts_queued",
    "drift": "melancia_drift_statistic",
    "evaluation": "melancia_evaluation_runs",
    "inference": "melancia_inference_queries",
    "training": "melancia_training_jobs",
}


@pytest.mark.parametrize("worker", sorted(WORKERS))
def test_main_serves_the_workers_registry_on_the_configured_address(
    worker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = importlib.import_module(f"workers.{worker}.app")
    served: list[tuple[int, str, CollectorRegistry]] = []

    def start_http_server(port: int, addr: str, registry: CollectorRegistry) -> None:
        served.append((port, addr, registry))

    def run(coroutine: Any) -> None:
        coroutine.close()  # the app itself is not the point here

    monkeypatch.setenv("MELANCIA_METRICS_PORT", "9931")
    monkeypatch.setenv("MELANCIA_METRICS_HOST", "0.0.0.0")
    monkeypatch.delenv("MELANCIA_DRIFT_METRICS_PORT", raising=False)
    monkeypatch.setattr(app, "start_http_server", start_http_server)
    monkeypatch.setattr(app.asyncio, "run", run)

    assert app.main() == 0

    [(port, addr, registry)] = served
    assert (port, addr) == (9931, "0.0.0.0")
    assert WORKERS[worker] in {m.name for m in registry.collect()}
    # The bus metrics are on the same registry.
    assert any(m.name.startswith("faststream_") for m in registry.collect())


def test_the_drift_workers_own_port_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    from workers.drift.settings import DriftSettings

    monkeypatch.setenv("MELANCIA_METRICS_PORT", "9120")
    assert DriftSettings().served_metrics_port == 9120
    monkeypatch.setenv("MELANCIA_DRIFT_METRICS_PORT", "9100")
    assert DriftSettings().served_metrics_port == 9100
