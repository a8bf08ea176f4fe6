"""Inference subscribers: decode, call the service, publish. Nothing else lives here."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker

from events.bus import emit, emit_unconfirmed
from events.settings import BusSettings
from events.topics import (
    MODEL_PROMOTED,
    MODEL_ROLLED_BACK,
    QUERY_CANCELLED,
    QUERY_COMPLETED,
    QUERY_REQUESTED,
)
from melancia import heap
from schemas.envelope import Envelope, make_event
from schemas.query import Done, Failed, QueryCancelled, QueryReply, QueryRequested
from schemas.registry import ModelPromoted, ModelRolledBack
from workers.inference.intake import QueryIntake
from workers.inference.service import InferenceService
from workers.inference.settings import InferenceSettings
from workers.inference.telemetry import InferenceTelemetry
from workers.inference.variants import Swapper

GROUP = "melancia-inference"


@dataclass
class Runtime:
    """What the lifespan loads and the handlers use."""

    service: InferenceService | None = None
    swapper: Swapper | None = None
    # On the worker's registry; the lifespan gives it to the service it loads.
    telemetry: InferenceTelemetry = field(default_factory=InferenceTelemetry)

    def require(self) -> InferenceService:
        if self.service is None:
            raise RuntimeError("the model is not loaded yet")
        return self.service

    def require_swapper(self) -> Swapper:
        if self.swapper is None:
            raise RuntimeError("the model is not loaded yet")
        return self.swapper


class TopicSink:
    """Sends one query's replies to the reply topic of the gateway that asked.

    Replies before the terminal one are handed to the producer without waiting for the
    broker, so no acknowledgement sits between the worker and its first token; the terminal
    reply waits until the broker has every reply of the query, and a reply that failed to
    get there fails the next send.
    """

    def __init__(
        self, broker: KafkaBroker, topic: str | None, *, source: str, correlation_id: str
    ) -> None:
        self.broker, self.topic = broker, topic
        self.source, self.correlation_id = source, correlation_id
        self._unconfirmed: list[asyncio.Future[Any]] = []

    async def send(self, reply: QueryReply) -> None:
        if self.topic is None:
            return  # nobody waits for a stream (e.g. a replayed query); the log still gets it
        self._raise_failed()
        event = make_event(reply, source=self.source, correlation_id=self.correlation_id)
        if isinstance(reply, (Done, Failed)):
            await emit(self.broker, self.topic, event, key=reply.query_id)
            await self.confirm()
        else:
            sent = await emit_unconfirmed(self.broker, self.topic, event, key=reply.query_id)
            self._unconfirmed.append(sent)

    async def confirm(self) -> None:
        """Wait until the broker has every reply sent so far; raise if one did not get there."""
        pending, self._unconfirmed = self._unconfirmed, []
        for sent in pending:
            await sent

    def _raise_failed(self) -> None:
        while self._unconfirmed and self._unconfirmed[0].done():
            self._unconfirmed.pop(0).result()


def register(
    broker: KafkaBroker,
    runtime: Runtime,
    settings: InferenceSettings,
    bus: BusSettings | None = None,
) -> None:
    """Attach the inference subscribers to the broker."""
    # A query or a cancel waiting in a fetch the broker holds is latency the user sees.
    bus = bus or BusSettings()
    fetch_wait_ms = bus.answer_fetch_wait_ms

    # One consumer per concurrency slot, all in one group, each committing after its handler:
    # queries are spread over partitions and a crash mid-answer redelivers the query.
    queries = broker.subscriber(
        QUERY_REQUESTED,
        group_id=GROUP,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        max_workers=settings.inference_concurrency,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.session_timeout_ms // 3,
        fetch_max_wait_ms=fetch_wait_ms,
        title="inference.query",
    )
    intake = QueryIntake(queries, probe_s=bus.control_fetch_wait_ms / 1000)

    @queries
    async def on_query(event: Envelope[QueryRequested]) -> None:
        service = runtime.require()
        request = event.data
        service.telemetry.picked_up(service.model_name, event.time, replayed=event.replayed)
        sink = TopicSink(
            broker, request.reply_to, source=service.worker_id, correlation_id=request.query_id
        )
        async with intake.generating():
            completed = await service.answer(request, sink)
        log_event = make_event(completed, source=service.worker_id, correlation_id=request.query_id)
        await emit(broker, QUERY_COMPLETED, log_event, key=request.query_id)

    # Every worker must see every cancel (the query may run anywhere): no consumer group.
    @broker.subscriber(
        QUERY_CANCELLED,
        auto_offset_reset="latest",
        ack_policy=AckPolicy.ACK_FIRST,
        fetch_max_wait_ms=bus.control_fetch_wait_ms,
        title="inference.cancel",
    )
    async def on_cancel(event: Envelope[QueryCancelled]) -> None:
        runtime.require().cancellations.cancel(event.data.query_id)

    # Every worker swaps (no group). Loading waits for the generations running at that moment,
    # so it runs in a thread: the event loop keeps streaming their tokens meanwhile.
    @broker.subscriber(
        MODEL_PROMOTED,
        auto_offset_reset="latest",
        ack_policy=AckPolicy.ACK_FIRST,
        title="inference.model_promoted",
    )
    async def on_promoted(event: Envelope[ModelPromoted]) -> None:
        if await asyncio.to_thread(runtime.require_swapper().promoted, event.data, event.time):
            heap.refreeze()  # what the swap let go is freed; the new weights are frozen
        runtime.require().report_serving()

    @broker.subscriber(
        MODEL_ROLLED_BACK,
        auto_offset_reset="latest",
        ack_policy=AckPolicy.ACK_FIRST,
        title="inference.model_rolled_back",
    )
    async def on_rolled_back(event: Envelope[ModelRolledBack]) -> None:
        if await asyncio.to_thread(runtime.require_swapper().rolled_back, event.data, event.time):
            heap.refreeze()
        runtime.require().report_serving()
