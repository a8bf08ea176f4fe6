"""Query-log statistics in SQL over the `query_completed` table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from schemas.stats import GroupStats, HourStats, Percentiles, StatsResponse

DIMENSIONS = {"all": "'all'", "model": "q.model", "variant": "q.variant", "tier": "q.tier"}

_WINDOW = """
WITH prices AS (
    SELECT unnest($prices_model::VARCHAR[]) AS model, unnest($prices_price::DOUBLE[]) AS price
),
q AS (
    SELECT * FROM query_completed
    WHERE event_time >= $since::TIMESTAMPTZ AND event_time < $until::TIMESTAMPTZ
)
"""

# Cached answers generated nothing, so they cost nothing.
_GROUP = (
    _WINDOW
    + """
SELECT {dim} AS key,
    count(*) AS queries,
    count(*) FILTER (WHERE q.finish_reason = 'error' OR q.error IS NOT NULL) AS errors,
    count(*) FILTER (WHERE q.finish_reason = 'cancelled') AS cancelled,
    count(*) FILTER (WHERE q.cached) AS cache_hits,
    coalesce(sum(q.prompt_tokens), 0) AS prompt_tokens,
    coalesce(sum(q.completion_tokens), 0) AS completion_tokens,
    quantile_cont(q.latency_ms, 0.5), quantile_cont(q.latency_ms, 0.95),
    quantile_cont(q.latency_ms, 0.99),
    quantile_cont(q.ttft_ms, 0.5), quantile_cont(q.ttft_ms, 0.95), quantile_cont(q.ttft_ms, 0.99),
    coalesce(sum(CASE WHEN q.cached THEN 0 ELSE
        (q.prompt_tokens + q.completion_tokens) / 1000.0 * coalesce(p.price, $default_price)
        END), 0) AS cost
FROM q LEFT JOIN prices p ON p.model = q.model
GROUP BY 1
ORDER BY 1
"""
)

_HOURLY = (
    _WINDOW
    + """
SELECT date_trunc('hour', timezone('UTC', q.event_time)) AS hour,
    count(*) AS queries,
    count(*) FILTER (WHERE q.finish_reason = 'error' OR q.error IS NOT NULL) AS errors,
    coalesce(sum(q.prompt_tokens + q.completion_tokens), 0) AS tokens
FROM q
GROUP BY 1
ORDER BY 1
"""
)

_FEEDBACK = """
SELECT CASE WHEN rating > 0 THEN 'up' ELSE 'down' END, count(*)
FROM feedback_submitted
WHERE event_time >= $since::TIMESTAMPTZ AND event_time < $until::TIMESTAMPTZ
GROUP BY 1
"""


# Distinct users with an answer in the last hour and day (the query log knows every user).
_ACTIVE_USERS = """
SELECT count(DISTINCT user_id) FILTER (WHERE event_time >= $hour::TIMESTAMPTZ),
    count(DISTINCT user_id)
FROM query_completed
WHERE event_time >= $day::TIMESTAMPTZ
"""

# All-time feedback per A/B arm, by the variant that gave the rated answer. Only feedback on
# logged answers counts, so the totals only ever grow (they are exported as counters).
_FEEDBACK_BY_VARIANT = """
WITH answered AS (
    SELECT query_id, any_value(variant) AS variant FROM query_completed
    WHERE query_id IN (SELECT query_id FROM feedback_submitted)
    GROUP BY query_id
)
SELECT a.variant, CASE WHEN f.rating > 0 THEN 'up' ELSE 'down' END, count(*)
FROM feedback_submitted f JOIN answered a USING (query_id)
GROUP BY 1, 2
ORDER BY 1, 2
"""


def active_users(cursor: duckdb.DuckDBPyConnection, *, now: datetime) -> dict[str, int]:
    """Distinct user_id in the query log over the last `1h` and `24h` before now."""
    params = {
        "hour": (now - timedelta(hours=1)).isoformat(),
        "day": (now - timedelta(hours=24)).isoformat(),
    }
    row = cursor.execute(_ACTIVE_USERS, params).fetchone()
    hour, day = row if row else (0, 0)
    return {"1h": int(hour), "24h": int(day)}


def feedback_by_variant(cursor: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], int]:
    """(variant, up or down) → feedback ever given on answers of that variant."""
    rows = cursor.execute(_FEEDBACK_BY_VARIANT).fetchall()
    return {(str(variant), str(rating)): int(n) for variant, rating, n in rows}


def window(
    since: datetime | None, until: datetime | None, hours: float = 24.0
) -> tuple[datetime, datetime]:
    """The [since, until) window: until defaults to now, since to `hours` before until."""
    until = _aware(until) if until else datetime.now(UTC)
    since = _aware(since) if since else until - timedelta(hours=hours)
    return since, until


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _row_to_group(row: tuple[Any, ...]) -> GroupStats:
    key, queries, errors, cancelled, hits, prompt, completion, *timings, cost = row
    lat, ttft = timings[:3], timings[3:]
    return GroupStats(
        key=str(key),
        queries=int(queries),
        errors=int(errors),
        cancelled=int(cancelled),
        cache_hits=int(hits),
        prompt_tokens=int(prompt),
        completion_tokens=int(completion),
        latency_ms=Percentiles(p50=lat[0], p95=lat[1], p99=lat[2]),
        ttft_ms=Percentiles(p50=ttft[0], p95=ttft[1], p99=ttft[2]),
        cost=float(cost),
        cost_per_query=float(cost) / int(queries) if queries else 0.0,
    )


def compute_stats(
    cursor: duckdb.DuckDBPyConnection,
    *,
    since: datetime,
    until: datetime,
    prices: dict[str, float],
) -> StatsResponse:
    """Every figure of `GET /api/v1/stats` for the window, in a handful of queries."""
    named = {k: v for k, v in prices.items() if k != "*"}
    params = {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "prices_model": list(named),
        "prices_price": list(named.values()),
    }
    group_params = {**params, "default_price": float(prices.get("*", 0.0))}

    def groups(dimension: str) -> list[GroupStats]:
        sql = _GROUP.format(dim=DIMENSIONS[dimension])
        return [_row_to_group(r) for r in cursor.execute(sql, group_params).fetchall()]

    total = groups("all")
    empty = GroupStats(
        key="all",
        queries=0,
        errors=0,
        cancelled=0,
        cache_hits=0,
        prompt_tokens=0,
        completion_tokens=0,
        latency_ms=Percentiles(),
        ttft_ms=Percentiles(),
        cost=0.0,
        cost_per_query=0.0,
    )
    hourly = [
        HourStats(hour=h.replace(tzinfo=UTC), queries=n, errors=e, tokens=t)
        for h, n, e, t in cursor.execute(_HOURLY, params).fetchall()
    ]
    feedback_params = {"since": params["since"], "until": params["until"]}
    feedback = {k: int(v) for k, v in cursor.execute(_FEEDBACK, feedback_params).fetchall()}
    return StatsResponse(
        since=since,
        until=until,
        total=total[0] if total else empty,
        by_model=groups("model"),
        by_variant=groups("variant"),
        by_tier=groups("tier"),
        per_hour=hourly,
        feedback={"up": feedback.get("up", 0), "down": feedback.get("down", 0)},
        prices_per_1k_tokens=prices,
    )
