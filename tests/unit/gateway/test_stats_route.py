"""GET /api/v1/stats: the gateway asks the analytics sink's endpoint (it never opens DuckDB)."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from events.embedded import free_port
from events.settings import BusSettings
from gateway.main import create_app
from gateway.settings import GatewaySettings
from schemas.envelope import make_event
from schemas.query import QueryCompleted
from tests.servers import asgi_server
from workers.analytics.http import create_http_app
from workers.analytics.metrics import AnalyticsMetrics
from workers.analytics.records import RawRecord
from workers.analytics.sink import AnalyticsSink
from workers.analytics.store import AnalyticsStore


def gateway() -> TestClient:
    settings = GatewaySettings(env="development", connect_retry_s=0.2)
    return TestClient(create_app(settings, BusSettings(bootstrap=f"127.0.0.1:{free_port()}")))


@pytest.fixture
def sink_port(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    sink = AnalyticsSink(AnalyticsStore(":memory:"), AnalyticsMetrics())
    records = []
    for i, model in enumerate(["tiny", "tiny", "smollm2-135m"]):
        q = QueryCompleted(
            query_id=f"q{i}",
            user_id="u",
            tier="premium",
            question="Oi",
            answer="Olá",
            model=model,
            worker_id="w",
            finish_reason="stop",
            latency_ms=100.0 * (i + 1),
            prompt_tokens=100,
            completion_tokens=900,
        )
        body = make_event(q, source="w").model_dump_json().encode()
        records.append(RawRecord("query.completed", 0, i, None, body))
    sink.ingest(records)
    app = create_http_app(store=sink.store, metrics=sink.metrics, prices={"tiny": 0.01, "*": 0.0})
    with asgi_server(app) as port:
        monkeypatch.setenv("MELANCIA_ANALYTICS_PORT", str(port))
        yield port


def test_stats_come_from_the_analytics_sink(sink_port: int) -> None:
    with gateway() as client:
        response = client.get("/api/v1/stats", params={"hours": 1})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"]["queries"] == 3
    assert {g["key"]: g["queries"] for g in body["by_model"]} == {"smollm2-135m": 1, "tiny": 2}
    assert body["total"]["latency_ms"]["p50"] == 200.0
    assert body["total"]["cost"] == pytest.approx(0.02)  # 2 x 1k tokens of tiny at 0.01
    assert body["by_tier"][0]["key"] == "premium"


def test_stats_are_503_with_a_reason_when_the_sink_is_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MELANCIA_ANALYTICS_PORT", str(free_port()))
    with gateway() as client:
        response = client.get("/api/v1/stats")
    assert response.status_code == 503
    assert "analytics sink" in response.json()["detail"]


def test_bad_windows_are_422() -> None:
    with gateway() as client:
        assert client.get("/api/v1/stats", params={"hours": 0}).status_code == 422
        assert client.get("/api/v1/stats", params={"since": "yesterday"}).status_code == 422
