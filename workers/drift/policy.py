"""The retrain policy: persistent drift (N detections within a window) requests a retrain.

Time is the detections' own event time, so a replay of the same detections decides the same
way; a detection already counted (same event_id) is ignored. After a request the policy stays
quiet for the cooldown; the evaluation gate decides what becomes of the retrained candidate.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from schemas.ops import DriftDetected
from schemas.training import Hyperparameters, Method, TrainingRequested

DEFAULT_BASE_MODEL = "gemma3-270m"
REQUESTED_BY = "drift-policy"


@dataclass(frozen=True)
class PolicyConfig:
    enabled: bool = True
    detections: int = 3
    window_s: float = 3600.0
    cooldown_s: float = 21600.0
    base_model: str | None = None
    method: Method = "lora"
    hyperparameters: Hyperparameters = field(default_factory=Hyperparameters)


@dataclass(frozen=True)
class Seen:
    """A detection the policy counted."""

    event_id: str
    time: datetime
    signal: str
    detector: str
    model: str | None
    statistic: float


@dataclass(frozen=True)
class Decision:
    action: Literal["request", "wait", "cooldown", "disabled", "duplicate"]
    reason: str
    request: TrainingRequested | None = None


class RetrainPolicy:
    """Counts detections in a sliding window of event time; fires once per cooldown."""

    def __init__(self, config: PolicyConfig, memory: int = 10_000) -> None:
        self.config = config
        self.recent: deque[Seen] = deque()
        self.seen_ids: OrderedDict[str, None] = OrderedDict()
        self.last_request_at: datetime | None = None
        self.memory = memory

    def observe(
        self,
        event_id: str,
        time: datetime,
        detection: DriftDetected,
        *,
        dataset_version: Callable[[], str],
    ) -> Decision:
        if event_id in self.seen_ids:
            return Decision("duplicate", f"detection {event_id} already counted")
        self.seen_ids[event_id] = None
        while len(self.seen_ids) > self.memory:
            self.seen_ids.popitem(last=False)
        cfg = self.config
        self.recent.append(
            Seen(
                event_id,
                time,
                detection.signal,
                detection.detector,
                detection.model,
                detection.statistic,
            )
        )
        horizon = time - timedelta(seconds=cfg.window_s)
        while self.recent and self.recent[0].time < horizon:
            self.recent.popleft()
        count = len(self.recent)
        if count < cfg.detections:
            return Decision("wait", f"{count}/{cfg.detections} detections in {cfg.window_s:.0f}s")
        if self.last_request_at is not None and time - self.last_request_at < timedelta(
            seconds=cfg.cooldown_s
        ):
            return Decision("cooldown", f"last drift retrain at {self.last_request_at.isoformat()}")
        if not cfg.enabled:
            return Decision("disabled", f"persistent drift ({count} detections); retrain is off")
        request = self._request(time, dataset_version())
        self.last_request_at = time
        self.recent.clear()
        return Decision("request", request.reason, request)

    def _request(self, time: datetime, dataset_version: str) -> TrainingRequested:
        cfg = self.config
        evidence = list(self.recent)
        ids = sorted(s.event_id for s in evidence)
        digest = hashlib.sha256("|".join(ids).encode()).hexdigest()
        models = [s.model for s in evidence if s.model]
        base_model = cfg.base_model or (
            max(set(models), key=models.count) if models else DEFAULT_BASE_MODEL
        )
        signals = sorted({f"{s.signal}/{s.detector}" for s in evidence})
        return TrainingRequested(
            job_id=f"retrain-{time:%Y%m%d%H%M%S}-{digest[:8]}",
            idempotency_key=f"drift-{digest[:32]}",
            base_model=base_model,
            dataset_version=dataset_version,
            method=cfg.method,
            hyperparameters=cfg.hyperparameters,
            reason=(
                f"drift: {len(evidence)} detections within {cfg.window_s:.0f}s "
                f"({', '.join(signals)})"
            ),
            requested_by=REQUESTED_BY,
            evidence={
                "window_s": cfg.window_s,
                "threshold": cfg.detections,
                "detections": [
                    {
                        "event_id": s.event_id,
                        "time": s.time.isoformat(),
                        "signal": s.signal,
                        "detector": s.detector,
                        "model": s.model,
                        "statistic": s.statistic,
                    }
                    for s in evidence
                ],
            },
        )
