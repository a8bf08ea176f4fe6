"""HTTP request and response models of the gateway."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.common import ChatTurn, FinishReason, Question, Source, Tier, Usage


class QueryRequest(BaseModel):
    """Body of POST /api/v1/query and /api/v1/query/stream."""

    model_config = ConfigDict(extra="forbid")
    question: Question
    history: list[ChatTurn] = Field(default_factory=list, max_length=20)
    model: str | None = Field(default=None, max_length=200)
    user_id: str = Field(default="anonymous", min_length=1, max_length=128)
    tier: Tier = "free"
    max_new_tokens: int = Field(default=256, ge=1, le=2048)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    seed: int | None = Field(default=None, ge=0)


class QueryResponse(BaseModel):
    """The whole answer of a non-streamed query."""

    query_id: str
    answer: str
    model: str
    variant: str
    finish_reason: FinishReason
    latency_ms: float
    ttft_ms: float | None
    prompt_tokens: int
    completion_tokens: int
    sources: list[Source] = Field(default_factory=list)
    cached: bool = False


QueryState = Literal["pending", "streaming", "completed", "failed", "cancelled"]


class QueryStatus(BaseModel):
    """GET /api/v1/query/{query_id}."""

    query_id: str
    status: QueryState
    question: str
    answer: str
    model: str | None = None
    variant: str | None = None
    usage: Usage | None = None
    error: str | None = None
    sources: list[Source] = Field(default_factory=list)


class ModelInfo(BaseModel):
    """One servable model as seen by the gateway."""

    name: str
    variant: str = "default"
    workers: int
    adapter: str | None = None


class ModelsResponse(BaseModel):
    """GET /api/v1/models."""

    models: list[ModelInfo]


class HealthResponse(BaseModel):
    """GET /health."""

    status: Literal["ok", "unavailable"]
    broker: bool
    inference_workers: int
    reasons: list[str] = Field(default_factory=list)
    instance: str


class ErrorResponse(BaseModel):
    """Every 4xx/5xx body."""

    detail: str | list[dict[str, object]]


class FeedbackRequest(BaseModel):
    """Body of POST /api/v1/feedback: a thumbs up or down on one answer."""

    model_config = ConfigDict(extra="forbid")
    query_id: str = Field(pattern=r"^[A-Za-z0-9_.:@-]{1,128}$")
    rating: Literal["up", "down"]
    comment: str | None = Field(default=None, max_length=2000)
    user_id: str = Field(default="anonymous", min_length=1, max_length=128)


class FeedbackResponse(BaseModel):
    """The feedback was published on `feedback.submitted`."""

    query_id: str
    rating: Literal[-1, 1]
    status: Literal["accepted"] = "accepted"


class CacheClearResponse(BaseModel):
    """POST /api/v1/cache/clear."""

    cleared: int
