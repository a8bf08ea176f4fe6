"""Models, routing selection and the A/B report over HTTP (no broker: state is fed directly)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from events.embedded import free_port
from events.settings import BusSettings
from gateway.main import create_app
from gateway.routes.ab import ledger_of
from gateway.settings import GatewaySettings
from schemas.ops import WorkerHeartbeat
from schemas.query import FeedbackSubmitted, QueryCompleted


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = GatewaySettings(env="development", connect_retry_s=0.2)
    unreachable = BusSettings(bootstrap=f"127.0.0.1:{free_port()}")
    with TestClient(create_app(settings, unreachable)) as test_client:
        beat = WorkerHeartbeat(
            worker_id="w1",
            models=["gemma3-270m"],
            variants={"champion": "champion@2", "challenger": "challenger@3", "base": "base"},
            in_flight=0,
            capacity=2,
            interval_s=60,
            started_at=datetime.now(UTC),
        )
        test_client.app.state.tracker.see(beat, datetime.now(UTC))  # type: ignore[attr-defined]
        yield test_client


def test_models_lists_variants_with_their_versions_and_the_routing(client: TestClient) -> None:
    body = client.get("/api/v1/models").json()

    [model] = body["models"]
    assert (model["name"], model["workers"]) == ("gemma3-270m", 1)
    assert {v["variant"]: v["label"] for v in model["variants"]} == {
        "champion": "champion@2",
        "challenger": "challenger@3",
        "base": "base",
    }
    assert body["routing"]["challenger_share"] == 0.0


def test_select_pins_users_routes_tiers_and_sets_the_share(client: TestClient) -> None:
    pinned = client.post("/api/v1/models/select", json={"user_id": "u1", "variant": "challenger"})
    tier = client.post("/api/v1/models/select", json={"tier": "free", "variant": "base"})
    share = client.post("/api/v1/models/select", json={"challenger_share": 0.25})
    unpinned = client.post("/api/v1/models/select", json={"user_id": "u1", "unpin": True})

    assert pinned.status_code == tier.status_code == share.status_code == 200
    assert pinned.json()["pins"] == {"u1": "challenger"}
    assert tier.json()["free_variant"] == "base"
    assert share.json()["challenger_share"] == 0.25
    assert unpinned.json()["pins"] == {}
    status = client.get("/api/v1/models/status").json()
    assert status["routing"]["free_variant"] == "base"
    assert status["workers"][0]["variants"]["challenger"] == "challenger@3"


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"user_id": "u1", "variant": "nope"}, "is not served"),
        ({"variant": "base"}, "needs user_id"),
        ({"unpin": True}, "unpin needs user_id"),
        ({}, "nothing to change"),
        ({"challenger_share": 1.5}, "challenger_share"),
    ],
)
def test_select_rejects_what_cannot_apply(client: TestClient, body: dict, detail: str) -> None:  # type: ignore[type-arg]
    response = client.post("/api/v1/models/select", json=body)

    assert response.status_code == 422
    assert detail in str(response.json()["detail"])


def test_the_ab_report_compares_the_arms(client: TestClient) -> None:
    client.post("/api/v1/models/select", json={"challenger_share": 0.5})
    ledger = ledger_of(client.app.state)  # type: ignore[attr-defined]
    for i in range(40):
        variant = "challenger@3" if i % 2 else "champion@2"
        ledger.record_query(
            QueryCompleted(
                query_id=f"q{i}",
                user_id=f"u{i}",
                tier="premium",
                question="q",
                answer="a",
                model="gemma3-270m",
                variant=variant,
                worker_id="w1",
                finish_reason="stop",
                latency_ms=100.0 + i,
                prompt_tokens=1,
                completion_tokens=1,
            )
        )
        if i % 4 == 1:
            ledger.record_feedback(FeedbackSubmitted(query_id=f"q{i}", rating=1))

    body = client.get("/api/v1/ab/report").json()

    assert [v["variant"] for v in body["variants"]] == ["champion", "challenger"]
    assert [v["queries"] for v in body["variants"]] == [20, 20]
    assert body["variants"][1]["thumbs_up"] == 10
    comparison = body["comparison"]
    assert comparison["positive_rate_diff"] == pytest.approx(0.5)
    assert comparison["feedback"]["significant"] is True
    assert comparison["latency"]["p_value"] is not None
    assert comparison["sample_ratio"]["significant"] is False
    assert body["configured_challenger_share"] == 0.5
