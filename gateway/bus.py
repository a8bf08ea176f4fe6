"""The gateway's side of the bus: connect (and keep trying), publish, and consume replies."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry

from events.admin import broker_reachable, ensure_topics
from events.broker import build_broker
from events.bus import emit
from events.pacing import PacedSubscriber
from events.settings import BusSettings
from events.topics import WORKER_HEARTBEAT, all_topics, reply_topic
from gateway.queries import QueryBook
from gateway.workers_seen import WorkerTracker
from melancia.discovery import router_modules
from schemas.envelope import Envelope
from schemas.ops import WorkerHeartbeat
from schemas.query import QueryReply

logger = logging.getLogger(__name__)


class BusUnavailable(Exception):
    """The broker cannot be reached right now."""


class GatewayBus:
    """Owns the broker connection; the gateway serves HTTP whether or not it is up."""

    def __init__(
        self,
        *,
        bus: BusSettings,
        instance: str,
        book: QueryBook,
        tracker: WorkerTracker,
        registry: CollectorRegistry,
        retry_s: float,
        health_cache_s: float,
        state: Any = None,
    ) -> None:
        self.settings = bus
        self.instance = instance
        self.book = book
        self.tracker = tracker
        self.registry = registry
        self.retry_s = retry_s
        self.health_cache_s = health_cache_s
        self.state = state
        self.broker: KafkaBroker | None = None
        self._connector: asyncio.Task[None] | None = None
        self._health: tuple[float, bool] = (0.0, False)
        self._replies: PacedSubscriber | None = None
        self._repace_timer: asyncio.TimerHandle | None = None

    @property
    def reply_topic(self) -> str:
        return reply_topic(self.instance)

    @property
    def connected(self) -> bool:
        return self.broker is not None

    def start(self) -> None:
        """Connect in the background, retrying until the broker answers."""
        self._connector = asyncio.create_task(self._connect_forever(), name="bus-connect")

    async def _connect_forever(self) -> None:
        attempt = 0
        # One broker for the gateway's life: its metrics live in the gateway's registry, and a
        # failed start can be retried on the same object.
        broker = self._build()
        while self.broker is None:
            attempt += 1
            try:
                await ensure_topics(self.settings, all_topics((self.instance,)))
                await broker.start()
            except (KafkaError, OSError, TimeoutError) as exc:
                with contextlib.suppress(Exception):
                    await broker.stop()
                if attempt == 1 or attempt % 30 == 0:
                    logger.warning(
                        "broker %s unreachable (%s); retrying", self.settings.servers, exc
                    )
                await asyncio.sleep(self.retry_s)
                continue
            self.broker = broker
            self._health = (time.monotonic(), True)
            self.book.on_change = self.repace
            self.repace()
            logger.info("connected to %s; replies on %s", self.settings.servers, self.reply_topic)

    def _build(self) -> KafkaBroker:
        broker, _ = build_broker(self.settings, service="gateway", registry=self.registry)
        book, tracker = self.book, self.tracker

        # No consumer group: each gateway reads its own reply topic and every heartbeat, and
        # replies are ephemeral (a restarted gateway has no streams to resume).
        # Tokens stream through here, paced by what the open queries await (events.pacing).
        replies = broker.subscriber(
            self.reply_topic,
            auto_offset_reset="latest",
            ack_policy=AckPolicy.ACK_FIRST,
            fetch_max_wait_ms=self.settings.answer_fetch_wait_ms,
        )
        self._replies = PacedSubscriber(
            replies,
            fast_ms=self.settings.answer_fetch_wait_ms,
            slow_ms=self.settings.stream_fetch_wait_ms,
        )

        @replies
        async def on_reply(event: Envelope[QueryReply]) -> None:
            book.deliver(event.data)

        @broker.subscriber(
            WORKER_HEARTBEAT, auto_offset_reset="latest", ack_policy=AckPolicy.ACK_FIRST
        )
        async def on_heartbeat(event: Envelope[WorkerHeartbeat]) -> None:
            tracker.see(event.data, event.time)

        # Route modules that follow other topics (training progress, say) add their own.
        for module in router_modules():
            if hasattr(module, "subscribe"):
                module.subscribe(broker, self.state)
        return broker

    def repace(self) -> None:
        """Pace the reply consumer by what the open queries await, and again when a
        first-token estimate runs out."""
        if self._replies is None or self.broker is None:
            return
        now = time.monotonic()
        self._replies.set(self.book.pace(now))
        if self._repace_timer is not None:
            self._repace_timer.cancel()
            self._repace_timer = None
        wake = self.book.next_change(now)
        if wake is not None:
            loop = asyncio.get_running_loop()
            self._repace_timer = loop.call_later(max(0.0, wake - now), self.repace)

    async def publish(self, topic: str, event: Envelope[Any], *, key: str) -> None:
        """Publish or raise BusUnavailable."""
        if self.broker is None:
            raise BusUnavailable(f"broker {self.settings.servers} is not connected")
        try:
            await emit(self.broker, topic, event, key=key)
        except (KafkaError, OSError) as exc:
            self._health = (time.monotonic(), False)
            raise BusUnavailable(f"publish to {topic} failed: {exc}") from exc

    async def healthy(self) -> bool:
        """Connected and the cluster answers; cached briefly so probes stay cheap."""
        if self.broker is None:
            return False
        checked_at, ok = self._health
        if time.monotonic() - checked_at > self.health_cache_s:
            ok = await broker_reachable(self.settings, timeout_s=1.5)
            self._health = (time.monotonic(), ok)
        return ok

    async def close(self) -> None:
        if self._repace_timer is not None:
            self._repace_timer.cancel()
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        if self.broker is not None:
            await self.broker.stop()
            self.broker = None
