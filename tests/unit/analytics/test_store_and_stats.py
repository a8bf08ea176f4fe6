"""The analytics store and its SQL without a broker: idempotent writes, typed tables, stats."""

import json
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import pytest

from schemas.envelope import Envelope, make_event
from schemas.ops import DeadLetter
from schemas.query import FeedbackSubmitted, QueryCompleted
from workers.analytics.archive import ArchiveQuery, count_archived, read_archived
from workers.analytics.metrics import AnalyticsMetrics
from workers.analytics.records import Poison, RawRecord, decode
from workers.analytics.sink import AnalyticsSink
from workers.analytics.stats import compute_stats, window
from workers.analytics.store import AnalyticsStore
from workers.analytics.tables import sql_type, typed_specs

NOW = datetime.now(UTC)


def query(i: int, **overrides: object) -> QueryCompleted:
    fields = {
        "query_id": f"q{i}",
        "user_id": "u",
        "tier": ("free", "premium", "internal")[i % 3],
        "question": "O que é ACOS?",
        "answer": "…",
        "model": "m1" if i % 4 else "m2",
        "variant": "default" if i % 5 else "b",
        "worker_id": "w",
        "finish_reason": "error" if i % 10 == 0 else ("cancelled" if i % 10 == 1 else "stop"),
        "latency_ms": 100.0 + 7 * i,
        "ttft_ms": None if i % 6 == 0 else 10.0 + i,
        "prompt_tokens": 50 + i,
        "completion_tokens": 20 + i % 7,
        "cached": i % 8 == 0,
        **overrides,
    }
    return QueryCompleted.model_validate(fields)


def record(event: Envelope, topic: str = "query.completed", offset: int = 0) -> RawRecord:  # type: ignore[type-arg]
    return RawRecord(topic, 0, offset, b"k", event.model_dump_json().encode())


@pytest.fixture
def sink() -> AnalyticsSink:
    return AnalyticsSink(AnalyticsStore(":memory:"), AnalyticsMetrics())


def test_a_typed_table_exists_for_every_event_type_with_scalar_columns_typed() -> None:
    specs = typed_specs()
    assert {"query.completed", "feedback.submitted", "dead_letter", "drift.detected"} <= set(specs)
    columns = {c.name: c.sql_type for c in specs["query.completed"].columns}
    assert columns["latency_ms"] == "DOUBLE" and columns["ttft_ms"] == "DOUBLE"
    assert columns["prompt_tokens"] == "BIGINT" and columns["cached"] == "BOOLEAN"
    assert columns["tier"] == "VARCHAR" and columns["retrieved"] == "JSON"
    assert {c.name: c.sql_type for c in specs["feedback.submitted"].columns}["rating"] == "BIGINT"
    assert sql_type(datetime) == "TIMESTAMPTZ"


def test_a_redelivered_or_replayed_event_is_stored_once(sink: AnalyticsSink) -> None:
    events = [make_event(query(i), source="w") for i in range(5)]
    first = sink.ingest([record(e, offset=i) for i, e in enumerate(events)])
    replayed = [e.model_copy(update={"replayed": True}) for e in events]
    second = sink.ingest([record(e, offset=10 + i) for i, e in enumerate(replayed + events[:2])])
    assert (first.inserted, first.duplicates) == (5, 0)
    assert (second.inserted, second.duplicates) == (0, 7)
    counts = sink.store.counts()
    assert counts["events"] == 5 and counts["query_completed"] == 5
    assert sink.metrics.totals()["duplicate"] == 7


def test_poison_records_are_handed_back_and_the_rest_of_the_batch_is_written(
    sink: AnalyticsSink,
) -> None:
    good = make_event(query(1), source="w")
    bad_payload = json.dumps({"type": "query.completed", "source": "x", "data": {"query_id": "q"}})
    outcome = sink.ingest(
        [
            RawRecord("query.completed", 0, 1, None, b"\xff not json"),
            RawRecord("query.completed", 0, 2, None, bad_payload.encode()),
            RawRecord("query.completed", 0, 3, None, b'{"type": "x", "data": {}}'),
            record(good, offset=4),
        ]
    )
    assert outcome.inserted == 1
    assert [p.record.offset for p in outcome.poison] == [1, 2, 3]
    assert all(isinstance(p, Poison) for p in outcome.poison)


def test_an_unknown_event_type_is_kept_in_the_raw_table_only(sink: AnalyticsSink) -> None:
    body = {"type": "future.event", "source": "x", "data": {"anything": 1}}
    outcome = sink.ingest([RawRecord("future", 0, 0, None, json.dumps(body).encode())])
    assert outcome.inserted == 1 and not outcome.poison
    [(kind, envelope)] = sink.store.cursor().execute("SELECT type, envelope FROM events").fetchall()
    assert kind == "future.event" and json.loads(envelope)["data"] == {"anything": 1}


def test_dead_letters_land_in_their_typed_table(sink: AnalyticsSink) -> None:
    letter = DeadLetter(
        original_topic="query.completed",
        error_type="ValidationError",
        error="bad",
        attempts=1,
        original_value="x",
        original_value_b64="eA==",
        failed_at=NOW,
    )
    sink.ingest([record(make_event(letter, source="s"), topic="query.completed.dlq")])
    rows = (
        sink.store.cursor().execute('SELECT original_topic, "offset" FROM dead_letter').fetchall()
    )
    assert rows == [("query.completed", None)]


