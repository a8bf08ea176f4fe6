"""Evaluation, promotion and rollback events."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from schemas.envelope import Payload


class EvaluationCompleted(Payload):
    """evaluation → registry: candidate vs champion, and the gate's decision."""

    EVENT_TYPE: ClassVar[str] = "evaluation.completed"
    job_id: str | None = None
    model_name: str
    candidate_version: str
    champion_version: str | None = None
    primary_metric: str = "rougeL"
    candidate_metrics: dict[str, float] = Field(default_factory=dict)
    champion_metrics: dict[str, float] = Field(default_factory=dict)
    per_category: dict[str, dict[str, float]] = Field(default_factory=dict)
    decision: Literal["promoted", "rejected"]
    reason: str
    run_id: str | None = None


class ModelPromoted(Payload):
    """registry → inference: `alias` now points at `version`; load it."""

    EVENT_TYPE: ClassVar[str] = "model.promoted"
    model_name: str
    version: str
    alias: str = "champion"
    previous_version: str | None = None
    base_model: str
    adapter_uri: str | None = None
    reason: str = ""


class ModelRolledBack(Payload):
    """registry → inference: `alias` went back to an earlier version."""

    EVENT_TYPE: ClassVar[str] = "model.rolled_back"
    model_name: str
    version: str
    alias: str = "champion"
    from_version: str
    base_model: str
    adapter_uri: str | None = None
    reason: str = ""
