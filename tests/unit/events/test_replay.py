"""Replay logic without a broker: time parsing, marking, the window, pacing, the summary."""

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from events.replay import (
    RateLimiter,
    ReplayRecord,
    mark_replayed,
    parse_rate,
    parse_time,
    replay,
)
from schemas.envelope import make_event
from schemas.query import FeedbackSubmitted

NOW = datetime(2025, 11, 28, 12, 0, tzinfo=UTC)


def test_times_are_iso_or_a_span_before_now() -> None:
    assert parse_time("2h", now=NOW) == NOW - timedelta(hours=2)
    assert parse_time("30m ago", now=NOW) == NOW - timedelta(minutes=30)
    assert parse_time("7d", now=NOW) == NOW - timedelta(days=7)
    assert parse_time("2025-11-28T10:00:00Z") == datetime(2025, 11, 28, 10, tzinfo=UTC)
    assert parse_time("2025-11-28T10:00:00") == datetime(2025, 11, 28, 10, tzinfo=UTC)
    with pytest.raises(ValueError):
        parse_time("yesterday-ish")


def test_rates_read_with_or_without_per_second() -> None:
    assert parse_rate("250/s") == parse_rate("250") == 250.0
    with pytest.raises(ValueError):
        parse_rate("0")


def test_a_replayed_envelope_keeps_its_event_id_and_says_it_is_replayed() -> None:
    event = make_event(FeedbackSubmitted(query_id="q", rating=1), source="g")
    marked = mark_replayed(event.model_dump_json().encode())
    assert marked is not None
    body = json.loads(marked.value)
    assert body["replayed"] is True and body["event_id"] == str(event.event_id)
    assert marked.headers == {
        "replayed": "true",
        "event_id": str(event.event_id),
        "event_type": "feedback.submitted",
    }
    assert marked.time == event.time
    assert mark_replayed(b"\xff not json") is None
    assert mark_replayed(b"[1, 2]") is None


async def _records(values: list[bytes]) -> AsyncIterator[ReplayRecord]:
    for i, value in enumerate(values):
        yield ReplayRecord(f"k{i}".encode(), value, None, 0, i)


def _event_at(minutes_ago: int) -> bytes:
    event = make_event(FeedbackSubmitted(query_id="q", rating=1), source="g")
    return (
        event.model_copy(update={"time": NOW - timedelta(minutes=minutes_ago)})
        .model_dump_json()
        .encode()
    )


async def test_replay_publishes_the_window_and_counts_what_it_skipped() -> None:
    values = [_event_at(m) for m in (50, 40, 30, 20, 10)] + [b"not json"]
    sent: list[tuple[str, bytes | None, dict[str, str]]] = []

    async def publish(topic: str, key: bytes | None, value: bytes, headers: dict[str, str]) -> None:
        sent.append((topic, key, headers))

    summary = await replay(
        _records(values),
        publish=publish,
        source="kafka:t",
        target="t2",
        since=NOW - timedelta(minutes=45),
        until=NOW - timedelta(minutes=15),
    )
    assert (summary.read, summary.replayed) == (6, 3)
    assert (summary.outside_window, summary.unparseable) == (2, 1)
    assert [s[0] for s in sent] == ["t2"] * 3 and [s[1] for s in sent] == [b"k1", b"k2", b"k3"]
    assert summary.by_type == {"feedback.submitted": 3}
    assert summary.first_time == NOW - timedelta(minutes=40)
    text = summary.render()
    assert "replayed 3 of 6 events from kafka:t to t2" in text and "unparseable" in text


async def test_a_dry_run_publishes_nothing() -> None:
    summary = await replay(
        _records([_event_at(1)] * 3), publish=None, source="archive:t", target="t"
    )
    assert summary.dry_run and summary.replayed == 3
    assert summary.render().startswith("would replay 3 of 3")


async def test_the_rate_limiter_paces_calls() -> None:
    limiter = RateLimiter(200)
    started = time.monotonic()
    for _ in range(21):
        await limiter.wait()
    assert time.monotonic() - started >= 0.09
    unlimited = RateLimiter(None)
    started = time.monotonic()
    for _ in range(1000):
        await unlimited.wait()
    assert time.monotonic() - started < 0.05
