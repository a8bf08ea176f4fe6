"""The drift worker's logic without a broker: query-log and feedback events in, detections out.

Output signals (latency, time to first token, answer length, retrieval score, feedback) are
watched per model, since models differ; the question signal is global. The engine also keeps
what makes a restart exact: the last offset applied per partition (the worker resumes right
after it) and the recent event ids (a redelivered or replayed event is not applied twice).
"""

from __future__ import annotations

import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

from schemas.ops import DriftDetected
from schemas.query import FeedbackSubmitted, QueryCompleted
from workers.drift.detectors import Detection, EmbeddingMonitor, ScalarMonitor

# signal → (detector, log scale, standardize); the choice per signal is argued in docs/drift.md.
SCALAR_SIGNALS: dict[str, tuple[str, bool, bool]] = {
    "latency_ms": ("page_hinkley", True, True),
    "ttft_ms": ("page_hinkley", True, True),
    "answer_tokens": ("kswin", True, True),
    "retrieval_score": ("adwin", False, True),
    "feedback_negative": ("adwin", False, False),
}
QUESTION_SIGNAL = "question_embedding"
DETECTION_NAMESPACE = uuid.UUID("6f1d3c2e-8a4b-4f7e-9c0d-2b5a7e9f1c3d")


@dataclass(frozen=True)
class EngineConfig:
    signals: tuple[str, ...]
    reference_size: int = 300
    window: int = 100
    check_every: int = 10
    cooldown: int = 200
    alpha: float = 1e-4
    query_memory: int = 50_000
    id_memory: int = 20_000


class DriftEngine:
    """Every monitor, the query → model join for feedback, and the replay guards."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.monitors: dict[tuple[str, str | None], ScalarMonitor] = {}
        self.questions: EmbeddingMonitor | None = None
        if QUESTION_SIGNAL in config.signals:
            self.questions = EmbeddingMonitor(
                QUESTION_SIGNAL,
                reference_size=config.reference_size,
                window=config.window,
                check_every=config.check_every,
                alpha=config.alpha,
                cooldown=config.cooldown,
            )
        self.query_models: OrderedDict[str, str] = OrderedDict()
        # The last offset applied per partition: the worker seeks past it after a restart.
        self.offsets: dict[tuple[str, int], int] = {}
        self._recent_ids: deque[str] = deque()
        self._recent_set: set[str] = set()
        self.events = 0

    # -- replay guards -------------------------------------------------------------------
    def already_applied(self, event_id: str) -> bool:
        """An event this state already contains (a redelivery, or a replay of a recent event)."""
        return event_id in self._recent_set

    def mark_applied(
        self, event_id: str, topic: str | None, partition: int | None, offset: int | None
    ) -> None:
        self.events += 1
        self._recent_ids.append(event_id)
        self._recent_set.add(event_id)
        while len(self._recent_ids) > self.config.id_memory:
            self._recent_set.discard(self._recent_ids.popleft())
        if topic is not None and partition is not None and offset is not None:
            key = (topic, partition)
            self.offsets[key] = max(offset, self.offsets.get(key, -1))

    # -- signals ----------------------------------------------------------------------------
    def _monitor(self, signal: str, model: str | None) -> ScalarMonitor:
        key = (signal, model)
        monitor = self.monitors.get(key)
        if monitor is None:
            detector, log_scale, standardize = SCALAR_SIGNALS[signal]
            monitor = ScalarMonitor(
                signal,
                detector,
                model=model,
                log_scale=log_scale,
                standardize=standardize,
                reference_size=self.config.reference_size,
                current_window=self.config.window,
                cooldown=self.config.cooldown,
                seed=len(self.monitors),
            )
            self.monitors[key] = monitor
        return monitor

    def _scalar(
        self, signal: str, model: str | None, value: float | None, example: dict[str, Any]
    ) -> Detection | None:
        if value is None or signal not in self.config.signals:
            return None
        return self._monitor(signal, model).update(value, example)

    def observe_query(self, query: QueryCompleted) -> list[Detection]:
        """Feed one query-log record to every signal it carries."""
        self.query_models[query.query_id] = query.model
        while len(self.query_models) > self.config.query_memory:
            self.query_models.popitem(last=False)
        example = {"query_id": query.query_id}
        found: list[Detection | None] = []
        if self.questions is not None:
            found.append(self.questions.update(query.question, example))
        if query.finish_reason in ("error", "cancelled"):
            # A failed or cut-short answer says nothing about timings or length.
            return [d for d in found if d is not None]
        found += [
            self._scalar("latency_ms", query.model, query.latency_ms, example),
            self._scalar("ttft_ms", query.model, query.ttft_ms, example),
            self._scalar("answer_tokens", query.model, float(query.completion_tokens), example),
        ]
        if query.retrieved:
            top = max(ref.score for ref in query.retrieved)
            found.append(self._scalar("retrieval_score", query.model, top, example))
        return [d for d in found if d is not None]

    def observe_feedback(self, feedback: FeedbackSubmitted) -> list[Detection]:
        """A thumbs-down is 1, a thumbs-up 0, for the model that gave the answer (if known)."""
        model = self.query_models.get(feedback.query_id)
        example = {"query_id": feedback.query_id, "rating": feedback.rating}
        value = 1.0 if feedback.rating < 0 else 0.0
        found = self._scalar("feedback_negative", model, value, example)
        return [found] if found is not None else []

    def levels(self) -> dict[tuple[str, str], tuple[float, float | None]]:
        """(signal, detector) → (statistic, threshold) now, of the model furthest from its
        reference (output signals are watched per model); signals still learning are absent."""
        monitors: list[ScalarMonitor | EmbeddingMonitor] = list(self.monitors.values())
        if self.questions is not None:
            monitors.append(self.questions)
        out: dict[tuple[str, str], tuple[float, float | None]] = {}
        for monitor in monitors:
            level = monitor.level()
            key = (monitor.signal, monitor.detector_name)
            if level is not None and (key not in out or level[0] > out[key][0]):
                out[key] = level
        return out

    def rebaseline(self) -> None:
        """Every monitor learns a new reference (a new model is being served)."""
        for monitor in self.monitors.values():
            monitor.rebaseline()
        if self.questions is not None:
            self.questions.rebaseline()


def to_payload(detection: Detection) -> DriftDetected:
    return DriftDetected(
        detector=detection.detector,
        signal=detection.signal,
        statistic=detection.statistic,
        threshold=detection.threshold,
        reference_window=detection.reference_window,
        current_window=detection.current_window,
        events_seen=detection.events_seen,
        model=detection.model,
        examples=detection.examples[:20],
        details=detection.details,
    )


def detection_id(detection: Detection, trigger_event_id: str) -> uuid.UUID:
    """The same detection replayed from the same event gets the same event_id (deduplicated)."""
    name = f"{detection.signal}|{detection.model}|{detection.detector}|{trigger_event_id}"
    return uuid.uuid5(DETECTION_NAMESPACE, name)
