"""Every topic name, in one place; nobody else spells a topic string."""

from __future__ import annotations

from dataclasses import dataclass

QUERY_REQUESTED = "query.requested"
QUERY_CANCELLED = "query.cancelled"
QUERY_COMPLETED = "query.completed"
QUERY_TOKENS_PREFIX = "query.tokens."
FEEDBACK_SUBMITTED = "feedback.submitted"
TRAINING_REQUESTED = "training.requested"
TRAINING_PROGRESS = "training.progress"
TRAINING_COMPLETED = "training.completed"
TRAINING_FAILED = "training.failed"
EVALUATION_COMPLETED = "evaluation.completed"
MODEL_PROMOTED = "model.promoted"
MODEL_ROLLED_BACK = "model.rolled_back"
DRIFT_DETECTED = "drift.detected"
WORKER_HEARTBEAT = "worker.heartbeat"
DLQ_SUFFIX = ".dlq"


def reply_topic(instance: str) -> str:
    """The reply topic that one gateway instance consumes."""
    return f"{QUERY_TOKENS_PREFIX}{instance}"


def dead_letter_topic(topic: str) -> str:
    """Where messages that failed on `topic` go."""
    return f"{topic}{DLQ_SUFFIX}"


@dataclass(frozen=True)
class TopicSpec:
    """A topic and how many partitions it is created with."""

    name: str
    partitions: int


# Query traffic is spread over partitions so several inference workers share it;
# control topics stay at one partition to keep their order.
TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(QUERY_REQUESTED, 6),
    TopicSpec(QUERY_CANCELLED, 1),
    TopicSpec(QUERY_COMPLETED, 6),
    TopicSpec(FEEDBACK_SUBMITTED, 3),
    TopicSpec(TRAINING_REQUESTED, 1),
    TopicSpec(TRAINING_PROGRESS, 1),
    TopicSpec(TRAINING_COMPLETED, 1),
    TopicSpec(TRAINING_FAILED, 1),
    TopicSpec(EVALUATION_COMPLETED, 1),
    TopicSpec(MODEL_PROMOTED, 1),
    TopicSpec(MODEL_ROLLED_BACK, 1),
    TopicSpec(DRIFT_DETECTED, 1),
    TopicSpec(WORKER_HEARTBEAT, 1),
)


def all_topics(reply_instances: tuple[str, ...] = ()) -> list[TopicSpec]:
    """The fixed topics, their dead-letter topics, and the given reply topics."""
    specs = list(TOPICS)
    specs += [TopicSpec(dead_letter_topic(t.name), 1) for t in TOPICS]
    specs += [TopicSpec(reply_topic(i), 1) for i in reply_instances]
    return specs
