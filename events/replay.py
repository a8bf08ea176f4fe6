"""Replay: re-publish a topic's events from Kafka (or any source of records) to a topic.

A replayed event keeps its `event_id` and carries `replayed: true` in the envelope (and a
`replayed` header), so consumers that are idempotent on `event_id` skip what they have already
handled and the analytics store never counts an event twice. The time window applies to the
envelope's `time` (the event's own time), not to when the record was written, so events that
were already replayed once select the same way as the originals.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from events.admin import client_kwargs
from events.reliability import EVENT_ID_HEADER, EVENT_TYPE_HEADER
from events.settings import BusSettings

REPLAYED_HEADER = "replayed"
_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*(?:ago)?\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, *, now: datetime | None = None) -> datetime:
    """An ISO 8601 time (UTC if it has no zone) or a span before now: `30m`, `2h`, `7d`."""
    now = now or datetime.now(UTC)
    match = _RELATIVE.match(text)
    if match:
        amount, unit = float(match.group(1)), _UNITS[match.group(2)]
        return now - timedelta(**{unit: amount})
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_rate(text: str) -> float:
    """`100`, `100/s` → 100.0 events per second."""
    value = float(text.strip().removesuffix("/s"))
    if value <= 0:
        raise ValueError("rate must be positive")
    return value


@dataclass(frozen=True)
class ReplayRecord:
    """One record to replay: its key and bytes, and where it came from."""

    key: bytes | None
    value: bytes
    timestamp_ms: int | None = None
    partition: int | None = None
    offset: int | None = None


@dataclass(frozen=True)
class Marked:
    """A record rewritten for replay."""

    value: bytes
    headers: dict[str, str]
    event_type: str
    time: datetime | None


def mark_replayed(value: bytes) -> Marked | None:
    """The envelope with `replayed: true` and the same event_id; None if it is not JSON."""
    try:
        envelope = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(envelope, dict):
        return None
    envelope["replayed"] = True
    headers = {REPLAYED_HEADER: "true"}
    if envelope.get("event_id"):
        headers[EVENT_ID_HEADER] = str(envelope["event_id"])
    event_type = str(envelope.get("type") or "unknown")
    headers[EVENT_TYPE_HEADER] = event_type
    event_time = None
    if isinstance(envelope.get("time"), str):
        try:
            event_time = parse_time(envelope["time"])
        except ValueError:
            event_time = None
    return Marked(
        json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode(),
        headers,
        event_type,
        event_time,
    )


class RateLimiter:
    """Paces calls to `rate` per second (None: no limit)."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self._next = time.monotonic()

    async def wait(self) -> None:
        if not self.interval:
            return
        now = time.monotonic()
        if self._next > now:
            await asyncio.sleep(self._next - now)
        self._next = max(self._next, now) + self.interval


@dataclass
class ReplaySummary:
    """What a replay did."""

    source: str
    target: str
    dry_run: bool
    read: int = 0
    replayed: int = 0
    outside_window: int = 0
    unparseable: int = 0
    by_type: Counter[str] = field(default_factory=Counter)
    first_time: datetime | None = None
    last_time: datetime | None = None
    elapsed_s: float = 0.0

    def render(self) -> str:
        verb = "would replay" if self.dry_run else "replayed"
        rate = self.replayed / self.elapsed_s if self.elapsed_s > 0 else 0.0
        lines = [
            f"{verb} {self.replayed} of {self.read} events from {self.source} to {self.target} "
            f"in {self.elapsed_s:.1f}s ({rate:.0f}/s)",
            f"  outside the time window: {self.outside_window}",
            f"  unparseable (not replayed): {self.unparseable}",
        ]
        if self.first_time and self.last_time:
            lines.append(
                f"  event times: {self.first_time.isoformat()} .. {self.last_time.isoformat()}"
            )
        lines += [f"  {t}: {n}" for t, n in sorted(self.by_type.items())]
        return "\n".join(lines)


class Progress(Protocol):
    def update(self, n: int = 1) -> Any: ...


Publish = Callable[[str, bytes | None, bytes, dict[str, str]], Awaitable[None]]


