"""Turning raw Kafka records into rows, one record at a time, so one poison record stays alone."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from schemas.envelope import Payload, envelope_type
from workers.analytics.tables import TableSpec


@dataclass(frozen=True)
class RawRecord:
    """What the sink needs of a consumer record (aiokafka's ConsumerRecord has these)."""

    topic: str
    partition: int | None
    offset: int | None
    key: bytes | None
    value: bytes | None
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, record: Any) -> RawRecord:
        headers = {k: v.decode("utf-8", "replace") for k, v in (record.headers or ())}
        return cls(record.topic, record.partition, record.offset, record.key, record.value, headers)


@dataclass(frozen=True)
class Decoded:
    """A valid event: the raw-table row and, for a known type, its typed table and row."""

    event_id: str
    type: str
    time: datetime
    replayed: bool
    raw_row: tuple[Any, ...]
    table: TableSpec | None
    typed_row: tuple[Any, ...] | None


@dataclass(frozen=True)
class Poison:
    """A record that is not a valid event, and why."""

    record: RawRecord
    error: Exception


def decode(
    record: RawRecord, specs: dict[str, TableSpec], ingested_at: datetime
) -> Decoded | Poison:
    """Validate one record as an envelope (and its payload, when the type is known)."""
    try:
        text = (record.value or b"").decode("utf-8")
        generic = envelope_type(Payload).model_validate_json(text)
        spec = specs.get(generic.type)
        typed = envelope_type(spec.payload).model_validate_json(text) if spec else None
    except (ValidationError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return Poison(record, exc)
    envelope = generic
    key = record.key.decode("utf-8", "replace") if record.key is not None else None
    raw_row = (
        str(envelope.event_id),
        envelope.type,
        envelope.source,
        envelope.time.isoformat(),
        envelope.schema_version,
        envelope.correlation_id,
        envelope.replayed,
        record.topic,
        record.partition,
        record.offset,
        key,
        ingested_at.isoformat(),
        text,
    )
    typed_row = None
    if spec is not None and typed is not None:
        data = typed.data.model_dump(mode="json")
        values = [
            json.dumps(data[c.name], ensure_ascii=False) if c.is_json else data[c.name]
            for c in spec.columns
        ]
        typed_row = (
            str(envelope.event_id),
            envelope.time.isoformat(),
            envelope.source,
            envelope.correlation_id,
            envelope.replayed,
            record.topic,
            *values,
        )
    return Decoded(
        str(envelope.event_id),
        envelope.type,
        envelope.time,
        envelope.replayed,
        raw_row,
        spec,
        typed_row,
    )
