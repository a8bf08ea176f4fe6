"""Operational events: drift detections and dead letters."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from pydantic import Field

from schemas.envelope import Payload


class DriftDetected(Payload):
    """drift → retrain policy, alerts: a detector fired on a signal."""

    EVENT_TYPE: ClassVar[str] = "drift.detected"
    detector: str
    signal: str
    statistic: float
    threshold: float | None = None
    reference_window: int = Field(ge=0)
    current_window: int = Field(ge=0)
    events_seen: int = Field(ge=0)
    model: str | None = None
    examples: list[dict[str, Any]] = Field(default_factory=list, max_length=20)
    details: dict[str, Any] = Field(
        default_factory=dict, description="detector-specific figures (reference vs current)"
    )


class DeadLetter(Payload):
    """any consumer → ops: a message that could not be handled, with why and its bytes."""

    EVENT_TYPE: ClassVar[str] = "dead_letter"
    original_topic: str
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    consumer_group: str | None = None
    error_type: str
    error: str
    attempts: int = Field(ge=1)
    original_value: str = Field(description="the original bytes, decoded as UTF-8 with replacement")
    original_value_b64: str
    headers: dict[str, str] = Field(default_factory=dict)
    failed_at: datetime


class WorkerHeartbeat(Payload):
    """inference → gateways: this worker is alive, what it serves and how busy it is."""

    EVENT_TYPE: ClassVar[str] = "worker.heartbeat"
    worker_id: str
    service: str = "inference"
    models: list[str] = Field(default_factory=list)
    variants: dict[str, str] = Field(default_factory=dict, description="variant → adapter/version")
    in_flight: int = Field(ge=0)
    capacity: int = Field(ge=1)
    interval_s: float = Field(gt=0)
    started_at: datetime
