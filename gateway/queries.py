"""Open and recent queries: the reply stream of each, buffered for followers and resume."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from events.pacing import Pace
from schemas.api import QueryState, QueryStatus
from schemas.common import Source
from schemas.query import Done, Failed, QueryReply, Sources, Started, TokenChunk

TERMINAL = (Done, Failed)

# A first token is awaited from this share of the worker's estimate on: the estimate is the quick
# case of its recent uncontended answers scaled to this prompt, and a quicker draw comes sooner.
ETA_SHARE = 0.85
# With this few tokens left the terminal event is close: awaited fast again.
NEAR_END_TOKENS = 2
PACES: tuple[Pace, ...] = ("fast", "slow", "paused")  # most pressing first


class StreamTimeout(Exception):
    """No reply arrived for a query within the allowed silence."""


@dataclass
class QueryStream:
    """Everything one query received, in order, and a way to wait for more."""

    query_id: str
    question: str
    created: float = field(default_factory=time.monotonic)
    replies: list[QueryReply] = field(default_factory=list)
    answer: list[str] = field(default_factory=list)
    max_tokens: int | None = None  # what was asked for: the stream ends by then
    tokens: int = 0
    first_token_at: float | None = None
    # No first token is expected before this (monotonic), by the worker's estimate.
    first_token_due: float | None = None
    finished_at: float | None = None
    cancelled: bool = False
    followers: int = 0
    # Called when what the stream awaits changes (the book's pace): a first-token estimate,
    # the first token, the last few tokens, the terminal event.
    on_milestone: Callable[[], None] | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def last_seq(self) -> int:
        return self.replies[-1].seq if self.replies else -1

    @property
    def terminal(self) -> QueryReply | None:
        last = self.replies[-1] if self.replies else None
        return last if isinstance(last, TERMINAL) else None

    @property
    def started(self) -> Started | None:
        return next((r for r in self.replies if isinstance(r, Started)), None)

    @property
    def sources(self) -> list[Source]:
        found = next((r for r in self.replies if isinstance(r, Sources)), None)
        return list(found.sources) if found else []

    @property
    def state(self) -> QueryState:
        last = self.terminal
        if isinstance(last, Failed):
            return "failed"
        if isinstance(last, Done):
            return "cancelled" if last.finish_reason == "cancelled" else "completed"
        return "streaming" if self.replies else "pending"

    def add(self, reply: QueryReply) -> bool:
        """Append a reply; duplicates and anything after the terminal event are ignored."""
        if reply.seq <= self.last_seq or self.terminal is not None:
            return False
        self.replies.append(reply)
        milestone = False
        eta_ms = reply.first_token_eta_ms if isinstance(reply, Sources) else None
        if eta_ms is not None and self.first_token_at is None:
            self.first_token_due = time.monotonic() + ETA_SHARE * eta_ms / 1000
            milestone = True
        if isinstance(reply, TokenChunk):
            self.answer.append(reply.text)
            near_end = self.near_end
            self.tokens += reply.tokens
            milestone = self.near_end and not near_end
            if self.first_token_at is None:
                self.first_token_at = time.monotonic()
                milestone = True
        if isinstance(reply, TERMINAL):
            self.finished_at = time.monotonic()
            milestone = True
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        if milestone and self.on_milestone is not None:
            self.on_milestone()
        return True

    @property
    def near_end(self) -> bool:
        return self.max_tokens is not None and self.tokens >= self.max_tokens - NEAR_END_TOKENS

    def awaits(self, now: float) -> Pace | None:
        """How soon this stream's next reply is due (events.pacing); None once it ended."""
        if self.terminal is not None or self.cancelled:
            return None
        if self.first_token_at is None:
            due = self.first_token_due
            return "paused" if due is not None and now < due else "fast"
        return "fast" if self.near_end else "slow"

    def fail(self, error: str, code: str) -> None:
        """End the stream from the gateway side (timeouts, bus errors)."""
        self.add(Failed(query_id=self.query_id, seq=self.last_seq + 1, error=error, code=code))

    async def follow(
        self, *, after_seq: int, start_timeout_s: float, idle_timeout_s: float
    ) -> AsyncIterator[QueryReply]:
        """Yield replies with seq > after_seq, live, until the terminal one."""
        index = next(
            (i for i, r in enumerate(self.replies) if r.seq > after_seq), len(self.replies)
        )
        self.followers += 1
        try:
            while True:
                while index < len(self.replies):
                    reply = self.replies[index]
                    index += 1
                    yield reply
                    if isinstance(reply, TERMINAL):
                        return
                timeout = idle_timeout_s if self.replies else start_timeout_s
                try:
                    await asyncio.wait_for(self._changed.wait(), timeout)
                except TimeoutError as exc:
                    raise StreamTimeout(self.query_id) from exc
        finally:
            self.followers -= 1

    def status(self) -> QueryStatus:
        """The public view of this query."""
        started, last = self.started, self.terminal
        done = last if isinstance(last, Done) else None
        return QueryStatus(
            query_id=self.query_id,
            status=self.state,
            question=self.question,
            answer="".join(self.answer),
            model=done.model if done else (started.model if started else None),
            variant=done.variant if done else (started.variant if started else None),
            usage=done.usage if done else None,
            error=last.error if isinstance(last, Failed) else None,
            sources=self.sources,
        )