async def replay(
    records: AsyncIterator[ReplayRecord],
    *,
    publish: Publish | None,
    source: str,
    target: str,
    since: datetime | None = None,
    until: datetime | None = None,
    rate: float | None = None,
    progress: Progress | None = None,
) -> ReplaySummary:
    """Mark and re-publish every record inside [since, until); publish=None is a dry run."""
    summary = ReplaySummary(source=source, target=target, dry_run=publish is None)
    limiter = RateLimiter(rate)
    started = time.monotonic()
    async for record in records:
        summary.read += 1
        if progress is not None:
            progress.update(1)
        marked = mark_replayed(record.value)
        if marked is None:
            summary.unparseable += 1
            continue
        when = marked.time or (
            datetime.fromtimestamp(record.timestamp_ms / 1000, UTC)
            if record.timestamp_ms is not None
            else None
        )
        if when is not None and (
            (since is not None and when < since) or (until is not None and when >= until)
        ):
            summary.outside_window += 1
            continue
        if publish is not None:
            await limiter.wait()
            await publish(target, record.key, marked.value, marked.headers)
        summary.replayed += 1
        summary.by_type[marked.event_type] += 1
        if when is not None:
            summary.first_time = min(summary.first_time or when, when)
            summary.last_time = max(summary.last_time or when, when)
    summary.elapsed_s = time.monotonic() - started
    return summary


def _client_kwargs(settings: BusSettings) -> dict[str, Any]:
    return client_kwargs(settings)


@dataclass
class KafkaSource:
    """A topic's records from a start position to where the topic ended when the replay began.

    The end is the end offset seen at the start, so replaying a topic into itself terminates.
    Some brokers (the embedded one) report too low an end offset after multi-record batches, so
    a record past that offset still counts when it was written before the replay began; a
    partition is done at the first record written after that, or when it has nothing more.
    """

    consumer: AIOKafkaConsumer
    start: dict[TopicPartition, int]
    end: dict[TopicPartition, int]
    started_ms: int = field(default_factory=lambda: int(time.time() * 1000))
    poll_ms: int = 500

    @property
    def total(self) -> int:
        return sum(max(0, self.end[tp] - self.start[tp]) for tp in self.end)

    async def records(self) -> AsyncIterator[ReplayRecord]:
        remaining = set(self.end)
        try:
            while remaining:
                batches = await self.consumer.getmany(*remaining, timeout_ms=self.poll_ms)
                for tp in list(remaining):
                    batch = batches.get(tp, [])
                    if not batch and await self.consumer.position(tp) >= self.end[tp]:
                        remaining.discard(tp)  # caught up
                    for rec in batch:
                        if rec.offset >= self.end[tp] and rec.timestamp >= self.started_ms:
                            remaining.discard(tp)  # written after the replay began
                            break
                        yield ReplayRecord(
                            rec.key, rec.value or b"", rec.timestamp, rec.partition, rec.offset
                        )
        finally:
            await self.consumer.stop()


async def open_kafka_source(
    settings: BusSettings,
    topic: str,
    *,
    from_offset: int | None = None,
    since: datetime | None = None,
) -> KafkaSource:
    """Assign every partition of `topic` (no consumer group) and seek to the start."""
    consumer = AIOKafkaConsumer(
        **_client_kwargs(settings),
        client_id=f"{settings.client_id}-replay",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if partitions is None:
            await consumer.topics()  # refreshes metadata for a topic this client never saw
            partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            raise ValueError(f"topic {topic!r} does not exist")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        beginning = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
        start = dict(beginning)
        if from_offset is not None:
            start = {tp: min(max(beginning[tp], from_offset), end[tp]) for tp in tps}
        elif since is not None:
            # A hint only (some brokers answer with the log start); the window filter is exact.
            found = await consumer.offsets_for_times(
                {tp: int(since.timestamp() * 1000) for tp in tps}
            )
            start = {tp: found[tp].offset if found.get(tp) else end[tp] for tp in tps}
        for tp in tps:
            consumer.seek(tp, start[tp])
        return KafkaSource(consumer, start, end)
    except BaseException:
        await consumer.stop()
        raise


class KafkaPublisher:
    """Publishes replayed records, waiting for acknowledgements in chunks."""

    def __init__(self, settings: BusSettings, chunk: int = 500) -> None:
        self.producer = AIOKafkaProducer(
            **_client_kwargs(settings),
            client_id=f"{settings.client_id}-replay",
            enable_idempotence=False,  # the embedded broker has no idempotent producer
            acks="all",
        )
        self.chunk = chunk
        self._pending: list[asyncio.Future[Any]] = []

    async def __aenter__(self) -> KafkaPublisher:
        await self.producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            await self.flush()
        finally:
            await self.producer.stop()

    async def publish(
        self, topic: str, key: bytes | None, value: bytes, headers: dict[str, str]
    ) -> None:
        future = await self.producer.send(
            topic, value, key=key, headers=[(k, v.encode()) for k, v in headers.items()]
        )
        self._pending.append(future)
        if len(self._pending) >= self.chunk:
            await self.flush()

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)
