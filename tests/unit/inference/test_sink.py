"""Replies leave for the reply topic without waiting for the broker, until the terminal one."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from schemas.common import Usage
from schemas.query import Done, Started, TokenChunk
from workers.inference.handlers import TopicSink


class Broker:
    """Records publishes; each one's delivery is a future the test settles."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bool]] = []
        self.deliveries: list[asyncio.Future[Any]] = []

    async def publish(self, message: dict[str, Any], *, no_confirm: bool = False, **_: Any) -> Any:
        delivered: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.deliveries.append(delivered)
        self.sent.append((message["data"]["kind"], no_confirm))
        return delivered if no_confirm else await delivered


def _done(seq: int) -> Done:
    usage = Usage(prompt_tokens=1, completion_tokens=1, latency_ms=1.0)
    return Done(query_id="q", seq=seq, model="m", finish_reason="stop", usage=usage)


async def test_the_terminal_reply_waits_for_every_reply_before_it() -> None:
    broker = Broker()
    sink = TopicSink(broker, "query.tokens.gw", source="w", correlation_id="q")  # type: ignore[arg-type]

    await sink.send(Started(query_id="q", seq=0, worker_id="w", model="m"))
    await sink.send(TokenChunk(query_id="q", seq=1, text="Olá", tokens=1))
    assert broker.sent == [("started", True), ("token", True)]  # nothing awaited yet

    done = asyncio.create_task(sink.send(_done(2)))
    await asyncio.sleep(0)
    broker.deliveries[2].set_result(None)  # the broker has the terminal reply...
    await asyncio.sleep(0)
    assert not done.done()  # ...but not yet the ones before it
    for delivered in broker.deliveries[:2]:
        delivered.set_result(None)
    await done
    assert broker.sent[-1] == ("done", False)


async def test_a_reply_that_did_not_reach_the_broker_fails_the_next_send() -> None:
    broker = Broker()
    sink = TopicSink(broker, "query.tokens.gw", source="w", correlation_id="q")  # type: ignore[arg-type]
    await sink.send(Started(query_id="q", seq=0, worker_id="w", model="m"))
    broker.deliveries[0].set_exception(ConnectionError("broker gone"))

    with pytest.raises(ConnectionError):
        await sink.send(TokenChunk(query_id="q", seq=1, text="Olá", tokens=1))
