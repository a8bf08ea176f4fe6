"""The sink's one subscriber: every topic, in batches, written idempotently to DuckDB."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
from faststream import AckPolicy
from faststream.exceptions import NackMessage
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from events.reliability import EVENT_ID_HEADER, Reliability
from events.topics import DLQ_SUFFIX, TOPICS, dead_letter_topic
from workers.analytics.records import RawRecord
from workers.analytics.settings import AnalyticsSettings
from workers.analytics.sink import AnalyticsSink

logger = logging.getLogger(__name__)

GROUP = "melancia-analytics"
WRITE_RETRY_S = 2.0


def analytics_topics() -> list[str]:
    """Every fixed topic and its dead-letter topic (reply topics are per gateway and ephemeral)."""
    names = [spec.name for spec in TOPICS]
    return names + [dead_letter_topic(name) for name in names]


@dataclass
class Runtime:
    """What the lifespan opens and the handler uses."""

    sink: AnalyticsSink | None = None

    def require(self) -> AnalyticsSink:
        if self.sink is None:
            raise RuntimeError("the analytics store is not open yet")
        return self.sink


@dataclass
class _RecordAsMessage:
    """The parts of a StreamMessage that dead-lettering reads, for one record of a batch."""

    raw_message: Any
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


async def _batch_parser(records: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
    # FastStream gives a batch the first record's headers; the idempotency middleware would
    # then skip a whole batch whose first event was seen. The store dedups per event instead.
    message = await original(records)
    message.headers = {k: v for k, v in message.headers.items() if k != EVENT_ID_HEADER}
    return message


async def _raw_decoder(message: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
    return [record.value or b"" for record in message.raw_message]  # decoded per record later


def register(
    broker: KafkaBroker, runtime: Runtime, reliability: Reliability, settings: AnalyticsSettings
) -> None:
    """Attach the sink's subscriber to the broker."""

    @broker.subscriber(
        *analytics_topics(),
        group_id=GROUP,
        batch=True,
        max_records=settings.analytics_batch_size,
        batch_timeout_ms=settings.analytics_batch_timeout_ms,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.analytics_session_timeout_ms,
        heartbeat_interval_ms=settings.analytics_session_timeout_ms // 3,
        parser=_batch_parser,
        decoder=_raw_decoder,
        title="analytics.sink",
    )
    async def on_batch(values: list[bytes], message: KafkaMessage) -> None:
        sink = runtime.require()
        records = [RawRecord.of(r) for r in message.raw_message]
        try:
            outcome = await asyncio.to_thread(sink.ingest, records)
        except duckdb.Error as exc:
            # The store is the problem, not the events: redeliver the batch later, lose nothing.
            sink.metrics.write_failures.inc()
            logger.error("writing %d events failed, will retry: %s", len(records), exc)
            await asyncio.sleep(WRITE_RETRY_S)
            raise NackMessage() from exc
        for poison in outcome.poison:
            record = poison.record
            if record.topic.endswith(DLQ_SUFFIX):
                logger.warning(
                    "unreadable dead letter on %s offset %s: %s",
                    record.topic,
                    record.offset,
                    poison.error,
                )
                continue
            letter = _RecordAsMessage(record, record.value or b"", record.headers)
            await reliability.dead_letter(letter, poison.error, attempts=1)  # type: ignore[arg-type]
