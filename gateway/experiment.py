"""The A/B ledger: answered queries and their feedback per variant, and the significance tests.

Fed from `query.completed` and `feedback.submitted`; bounded, so memory stays flat however long
the gateway runs (the oldest queries are forgotten first). Variants are grouped by arm: the
labels "champion@3" and "champion@4" are both the champion arm, listed as its labels.
"""

from __future__ import annotations

import math
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

from schemas.query import FeedbackSubmitted, QueryCompleted
from schemas.routing import (
    CHALLENGER,
    CHAMPION,
    ABComparison,
    ABReport,
    SignificanceTest,
    VariantStats,
)


def arm_of(variant: str) -> str:
    """'champion@3' → 'champion'."""
    return variant.split("@", 1)[0]


@dataclass
class _Query:
    arm: str
    label: str
    user_id: str
    latency_ms: float
    error: bool
    at: datetime
    rating: int | None = None


class ExperimentLedger:
    """Queries by id with their latest rating; feedback that arrives first waits for its query."""

    def __init__(self, capacity: int = 200_000) -> None:
        self.capacity = capacity
        self._queries: OrderedDict[str, _Query] = OrderedDict()
        self._early: OrderedDict[str, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._queries)

    def record_query(self, query: QueryCompleted, at: datetime | None = None) -> None:
        entry = _Query(
            arm=arm_of(query.variant),
            label=query.variant,
            user_id=query.user_id,
            latency_ms=query.latency_ms,
            error=query.error is not None or query.finish_reason == "error",
            at=at or datetime.now(UTC),
            rating=self._early.pop(query.query_id, None),
        )
        self._queries[query.query_id] = entry
        self._queries.move_to_end(query.query_id)
        while len(self._queries) > self.capacity:
            self._queries.popitem(last=False)

    def record_feedback(self, feedback: FeedbackSubmitted) -> None:
        entry = self._queries.get(feedback.query_id)
        if entry is not None:
            entry.rating = feedback.rating
            return
        self._early[feedback.query_id] = feedback.rating
        while len(self._early) > self.capacity:
            self._early.popitem(last=False)

    def report(
        self,
        *,
        since: datetime | None = None,
        configured_share: float = 0.0,
        alpha: float = 0.05,
    ) -> ABReport:
        groups: dict[str, list[_Query]] = defaultdict(list)
        for entry in self._queries.values():
            if since is None or entry.at >= since:
                groups[entry.arm].append(entry)
        total = sum(len(g) for g in groups.values())
        order = sorted(groups, key=lambda arm: (arm != CHAMPION, arm != CHALLENGER, arm))
        variants = [_stats(arm, groups[arm], total) for arm in order]
        comparison = None
        if CHAMPION in groups and CHALLENGER in groups:
            comparison = compare(
                groups[CHAMPION], groups[CHALLENGER], configured_share=configured_share, alpha=alpha
            )
        return ABReport(
            since=since,
            generated_at=datetime.now(UTC),
            configured_challenger_share=configured_share,
            alpha=alpha,
            variants=variants,
            comparison=comparison,
        )


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _stats(arm: str, entries: list[_Query], total: int) -> VariantStats:
    up = sum(1 for e in entries if e.rating == 1)
    down = sum(1 for e in entries if e.rating == -1)
    latencies = [e.latency_ms for e in entries if not e.error]
    return VariantStats(
        variant=arm,
        labels=sorted({e.label for e in entries}),
        queries=len(entries),
        users=len({e.user_id for e in entries}),
        errors=sum(1 for e in entries if e.error),
        rated=up + down,
        thumbs_up=up,
        thumbs_down=down,
        positive_rate=up / len(entries) if entries else None,
        satisfaction=up / (up + down) if up + down else None,
        latency_ms_mean=sum(latencies) / len(latencies) if latencies else None,
        latency_ms_p50=_quantile(latencies, 0.5),
        latency_ms_p95=_quantile(latencies, 0.95),
        query_share=len(entries) / total if total else 0.0,
    )


def two_proportion_z(success_a: int, n_a: int, success_b: int, n_b: int) -> tuple[float, float]:
    """Pooled two-proportion z statistic (b − a) and its two-sided p-value."""
    if n_a == 0 or n_b == 0:
        raise ValueError("both groups need observations")
    pooled = (success_a + success_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if se == 0:
        return 0.0, 1.0
    z = (success_b / n_b - success_a / n_a) / se
    return z, math.erfc(abs(z) / math.sqrt(2))


def compare(
    baseline: list[_Query],
    treatment: list[_Query],
    *,
    configured_share: float,
    alpha: float = 0.05,
    min_samples: int = 5,
) -> ABComparison:
    """Challenger (treatment) against champion (baseline): feedback, latency, sample ratio."""
    from scipy import stats

    n_a, n_b = len(baseline), len(treatment)
    up_a = sum(1 for e in baseline if e.rating == 1)
    up_b = sum(1 for e in treatment if e.rating == 1)
    z, p = two_proportion_z(up_a, n_a, up_b, n_b)
    note = "" if min(n_a, n_b) >= min_samples * 6 else "few queries: treat the p-value as rough"
    feedback = SignificanceTest(
        test="two-proportion z-test on thumbs-up per query",
        statistic=z,
        p_value=p,
        significant=p < alpha,
        note=note,
    )
    lat_a = [e.latency_ms for e in baseline if not e.error]
    lat_b = [e.latency_ms for e in treatment if not e.error]
    if min(len(lat_a), len(lat_b)) >= min_samples:
        u, p_lat = stats.mannwhitneyu(lat_b, lat_a, alternative="two-sided")
        latency = SignificanceTest(
            test="Mann-Whitney U on latency_ms",
            statistic=float(u),
            p_value=float(p_lat),
            significant=float(p_lat) < alpha,
        )
    else:
        latency = SignificanceTest(
            test="Mann-Whitney U on latency_ms",
            statistic=None,
            p_value=None,
            significant=False,
            note=f"needs at least {min_samples} answered queries per arm",
        )
    return ABComparison(
        baseline=CHAMPION,
        treatment=CHALLENGER,
        positive_rate_diff=up_b / n_b - up_a / n_a,
        feedback=feedback,
        latency=latency,
        sample_ratio=_sample_ratio(baseline, treatment, configured_share, alpha),
    )


def _sample_ratio(
    baseline: list[_Query], treatment: list[_Query], share: float, alpha: float
) -> SignificanceTest:
    """Sample-ratio mismatch on users: the split assigns users, so users follow the share."""
    from scipy import stats

    users_a, users_b = len({e.user_id for e in baseline}), len({e.user_id for e in treatment})
    if not 0.0 < share < 1.0 or users_a + users_b == 0:
        return SignificanceTest(
            test="binomial test of challenger users against the configured share",
            statistic=None,
            p_value=None,
            significant=False,
            note="no A/B share configured",
        )
    result = stats.binomtest(users_b, users_a + users_b, share)
    return SignificanceTest(
        test="binomial test of challenger users against the configured share",
        statistic=users_b / (users_a + users_b),
        p_value=float(result.pvalue),
        significant=float(result.pvalue) < alpha,
        note="significant means a sample-ratio mismatch: check the routing",
    )
