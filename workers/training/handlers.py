"""Training subscribers: decode, hand the job to the service, publish. Nothing else lives here."""

from __future__ import annotations

import asyncio
import logging

from faststream import AckPolicy
from faststream.exceptions import NackMessage
from faststream.kafka import KafkaBroker

from events.bus import emit
from events.topics import (
    TRAINING_COMPLETED,
    TRAINING_FAILED,
    TRAINING_PROGRESS,
    TRAINING_REQUESTED,
)
from schemas.envelope import Envelope, Payload, make_event
from schemas.training import TrainingCompleted, TrainingFailed, TrainingRequested
from workers.training.errors import JobBusy, JobInterrupted
from workers.training.service import TrainingService
from workers.training.settings import TrainingSettings

logger = logging.getLogger(__name__)

GROUP = "melancia-training"


def topic_of(payload: Payload) -> str:
    if isinstance(payload, TrainingCompleted):
        return TRAINING_COMPLETED
    if isinstance(payload, TrainingFailed):
        return TRAINING_FAILED
    return TRAINING_PROGRESS


def register(broker: KafkaBroker, service: TrainingService, settings: TrainingSettings) -> None:
    """Attach the training subscriber to the broker."""

    # One consumer, one job at a time, committed only after the job ends: a worker killed
    # mid-job leaves the request uncommitted, so it is redelivered and resumes from its last
    # checkpoint. The handler holds the consumer for the whole job, so max_poll_interval_ms
    # covers the longest job (aiokafka heartbeats from a background task meanwhile, so the
    # session stays alive and a dead worker is still noticed within session_timeout_ms).
    @broker.subscriber(
        TRAINING_REQUESTED,
        group_id=GROUP,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        max_poll_interval_ms=settings.max_poll_interval_ms,
        session_timeout_ms=settings.training_session_timeout_ms,
        heartbeat_interval_ms=settings.training_session_timeout_ms // 3,
        title="training.request",
    )
    async def on_request(event: Envelope[TrainingRequested]) -> None:
        request = event.data

        async def publish(payload: Payload) -> None:
            out = make_event(
                payload, source=settings.training_worker_id, correlation_id=request.job_id
            )
            await emit(broker, topic_of(payload), out, key=request.job_id)

        try:
            await service.handle(request, publish)
        except JobInterrupted as exc:
            logger.info("%s; leaving the request uncommitted for redelivery", exc)
            raise NackMessage() from exc
        except JobBusy as exc:
            logger.info("%s; checking again in %.0f s", exc, settings.training_busy_retry_s)
            await asyncio.sleep(settings.training_busy_retry_s)
            raise NackMessage() from exc