def test_a_payload_field_added_later_becomes_a_column(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "a.duckdb"
    con = duckdb.connect(str(path))
    con.execute(
        'CREATE TABLE feedback_submitted ("event_id" VARCHAR PRIMARY KEY, "query_id" VARCHAR)'
    )
    con.close()
    store = AnalyticsStore(path)
    cols = {r[0] for r in store.cursor().execute("DESCRIBE feedback_submitted").fetchall()}
    assert {"rating", "comment", "user_id"} <= cols
    store.close()


def test_stats_match_figures_computed_directly_from_the_events(sink: AnalyticsSink) -> None:
    queries = [query(i) for i in range(60)]
    sink.ingest([record(make_event(q, source="w"), offset=i) for i, q in enumerate(queries)])
    feedback = [FeedbackSubmitted(query_id="q1", rating=r) for r in (1, 1, -1)]
    sink.ingest([record(make_event(f, source="g"), "feedback.submitted") for f in feedback])
    prices = {"m1": 0.002, "*": 0.001}
    since, until = window(None, None)
    stats = compute_stats(sink.store.cursor(), since=since, until=until, prices=prices)

    def expected_cost(group: list[QueryCompleted]) -> float:
        return sum(
            (q.prompt_tokens + q.completion_tokens) / 1000 * prices.get(q.model, prices["*"])
            for q in group
            if not q.cached
        )

    total = stats.total
    assert total.queries == 60
    assert total.errors == sum(q.finish_reason == "error" for q in queries)
    assert total.cancelled == sum(q.finish_reason == "cancelled" for q in queries)
    assert total.cache_hits == sum(q.cached for q in queries)
    assert total.prompt_tokens == sum(q.prompt_tokens for q in queries)
    latency = np.array([q.latency_ms for q in queries])
    assert total.latency_ms.p50 == pytest.approx(np.percentile(latency, 50))
    assert total.latency_ms.p99 == pytest.approx(np.percentile(latency, 99))
    ttft = np.array([q.ttft_ms for q in queries if q.ttft_ms is not None])
    assert total.ttft_ms.p95 == pytest.approx(np.percentile(ttft, 95))
    assert total.cost == pytest.approx(expected_cost(queries))
    assert total.cost_per_query == pytest.approx(expected_cost(queries) / 60)
    for dimension, groups in (
        ("model", stats.by_model),
        ("variant", stats.by_variant),
        ("tier", stats.by_tier),
    ):
        for group in groups:
            members = [q for q in queries if getattr(q, dimension) == group.key]
            assert group.queries == len(members)
            assert group.cost == pytest.approx(expected_cost(members))
    assert sum(h.queries for h in stats.per_hour) == 60
    assert stats.feedback == {"up": 2, "down": 1}


def test_stats_respect_the_time_window(sink: AnalyticsSink) -> None:
    old = make_event(query(1), source="w").model_copy(update={"time": NOW - timedelta(days=3)})
    sink.ingest([record(old), record(make_event(query(2), source="w"), offset=1)])
    since, until = window(None, None, hours=24)
    assert (
        compute_stats(sink.store.cursor(), since=since, until=until, prices={}).total.queries == 1
    )
    since, until = window(NOW - timedelta(days=4), None)
    assert (
        compute_stats(sink.store.cursor(), since=since, until=until, prices={}).total.queries == 2
    )


def test_empty_windows_give_zeros_not_errors(sink: AnalyticsSink) -> None:
    since, until = window(None, None)
    stats = compute_stats(sink.store.cursor(), since=since, until=until, prices={})
    assert stats.total.queries == 0 and stats.by_model == [] and stats.total.latency_ms.p50 is None


def test_the_archive_returns_the_original_envelopes_of_a_topic_in_time_order(
    sink: AnalyticsSink,
) -> None:
    events = [
        make_event(query(i), source="w").model_copy(update={"time": NOW - timedelta(minutes=i)})
        for i in range(5)
    ]
    sink.ingest([record(e, offset=i) for i, e in enumerate(events)])
    cursor = sink.store.cursor()
    everything = ArchiveQuery("query.completed")
    assert count_archived(cursor, everything) == 5
    got = list(read_archived(cursor, everything))
    assert [json.loads(a.value)["event_id"] for a in got] == [
        str(e.event_id) for e in reversed(events)
    ]
    assert got[0].key == "k"
    recent = ArchiveQuery("query.completed", since=NOW - timedelta(minutes=2, seconds=30))
    assert count_archived(cursor, recent) == 3
    assert count_archived(cursor, ArchiveQuery("query.completed", from_offset=3)) == 2
    assert count_archived(cursor, ArchiveQuery("feedback.submitted")) == 0


def test_decode_keeps_the_replayed_flag_and_the_key() -> None:
    event = make_event(query(1), source="w").model_copy(update={"replayed": True})
    decoded = decode(record(event), typed_specs(), NOW)
    assert not isinstance(decoded, Poison)
    assert decoded.replayed and decoded.raw_row[10] == "k"
