"""The promotion gate: does a candidate beat the champion, without hurting any category?"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Metrics where smaller is better; every other metric is better when larger.
LOWER_IS_BETTER = frozenset({"perplexity", "latency_mean_s", "latency_p95_s", "ttft_mean_s"})


@dataclass(frozen=True)
class GatePolicy:
    """Thresholds of the gate (absolute differences of the primary metric)."""

    primary_metric: str = "rougeL"
    min_improvement: float = 0.0
    category_tolerance: float = 0.05
    # One question per category is noise, not a regression: smaller categories are not checked.
    min_category_questions: int = 2

    @property
    def sign(self) -> float:
        return -1.0 if self.primary_metric in LOWER_IS_BETTER else 1.0


@dataclass(frozen=True)
class GateDecision:
    """The verdict, why, and the figures behind it."""

    promote: bool
    reason: str
    improvement: float | None = None
    regressions: dict[str, float] = field(default_factory=dict)

    @property
    def decision(self) -> str:
        return "promoted" if self.promote else "rejected"


def decide(
    candidate: Mapping[str, float],
    champion: Mapping[str, float],
    *,
    candidate_by_category: Mapping[str, Mapping[str, float]] | None = None,
    champion_by_category: Mapping[str, Mapping[str, float]] | None = None,
    policy: GatePolicy | None = None,
    baseline: str = "champion",
) -> GateDecision:
    """Promote when the primary metric improves by more than the margin and no category
    regresses by more than the tolerance; the reason names the figures either way."""
    policy = policy or GatePolicy()
    metric = policy.primary_metric
    if metric not in candidate:
        return GateDecision(False, f"the candidate has no {metric} to compare")
    if metric not in champion:
        return GateDecision(False, f"the {baseline} has no {metric} to compare")
    improvement = policy.sign * (candidate[metric] - champion[metric])
    figures = (
        f"{metric} {candidate[metric]:.4f} vs {baseline} {champion[metric]:.4f} "
        f"(improvement {improvement:+.4f}, margin {policy.min_improvement:+.4f})"
    )
    if not improvement > policy.min_improvement:
        return GateDecision(False, f"not better by the margin: {figures}", improvement)
    regressions = category_regressions(
        candidate_by_category or {}, champion_by_category or {}, policy
    )
    if regressions:
        worst = ", ".join(
            f"{c} {d:+.4f}" for c, d in sorted(regressions.items(), key=lambda kv: kv[1])
        )
        return GateDecision(
            False,
            f"{figures}, but categories regress beyond {policy.category_tolerance:.4f}: {worst}",
            improvement,
            regressions,
        )
    return GateDecision(
        True, f"better by the margin: {figures}; no category regresses", improvement
    )


def category_regressions(
    candidate: Mapping[str, Mapping[str, float]],
    champion: Mapping[str, Mapping[str, float]],
    policy: GatePolicy,
) -> dict[str, float]:
    """Categories whose primary metric got worse by more than the tolerance (signed change)."""
    metric = policy.primary_metric
    out: dict[str, float] = {}
    for category in sorted(set(candidate) & set(champion)):
        if candidate[category].get("questions", policy.min_category_questions) < (
            policy.min_category_questions
        ):
            continue
        if metric in candidate[category] and metric in champion[category]:
            change = policy.sign * (candidate[category][metric] - champion[category][metric])
            if change < -policy.category_tolerance:
                out[category] = change
    return out


def failed_check(reason: str) -> str:
    """The gate check a rejection failed, from its reason (what `evaluation.completed` carries).

    Bounded names for metrics and alerts; keep them in step with the messages of `decide`.
    """
    if reason.startswith("not better by the margin"):
        return "below_champion"
    if "categories regress beyond" in reason:
        return "category_regression"
    if reason.endswith("to compare") and " has no " in reason:
        return "missing_metric"
    return "other"
