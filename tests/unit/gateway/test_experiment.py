"""The A/B ledger: grouping by arm, feedback joining, and the significance tests."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from scipy import stats

from gateway.experiment import ExperimentLedger, two_proportion_z
from schemas.query import FeedbackSubmitted, QueryCompleted


def _query(
    query_id: str, variant: str, user: str, latency: float, **extra: object
) -> QueryCompleted:
    return QueryCompleted(
        query_id=query_id,
        user_id=user,
        tier="premium",
        question="q",
        answer="a",
        model="m",
        variant=variant,
        worker_id="w",
        finish_reason="stop",
        latency_ms=latency,
        prompt_tokens=1,
        completion_tokens=1,
        **extra,  # type: ignore[arg-type]
    )


def test_two_proportion_z_matches_the_textbook_value() -> None:
    # 30/100 vs 45/100: pooled p = 0.375, se = sqrt(.375*.625*(2/100)) = 0.06847.
    z, p = two_proportion_z(30, 100, 45, 100)

    assert z == pytest.approx(0.15 / 0.0684653, rel=1e-4)
    assert p == pytest.approx(2 * stats.norm.sf(z), rel=1e-9)


def test_feedback_joins_its_query_in_either_order_and_arms_group_versions() -> None:
    ledger = ExperimentLedger()
    ledger.record_feedback(FeedbackSubmitted(query_id="q2", rating=-1))  # before its query
    ledger.record_query(_query("q1", "champion@1", "u1", 100))
    ledger.record_query(_query("q2", "champion@2", "u2", 300))
    ledger.record_query(_query("q3", "challenger@3", "u3", 200, error="boom"))
    ledger.record_feedback(FeedbackSubmitted(query_id="q1", rating=1))

    report = ledger.report(configured_share=0.5)

    champion, challenger = report.variants
    assert (champion.variant, champion.labels) == ("champion", ["champion@1", "champion@2"])
    assert (champion.queries, champion.users, champion.thumbs_up, champion.thumbs_down) == (
        2,
        2,
        1,
        1,
    )
    assert champion.positive_rate == 0.5 and champion.satisfaction == 0.5
    assert champion.latency_ms_p50 == 200
    assert (challenger.errors, challenger.latency_ms_mean) == (1, None)
    assert report.comparison is not None
    assert report.comparison.latency.p_value is None  # too few answers to test


def test_a_real_difference_is_significant_and_no_difference_is_not() -> None:
    rng = random.Random(7)
    ledger = ExperimentLedger()
    for i in range(2_000):
        arm = "challenger" if i % 5 == 0 else "champion"
        liked = rng.random() < (0.5 if arm == "challenger" else 0.3)
        latency = rng.gauss(900 if arm == "challenger" else 1000, 50)
        ledger.record_query(_query(f"q{i}", f"{arm}@1", f"u{i}", latency))
        if liked:
            ledger.record_feedback(FeedbackSubmitted(query_id=f"q{i}", rating=1))

    comparison = ledger.report(configured_share=0.2).comparison

    assert comparison is not None
    assert comparison.feedback.significant and comparison.positive_rate_diff > 0.1
    assert comparison.latency.significant
    assert not comparison.sample_ratio.significant  # 400 of 2,000 users is the 20% asked for


def test_a_sample_ratio_mismatch_is_flagged() -> None:
    ledger = ExperimentLedger()
    for i in range(1_000):
        arm = "challenger" if i % 2 else "champion"
        ledger.record_query(_query(f"q{i}", arm, f"u{i}", 10.0 + i % 7))

    comparison = ledger.report(configured_share=0.1).comparison

    assert comparison is not None and comparison.sample_ratio.significant


def test_the_window_and_the_capacity_bound_what_is_counted() -> None:
    ledger = ExperimentLedger(capacity=3)
    now = datetime.now(UTC)
    for i in range(5):
        ledger.record_query(_query(f"q{i}", "champion", "u", 1.0), at=now - timedelta(hours=5 - i))

    assert len(ledger) == 3
    assert ledger.report(since=now - timedelta(hours=2.5)).variants[0].queries == 2
