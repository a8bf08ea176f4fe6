"""Evaluation and registry metrics, on the evaluation worker's registry (docs/metrics.md).

(`workers/evaluation/metrics.py` is something else: the benchmark's ROUGE, BERTScore, ...)

| name | type | labels | meaning |
|---|---|---|---|
| melancia_evaluation_score | gauge | model, version, metric | benchmark score of a model version |
| melancia_evaluation_runs_total | counter | decision | evaluations finished: promoted, rejected |
| melancia_evaluation_gate_rejections_total | counter | reason | rejections by failed gate check |
| melancia_evaluation_duration_seconds | histogram | | wall time of one evaluation |
| melancia_model_promotions_total | counter | model | model.promoted events |
| melancia_model_rollbacks_total | counter | model | model.rolled_back events |

Scores are kept for the latest `keep_versions` versions of each model, so labels stay bounded.
"""

from __future__ import annotations

import math
from collections import OrderedDict

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from schemas.registry import EvaluationCompleted
from workers.registry.gate import failed_check
from workers.registry.promotion import BASE_VERSION

DURATION_BUCKETS = (30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
KEEP_VERSIONS = 10


class EvaluationTelemetry:
    """The evaluation worker's Prometheus instruments."""

    def __init__(
        self, registry: CollectorRegistry | None = None, *, keep_versions: int = KEEP_VERSIONS
    ) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.keep_versions = keep_versions
        self.score = Gauge(
            "melancia_evaluation_score",
            "Benchmark score of a model version",
            ["model", "version", "metric"],
            registry=r,
        )
        self.runs = Counter(
            "melancia_evaluation_runs", "Evaluations finished", ["decision"], registry=r
        )
        self.gate_rejections = Counter(
            "melancia_evaluation_gate_rejections",
            "Candidates the promotion gate refused",
            ["reason"],
            registry=r,
        )
        self.duration = Histogram(
            "melancia_evaluation_duration_seconds",
            "Wall time of one evaluation (candidate and baseline)",
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.promotions = Counter(
            "melancia_model_promotions", "model.promoted events", ["model"], registry=r
        )
        self.rollbacks = Counter(
            "melancia_model_rollbacks", "model.rolled_back events", ["model"], registry=r
        )
        # model → version → the metric names set for it, oldest version first
        self._scored: dict[str, OrderedDict[str, set[str]]] = {}

    def evaluated(self, result: EvaluationCompleted, seconds: float) -> None:
        """One evaluation finished: its verdict, how long it took, both models' scores."""
        self.runs.labels(result.decision).inc()
        if result.decision == "rejected":
            self.gate_rejections.labels(failed_check(result.reason)).inc()
        self.duration.observe(seconds)
        baseline = result.champion_version or BASE_VERSION
        self._scores(result.model_name, baseline, result.champion_metrics)
        self._scores(result.model_name, result.candidate_version, result.candidate_metrics)

    def _scores(self, model: str, version: str, values: dict[str, float]) -> None:
        versions = self._scored.setdefault(model, OrderedDict())
        names = versions.setdefault(version, set())
        versions.move_to_end(version)
        for metric, value in values.items():
            if math.isfinite(value):
                self.score.labels(model, version, metric).set(value)
                names.add(metric)
        while len(versions) > self.keep_versions:
            old, old_names = versions.popitem(last=False)
            for metric in old_names:
                self.score.remove(model, old, metric)
