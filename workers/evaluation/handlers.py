"""Evaluation subscribers: decode, call the service in a thread, publish. Nothing else lives here."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from faststream import AckPolicy
from faststream.kafka import KafkaBroker

from events.bus import emit
from events.topics import (
    EVALUATION_COMPLETED,
    MODEL_PROMOTED,
    MODEL_ROLLED_BACK,
    TRAINING_COMPLETED,
)
from schemas.envelope import Envelope, make_event
from schemas.registry import EvaluationCompleted, ModelPromoted, ModelRolledBack
from schemas.training import TrainingCompleted
from workers.evaluation.service import EvaluationService
from workers.evaluation.settings import EvaluationSettings
from workers.evaluation.telemetry import EvaluationTelemetry

GROUP = "melancia-evaluation"
# Applying verdicts is its own consumer group: a redelivered verdict re-applies (idempotently)
# without evaluating again, and a replay of evaluation.completed rebuilds the aliases.
REGISTRY_GROUP = "melancia-registry"
PROMOTIONS_GROUP = "melancia-registry-promotions"
ROLLBACKS_GROUP = "melancia-registry-rollbacks"
SOURCE = "evaluation"


@dataclass
class Runtime:
    """What the lifespan builds and the handlers use."""

    service: EvaluationService | None = None
    telemetry: EvaluationTelemetry = field(default_factory=EvaluationTelemetry)

    def require(self) -> EvaluationService:
        if self.service is None:
            raise RuntimeError("the evaluation service is not ready yet")
        return self.service


def register(broker: KafkaBroker, runtime: Runtime, settings: EvaluationSettings) -> None:
    """Attach the evaluation and promotion subscribers to the broker."""
    # An evaluation runs for minutes: the consumer must not be evicted while it does.
    long_poll = int(settings.eval_timeout_s * 1000)

    @broker.subscriber(
        TRAINING_COMPLETED,
        group_id=GROUP,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.eval_session_timeout_ms,
        heartbeat_interval_ms=settings.eval_session_timeout_ms // 3,
        max_poll_interval_ms=long_poll,
        title="evaluation.training_completed",
    )
    async def on_trained(event: Envelope[TrainingCompleted]) -> None:
        service = runtime.require()
        started = time.monotonic()
        result = await asyncio.to_thread(service.evaluate, event.data)
        runtime.telemetry.evaluated(result, time.monotonic() - started)
        out = make_event(
            result, source=SOURCE, correlation_id=event.correlation_id or event.data.job_id
        )
        await emit(
            broker, EVALUATION_COMPLETED, out, key=f"{result.model_name}:{result.candidate_version}"
        )

    @broker.subscriber(
        EVALUATION_COMPLETED,
        group_id=REGISTRY_GROUP,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.eval_session_timeout_ms,
        heartbeat_interval_ms=settings.eval_session_timeout_ms // 3,
        title="registry.evaluation_completed",
    )
    async def on_evaluated(event: Envelope[EvaluationCompleted]) -> None:
        promoted = await asyncio.to_thread(runtime.require().apply, event.data)
        if promoted is not None:
            out = make_event(promoted, source=SOURCE, correlation_id=event.correlation_id)
            await emit(broker, MODEL_PROMOTED, out, key=promoted.model_name)

    # Promotions and rollbacks are counted whoever made them (this worker or `melancia model`),
    # once per event however many evaluation workers run (a group each). A metric, not work:
    # a new group starts at the end instead of replaying history, and nothing is redelivered.
    @broker.subscriber(
        MODEL_PROMOTED,
        group_id=PROMOTIONS_GROUP,
        ack_policy=AckPolicy.ACK_FIRST,
        auto_offset_reset="latest",
        title="registry.count_promotions",
    )
    async def on_promoted(event: Envelope[ModelPromoted]) -> None:
        runtime.telemetry.promotions.labels(event.data.model_name).inc()

    @broker.subscriber(
        MODEL_ROLLED_BACK,
        group_id=ROLLBACKS_GROUP,
        ack_policy=AckPolicy.ACK_FIRST,
        auto_offset_reset="latest",
        title="registry.count_rollbacks",
    )
    async def on_rolled_back(event: Envelope[ModelRolledBack]) -> None:
        runtime.telemetry.rollbacks.labels(event.data.model_name).inc()
