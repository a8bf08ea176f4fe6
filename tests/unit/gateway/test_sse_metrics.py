"""The stream metrics the gateway records while relaying a query's replies."""

from __future__ import annotations

from typing import Any

from gateway.metrics import GatewayMetrics
from gateway.queries import QueryStream
from gateway.settings import GatewaySettings
from gateway.sse import relay
from schemas.common import Usage
from schemas.query import Done, Started, TokenChunk


def finished_query(model: str) -> QueryStream:
    query = QueryStream(query_id="q1", question="O que é ACOS?")
    for reply in (
        Started(query_id="q1", seq=0, worker_id="w", model=model),
        TokenChunk(query_id="q1", seq=1, text="O ACOS", tokens=3),
        TokenChunk(query_id="q1", seq=2, text=" é", tokens=2),
        Done(
            query_id="q1",
            seq=3,
            model=model,
            finish_reason="stop",
            usage=Usage(prompt_tokens=9, completion_tokens=5, latency_ms=40.0),
        ),
    ):
        query.add(reply)
    return query


async def relayed(query: QueryStream, metrics: GatewayMetrics, *, after_seq: int) -> None:
    bus: Any = None  # only needed to cancel a query the client abandoned; this one finished
    replies = relay(
        query,
        after_seq=after_seq,
        bus=bus,
        settings=GatewaySettings(env="development"),
        metrics=metrics,
        route="stream",
    )
    async for _ in replies:
        pass


async def test_streamed_tokens_are_counted_by_model_even_on_resume() -> None:
    metrics = GatewayMetrics()

    await relayed(finished_query("gemma3-270m"), metrics, after_seq=-1)
    await relayed(finished_query("gemma3-270m"), metrics, after_seq=1)  # resumed past `started`

    tokens = metrics.registry.get_sample_value(
        "melancia_gateway_tokens_total", {"model": "gemma3-270m"}
    )
    assert tokens == 5 + 2
    assert (
        metrics.registry.get_sample_value("melancia_gateway_tokens_total", {"model": "stream"})
        is None
    )
