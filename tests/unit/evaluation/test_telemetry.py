"""Evaluation metrics from real gate verdicts (not the benchmark metrics of metrics.py)."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry

from schemas.registry import EvaluationCompleted
from workers.evaluation.telemetry import EvaluationTelemetry
from workers.registry.gate import GatePolicy, decide, failed_check

CHAMPION = {"rougeL": 0.30, "token_f1": 0.40}
CATEGORIES = {"metricas": {"rougeL": 0.40, "questions": 5}}


def verdict(candidate: dict[str, float], **kw: object) -> EvaluationCompleted:
    decision = decide(candidate, CHAMPION, **kw)  # type: ignore[arg-type]
    return EvaluationCompleted(
        model_name="melancia",
        candidate_version="4",
        champion_version="3",
        candidate_metrics=candidate,
        champion_metrics=CHAMPION,
        decision=decision.decision,  # type: ignore[arg-type]
        reason=decision.reason,
    )


@pytest.mark.parametrize(
    ("candidate", "kw", "check"),
    [
        ({"rougeL": 0.31}, {"policy": GatePolicy(min_improvement=0.02)}, "below_champion"),
        (
            {"rougeL": 0.35},
            {
                "candidate_by_category": {"metricas": {"rougeL": 0.20, "questions": 5}},
                "champion_by_category": CATEGORIES,
            },
            "category_regression",
        ),
        ({"token_f1": 0.9}, {}, "missing_metric"),
    ],
)
def test_each_gate_rejection_is_counted_under_the_check_it_failed(
    candidate: dict[str, float], kw: dict[str, object], check: str
) -> None:
    registry = CollectorRegistry()
    result = verdict(candidate, **kw)
    assert result.decision == "rejected"

    EvaluationTelemetry(registry).evaluated(result, seconds=42.0)

    assert failed_check(result.reason) == check
    assert registry.get_sample_value("melancia_evaluation_gate_rejections_total", {"reason": check})
    runs = registry.get_sample_value("melancia_evaluation_runs_total", {"decision": "rejected"})
    assert runs == 1
    assert registry.get_sample_value("melancia_evaluation_duration_seconds_sum") == 42.0


def test_a_promotion_records_both_models_scores_and_no_rejection() -> None:
    registry = CollectorRegistry()
    result = verdict({"rougeL": 0.35, "token_f1": 0.5, "perplexity": math.nan})
    assert result.decision == "promoted"

    EvaluationTelemetry(registry).evaluated(result, seconds=1.0)

    def score(version: str, metric: str) -> float | None:
        labels = {"model": "melancia", "version": version, "metric": metric}
        return registry.get_sample_value("melancia_evaluation_score", labels)

    assert registry.get_sample_value("melancia_evaluation_runs_total", {"decision": "promoted"})
    assert score("4", "rougeL") == 0.35 and score("3", "rougeL") == 0.30
    assert score("4", "perplexity") is None  # not a number: no sample
    assert registry.get_sample_value("melancia_evaluation_gate_rejections_total", {}) is None


def test_a_baseline_without_version_is_the_base_model_and_old_versions_are_dropped() -> None:
    registry = CollectorRegistry()
    telemetry = EvaluationTelemetry(registry, keep_versions=2)
    for version in ("1", "2"):
        result = EvaluationCompleted(
            model_name="melancia",
            candidate_version=version,
            candidate_metrics={"rougeL": 0.3},
            champion_metrics={"rougeL": 0.2},
            decision="promoted",
            reason="better",
        )
        telemetry.evaluated(result, seconds=1.0)

    def score(version: str) -> float | None:
        labels = {"model": "melancia", "version": version, "metric": "rougeL"}
        return registry.get_sample_value("melancia_evaluation_score", labels)

    # "base" was scored with each candidate; version 1 is the oldest of three and goes.
    assert score("base") == 0.2 and score("2") == 0.3
    assert score("1") is None
