import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from gateway.queries import ETA_SHARE, QueryBook, StreamTimeout
from gateway.workers_seen import WorkerTracker
from schemas.common import Usage
from schemas.ops import WorkerHeartbeat
from schemas.query import Done, Sources, Started, TokenChunk


def _done(seq: int) -> Done:
    return Done(
        query_id="q",
        seq=seq,
        model="m",
        finish_reason="stop",
        usage=Usage(prompt_tokens=1, completion_tokens=2, latency_ms=5),
    )


async def test_follow_yields_live_replies_in_order_and_ends_at_done() -> None:
    book = QueryBook(capacity=10, resume_window_s=60)
    stream = book.open("q", "pergunta")

    async def produce() -> None:
        for reply in (
            Started(query_id="q", seq=0, worker_id="w", model="m"),
            TokenChunk(query_id="q", seq=1, text="Olá", tokens=1),
            TokenChunk(query_id="q", seq=1, text="dup", tokens=1),  # redelivered: ignored
            TokenChunk(query_id="q", seq=2, text=" mundo", tokens=1),
            _done(3),
        ):
            await asyncio.sleep(0)
            book.deliver(reply)

    task = asyncio.create_task(produce())
    got = [r async for r in stream.follow(after_seq=-1, start_timeout_s=1, idle_timeout_s=1)]
    await task
    assert [r.seq for r in got] == [0, 1, 2, 3]
    assert stream.status().answer == "Olá mundo"
    assert stream.status().status == "completed"
    resumed = [r async for r in stream.follow(after_seq=1, start_timeout_s=1, idle_timeout_s=1)]
    assert [r.seq for r in resumed] == [2, 3]


async def test_follow_times_out_when_nothing_arrives() -> None:
    stream = QueryBook(capacity=10, resume_window_s=60).open("q", "x")
    with pytest.raises(StreamTimeout):
        async for _ in stream.follow(after_seq=-1, start_timeout_s=0.05, idle_timeout_s=0.05):
            pass


def test_book_never_evicts_open_queries_and_counts_them_in_flight() -> None:
    book = QueryBook(capacity=2, resume_window_s=60)
    book.open("a", "x")
    done = book.open("b", "x")
    done.add(_done(0).model_copy(update={"query_id": "b"}))
    book.open("c", "x")
    assert book.get("a") is not None and book.get("b") is None
    assert book.in_flight() == 2


def _beat(worker: str, interval: float = 1.0) -> WorkerHeartbeat:
    return WorkerHeartbeat(
        worker_id=worker,
        models=["m"],
        in_flight=0,
        capacity=1,
        interval_s=interval,
        started_at=datetime.now(UTC),
    )


async def test_tracker_ignores_stale_beats_and_waits_with_a_bound() -> None:
    tracker = WorkerTracker()
    tracker.see(_beat("old"), datetime.now(UTC) - timedelta(seconds=60))
    assert tracker.alive() == []
    assert await tracker.wait_for_worker(0.1) is False
    tracker.see(_beat("w1"), datetime.now(UTC))
    assert [b.worker_id for b in tracker.alive()] == ["w1"]
    assert await tracker.wait_for_worker(0.1) is True


def test_the_pace_follows_what_open_queries_await() -> None:
    book = QueryBook(capacity=10, resume_window_s=60)
    paces: list[str] = []
    book.on_change = lambda: paces.append(book.pace())

    assert book.pace() == "paused"
    stream = book.open("q", "pergunta")
    book.deliver(Started(query_id="q", seq=0, worker_id="w", model="m"))
    book.deliver(TokenChunk(query_id="q", seq=1, text="Olá", tokens=1))
    book.deliver(TokenChunk(query_id="q", seq=2, text="!", tokens=1))
    book.deliver(_done(3))

    # Told on open, on the first token and at the end; not for every token.
    assert paces == ["fast", "slow", "paused"]
    assert stream.terminal is not None


def test_a_query_awaiting_its_first_token_keeps_the_pace_fast() -> None:
    book = QueryBook(capacity=10, resume_window_s=60)
    book.open("a", "x")
    book.deliver(TokenChunk(query_id="a", seq=0, text="Olá", tokens=1))
    book.open("b", "y")

    assert book.pace() == "fast"
    book.get("b").cancelled = True
    assert book.pace() == "slow"


def test_no_reply_is_awaited_before_the_workers_first_token_estimate() -> None:
    book = QueryBook(capacity=10, resume_window_s=60)
    paces: list[str] = []
    book.on_change = lambda: paces.append(book.pace())
    stream = book.open("q", "pergunta")
    book.deliver(Started(query_id="q", seq=0, worker_id="w", model="m"))
    assert book.pace() == "fast"  # no estimate yet: the first token may come any moment

    book.deliver(Sources(query_id="q", seq=1, sources=[], first_token_eta_ms=400))
    now = time.monotonic()
    due = stream.first_token_due
    assert due is not None and now + 0.33 < due <= now + ETA_SHARE * 0.4  # most of the estimate
    assert paces[-1] == "paused"
    assert book.next_change(now) == due
    assert book.pace(due + 0.001) == "fast"
    assert book.next_change(due + 0.001) is None

    book.deliver(TokenChunk(query_id="q", seq=2, text="Olá", tokens=1))
    assert book.pace() == "slow"
    assert book.next_change() is None


def test_the_last_tokens_of_an_answer_are_awaited_fast() -> None:
    book = QueryBook(capacity=10, resume_window_s=60)
    paces: list[str] = []
    book.on_change = lambda: paces.append(book.pace())
    book.open("q", "pergunta", max_tokens=8)
    book.deliver(TokenChunk(query_id="q", seq=0, text="Um dois", tokens=2))
    book.deliver(TokenChunk(query_id="q", seq=1, text=" três", tokens=3))
    assert book.pace() == "slow"
    book.deliver(TokenChunk(query_id="q", seq=2, text=" quatro", tokens=1))  # 6 of 8
    assert book.pace() == "fast"
    book.deliver(_done(3))
    assert paces == ["fast", "slow", "fast", "paused"]


def test_an_estimate_does_not_pause_replies_another_query_awaits() -> None:
    book = QueryBook(capacity=10, resume_window_s=60)
    book.open("a", "x")
    book.deliver(Sources(query_id="a", seq=0, sources=[], first_token_eta_ms=10_000))
    assert book.pace() == "paused"
    book.open("b", "y")  # no estimate for b yet
    assert book.pace() == "fast"
    book.deliver(TokenChunk(query_id="b", seq=0, text="Olá", tokens=1))
    assert book.pace() == "slow"
