"""Publishing an envelope: one place sets the key and the headers consumers rely on."""

from __future__ import annotations

from typing import Any

from faststream.kafka import KafkaBroker

from events.reliability import EVENT_ID_HEADER, EVENT_TYPE_HEADER
from schemas.envelope import Envelope


def headers_for(event: Envelope[Any]) -> dict[str, str]:
    """The headers that idempotency and routing read without parsing the body."""
    return {EVENT_ID_HEADER: str(event.event_id), EVENT_TYPE_HEADER: event.type}


async def emit(broker: KafkaBroker, topic: str, event: Envelope[Any], *, key: str | None) -> None:
    """Publish one event, keyed so that one entity's events stay in order."""
    await broker.publish(
        event.model_dump(mode="json"),
        topic=topic,
        key=key.encode() if key is not None else None,
        headers=headers_for(event),
    )
