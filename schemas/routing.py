"""HTTP models of model routing, the model registry view and the A/B report."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import Tier

CHAMPION = "champion"
CHALLENGER = "challenger"
BASE = "base"


class RoutingPolicy(BaseModel):
    """Which variant each request gets: by tier, an A/B share, and per-user pins."""

    model_config = ConfigDict(extra="forbid")
    premium_variant: str = Field(default=CHAMPION, min_length=1, max_length=64)
    free_variant: str = Field(default=CHAMPION, min_length=1, max_length=64)
    internal_variant: str = Field(default=CHAMPION, min_length=1, max_length=64)
    free_max_new_tokens: int | None = Field(
        default=192, ge=1, le=2048, description="answer cap for the free tier (its cost bound)"
    )
    challenger_share: float = Field(
        default=0.0, ge=0.0, le=1.0, description="share of users routed to the challenger"
    )
    ab_tiers: list[Tier] = Field(
        default_factory=lambda: list[Tier](["free", "premium"]),
        description="tiers whose users take part in the A/B split",
    )
    salt: str = Field(default="melancia-ab", min_length=1, max_length=64)
    pins: dict[str, str] = Field(default_factory=dict, description="user_id → variant")

    def variant_for(self, tier: Tier) -> str:
        return {
            "premium": self.premium_variant,
            "free": self.free_variant,
            "internal": self.internal_variant,
        }[tier]


class SelectRequest(BaseModel):
    """POST /api/v1/models/select: change the routing of this gateway (absent fields stay)."""

    model_config = ConfigDict(extra="forbid")
    user_id: str | None = Field(default=None, min_length=1, max_length=128)
    variant: str | None = Field(
        default=None, min_length=1, max_length=64, description="pin user_id (or set tier) to it"
    )
    tier: Tier | None = None
    challenger_share: float | None = Field(default=None, ge=0.0, le=1.0)
    free_max_new_tokens: int | None = Field(default=None, ge=1, le=2048)
    unpin: bool = False


class VariantServing(BaseModel):
    """One variant as live workers serve it."""

    variant: str
    label: str
    workers: int


class ServedModel(BaseModel):
    """A base model that live workers serve, with its variants."""

    name: str
    workers: int
    variants: list[VariantServing] = Field(default_factory=list)


class ModelsListResponse(BaseModel):
    """GET /api/v1/models."""

    models: list[ServedModel]
    routing: RoutingPolicy


class ModelsStatusResponse(BaseModel):
    """GET /api/v1/models/status: what serves now and what the registry says."""

    workers: list[dict[str, object]]
    routing: RoutingPolicy
    last_promotion: dict[str, object] | None = None
    last_rollback: dict[str, object] | None = None
    registry: dict[str, object] | None = None


class VariantStats(BaseModel):
    """One A/B arm over the window."""

    variant: str
    labels: list[str] = Field(default_factory=list, description="versions seen in this arm")
    queries: int
    users: int
    errors: int
    rated: int
    thumbs_up: int
    thumbs_down: int
    positive_rate: float | None = Field(description="thumbs up per query")
    satisfaction: float | None = Field(description="thumbs up per rated query")
    latency_ms_mean: float | None = None
    latency_ms_p50: float | None = None
    latency_ms_p95: float | None = None
    query_share: float


class SignificanceTest(BaseModel):
    """A significance test between two arms."""

    test: str
    statistic: float | None
    p_value: float | None
    significant: bool
    note: str = ""


class ABComparison(BaseModel):
    """Challenger against champion."""

    baseline: str
    treatment: str
    positive_rate_diff: float | None
    feedback: SignificanceTest
    latency: SignificanceTest
    sample_ratio: SignificanceTest


class ABReport(BaseModel):
    """GET /api/v1/ab/report."""

    since: datetime | None
    generated_at: datetime
    configured_challenger_share: float
    alpha: float
    variants: list[VariantStats]
    comparison: ABComparison | None = None
