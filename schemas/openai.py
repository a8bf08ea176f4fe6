"""OpenAI-compatible wire models: /v1/chat/completions (whole and streamed) and /v1/models.

Field names and object types follow OpenAI's Chat Completions API, so the official `openai`
package parses them unchanged. MelancIA adds one object, `melancia` (query id, variant,
sources, cache flag, latency), which OpenAI clients ignore.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from schemas.common import Source

DEFAULT_MODEL = "melancia"  # routes to whatever the workers serve, like `model: null` does
OpenAIFinish = Literal["stop", "length"]


class ContentPart(BaseModel):
    """One part of a multi-part message; only text parts are understood."""

    model_config = ConfigDict(extra="ignore")
    type: str
    text: str | None = None


class ChatMessage(BaseModel):
    """One message of the conversation as OpenAI clients send it."""

    model_config = ConfigDict(extra="ignore")
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """Body of POST /v1/chat/completions.

    Unknown fields are ignored (clients send knobs such as `presence_penalty` that MelancIA
    has no use for). `temperature` defaults to 0, MelancIA's greedy and cacheable default.
    """

    model_config = ConfigDict(extra="ignore")
    model: str = Field(min_length=1, max_length=200)
    messages: list[ChatMessage] = Field(min_length=1, max_length=64)
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1, le=2048)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=2048)
    seed: int | None = Field(default=None, ge=0)
    n: int = Field(default=1, ge=1, le=1, description="only one choice is generated")
    user: str | None = Field(default=None, min_length=1, max_length=128)


class CompletionUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class MelanciaInfo(BaseModel):
    """MelancIA's additions to an OpenAI response."""

    query_id: str
    variant: str = "default"
    sources: list[Source] = Field(default_factory=list)
    cached: bool = False
    latency_ms: float | None = None


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: OpenAIFinish
    logprobs: None = None


class ChatCompletion(BaseModel):
    """A whole answer (`stream: false`)."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: CompletionUsage
    system_fingerprint: str | None = None
    melancia: MelanciaInfo


class Delta(BaseModel):
    """What a chunk adds; absent fields are left out of the JSON, as OpenAI does."""

    role: Literal["assistant"] | None = None
    content: str | None = None

    @model_serializer(mode="wrap")
    def _drop_none(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: OpenAIFinish | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    """One streamed piece (`stream: true`); the last one with choices carries finish_reason."""

    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: CompletionUsage | None = None
    system_fingerprint: str | None = None
    melancia: MelanciaInfo | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "melancia"


class ModelList(BaseModel):
    """GET /v1/models."""

    object: Literal["list"] = "list"
    data: list[ModelCard]


class OpenAIError(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorResponse(BaseModel):
    """Every 4xx/5xx body under /v1, and the payload of an error inside a stream."""

    error: OpenAIError
