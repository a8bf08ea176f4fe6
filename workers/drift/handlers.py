"""Drift subscribers: observe the query log and feedback, rebaseline on a new model, and run
the retrain policy on detections. Decode, call the engine or the policy, publish."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import ConsumerRebalanceListener
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage

from events.bus import emit
from events.topics import (
    DRIFT_DETECTED,
    FEEDBACK_SUBMITTED,
    MODEL_PROMOTED,
    MODEL_ROLLED_BACK,
    QUERY_COMPLETED,
    TRAINING_REQUESTED,
)
from schemas.envelope import Envelope, envelope_type, make_event
from schemas.ops import DriftDetected
from schemas.query import FeedbackSubmitted, QueryCompleted
from workers.drift import checkpoint
from workers.drift.detectors import Detection
from workers.drift.engine import detection_id, to_payload
from workers.drift.metrics import DriftMetrics
from workers.drift.settings import DriftSettings

logger = logging.getLogger(__name__)

GROUP = "melancia-drift"
MODELS_GROUP = "melancia-drift-models"
POLICY_GROUP = "melancia-retrain-policy"
SOURCE = "drift"


@dataclass
class Runtime:
    """The state the lifespan loads, and when it was last written."""

    state_path: Path
    checkpoint_every: int
    metrics: DriftMetrics
    dataset_version: Callable[[], str]
    state: checkpoint.DriftState | None = None
    pending: int = 0
    last_saved: float = field(default_factory=time.monotonic)

    def require(self) -> checkpoint.DriftState:
        if self.state is None:
            raise RuntimeError("the drift state is not loaded yet")
        return self.state

    def save(self) -> None:
        if self.state is None:
            return
        checkpoint.save(self.state_path, self.state)
        self.pending = 0
        self.last_saved = time.monotonic()
        self.metrics.checkpoints.inc()

    def applied(self) -> None:
        self.pending += 1
        if self.pending >= self.checkpoint_every:
            self.save()


class ResumeFromCheckpoint(ConsumerRebalanceListener):
    """On assignment, continue right after the last offset the checkpoint contains.

    Offsets past the end of the log mean the topic is not the one checkpointed (the embedded
    broker keeps nothing across a restart): those are dropped and the group's offset is used.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.consumer: Callable[[], Any] = lambda: None

    async def on_partitions_revoked(self, revoked: Any) -> None:
        if revoked and self.runtime.state is not None:
            self.runtime.save()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        state, consumer = self.runtime.state, self.consumer()
        if state is None or consumer is None or not assigned:
            return
        engine = state.engine
        ends = await consumer.end_offsets(list(assigned))
        for tp in assigned:
            key = (tp.topic, tp.partition)
            applied = engine.offsets.get(key)
            if applied is None:
                continue
            if applied + 1 > ends[tp]:
                logger.warning(
                    "checkpoint offset %d of %s[%d] is past the log end %d; not resuming from it",
                    applied,
                    tp.topic,
                    tp.partition,
                    ends[tp],
                )
                engine.offsets.pop(key, None)
                continue
            consumer.seek(tp, applied + 1)


def _position(message: Any) -> tuple[str | None, int | None, int | None]:
    raw = message.raw_message
    return (
        getattr(raw, "topic", None),
        getattr(raw, "partition", None),
        getattr(raw, "offset", None),
    )


def register(broker: KafkaBroker, runtime: Runtime, settings: DriftSettings) -> None:
    """Attach the drift subscribers to the broker."""
    metrics = runtime.metrics
    listener = ResumeFromCheckpoint(runtime)
    consumer_args: dict[str, Any] = {
        "ack_policy": AckPolicy.NACK_ON_ERROR,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": settings.drift_session_timeout_ms,
        "heartbeat_interval_ms": settings.drift_session_timeout_ms // 3,
    }

    async def publish(detections: list[Detection], trigger: Envelope[Any]) -> None:
        for detection in detections:
            payload = to_payload(detection)
            event = envelope_type(DriftDetected)(
                event_id=detection_id(detection, str(trigger.event_id)),
                type=DriftDetected.EVENT_TYPE,
                source=SOURCE,
                correlation_id=str(trigger.event_id),
                data=payload,
            )
            await emit(broker, DRIFT_DETECTED, event, key=f"{payload.signal}/{payload.detector}")
            metrics.detections.labels(payload.signal, payload.detector).inc()
            logger.warning(
                "drift on %s (%s, model %s): statistic %.3f",
                payload.signal,
                payload.detector,
                payload.model,
                payload.statistic,
            )

    observer = broker.subscriber(
        QUERY_COMPLETED,
        FEEDBACK_SUBMITTED,
        group_id=GROUP,
        listener=listener,
        title="drift.observe",
        **consumer_args,
    )
    listener.consumer = lambda: getattr(observer, "consumer", None)

    @observer
    async def on_event(body: dict[str, Any], message: KafkaMessage) -> None:
        engine = runtime.require().engine
        topic, partition, offset = _position(message)
        event: Envelope[Any]
        if topic == FEEDBACK_SUBMITTED:
            event = envelope_type(FeedbackSubmitted).model_validate(body)
        else:
            event = envelope_type(QueryCompleted).model_validate(body)
        event_id = str(event.event_id)
        if engine.already_applied(event_id):
            metrics.skipped.labels("already_applied").inc()
            return
        if isinstance(event.data, FeedbackSubmitted):
            detections = engine.observe_feedback(event.data)
        else:
            detections = engine.observe_query(event.data)
        engine.mark_applied(event_id, topic, partition, offset)
        metrics.events.labels(topic or "unknown").inc()
        metrics.record_levels(engine.levels())
        if detections:
            # Published before the checkpoint: a crash in between replays the same events and
            # re-publishes the same detection ids, which consumers skip.
            await publish(detections, event)
            runtime.save()
        else:
            runtime.applied()

    @broker.subscriber(
        MODEL_PROMOTED,
        MODEL_ROLLED_BACK,
        group_id=MODELS_GROUP,
        title="drift.models",
        **consumer_args,
    )
    async def on_model_change(body: dict[str, Any]) -> None:
        engine = runtime.require().engine
        engine.rebaseline()
        metrics.record_levels(engine.levels())
        runtime.save()
        logger.info("a new model is served (%s): drift references start over", body.get("type"))

    @broker.subscriber(
        DRIFT_DETECTED, group_id=POLICY_GROUP, title="drift.retrain_policy", **consumer_args
    )
    async def on_drift(event: Envelope[DriftDetected]) -> None:
        policy = runtime.require().policy
        decision = policy.observe(
            str(event.event_id), event.time, event.data, dataset_version=runtime.dataset_version
        )
        metrics.decisions.labels(decision.action).inc()
        if decision.action == "duplicate":
            return
        if decision.request is not None:
            request = decision.request
            await emit(
                broker,
                TRAINING_REQUESTED,
                make_event(request, source=SOURCE, correlation_id=str(event.event_id)),
                key=request.job_id,
            )
            logger.warning("retrain requested: job %s, %s", request.job_id, request.reason)
        else:
            logger.info("retrain policy: %s (%s)", decision.action, decision.reason)
        runtime.save()
