"""Query endpoints: whole answer, SSE stream, resume, status."""

from __future__ import annotations

import time

from fastapi import APIRouter, Header, HTTPException
from sse_starlette import EventSourceResponse

from gateway.deps import BookDep, BusDep, MetricsDep, SettingsDep, TrackerDep
from gateway.service import collect, submit_query
from gateway.sse import stream_events
from schemas.api import ErrorResponse, QueryRequest, QueryResponse, QueryStatus

router = APIRouter(prefix="/api/v1/query", tags=["query"])
ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorResponse} for code in (404, 410, 422, 429, 502, 503, 504)
}


@router.post("", response_model=QueryResponse, responses=ERRORS)
async def ask(
    body: QueryRequest,
    bus: BusDep,
    book: BookDep,
    tracker: TrackerDep,
    settings: SettingsDep,
    metrics: MetricsDep,
) -> QueryResponse:
    """Ask a question and wait for the whole answer."""
    started = time.monotonic()
    query = await submit_query(
        request=body,
        bus=bus,
        book=book,
        tracker=tracker,
        settings=settings,
        metrics=metrics,
        stream=False,
    )
    response = await collect(query, settings=settings)
    metrics.latency.labels("query").observe(time.monotonic() - started)
    if query.first_token_at is not None:
        metrics.ttft.labels("query").observe(query.first_token_at - started)
    return response


@router.post(
    "/stream",
    responses={200: {"content": {"text/event-stream": {}}}, **ERRORS},
    response_class=EventSourceResponse,
)
async def ask_stream(
    body: QueryRequest,
    bus: BusDep,
    book: BookDep,
    tracker: TrackerDep,
    settings: SettingsDep,
    metrics: MetricsDep,
) -> EventSourceResponse:
    """Ask a question; tokens come back as SSE `token` events, then one `done` (or `error`)."""
    query = await submit_query(
        request=body,
        bus=bus,
        book=book,
        tracker=tracker,
        settings=settings,
        metrics=metrics,
        stream=True,
    )
    events = stream_events(
        query, after_seq=-1, bus=bus, settings=settings, metrics=metrics, route="stream"
    )
    return EventSourceResponse(
        events, ping=settings.ping_interval_s, headers={"X-Query-Id": query.query_id}
    )


@router.get(
    "/{query_id}/stream",
    responses={200: {"content": {"text/event-stream": {}}}, **ERRORS},
    response_class=EventSourceResponse,
)
async def resume_stream(
    query_id: str,
    bus: BusDep,
    book: BookDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    last_event_id: int = Header(default=-1, alias="Last-Event-ID"),
) -> EventSourceResponse:
    """Resume a stream after the event id in `Last-Event-ID`."""
    query = book.get(query_id)
    if query is None:
        raise HTTPException(404, f"query {query_id} is unknown or expired")
    if not book.resumable(query):
        raise HTTPException(410, f"query {query_id} finished outside the resume window")
    events = stream_events(
        query,
        after_seq=last_event_id,
        bus=bus,
        settings=settings,
        metrics=metrics,
        route="resume",
    )
    return EventSourceResponse(events, ping=settings.ping_interval_s)


@router.get("/{query_id}", response_model=QueryStatus, responses=ERRORS)
async def query_status(query_id: str, book: BookDep) -> QueryStatus:
    """Status and result of a recent query."""
    query = book.get(query_id)
    if query is None:
        raise HTTPException(404, f"query {query_id} is unknown or expired")
    return query.status()
