"""OpenAI-compatible API: POST /v1/chat/completions (whole or streamed) and GET /v1/models.

Built on the same query path as /api/v1/query (admission, cache, Kafka, reply stream), so
the official `openai` package works against MelancIA by pointing `base_url` at `/v1`.
Errors use OpenAI's `{"error": {...}}` body; bad input is a 400 naming the parameter.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from sse_starlette import EventSourceResponse, ServerSentEvent

from gateway.deps import BookDep, BusDep, MetricsDep, SettingsDep, TrackerDep
from gateway.openai_compat import (
    ChunkStream,
    InvalidChat,
    error_body,
    to_completion,
    to_query_request,
)
from gateway.queries import StreamTimeout
from gateway.service import (
    GenerationFailed,
    Overloaded,
    Unavailable,
    UnknownModel,
    collect,
    submit_query,
)
from gateway.sse import relay
from schemas.openai import (
    DEFAULT_MODEL,
    ChatCompletion,
    ChatCompletionRequest,
    ModelCard,
    ModelList,
    OpenAIErrorResponse,
)


class OpenAIRoute(APIRoute):
    """Turns every failure of these routes into OpenAI's error body and status."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            retry = {"Retry-After": str(request.app.state.settings.retry_after_s)}
            try:
                return await handler(request)
            except RequestValidationError as exc:
                first = exc.errors()[0]
                param = ".".join(str(p) for p in first["loc"] if p != "body") or None
                return _error(400, f"{param}: {first['msg']}", "invalid_request_error", param)
            except InvalidChat as exc:
                return _error(400, str(exc), "invalid_request_error", exc.param)
            except UnknownModel as exc:
                return _error(404, str(exc), "invalid_request_error", "model", "model_not_found")
            except Overloaded as exc:
                return _error(429, str(exc), "rate_limit_error", headers=retry)
            except Unavailable as exc:
                return _error(503, str(exc), "server_error", headers=retry)
            except StreamTimeout as exc:
                return _error(504, f"no reply in time for query {exc}", "server_error")
            except GenerationFailed as exc:
                return _error(502, f"generation failed: {exc}", "server_error")
            except HTTPException as exc:
                kind = "authentication_error" if exc.status_code == 401 else "invalid_request_error"
                headers = dict(exc.headers or {})
                return _error(exc.status_code, str(exc.detail), kind, headers=headers)

        return route


def _error(
    status: int,
    message: str,
    kind: str,
    param: str | None = None,
    code: str | None = None,
    *,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = error_body(message, kind=kind, param=param, code=code)
    return JSONResponse(body, status_code=status, headers=headers)


router = APIRouter(prefix="/v1", tags=["openai"], route_class=OpenAIRoute)
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": OpenAIErrorResponse} for code in (400, 401, 404, 429, 502, 503, 504)
}


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={200: {"content": {"text/event-stream": {}}}, **ERRORS},
)
async def chat_completions(
    body: ChatCompletionRequest,
    bus: BusDep,
    book: BookDep,
    tracker: TrackerDep,
    settings: SettingsDep,
    metrics: MetricsDep,
) -> Response:
    """Answer the last user message; `stream: true` sends `chat.completion.chunk` events."""
    created = int(time.time())
    query = await submit_query(
        request=to_query_request(body),
        bus=bus,
        book=book,
        tracker=tracker,
        settings=settings,
        metrics=metrics,
        stream=body.stream,
    )
    if not body.stream:
        response = await collect(query, settings=settings)
        return JSONResponse(to_completion(response, created=created).model_dump(mode="json"))
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    mapper = ChunkStream(query.query_id, created=created, include_usage=include_usage)

    async def events() -> AsyncIterator[ServerSentEvent]:
        replies = relay(
            query, after_seq=-1, bus=bus, settings=settings, metrics=metrics, route="openai"
        )
        async with contextlib.aclosing(replies):
            async for reply in replies:
                for payload in mapper.payloads(reply):
                    yield ServerSentEvent(payload)

    return EventSourceResponse(
        events(), ping=settings.ping_interval_s, headers={"X-Query-Id": query.query_id}
    )


@router.get("/models", response_model=ModelList, responses=ERRORS)
async def list_models(tracker: TrackerDep) -> ModelList:
    """`melancia` (any served model) plus every model and variant live workers serve."""
    cards: dict[str, ModelCard] = {}
    for beat in tracker.alive():
        created = int(beat.started_at.timestamp())
        names = [DEFAULT_MODEL, *beat.models, *(v for v in beat.variants if v != "default")]
        for name in names:
            known = cards.get(name)
            cards[name] = ModelCard(
                id=name, created=min(created, known.created if known else created)
            )
    return ModelList(data=sorted(cards.values(), key=lambda c: c.id))
