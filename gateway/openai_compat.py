"""Translating between OpenAI's Chat Completions format and MelancIA's query path (no I/O)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from pydantic import ValidationError

from schemas.api import QueryRequest, QueryResponse
from schemas.common import FinishReason, Source
from schemas.openai import (
    DEFAULT_MODEL,
    AssistantMessage,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatMessage,
    Choice,
    ChunkChoice,
    CompletionUsage,
    Delta,
    MelanciaInfo,
    OpenAIError,
    OpenAIErrorResponse,
    OpenAIFinish,
)
from schemas.query import Done, Failed, QueryReply, Sources, Started, TokenChunk

DONE_SENTINEL = "[DONE]"
MAX_HISTORY = 20


class InvalidChat(ValueError):
    """A request MelancIA cannot turn into a question; `param` names the culprit."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def error_body(
    message: str, *, kind: str, param: str | None = None, code: str | None = None
) -> dict[str, object]:
    """An OpenAI error object (`{"error": {...}}`)."""
    error = OpenAIError(message=message, type=kind, param=param, code=code)
    return OpenAIErrorResponse(error=error).model_dump()


def _text(message: ChatMessage, where: str) -> str:
    if isinstance(message.content, str) or message.content is None:
        return message.content or ""
    texts = []
    for part in message.content:
        if part.type != "text" or part.text is None:
            raise InvalidChat(f"only text content is supported, got {part.type!r}", param=where)
        texts.append(part.text)
    return "\n".join(texts)


def to_query_request(body: ChatCompletionRequest) -> QueryRequest:
    """The MelancIA query for a chat request: last user message, earlier turns as history.

    System and developer messages are dropped: MelancIA answers with its own system prompt.
    """
    turns: list[tuple[str, str, str]] = []
    for i, message in enumerate(body.messages):
        where = f"messages[{i}]"
        if message.role == "tool":
            raise InvalidChat("tool messages are not supported", param=f"{where}.role")
        if message.role in ("user", "assistant"):
            turns.append((message.role, _text(message, f"{where}.content"), where))
    if not turns or turns[-1][0] != "user":
        raise InvalidChat("the last non-system message must come from the user", param="messages")
    *earlier, (_, question, where) = turns
    history = [{"role": r, "content": c} for r, c, _ in earlier if c.strip()][-MAX_HISTORY:]
    try:
        return QueryRequest(
            question=question,
            history=history,  # type: ignore[arg-type]
            model=None if body.model == DEFAULT_MODEL else body.model,
            user_id=body.user or "anonymous",
            max_new_tokens=body.max_completion_tokens or body.max_tokens or 256,
            temperature=body.temperature,
            top_p=body.top_p,
            seed=body.seed,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field_name = ".".join(str(p) for p in first["loc"])
        param = f"{where}.content" if field_name == "question" else "messages"
        raise InvalidChat(f"{field_name}: {first['msg']}", param=param) from exc


def finish_reason(reason: FinishReason) -> OpenAIFinish:
    # A cancelled answer only reaches a client that is still listening, which then stopped.
    return "length" if reason == "length" else "stop"


def completion_id(query_id: str) -> str:
    return f"chatcmpl-{query_id}"


def to_completion(response: QueryResponse, *, created: int) -> ChatCompletion:
    """A whole MelancIA answer as a `chat.completion` object."""
    return ChatCompletion(
        id=completion_id(response.query_id),
        created=created,
        model=response.model,
        choices=[
            Choice(
                message=AssistantMessage(content=response.answer),
                finish_reason=finish_reason(response.finish_reason),
            )
        ],
        usage=CompletionUsage(
            prompt_tokens=response.prompt_tokens,
            completion_tokens=response.completion_tokens,
            total_tokens=response.prompt_tokens + response.completion_tokens,
        ),
        system_fingerprint=response.variant,
        melancia=MelanciaInfo(
            query_id=response.query_id,
            variant=response.variant,
            sources=response.sources,
            cached=response.cached,
            latency_ms=response.latency_ms,
        ),
    )


@dataclass
class ChunkStream:
    """Maps one query's replies to the `data:` payloads of an OpenAI stream, in order."""

    query_id: str
    created: int = field(default_factory=lambda: int(time.time()))
    include_usage: bool = False
    model: str = DEFAULT_MODEL
    sources: list[Source] = field(default_factory=list)

    def _chunk(self, choices: list[ChunkChoice], **extra: object) -> str:
        chunk = ChatCompletionChunk(
            id=completion_id(self.query_id),
            created=self.created,
            model=self.model,
            choices=choices,
            **extra,  # type: ignore[arg-type]
        )
        return chunk.model_dump_json()

    def payloads(self, reply: QueryReply) -> list[str]:
        """The data payloads this reply becomes (none, one, or the closing ones)."""
        if isinstance(reply, Started):
            self.model = reply.model
            return [self._chunk([ChunkChoice(delta=Delta(role="assistant", content=""))])]
        if isinstance(reply, Sources):
            self.sources = list(reply.sources)
            return []
        if isinstance(reply, TokenChunk):
            return (
                [self._chunk([ChunkChoice(delta=Delta(content=reply.text))])] if reply.text else []
            )
        if isinstance(reply, Done):
            usage = CompletionUsage(
                prompt_tokens=reply.usage.prompt_tokens,
                completion_tokens=reply.usage.completion_tokens,
                total_tokens=reply.usage.prompt_tokens + reply.usage.completion_tokens,
            )
            info = MelanciaInfo(
                query_id=self.query_id,
                variant=reply.variant,
                sources=self.sources,
                cached=reply.cached,
                latency_ms=reply.usage.latency_ms,
            )
            last = ChunkChoice(delta=Delta(), finish_reason=finish_reason(reply.finish_reason))
            closing = [self._chunk([last], system_fingerprint=reply.variant, melancia=info)]
            if self.include_usage:
                closing.append(self._chunk([], usage=usage))
            return [*closing, DONE_SENTINEL]
        assert isinstance(reply, Failed)
        body = error_body(reply.error, kind="server_error", code=reply.code)
        return [json.dumps(body, ensure_ascii=False)]
