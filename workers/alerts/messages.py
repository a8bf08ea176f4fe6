"""Slack-compatible alert payloads (`{"text": ..., "blocks": [...]}`) for the events that matter:
drift, retrain decisions, gate rejections and regressions."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from schemas.envelope import Envelope, envelope_type
from schemas.ops import DriftDetected
from schemas.registry import EvaluationCompleted, ModelRolledBack
from schemas.training import TrainingRequested
from workers.drift.policy import REQUESTED_BY

MAX_EXAMPLES = 3


@dataclass(frozen=True)
class Alert:
    kind: str
    payload: dict[str, Any]


def _fields(pairs: Mapping[str, object]) -> dict[str, Any]:
    return {
        "type": "section",
        "fields": [
            {"type": "mrkdwn", "text": f"*{name}*\n{value}"}
            for name, value in pairs.items()
            if value is not None
        ][:10],
    }


def _payload(
    text: str, title: str, body: str, fields: Mapping[str, object], footer: str
) -> dict[str, Any]:
    return {
        "text": text,
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": body[:3000]}},
            _fields(fields),
            {"type": "context", "elements": [{"type": "mrkdwn", "text": footer[:300]}]},
        ],
    }


def drift_alert(event: Envelope[DriftDetected]) -> Alert:
    d = event.data
    where = f" on {d.model}" if d.model else ""
    text = (
        f":warning: Drift detected in {d.signal}{where} ({d.detector}, statistic {d.statistic:.3g})"
    )
    examples = "\n".join(
        "• " + json.dumps(ex, ensure_ascii=False)[:200] for ex in d.examples[:MAX_EXAMPLES]
    )
    body = f"{text}\n{examples}" if examples else text
    fields = {
        "signal": d.signal,
        "detector": d.detector,
        "statistic": f"{d.statistic:.4g}",
        "threshold": d.threshold,
        "windows": f"reference {d.reference_window}, current {d.current_window}",
        "model": d.model,
    }
    return Alert("drift", _payload(text, "Drift detected", body, fields, f"event {event.event_id}"))


def retrain_alert(event: Envelope[TrainingRequested]) -> Alert | None:
    r = event.data
    if r.requested_by != REQUESTED_BY:
        return None  # someone asked for this fine-tune by hand; it is not a decision to flag
    text = f":arrows_counterclockwise: Retrain requested: job {r.job_id} ({r.reason})"
    fields = {
        "job": r.job_id,
        "base model": r.base_model,
        "dataset": r.dataset_version,
        "method": r.method,
        "max steps": r.hyperparameters.max_steps,
        "detections": len(r.evidence.get("detections", [])),
    }
    return Alert(
        "retrain", _payload(text, "Retrain requested", text, fields, f"key {r.idempotency_key}")
    )


def evaluation_alert(event: Envelope[EvaluationCompleted], regression: float) -> Alert | None:
    e = event.data
    metric = e.primary_metric
    cand, champ = e.candidate_metrics.get(metric), e.champion_metrics.get(metric)
    fields: dict[str, object] = {
        "model": e.model_name,
        "candidate": e.candidate_version,
        "champion": e.champion_version,
        f"{metric} (candidate)": None if cand is None else f"{cand:.4f}",
        f"{metric} (champion)": None if champ is None else f"{champ:.4f}",
    }
    if e.decision == "rejected":
        text = f":no_entry: Gate rejected {e.model_name} v{e.candidate_version}: {e.reason}"
        return Alert(
            "gate_rejected", _payload(text, "Candidate rejected", text, fields, f"job {e.job_id}")
        )
    deltas = {c: _category_delta(values, metric) for c, values in e.per_category.items()}
    worst = {c: d for c, d in deltas.items() if d is not None and d < -regression}
    if not worst:
        return None
    listed = ", ".join(
        f"{c} {delta:+.3f}" for c, delta in sorted(worst.items(), key=lambda kv: kv[1])
    )
    text = (
        f":chart_with_downwards_trend: {e.model_name} v{e.candidate_version} was promoted "
        f"but regressed on {metric} in: {listed}"
    )
    return Alert("regression", _payload(text, "Regression", text, fields, f"job {e.job_id}"))


def _category_delta(values: dict[str, float], metric: str) -> float | None:
    """Candidate minus champion in one category, whichever way the evaluation spelled it."""
    for key in (f"{metric}_delta", "delta"):
        if key in values:
            return values[key]
    for cand, champ in (
        (f"candidate_{metric}", f"champion_{metric}"),
        ("candidate", "champion"),
    ):
        if cand in values and champ in values:
            return values[cand] - values[champ]
    return None


def rollback_alert(event: Envelope[ModelRolledBack]) -> Alert:
    r = event.data
    text = f":rewind: {r.model_name} rolled back from v{r.from_version} to v{r.version}" + (
        f": {r.reason}" if r.reason else ""
    )
    fields = {"model": r.model_name, "from": r.from_version, "to": r.version, "alias": r.alias}
    return Alert(
        "rollback", _payload(text, "Model rolled back", text, fields, f"event {event.event_id}")
    )


def alert_for(body: dict[str, Any], *, regression: float) -> Alert | None:
    """The alert for one event (validated by its type), or None when it is not alert-worthy."""
    kind = body.get("type")
    if kind == DriftDetected.EVENT_TYPE:
        return drift_alert(envelope_type(DriftDetected).model_validate(body))
    if kind == TrainingRequested.EVENT_TYPE:
        return retrain_alert(envelope_type(TrainingRequested).model_validate(body))
    if kind == EvaluationCompleted.EVENT_TYPE:
        return evaluation_alert(envelope_type(EvaluationCompleted).model_validate(body), regression)
    if kind == ModelRolledBack.EVENT_TYPE:
        return rollback_alert(envelope_type(ModelRolledBack).model_validate(body))
    return None
