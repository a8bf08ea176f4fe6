"""HTTP behaviour that needs no broker: validation, admission control, honest 503s."""

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from events.embedded import free_port
from events.settings import BusSettings
from gateway.main import create_app
from gateway.settings import GatewaySettings


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = GatewaySettings(
        env="development", max_in_flight=1, worker_wait_s=0.2, connect_retry_s=0.2
    )
    unreachable = BusSettings(bootstrap=f"127.0.0.1:{free_port()}")
    with TestClient(create_app(settings, unreachable)) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"question": ""}, "question"),
        ({"question": "x" * 4001}, "question"),
        ({"question": "ok", "unknown": True}, "unknown"),
        ({"question": "ok", "temperature": "hot"}, "temperature"),
        ({}, "question"),
    ],
)
def test_invalid_bodies_are_422_with_the_field_named(
    client: TestClient, body: dict[str, object], field: str
) -> None:
    response = client.post("/api/v1/query/stream", json=body)
    assert response.status_code == 422
    assert field in response.json()["detail"]
    assert any(e["field"] == field for e in response.json()["errors"])


def test_broker_down_gives_503_with_reason_on_health_and_queries(client: TestClient) -> None:
    health = client.get("/health")
    assert health.status_code == 503
    assert health.json()["broker"] is False
    assert "no inference worker has been seen" in health.json()["reasons"]
    response = client.post("/api/v1/query", json={"question": "Oi"})
    assert response.status_code == 503
    assert "unreachable" in response.json()["detail"]


def test_admission_control_answers_429_with_retry_after(client: TestClient) -> None:
    client.app.state.book.open("busy", "x")  # type: ignore[attr-defined]
    response = client.post("/api/v1/query", json={"question": "Oi"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"


def test_unknown_query_status_is_404(client: TestClient) -> None:
    assert client.get("/api/v1/query/abc").status_code == 404
    assert client.get("/api/v1/query/abc/stream").status_code == 404


def test_responses_are_counted_by_route_and_status(client: TestClient) -> None:
    client.get("/health")
    client.post("/api/v1/query", json={"question": ""})
    client.get("/no/such/route")
    metrics = client.get("/metrics").text
    assert 'melancia_gateway_requests_total{route="/health",status="503"} 1.0' in metrics
    assert 'melancia_gateway_requests_total{route="/api/v1/query",status="422"} 1.0' in metrics
    assert 'melancia_gateway_requests_total{route="unmatched",status="404"} 1.0' in metrics