class QueryBook:
    """Bounded map of recent queries; finished ones expire after the resume window."""

    def __init__(self, *, capacity: int, resume_window_s: float) -> None:
        self.capacity = capacity
        self.resume_window_s = resume_window_s
        self._streams: OrderedDict[str, QueryStream] = OrderedDict()
        # Told whenever pace() may have changed: a query opened, got its first token or ended.
        self.on_change: Callable[[], None] | None = None

    def open(self, query_id: str, question: str, *, max_tokens: int | None = None) -> QueryStream:
        stream = QueryStream(
            query_id=query_id, question=question, max_tokens=max_tokens, on_milestone=self._changed
        )
        self._streams[query_id] = stream
        self._evict()
        self._changed()
        return stream

    def pace(self, now: float | None = None) -> Pace:
        """How soon replies are due, for the most pressing open query: fast while a first
        token may come (before it, by its worker's estimate, none is awaited) or the last
        tokens will, slow while answers stream, paused when nothing is awaited."""
        now = time.monotonic() if now is None else now
        needs = {s.awaits(now) for s in self._streams.values()}
        return next((p for p in PACES if p in needs), "paused")

    def next_change(self, now: float | None = None) -> float | None:
        """When pace() may change without a reply arriving (a first token becoming due), as
        monotonic time; None if no such moment is ahead."""
        now = time.monotonic() if now is None else now
        dues = [
            s.first_token_due
            for s in self._streams.values()
            if s.first_token_due is not None and s.awaits(now) == "paused"
        ]
        return min(dues, default=None)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def get(self, query_id: str) -> QueryStream | None:
        return self._streams.get(query_id)

    def deliver(self, reply: QueryReply) -> bool:
        """Route a reply to its query; replies for unknown queries are dropped."""
        stream = self._streams.get(reply.query_id)
        return stream.add(reply) if stream is not None else False

    def in_flight(self) -> int:
        return sum(1 for s in self._streams.values() if s.terminal is None and not s.cancelled)

    def resumable(self, stream: QueryStream) -> bool:
        """Whether a finished stream is still inside the resume window."""
        if stream.finished_at is None:
            return True
        return time.monotonic() - stream.finished_at <= self.resume_window_s

    def _evict(self) -> None:
        while len(self._streams) > self.capacity:
            oldest_id, oldest = next(iter(self._streams.items()))
            if oldest.terminal is None and not oldest.cancelled:
                # Never drop an open query; the admission bound keeps these few.
                self._streams.move_to_end(oldest_id)
                if all(s.terminal is None for s in self._streams.values()):
                    return
                continue
            del self._streams[oldest_id]
