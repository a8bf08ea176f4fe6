"""Fetch pacing: how often a subscriber's consumers ask the broker for more.

An empty fetch is held by the broker for up to `fetch_max_wait_ms`. Apache Kafka answers a held
fetch as soon as a record arrives, so there a long wait costs no latency. A broker that answers
only when the wait runs out (the embedded one does) makes the wait the latency of every record,
so the answer path waits briefly (`MELANCIA_KAFKA_ANSWER_FETCH_WAIT_MS`) and polls often. On a
small machine that polling takes CPU from the generation it is waiting for, so consumers are
paced by what their owner expects: fast while a record is due, slow or paused otherwise.
Resuming a paused partition starts a fetch at once, with no held fetch to sit out.

What is due comes from the events themselves: a worker's `Sources` carries its estimate of the
time to the first token, so a gateway pauses its replies until most of that has passed; the
last tokens of an answer are due when the count asked for is nearly reached. Consumers nobody
waits on in real time fetch with `MELANCIA_KAFKA_BACKGROUND_FETCH_WAIT_MS`
(events.broker.PacedKafkaBroker).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, TopicPartition

logger = logging.getLogger(__name__)

Pace = Literal["fast", "slow", "paused"]


def subscriber_consumers(subscriber: Any) -> list[AIOKafkaConsumer]:
    """The running aiokafka consumers of a FastStream subscriber (none under TestKafkaBroker)."""
    group = getattr(subscriber, "consumer_subgroup", None)
    consumers = list(group) if group else [getattr(subscriber, "consumer", None)]
    return [c for c in consumers if isinstance(c, AIOKafkaConsumer)]


def set_fetch_wait(consumer: AIOKafkaConsumer, wait_ms: int) -> bool:
    """Make the consumer's next fetches ask the broker to hold them at most wait_ms.

    aiokafka reads the wait from its fetcher for every request but offers no public setter;
    where the attribute is missing the consumer keeps the wait it was built with.
    """
    fetcher = getattr(consumer, "_fetcher", None)
    if fetcher is None or not hasattr(fetcher, "_fetch_max_wait_ms"):
        return False
    fetcher._fetch_max_wait_ms = wait_ms
    return True


def pause_all(consumers: Iterable[AIOKafkaConsumer]) -> None:
    """Stop fetching every assigned partition (the position is kept)."""
    for consumer in consumers:
        assigned = consumer.assignment()
        if assigned:
            consumer.pause(*assigned)


def resume_all(consumers: Iterable[AIOKafkaConsumer]) -> None:
    """Fetch every assigned partition again, starting at once."""
    for consumer in consumers:
        paused = consumer.paused()
        if paused:
            consumer.resume(*paused)


async def waiting_partitions(
    consumers: Iterable[AIOKafkaConsumer],
) -> list[tuple[AIOKafkaConsumer, list[TopicPartition]]]:
    """Each consumer's paused partitions that hold records past its position, found with one
    offsets request for all of them."""
    paused = [(c, sorted(c.paused())) for c in consumers]
    paused = [(c, tps) for c, tps in paused if tps]
    if not paused:
        return []
    ends = await paused[0][0].end_offsets([tp for _, tps in paused for tp in tps])
    waiting = []
    for consumer, tps in paused:
        behind = [tp for tp in tps if ends.get(tp, 0) > await consumer.position(tp)]
        if behind:
            waiting.append((consumer, behind))
    return waiting


async def read_to_end(
    consumers: Iterable[AIOKafkaConsumer], *, timeout_s: float, poll_s: float = 0.02
) -> bool:
    """Wait until every consumer has read all that its partitions held when called, so that
    events published before one read elsewhere are handled first (topics have no order between
    them). Bounded: False if the consumers are still behind after timeout_s."""
    consumers = [c for c in consumers if c.assignment()]
    if not consumers:
        return True
    ends = {}
    for consumer in consumers:
        ends[consumer] = await consumer.end_offsets(sorted(consumer.assignment()))
    deadline = time.monotonic() + timeout_s
    while True:
        behind = False
        for consumer, table in ends.items():
            for tp, end in table.items():
                if tp in consumer.assignment() and await consumer.position(tp) < end:
                    behind = True
        if not behind:
            return True
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(poll_s)


class PacedSubscriber:
    """One subscriber's consumers held at one of three paces: fast, slow or paused."""

    def __init__(self, subscriber: Any, *, fast_ms: int, slow_ms: int, pace: Pace = "fast") -> None:
        """pace: the one the subscriber was built with."""
        self.subscriber = subscriber
        self.fast_ms = fast_ms
        self.slow_ms = slow_ms
        self.pace = pace
        self._warned = False

    def set(self, pace: Pace) -> None:
        """Apply pace to every consumer (again when it is the current one: a consumer may have
        been assigned partitions since)."""
        consumers = subscriber_consumers(self.subscriber)
        if pace == "paused":
            pause_all(consumers)
        else:
            wait = self.fast_ms if pace == "fast" else self.slow_ms
            for consumer in consumers:
                if not set_fetch_wait(consumer, wait) and not self._warned:
                    self._warned = True
                    logger.warning("this aiokafka has no fetch wait to pace; keeping the fixed one")
            resume_all(consumers)
        self.pace = pace
