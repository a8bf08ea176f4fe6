"""The gateway's query logic, independent of HTTP: admit, publish, collect, cancel."""

from __future__ import annotations

import asyncio
import logging
import uuid

from events.topics import QUERY_CANCELLED, QUERY_COMPLETED, QUERY_REQUESTED
from gateway import cache as answers
from gateway.bus import BusUnavailable, GatewayBus
from gateway.metrics import GatewayMetrics
from gateway.queries import QueryBook, QueryStream
from gateway.router import policy_of, served_variants
from gateway.router import route as choose_route
from gateway.settings import GatewaySettings
from gateway.workers_seen import WorkerTracker
from schemas.api import QueryRequest, QueryResponse
from schemas.common import GenerationParams
from schemas.envelope import make_event
from schemas.query import Done, Failed, QueryCancelled, QueryRequested

logger = logging.getLogger(__name__)
SOURCE = "gateway"


class Overloaded(Exception):
    """Admission control refused the query."""


class Unavailable(Exception):
    """The system cannot take the query now (broker down, no worker)."""


class UnknownModel(Exception):
    """No live worker serves the requested model."""


class GenerationFailed(Exception):
    """The worker reported an error for this query."""


async def submit_query(
    *,
    request: QueryRequest,
    bus: GatewayBus,
    book: QueryBook,
    tracker: WorkerTracker,
    settings: GatewaySettings,
    metrics: GatewayMetrics,
    stream: bool,
) -> QueryStream:
    """Admit the query, check a worker can take it, and publish `query.requested`."""
    if book.in_flight() >= settings.max_in_flight:
        metrics.rejected.labels("in_flight").inc()
        raise Overloaded(f"{settings.max_in_flight} queries in flight; retry shortly")
    if not bus.connected:
        metrics.errors.labels("broker_down").inc()
        raise Unavailable(f"message broker {bus.settings.servers} is unreachable")
    if not await tracker.wait_for_worker(settings.worker_wait_s):
        metrics.errors.labels("no_worker").inc()
        raise Unavailable(f"no inference worker is alive (waited {settings.worker_wait_s:g}s)")
    if request.model is not None:
        served = {m for beat in tracker.alive() for m in [*beat.models, *beat.variants]}
        if request.model not in served:
            raise UnknownModel(
                f"model {request.model!r} is not served; available: {sorted(served)}"
            )
    # Tier, A/B split and pins pick the variant; the free tier's answers are capped.
    route = choose_route(
        policy_of(bus.state),
        user_id=request.user_id,
        tier=request.tier,
        requested=request.model,
        available=served_variants(tracker.alive()),
    )
    max_new_tokens = min(request.max_new_tokens, route.max_new_tokens or request.max_new_tokens)
    query_id = uuid.uuid4().hex
    payload = QueryRequested(
        query_id=query_id,
        question=request.question,
        history=request.history,
        reply_to=bus.reply_topic,
        user_id=request.user_id,
        tier=request.tier,
        model=route.variant,
        params=GenerationParams(
            max_new_tokens=max_new_tokens,
            temperature=request.temperature,
            top_p=request.top_p,
            seed=request.seed,
        ),
        stream=stream,
    )
    # The answer cache lives on app.state, which the bus carries for route modules.
    cache = answers.answer_cache(bus.state)
    key = None
    if cache is not None and cache.enabled:
        key = answers.cache_key(payload, answers.fleet_of(tracker.alive()))
        hit = cache.get(key) if key else None
        if key is not None:
            metrics.cache_requests.labels("hit" if hit is not None else "miss").inc()
        if hit is not None:
            return await _answer_from_cache(payload, hit, bus=bus, book=book)
    query = book.open(query_id, request.question, max_tokens=payload.params.max_new_tokens)
    if cache is not None and key is not None:
        cache.watch(key, query)
    try:
        await bus.publish(QUERY_REQUESTED, make_event(payload, source=SOURCE), key=query_id)
    except BusUnavailable as exc:
        query.fail(str(exc), "broker_unavailable")
        raise Unavailable(str(exc)) from exc
    return query


async def _answer_from_cache(
    request: QueryRequested,
    hit: answers.CachedAnswer,
    *,
    bus: GatewayBus,
    book: QueryBook,
) -> QueryStream:
    """Replay a cached answer and write its query-log record (no worker involved)."""
    query_id, worker_id = request.query_id, f"cache@{bus.instance}"
    query = answers.replay(book, query_id, request.question, hit, worker_id=worker_id)
    done = query.terminal
    assert isinstance(done, Done)
    record = answers.log_record(request, hit, done.usage, worker_id=worker_id)
    try:
        event = make_event(record, source=SOURCE, correlation_id=query_id)
        await bus.publish(QUERY_COMPLETED, event, key=query_id)
    except BusUnavailable as exc:
        # The answer is already there; only its log record is lost, and said so.
        logger.warning("query-log record of cached answer %s not published: %s", query_id, exc)
    return query


async def collect(query: QueryStream, *, settings: GatewaySettings) -> QueryResponse:
    """Wait for the whole answer of a query."""
    async for _ in query.follow(
        after_seq=-1,
        start_timeout_s=settings.start_timeout_s,
        idle_timeout_s=settings.idle_timeout_s,
    ):
        pass
    last = query.terminal
    if isinstance(last, Failed):
        raise GenerationFailed(last.error)
    assert isinstance(last, Done)
    return QueryResponse(
        query_id=query.query_id,
        answer="".join(query.answer),
        model=last.model,
        variant=last.variant,
        finish_reason=last.finish_reason,
        latency_ms=last.usage.latency_ms,
        ttft_ms=last.usage.ttft_ms,
        prompt_tokens=last.usage.prompt_tokens,
        completion_tokens=last.usage.completion_tokens,
        sources=query.sources,
        cached=last.cached,
    )


async def cancel_query(query: QueryStream, *, bus: GatewayBus, reason: str) -> None:
    """Tell the workers to stop generating; best effort when the broker is down."""
    if query.terminal is not None or query.cancelled:
        return
    query.cancelled = True
    event = make_event(QueryCancelled(query_id=query.query_id, reason=reason), source=SOURCE)
    try:
        await bus.publish(QUERY_CANCELLED, event, key=query.query_id)
    except BusUnavailable as exc:
        logger.warning("could not cancel %s: %s", query.query_id, exc)


async def cancel_if_abandoned(
    query: QueryStream, *, bus: GatewayBus, grace_s: float, metrics: GatewayMetrics
) -> None:
    """Cancel a query whose client went away, unless a client resumes within the grace."""
    await asyncio.sleep(grace_s)
    if query.followers == 0 and query.terminal is None:
        metrics.cancellations.inc()
        await cancel_query(query, bus=bus, reason="client disconnected")
