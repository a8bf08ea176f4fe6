"""The alerts subscriber: turn drift, retrain, gate and rollback events into webhook alerts."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker

from events.topics import (
    DRIFT_DETECTED,
    EVALUATION_COMPLETED,
    MODEL_ROLLED_BACK,
    TRAINING_REQUESTED,
)
from workers.alerts.messages import alert_for
from workers.alerts.metrics import AlertMetrics
from workers.alerts.notifier import WebhookNotifier
from workers.alerts.settings import AlertsSettings

logger = logging.getLogger(__name__)

GROUP = "melancia-alerts"
TOPICS = (DRIFT_DETECTED, TRAINING_REQUESTED, EVALUATION_COMPLETED, MODEL_ROLLED_BACK)


@dataclass
class Runtime:
    metrics: AlertMetrics
    notifier: WebhookNotifier | None = None


def register(broker: KafkaBroker, runtime: Runtime, settings: AlertsSettings) -> None:
    """Attach the alerts subscriber to the broker."""

    @broker.subscriber(
        *TOPICS,
        group_id=GROUP,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.alerts_session_timeout_ms,
        heartbeat_interval_ms=settings.alerts_session_timeout_ms // 3,
        title="alerts.notify",
    )
    async def on_event(body: dict[str, Any]) -> None:
        alert = alert_for(body, regression=settings.alerts_regression_threshold)
        if alert is None:
            return
        runtime.metrics.queued.labels(alert.kind).inc()
        logger.info("alert: %s", alert.payload["text"])
        if runtime.notifier is not None:
            runtime.notifier.submit(alert.payload)  # returns at once, whatever the receiver does
