"""Small value types shared by events and the HTTP API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

MAX_QUESTION_CHARS = 4000

Tier = Literal["free", "premium", "internal"]
Role = Literal["user", "assistant"]
FinishReason = Literal["stop", "length", "cancelled", "error"]
Question = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUESTION_CHARS)
]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:@-]{1,128}$")]


class ChatTurn(BaseModel):
    """One earlier turn of the conversation."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    role: Role
    content: Annotated[str, StringConstraints(min_length=1, max_length=MAX_QUESTION_CHARS)]


class GenerationParams(BaseModel):
    """Sampling knobs; temperature 0 is greedy and reproducible."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_new_tokens: int = Field(default=256, ge=1, le=2048)
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    seed: int | None = Field(default=None, ge=0)


class Source(BaseModel):
    """A retrieved corpus passage that grounds an answer."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    article_id: str
    title: str
    snippet: str = ""
    score: float


class Usage(BaseModel):
    """Token counts and timings of one generation."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    latency_ms: float = Field(ge=0)
    ttft_ms: float | None = Field(default=None, ge=0)
    tokens_per_s: float | None = Field(default=None, ge=0)
