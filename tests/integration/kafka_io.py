"""Reading and writing topics directly, to observe what the services publish."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


async def _collect(
    bootstrap: str,
    topics: tuple[str, ...],
    match: Callable[[dict[str, Any]], bool],
    count: int,
    timeout_s: float,
) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while len(found) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    try:
                        value = json.loads(record.value)
                    except ValueError:
                        continue
                    if match(value):
                        found.append(value)
    finally:
        await consumer.stop()
    return found


def collect(
    bootstrap: str,
    topic: str | tuple[str, ...],
    match: Callable[[dict[str, Any]], bool],
    *,
    count: int = 1,
    timeout_s: float = 30.0,
) -> list[dict[str, Any]]:
    """Events on `topic` (read from the beginning) that match, waiting until `count` are found.

    Several topics wait for whichever answers first (a job's completed or failed, say).
    """
    topics = (topic,) if isinstance(topic, str) else topic
    return asyncio.run(_collect(bootstrap, topics, match, count, timeout_s))


async def _produce(bootstrap: str, topic: str, value: bytes, key: bytes | None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


def produce(bootstrap: str, topic: str, value: bytes, key: bytes | None = None) -> None:
    asyncio.run(_produce(bootstrap, topic, value, key))
