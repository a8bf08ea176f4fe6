"""The sink's freshness, active users and feedback metrics, from batches written to DuckDB."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client import CollectorRegistry

from schemas.envelope import Envelope, Payload, make_event
from schemas.query import FeedbackSubmitted, QueryCompleted
from workers.analytics.http import create_http_app
from workers.analytics.metrics import AnalyticsMetrics
from workers.analytics.records import RawRecord
from workers.analytics.sink import AnalyticsSink
from workers.analytics.store import AnalyticsStore

NOW = datetime.now(UTC)


def answer(query_id: str, user: str, variant: str = "champion@2") -> QueryCompleted:
    return QueryCompleted(
        query_id=query_id,
        user_id=user,
        tier="free",
        question="O que é ACOS?",
        answer="…",
        model="m",
        variant=variant,
        worker_id="w",
        finish_reason="stop",
        latency_ms=100.0,
        prompt_tokens=10,
        completion_tokens=5,
    )


def record(data: Payload, topic: str, *, age: timedelta = timedelta(0)) -> RawRecord:
    event: Envelope[Payload] = make_event(data, source="t").model_copy(update={"time": NOW - age})
    return RawRecord(topic, 0, 0, None, event.model_dump_json().encode())


@pytest.fixture
def sink() -> AnalyticsSink:
    metrics = AnalyticsMetrics(CollectorRegistry())
    sink = AnalyticsSink(AnalyticsStore(":memory:"), metrics)
    metrics.watch(sink.store)
    return sink


def sample(sink: AnalyticsSink, name: str, **labels: str) -> float | None:
    return sink.metrics.registry.get_sample_value(name, labels)


def test_freshness_is_the_newest_event_time_per_topic_and_never_goes_back(
    sink: AnalyticsSink,
) -> None:
    name = "melancia_analytics_last_event_timestamp_seconds"
    sink.ingest(
        [
            record(answer("q1", "u1"), "query.completed", age=timedelta(minutes=5)),
            record(answer("q2", "u1"), "query.completed", age=timedelta(minutes=1)),
            record(FeedbackSubmitted(query_id="q1", rating=1), "feedback.submitted"),
        ]
    )
    newest = (NOW - timedelta(minutes=1)).timestamp()
    assert sample(sink, name, topic="query.completed") == pytest.approx(newest)
    assert sample(sink, name, topic="feedback.submitted") == pytest.approx(NOW.timestamp())

    # A redelivered older batch does not make the sink look stale.
    sink.ingest([record(answer("q0", "u1"), "query.completed", age=timedelta(hours=2))])
    assert sample(sink, name, topic="query.completed") == pytest.approx(newest)


def test_active_users_are_distinct_users_of_the_last_hour_and_day(sink: AnalyticsSink) -> None:
    sink.ingest(
        [
            record(answer("q1", "ana"), "query.completed", age=timedelta(minutes=10)),
            record(answer("q2", "ana"), "query.completed", age=timedelta(minutes=20)),
            record(answer("q3", "bia"), "query.completed", age=timedelta(hours=3)),
            record(answer("q4", "caio"), "query.completed", age=timedelta(hours=30)),
        ]
    )
    assert sample(sink, "melancia_analytics_active_users", window="1h") == 1
    assert sample(sink, "melancia_analytics_active_users", window="24h") == 2


def test_feedback_is_counted_by_the_variant_that_gave_the_answer(sink: AnalyticsSink) -> None:
    sink.ingest(
        [
            record(answer("q1", "ana", variant="champion@2"), "query.completed"),
            record(answer("q2", "bia", variant="challenger@3"), "query.completed"),
        ]
    )
    ratings = [("q1", 1), ("q1", -1), ("q2", -1), ("q2", -1), ("not-logged", 1)]
    sink.ingest(
        [
            record(FeedbackSubmitted(query_id=q, rating=r), "feedback.submitted")  # type: ignore[arg-type]
            for q, r in ratings
        ]
    )
    name = "melancia_analytics_feedback_total"
    assert sample(sink, name, variant="champion@2", rating="up") == 1
    assert sample(sink, name, variant="champion@2", rating="down") == 1
    assert sample(sink, name, variant="challenger@3", rating="down") == 2
    assert sample(sink, name, variant="challenger@3", rating="up") is None


def test_an_unwatched_store_is_not_queried(sink: AnalyticsSink) -> None:
    sink.metrics.unwatch()
    sink.store.close()  # what the lifespan does after unwatch
    assert sample(sink, "melancia_analytics_active_users", window="1h") is None


async def test_the_http_endpoint_serves_the_store_figures(sink: AnalyticsSink) -> None:
    sink.ingest([record(answer("q1", "ana"), "query.completed")])
    app = create_http_app(store=sink.store, metrics=sink.metrics, prices={"*": 0.0})
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sink") as client:
        text = (await client.get("/metrics")).text
    assert 'melancia_analytics_active_users{window="1h"} 1.0' in text
    assert 'melancia_analytics_last_event_timestamp_seconds{topic="query.completed"}' in text
