"""Query events: request, streamed reply, cancellation and the query log."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from schemas.common import (
    ChatTurn,
    FinishReason,
    GenerationParams,
    Identifier,
    Question,
    Source,
    Tier,
    Usage,
)
from schemas.envelope import Payload


class QueryRequested(Payload):
    """gateway → inference: answer this question and stream to `reply_to`."""

    EVENT_TYPE: ClassVar[str] = "query.requested"
    query_id: Identifier
    question: Question
    history: list[ChatTurn] = Field(default_factory=list, max_length=20)
    reply_to: str | None = Field(default=None, description="topic that receives the reply stream")
    user_id: str = "anonymous"
    tier: Tier = "free"
    model: str | None = Field(default=None, description="requested model or variant; None routes")
    params: GenerationParams = Field(default_factory=GenerationParams)
    stream: bool = True


class QueryCancelled(Payload):
    """gateway → inference: stop generating this query."""

    EVENT_TYPE: ClassVar[str] = "query.cancelled"
    query_id: Identifier
    reason: str = "client disconnected"


class Started(Payload):
    """A worker took the query; sent once before any token."""

    EVENT_TYPE: ClassVar[str] = "query.reply"
    kind: Literal["started"] = "started"
    query_id: Identifier
    seq: int = Field(ge=0)
    worker_id: str
    model: str
    variant: str = "default"


class Sources(Payload):
    """The passages retrieved for the query, sent before the tokens."""

    EVENT_TYPE: ClassVar[str] = "query.reply"
    kind: Literal["sources"] = "sources"
    query_id: Identifier
    seq: int = Field(ge=0)
    sources: list[Source]
    first_token_eta_ms: float | None = Field(
        default=None,
        ge=0,
        description="the worker's estimate of the time from this event to the first token, from "
        "its recent answers; absent when it has none or no token follows. A reader may poll "
        "less until then.",
    )


class TokenChunk(Payload):
    """One or more tokens, coalesced; `seq` increases by one per chunk of a query."""

    EVENT_TYPE: ClassVar[str] = "query.reply"
    kind: Literal["token"] = "token"
    query_id: Identifier
    seq: int = Field(ge=0)
    text: str
    tokens: int = Field(ge=0)


class Done(Payload):
    """The terminal event of a successful (or cancelled) generation."""

    EVENT_TYPE: ClassVar[str] = "query.reply"
    kind: Literal["done"] = "done"
    query_id: Identifier
    seq: int = Field(ge=0)
    model: str
    variant: str = "default"
    finish_reason: FinishReason
    usage: Usage
    cached: bool = False


class Failed(Payload):
    """The terminal event of a generation that failed."""

    EVENT_TYPE: ClassVar[str] = "query.reply"
    kind: Literal["error"] = "error"
    query_id: Identifier
    seq: int = Field(ge=0)
    error: str
    code: str = "generation_failed"


QueryReply = Annotated[Started | Sources | TokenChunk | Done | Failed, Field(discriminator="kind")]


class RetrievedRef(Payload):
    """A retrieved chunk as recorded in the query log."""

    article_id: str
    score: float


class QueryCompleted(Payload):
    """inference → anyone: the query log, one record per answered (or failed) query."""

    EVENT_TYPE: ClassVar[str] = "query.completed"
    query_id: Identifier
    user_id: str
    tier: Tier
    question: str
    answer: str
    model: str
    variant: str = "default"
    adapter: str | None = None
    worker_id: str
    finish_reason: FinishReason
    latency_ms: float = Field(ge=0)
    ttft_ms: float | None = Field(default=None, ge=0)
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    retrieved: list[RetrievedRef] = Field(default_factory=list)
    cached: bool = False
    out_of_scope: bool = Field(
        default=False, description="no passage was close enough; the fixed message was sent"
    )
    error: str | None = None


class FeedbackSubmitted(Payload):
    """gateway → analytics, drift, dataset: a rating of an answer."""

    EVENT_TYPE: ClassVar[str] = "feedback.submitted"
    query_id: Identifier
    rating: Literal[-1, 1]
    comment: str | None = Field(default=None, max_length=2000)
    user_id: str = "anonymous"
