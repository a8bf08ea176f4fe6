"""The promotion gate's verdicts and the reasons it gives."""

from __future__ import annotations

import pytest

from workers.registry.gate import GatePolicy, decide

CHAMPION = {"rougeL": 0.30, "perplexity": 12.0}
CATS = {"metricas": {"rougeL": 0.40}, "plataformas": {"rougeL": 0.20}}


def test_a_clear_improvement_with_no_regression_is_promoted() -> None:
    decision = decide(
        {"rougeL": 0.35},
        CHAMPION,
        candidate_by_category={"metricas": {"rougeL": 0.42}, "plataformas": {"rougeL": 0.19}},
        champion_by_category=CATS,
        policy=GatePolicy(min_improvement=0.02, category_tolerance=0.05),
    )

    assert decision.promote and decision.decision == "promoted"
    assert decision.improvement == pytest.approx(0.05)
    assert "rougeL 0.3500 vs champion 0.3000" in decision.reason


def test_an_improvement_below_the_margin_is_rejected() -> None:
    decision = decide({"rougeL": 0.31}, CHAMPION, policy=GatePolicy(min_improvement=0.02))

    assert not decision.promote and decision.decision == "rejected"
    assert decision.reason.startswith("not better by the margin")


def test_a_tie_is_not_an_improvement() -> None:
    assert not decide({"rougeL": 0.30}, CHAMPION).promote


def test_a_category_regression_beyond_the_tolerance_blocks_promotion() -> None:
    decision = decide(
        {"rougeL": 0.40},
        CHAMPION,
        candidate_by_category={"metricas": {"rougeL": 0.60}, "plataformas": {"rougeL": 0.10}},
        champion_by_category=CATS,
        policy=GatePolicy(category_tolerance=0.05),
    )

    assert not decision.promote
    assert decision.regressions == {"plataformas": pytest.approx(-0.10)}
    assert "plataformas -0.1000" in decision.reason


def test_lower_is_better_metrics_flip_the_comparison() -> None:
    policy = GatePolicy(primary_metric="perplexity", min_improvement=1.0)

    assert decide({"perplexity": 10.0}, CHAMPION, policy=policy).promote
    assert not decide({"perplexity": 11.5}, CHAMPION, policy=policy).promote


def test_thresholds_force_either_outcome() -> None:
    always = GatePolicy(min_improvement=-1.0, category_tolerance=1.0)
    never = GatePolicy(min_improvement=1.0)

    assert decide({"rougeL": 0.0}, CHAMPION, policy=always).promote
    assert not decide({"rougeL": 0.99}, CHAMPION, policy=never).promote


def test_a_missing_metric_is_a_rejection_that_says_why() -> None:
    decision = decide({"rouge1": 0.5}, CHAMPION, baseline="base model")

    assert not decision.promote
    assert decision.reason == "the candidate has no rougeL to compare"
    assert not decide({"rougeL": 0.5}, {}, baseline="base model").promote


def test_categories_with_too_few_questions_are_not_checked() -> None:
    candidate = {"metricas": {"rougeL": 0.0, "questions": 1}}
    champion = {"metricas": {"rougeL": 0.9, "questions": 1}}

    decision = decide(
        {"rougeL": 0.5},
        CHAMPION,
        candidate_by_category=candidate,
        champion_by_category=champion,
        policy=GatePolicy(min_category_questions=2),
    )

    assert decision.promote
