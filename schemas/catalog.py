"""Every event type and its payload model, for export, replay and the DLQ."""

from __future__ import annotations

from schemas.envelope import Payload
from schemas.ops import DeadLetter, DriftDetected, WorkerHeartbeat
from schemas.query import (
    FeedbackSubmitted,
    QueryCancelled,
    QueryCompleted,
    QueryRequested,
    TokenChunk,
)
from schemas.registry import EvaluationCompleted, ModelPromoted, ModelRolledBack
from schemas.training import (
    TrainingCompleted,
    TrainingFailed,
    TrainingProgress,
    TrainingRequested,
)

PAYLOADS: tuple[type[Payload], ...] = (
    QueryRequested,
    TokenChunk,
    QueryCancelled,
    QueryCompleted,
    FeedbackSubmitted,
    TrainingRequested,
    TrainingProgress,
    TrainingCompleted,
    TrainingFailed,
    EvaluationCompleted,
    ModelPromoted,
    ModelRolledBack,
    DriftDetected,
    DeadLetter,
    WorkerHeartbeat,
)
