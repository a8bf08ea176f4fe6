"""Drift worker metrics, all on one explicit registry.

| name | type | labels | meaning |
|---|---|---|---|
| melancia_drift_events_total | counter | topic | events applied to the detectors |
| melancia_drift_skipped_total | counter | reason | events not applied: already_applied (replay guard) |
| melancia_drift_detections_total | counter | signal, detector | drift.detected published |
| melancia_drift_policy_decisions_total | counter | action | retrain policy outcomes (request, wait, cooldown, disabled, duplicate) |
| melancia_drift_checkpoints_total | counter | | checkpoints written |
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class DriftMetrics:
    """The drift worker's Prometheus instruments."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events = Counter("melancia_drift_events", "Events applied", ["topic"], registry=r)
        self.skipped = Counter("melancia_drift_skipped", "Events skipped", ["reason"], registry=r)
        self.detections = Counter(
            "melancia_drift_detections", "Drift detections", ["signal", "detector"], registry=r
        )
        self.decisions = Counter(
            "melancia_drift_policy_decisions", "Retrain policy decisions", ["action"], registry=r
        )
        self.checkpoints = Counter("melancia_drift_checkpoints", "Checkpoints written", registry=r)
