"""Evaluation results into MLflow: one run with metrics, parameters and the per-question table."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from workers.evaluation.runner import ModelReport, ModelUnderTest, QuestionResult

logger = logging.getLogger(__name__)

QUESTIONS_ARTIFACT = "questions.json"
SUMMARY_ARTIFACT = "evaluation.json"


@dataclass(frozen=True)
class RunRecord:
    """What one evaluation run holds, apart from the two reports."""

    model_name: str
    version: str | None
    job_id: str | None
    baseline_label: str
    primary_metric: str
    decision: str | None
    reason: str | None
    params: Mapping[str, object]


def _finite(values: Mapping[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if v is not None and math.isfinite(v)}


def log_evaluation(
    client: Any, experiment: str, record: RunRecord, candidate: ModelReport, baseline: ModelReport
) -> str:
    """Log both models' figures and every answer; return the run id."""
    tags = {
        "melancia.model_name": record.model_name,
        "melancia.version": record.version or "",
        "melancia.job_id": record.job_id or "",
        "melancia.decision": record.decision or "",
        "melancia.reason": (record.reason or "")[:4000],
        "mlflow.runName": f"eval-{record.model_name}-{record.version or candidate.model.label}",
    }
    run = client.create_run(experiment, tags=tags)
    run_id = str(run.info.run_id)
    try:
        params = {
            "baseline": record.baseline_label,
            "primary_metric": record.primary_metric,
            "candidate": candidate.model.display,
            "baseline_model": baseline.model.display,
            **{k: str(v) for k, v in record.params.items()},
        }
        for name, text in params.items():
            client.log_param(run_id, name, str(text)[:6000])
        metrics: dict[str, float] = {}
        for prefix, report in (("candidate", candidate), ("baseline", baseline)):
            metrics |= {f"{prefix}.{k}": v for k, v in _finite(report.summary).items()}
            for category, values in report.per_category.items():
                metrics |= {
                    f"{prefix}_category.{category}.{k}": v for k, v in _finite(values).items()
                }
        for key, value in _finite(candidate.summary).items():
            if key in baseline.summary and math.isfinite(baseline.summary[key]):
                metrics[f"delta.{key}"] = value - baseline.summary[key]
        from mlflow.entities import Metric

        stamp = int(run.info.start_time)
        batch = [Metric(k, v, stamp, 0) for k, v in metrics.items()]
        for start in range(0, len(batch), 900):  # log_batch accepts at most 1,000 metrics
            client.log_batch(run_id, metrics=batch[start : start + 900])
        rows = [
            {"model": report.model.label, **question.row()}
            for report in (candidate, baseline)
            for question in report.questions
        ]
        if rows:
            columns = {key: [row.get(key) for row in rows] for key in rows[0]}
            client.log_table(run_id, columns, QUESTIONS_ARTIFACT)
        client.log_dict(
            run_id,
            {
                "candidate": {"summary": candidate.summary, "per_category": candidate.per_category},
                "baseline": {"summary": baseline.summary, "per_category": baseline.per_category},
                "decision": record.decision,
                "reason": record.reason,
            },
            SUMMARY_ARTIFACT,
        )
        client.set_terminated(run_id)
    except Exception:
        client.set_terminated(run_id, status="FAILED")
        raise
    logger.info("evaluation run %s logged (%d metrics)", run_id, len(metrics))
    return run_id


def reports_from_json(data: Mapping[str, Any]) -> tuple[ModelReport, ModelReport]:
    """The candidate and baseline reports back from what `melancia eval --json` wrote."""
    import dataclasses

    fields = {f.name for f in dataclasses.fields(QuestionResult)} - {"metrics"}

    def report(side: str) -> ModelReport:
        part = data[side]
        label = str(part["label"])
        model = ModelUnderTest(label, str(part["base_model"]), None)
        rows = [r for r in data.get("questions", []) if r.get("model") == label]
        questions = [
            QuestionResult(
                **{k: row[k] for k in fields},
                metrics={k: v for k, v in row.items() if k not in fields and k != "model"},
            )
            for row in rows
        ]
        return ModelReport(model, questions, dict(part["summary"]), dict(part["per_category"]))

    return report("candidate"), report("baseline")
