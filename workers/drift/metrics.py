"""Drift worker metrics, all on one explicit registry.

| name | type | labels | meaning |
|---|---|---|---|
| melancia_drift_events_total | counter | topic | events applied to the detectors |
| melancia_drift_skipped_total | counter | reason | events not applied: already_applied (replay guard) |
| melancia_drift_detections_total | counter | signal, detector | drift.detected published |
| melancia_drift_policy_decisions_total | counter | action | retrain policy outcomes (request, wait, cooldown, disabled, duplicate) |
| melancia_drift_checkpoints_total | counter | | checkpoints written |
| melancia_drift_statistic | gauge | signal, detector | how far the latest events are from the reference |
| melancia_drift_threshold | gauge | signal, detector | the statistic's level that counts as drift |

Statistic and threshold are comparable: for `ks_projections` (question embeddings) the largest
KS distance of the latest test and the distance the test fires above; for the scalar signals
the mean shift of the latest 30 events in reference standard deviations and the shift at which
a drift persists (feedback, a raw rate, has no threshold). Per-model signals report the model
furthest from its reference; a signal still learning its reference has no series.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge


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
        self.statistic = Gauge(
            "melancia_drift_statistic",
            "Distance of the latest events from the reference",
            ["signal", "detector"],
            registry=r,
        )
        self.threshold = Gauge(
            "melancia_drift_threshold",
            "Statistic level that counts as drift",
            ["signal", "detector"],
            registry=r,
        )
        self._levels: set[tuple[str, str]] = set()

    def record_levels(self, levels: Mapping[tuple[str, str], tuple[float, float | None]]) -> None:
        """Set the statistic and threshold of every signal; drop the ones that start over."""
        for key, (statistic, threshold) in levels.items():
            self.statistic.labels(*key).set(statistic)
            if threshold is not None:
                self.threshold.labels(*key).set(threshold)
        for key in self._levels - set(levels):
            self.statistic.remove(*key)
            self.threshold.remove(*key)
        self._levels = set(levels)
