"""HTTP models of the query-log statistics (`GET /api/v1/stats`, `melancia stats`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class Percentiles(BaseModel):
    """p50/p95/p99 of a timing in milliseconds; None when nothing was measured."""

    p50: float | None = None
    p95: float | None = None
    p99: float | None = None


class GroupStats(BaseModel):
    """Aggregates of the queries in one group (all queries, or one model, variant or tier)."""

    key: str = Field(description="the group's value: a model name, variant or tier; 'all'")
    queries: int
    errors: int = Field(description="finish_reason 'error' or an error recorded")
    cancelled: int
    cache_hits: int
    prompt_tokens: int
    completion_tokens: int
    latency_ms: Percentiles
    ttft_ms: Percentiles
    cost: float = Field(description="estimated cost of these queries (token prices per model)")
    cost_per_query: float


class HourStats(BaseModel):
    """One hour of traffic."""

    hour: datetime
    queries: int
    errors: int
    tokens: int


class StatsResponse(BaseModel):
    """Query-log statistics over a time window, from the analytics store."""

    since: datetime
    until: datetime
    total: GroupStats
    by_model: list[GroupStats]
    by_variant: list[GroupStats]
    by_tier: list[GroupStats]
    per_hour: list[HourStats]
    feedback: dict[str, int] = Field(default_factory=dict, description="ratings: up, down")
    prices_per_1k_tokens: dict[str, float] = Field(default_factory=dict)
