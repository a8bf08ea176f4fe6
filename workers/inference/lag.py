"""Consumer lag of the inference group: end offset minus committed offset, per partition.

Lag is the signal to scale inference on (KEDA reads the same numbers from Kafka) and what the
`MelanciaConsumerLagHigh` alert watches. Every inference replica measures the whole group, so
dashboards and alerts take `max by (group, topic, partition)` across replicas.

| name | type | labels | meaning |
|---|---|---|---|
| melancia_consumer_lag | gauge | group, topic, partition | messages not yet committed by the group |
| melancia_consumer_lag_errors_total | counter | group | lag measurements that failed |
| melancia_consumer_lag_updated_timestamp_seconds | gauge | group | time of the last good measurement |
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from prometheus_client import CollectorRegistry, Counter, Gauge

from events.admin import client_kwargs
from events.settings import BusSettings
from events.topics import QUERY_REQUESTED
from workers.inference.handlers import GROUP

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 15.0


def partition_lag(
    committed: Mapping[TopicPartition, int],
    ends: Mapping[TopicPartition, int],
    beginnings: Mapping[TopicPartition, int],
) -> dict[TopicPartition, int]:
    """Lag per partition; a partition the group never committed counts from its beginning."""
    lag = {}
    for tp, end in ends.items():
        position = committed.get(tp, -1)
        if position < 0:
            position = beginnings.get(tp, 0)
        lag[tp] = max(end - position, 0)
    return lag


class LagGauges:
    """The lag instruments, on the worker's registry."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.lag = Gauge(
            "melancia_consumer_lag",
            "Messages not yet committed by the consumer group",
            ["group", "topic", "partition"],
            registry=registry,
        )
        self.errors = Counter(
            "melancia_consumer_lag_errors",
            "Consumer-lag measurements that failed",
            ["group"],
            registry=registry,
        )
        self.updated = Gauge(
            "melancia_consumer_lag_updated_timestamp_seconds",
            "Unix time of the last good consumer-lag measurement",
            ["group"],
            registry=registry,
        )

    def record(self, group: str, lag: Mapping[TopicPartition, int]) -> None:
        for tp, value in lag.items():
            self.lag.labels(group, tp.topic, str(tp.partition)).set(value)
        self.updated.labels(group).set(time.time())


def _client_kwargs(settings: BusSettings, timeout_s: float) -> dict[str, Any]:
    return {
        **client_kwargs(settings),
        "client_id": f"{settings.client_id}-lag",
        "request_timeout_ms": int(timeout_s * 1000),
    }


class LagProbe:
    """An admin client (committed offsets) and a group-less consumer (end offsets)."""

    def __init__(self, settings: BusSettings, *, timeout_s: float = 10.0) -> None:
        kwargs = _client_kwargs(settings, timeout_s)
        self.admin = AIOKafkaAdminClient(**kwargs)
        # No group: this consumer only asks for offsets; it never joins or commits.
        self.consumer = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, **kwargs)

    async def start(self) -> None:
        await self.admin.start()
        await self.consumer.start()

    async def close(self) -> None:
        with contextlib.suppress(KafkaError, OSError, RuntimeError):
            await self.consumer.stop()
        with contextlib.suppress(KafkaError, OSError, RuntimeError):
            await self.admin.close()

    async def measure(self, group: str, topics: Sequence[str]) -> dict[TopicPartition, int]:
        """Lag of every partition of `topics` for `group`."""
        partitions = [
            TopicPartition(t["topic"], p["partition"])
            for t in await self.admin.describe_topics(list(topics))
            for p in t["partitions"]
        ]
        if not partitions:
            return {}
        offsets = await self.admin.list_consumer_group_offsets(group, partitions=partitions)
        committed = {tp: meta.offset for tp, meta in offsets.items()}
        ends = await self.consumer.end_offsets(partitions)
        beginnings = await self.consumer.beginning_offsets(partitions)
        return partition_lag(committed, ends, beginnings)


async def watch_lag(
    settings: BusSettings,
    gauges: LagGauges,
    *,
    group: str = GROUP,
    topics: Sequence[str] = (QUERY_REQUESTED,),
    interval_s: float = DEFAULT_INTERVAL_S,
) -> None:
    """Measure the group's lag every `interval_s` until cancelled; reconnect after errors."""
    probe: LagProbe | None = None
    failing = False
    try:
        while True:
            try:
                if probe is None:
                    probe = LagProbe(settings)
                    await probe.start()
                gauges.record(group, await probe.measure(group, topics))
                failing = False
            except (KafkaError, OSError, TimeoutError) as exc:
                gauges.errors.labels(group).inc()
                if not failing:
                    logger.warning("consumer lag of %s not measured: %r", group, exc)
                failing = True
                if probe is not None:
                    await probe.close()
                    probe = None
            await asyncio.sleep(interval_s)
    finally:
        if probe is not None:
            await probe.close()


def start_lag_monitor(
    settings: BusSettings,
    registry: CollectorRegistry | None,
    *,
    interval_s: float = DEFAULT_INTERVAL_S,
) -> asyncio.Task[None]:
    """Start measuring the inference group's lag in the background (cancel the task to stop)."""
    gauges = LagGauges(registry or CollectorRegistry())
    return asyncio.create_task(
        watch_lag(settings, gauges, interval_s=interval_s), name="consumer-lag"
    )
