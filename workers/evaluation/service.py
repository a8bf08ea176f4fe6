"""Candidate against champion: evaluate both, ask the gate, record it all, apply the verdict.

Plain logic (no broker): `evaluate` turns a `training.completed` into an `evaluation.completed`;
`apply` turns an `evaluation.completed` into the registry change and the `model.promoted` to
announce (None when the candidate was rejected).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data.pipeline import BenchmarkItem, ChatRecord
from schemas.registry import EvaluationCompleted, ModelPromoted
from schemas.training import TrainingCompleted
from workers.evaluation.runner import ModelEvaluator, ModelReport, ModelUnderTest
from workers.evaluation.tracking import RunRecord, log_evaluation
from workers.registry.artifacts import resolve_adapter
from workers.registry.gate import GateDecision, GatePolicy, decide
from workers.registry.model_card import CardEvaluation, render_card, store_card
from workers.registry.promotion import CHAMPION, Registry, VersionInfo

logger = logging.getLogger(__name__)


@dataclass
class Comparison:
    """Both reports, the verdict and where it was recorded."""

    candidate: ModelReport
    baseline: ModelReport
    baseline_label: str
    decision: GateDecision
    run_id: str | None


def _summary_for_event(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 6) for k, v in values.items() if v == v}  # drop NaN


class EvaluationService:
    """What the evaluation worker does, given the loaded benchmark and an MLflow client."""

    def __init__(
        self,
        *,
        evaluator: ModelEvaluator,
        items: Sequence[BenchmarkItem],
        test_records: Sequence[ChatRecord],
        client: Any,
        experiment_id: str,
        adapter_cache: Path,
        tracking_uri: str | None,
        policy: GatePolicy,
        promote_to: str = CHAMPION,
        subset: str = "",
    ) -> None:
        self.evaluator = evaluator
        self.items = list(items)
        self.test_records = list(test_records)
        self.client = client
        self.registry = Registry(client)
        self.experiment_id = experiment_id
        self.adapter_cache = adapter_cache
        self.tracking_uri = tracking_uri
        self.policy = policy
        self.promote_to = promote_to
        self.subset = subset

    def target_for(self, info: VersionInfo, label: str) -> ModelUnderTest:
        """What to load to serve a registered version."""
        if info.adapter_uri is None:
            return ModelUnderTest(label, info.base_model, None, info.version)
        adapter = resolve_adapter(
            info.adapter_uri, self.adapter_cache, tracking_uri=self.tracking_uri
        )
        return ModelUnderTest(label, info.base_model, adapter, info.version)

    def baseline_for(self, candidate: VersionInfo) -> tuple[ModelUnderTest, str]:
        """The current champion, or the base model when there is none, when it is the candidate
        itself, or when it adapts another base model (no worker serving this one loads it)."""
        champion = self.registry.by_alias(candidate.name, CHAMPION)
        if (
            champion is not None
            and champion.version != candidate.version
            and champion.base_model == candidate.base_model
        ):
            return self.target_for(champion, "champion"), f"champion v{champion.version}"
        return ModelUnderTest("base", candidate.base_model), f"base model {candidate.base_model}"

    def compare(
        self, candidate: ModelUnderTest, baseline: ModelUnderTest, baseline_label: str
    ) -> tuple[ModelReport, ModelReport, GateDecision]:
        """Evaluate both on the same questions and let the gate decide."""
        mine = self.evaluator.evaluate(candidate, self.items, self.test_records)
        theirs = self.evaluator.evaluate(baseline, self.items, self.test_records)
        verdict = decide(
            mine.summary,
            theirs.summary,
            candidate_by_category=mine.per_category,
            champion_by_category=theirs.per_category,
            policy=self.policy,
            baseline=baseline_label,
        )
        return mine, theirs, verdict

    def evaluate(self, completed: TrainingCompleted) -> EvaluationCompleted:
        """The whole evaluation of a freshly trained candidate, recorded in MLflow."""
        info = self.registry.ensure_version(completed)
        candidate = self.target_for(info, "candidate")
        baseline, baseline_label = self.baseline_for(info)
        logger.info(
            "evaluating %s v%s against %s on %d questions",
            info.name,
            info.version,
            baseline_label,
            len(self.items),
        )
        mine, theirs, verdict = self.compare(candidate, baseline, baseline_label)
        run_id = self.record(info, mine, theirs, baseline_label, verdict)
        return EvaluationCompleted(
            job_id=completed.job_id,
            model_name=info.name,
            candidate_version=info.version,
            champion_version=baseline.version if baseline.label == "champion" else None,
            primary_metric=self.policy.primary_metric,
            candidate_metrics=_summary_for_event(mine.summary),
            champion_metrics=_summary_for_event(theirs.summary),
            per_category={
                category: _summary_for_event(values)
                for category, values in mine.per_category.items()
            },
            decision="promoted" if verdict.promote else "rejected",
            reason=verdict.reason,
            run_id=run_id,
        )

    def record(
        self,
        info: VersionInfo,
        mine: ModelReport,
        theirs: ModelReport,
        baseline_label: str,
        verdict: GateDecision,
    ) -> str:
        """Log the run, tag the version with the verdict, and store its model card."""
        run_id = log_evaluation(
            self.client,
            self.experiment_id,
            RunRecord(
                model_name=info.name,
                version=info.version,
                job_id=info.job_id,
                baseline_label=baseline_label,
                primary_metric=self.policy.primary_metric,
                decision=verdict.decision,
                reason=verdict.reason,
                params={
                    "subset": self.subset,
                    "min_improvement": self.policy.min_improvement,
                    "category_tolerance": self.policy.category_tolerance,
                    "max_new_tokens": self.evaluator.config.max_new_tokens,
                },
            ),
            mine,
            theirs,
        )
        self.registry.record_evaluation(
            info.name, info.version, decision=verdict.decision, reason=verdict.reason, run_id=run_id
        )
        card = render_card(
            self.registry.info(info.name, info.version),
            CardEvaluation(
                baseline_label=baseline_label,
                candidate=mine.summary,
                baseline=theirs.summary,
                candidate_by_category=mine.per_category,
                baseline_by_category=theirs.per_category,
                primary_metric=self.policy.primary_metric,
                decision=verdict.decision,
                reason=verdict.reason,
                run_id=run_id,
                subset=self.subset,
            ),
        )
        store_card(self.client, info, card, run_id=run_id)
        return run_id

    def apply(self, evaluation: EvaluationCompleted) -> ModelPromoted | None:
        """Carry out the gate's verdict in the registry; the promotion to announce, if any."""
        if evaluation.decision == "rejected":
            self.registry.reject(
                evaluation.model_name, evaluation.candidate_version, reason=evaluation.reason
            )
            logger.info(
                "%s v%s rejected: %s",
                evaluation.model_name,
                evaluation.candidate_version,
                evaluation.reason,
            )
            return None
        return self.registry.promote(
            evaluation.model_name,
            evaluation.candidate_version,
            alias=self.promote_to,
            reason=evaluation.reason,
        )
