"""Publishing an envelope: one place sets the key and the headers consumers rely on."""

from __future__ import annotations

import asyncio
from typing import Any

from faststream.kafka import KafkaBroker

from events.reliability import EVENT_ID_HEADER, EVENT_TYPE_HEADER
from schemas.envelope import Envelope


def headers_for(event: Envelope[Any]) -> dict[str, str]:
    """The headers that idempotency and routing read without parsing the body."""
    return {EVENT_ID_HEADER: str(event.event_id), EVENT_TYPE_HEADER: event.type}


async def _publish(
    broker: KafkaBroker, topic: str, event: Envelope[Any], *, key: str | None, confirm: bool
) -> Any:
    return await broker.publish(
        event.model_dump(mode="json"),
        topic=topic,
        key=key.encode() if key is not None else None,
        headers=headers_for(event),
        no_confirm=not confirm,
    )


async def emit(broker: KafkaBroker, topic: str, event: Envelope[Any], *, key: str | None) -> None:
    """Publish one event, keyed so that one entity's events stay in order; returns once the
    broker has it."""
    await _publish(broker, topic, event, key=key, confirm=True)


async def emit_unconfirmed(
    broker: KafkaBroker, topic: str, event: Envelope[Any], *, key: str | None
) -> asyncio.Future[Any]:
    """Hand one event to the producer and return without waiting for the broker; the future
    says whether it got there. Events of one key still arrive in the order they were handed
    over (the producer sends one batch per partition at a time)."""
    sent = await _publish(broker, topic, event, key=key, confirm=False)
    if isinstance(sent, asyncio.Future):
        return sent
    # A producer that delivers at once (FastStream's test broker) returns no future.
    done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    done.set_result(sent)
    return done
