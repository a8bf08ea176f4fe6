"""Turning a query's reply stream into Server-Sent Events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator

from sse_starlette import ServerSentEvent

from gateway.bus import GatewayBus
from gateway.metrics import GatewayMetrics
from gateway.queries import QueryStream, StreamTimeout
from gateway.service import cancel_if_abandoned
from gateway.settings import GatewaySettings
from schemas.query import Done, Failed, QueryReply, Sources, Started, TokenChunk

logger = logging.getLogger(__name__)
UNKNOWN_MODEL = "unknown"
_background: set[asyncio.Task[None]] = set()


def to_sse(reply: QueryReply) -> ServerSentEvent:
    """One reply as one SSE event; the event id is the reply's sequence number."""
    body: dict[str, object]
    if isinstance(reply, TokenChunk):
        event, body = "token", {"text": reply.text, "tokens": reply.tokens}
    elif isinstance(reply, Started):
        event = "started"
        body = {"query_id": reply.query_id, "model": reply.model, "variant": reply.variant}
    elif isinstance(reply, Sources):
        event, body = "sources", {"sources": [s.model_dump() for s in reply.sources]}
    elif isinstance(reply, Done):
        event = "done"
        body = {
            "query_id": reply.query_id,
            "model": reply.model,
            "variant": reply.variant,
            "finish_reason": reply.finish_reason,
            "cached": reply.cached,
            "usage": reply.usage.model_dump(),
        }
    else:
        event, body = "error", {"error": reply.error, "code": reply.code}
    return ServerSentEvent(_json(body), event=event, id=str(reply.seq))


def _json(body: dict[str, object]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


async def stream_events(
    query: QueryStream,
    *,
    after_seq: int,
    bus: GatewayBus,
    settings: GatewaySettings,
    metrics: GatewayMetrics,
    route: str,
) -> AsyncIterator[ServerSentEvent]:
    """SSE events of a query; a client that goes away cancels the generation."""
    replies = relay(
        query, after_seq=after_seq, bus=bus, settings=settings, metrics=metrics, route=route
    )
    async with contextlib.aclosing(replies):
        async for reply in replies:
            yield to_sse(reply)


async def relay(
    query: QueryStream,
    *,
    after_seq: int,
    bus: GatewayBus,
    settings: GatewaySettings,
    metrics: GatewayMetrics,
    route: str,
) -> AsyncGenerator[QueryReply, None]:
    """A query's replies for a streaming client, ending in exactly one terminal reply.

    Records the stream metrics; a timeout becomes a terminal `error`; when the consumer
    stops early (the client went away) the generation is cancelled after the resume grace.
    Any wire format (MelancIA's SSE, OpenAI's chunks) is a mapping over these replies.
    """
    started = time.monotonic()
    first = True
    model: str | None = None
    try:
        async for reply in query.follow(
            after_seq=after_seq,
            start_timeout_s=settings.start_timeout_s,
            idle_timeout_s=settings.idle_timeout_s,
        ):
            if isinstance(reply, TokenChunk):
                if first:
                    metrics.ttft.labels(route).observe(time.monotonic() - started)
                    first = False
                if model is None:
                    # Looked up once: a resumed stream may start after the `started` reply.
                    model = query.started.model if query.started else UNKNOWN_MODEL
                metrics.tokens.labels(model).inc(reply.tokens)
            elif isinstance(reply, Done):
                metrics.latency.labels(route).observe(time.monotonic() - started)
            elif isinstance(reply, Failed):
                metrics.errors.labels(reply.code).inc()
            yield reply
    except StreamTimeout:
        metrics.errors.labels("timeout").inc()
        query.fail("no reply from the inference worker in time", "timeout")
        terminal = query.terminal
        assert terminal is not None
        yield terminal
    finally:
        if query.terminal is None:
            # The client went away mid-stream: cancel unless it resumes quickly.
            task = asyncio.get_running_loop().create_task(
                cancel_if_abandoned(
                    query, bus=bus, grace_s=settings.cancel_grace_s, metrics=metrics
                )
            )
            _background.add(task)
            task.add_done_callback(_background.discard)
