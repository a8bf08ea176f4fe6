"""The answer cache: an identical temperature-0 question is answered without a worker.

It lives in the gateway, so a hit never reaches Kafka's query topic or a model; the gateway
then writes the query-log record itself (`query.completed` with `cached: true`), so the log
still holds every answered query. The key covers the normalized question and history, the
requested model, every generation parameter, and the models, variants and adapters that live
workers serve: a promotion or rollback changes the fleet and so misses the old answers.

Entries are filled lazily: a submitted query is watched, and its reply stream is harvested
into the cache once it ended with `done` (finish `stop` or `length`). The cache never follows
a stream itself, so it does not count as a listener that would keep a query from cancelling.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from gateway.queries import QueryBook, QueryStream
from schemas.common import FinishReason, Source, Usage
from schemas.ops import WorkerHeartbeat
from schemas.query import (
    Done,
    QueryCompleted,
    QueryRequested,
    RetrievedRef,
    Sources,
    Started,
    TokenChunk,
)

CACHEABLE_FINISH = ("stop", "length")
_SPACES = re.compile(r"\s+")
_TRAILING = re.compile(r"[\s?!.…]+$")


def normalize(text: str) -> str:
    """Case, Unicode form, spacing and trailing punctuation do not make a new question."""
    text = unicodedata.normalize("NFC", text).casefold()
    return _TRAILING.sub("", _SPACES.sub(" ", text).strip())


def fleet_of(beats: Iterable[WorkerHeartbeat]) -> list[str]:
    """What the live workers serve, as sorted 'model|variant|adapter' strings."""
    served = {
        f"{model}|{variant}|{adapter}"
        for beat in beats
        for model in beat.models
        for variant, adapter in beat.variants.items()
    }
    return sorted(served)


def cache_key(request: QueryRequested, fleet: list[str]) -> str | None:
    """The key of a query as it would be published; None unless it is greedy (temperature 0).

    Keyed on the published request, so whatever the gateway decided before publishing (the
    model or variant routed to, a capped max_new_tokens) is part of the key.
    """
    params = request.params
    if params.temperature != 0:
        return None
    parts = {
        "q": normalize(request.question),
        "h": [[t.role, normalize(t.content)] for t in request.history],
        "model": request.model,
        "params": [params.max_new_tokens, params.top_p, params.seed],
        "fleet": fleet,
    }
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class CachedAnswer:
    """Everything needed to replay an answer."""

    answer: str
    model: str
    variant: str
    finish_reason: FinishReason
    sources: list[Source] | None  # None: the answering worker ran without retrieval
    usage: Usage
    stored_at: float


class AnswerCache:
    """TTL + LRU map from cache key to answer, filled from watched query streams."""

    def __init__(
        self, *, ttl_s: float, capacity: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self.capacity = capacity
        self.clock = clock
        self._entries: OrderedDict[str, CachedAnswer] = OrderedDict()
        self._watched: OrderedDict[str, QueryStream] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.ttl_s > 0 and self.capacity > 0

    def __len__(self) -> int:
        return len(self._entries)

    def watch(self, key: str, query: QueryStream) -> None:
        """Remember that `query` will answer `key`; harvested when it is done."""
        self._watched[key] = query
        self._watched.move_to_end(key)
        while len(self._watched) > self.capacity:
            self._watched.popitem(last=False)

    def get(self, key: str) -> CachedAnswer | None:
        """A fresh answer for key, or None."""
        self._harvest(key)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self.clock() - entry.stored_at > self.ttl_s:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry

    def clear(self) -> int:
        """Forget every answer (and every query still being watched); returns how many."""
        count = len(self._entries)
        self._entries.clear()
        self._watched.clear()
        return count

    def _harvest(self, key: str) -> None:
        query = self._watched.get(key)
        if query is None or query.terminal is None:
            return
        del self._watched[key]
        done = query.terminal
        if not isinstance(done, Done) or done.finish_reason not in CACHEABLE_FINISH:
            return
        found = next((r for r in query.replies if isinstance(r, Sources)), None)
        self._entries[key] = CachedAnswer(
            answer="".join(query.answer),
            model=done.model,
            variant=done.variant,
            finish_reason=done.finish_reason,
            sources=list(found.sources) if found else None,
            usage=done.usage,
            stored_at=self.clock(),
        )
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)


def replay(
    book: QueryBook, query_id: str, question: str, hit: CachedAnswer, *, worker_id: str
) -> QueryStream:
    """Open a query whose whole reply stream is the cached answer, ending in a cached done."""
    started = time.monotonic()
    query = book.open(query_id, question)
    replies: list[Any] = [
        Started(query_id=query_id, seq=0, worker_id=worker_id, model=hit.model, variant=hit.variant)
    ]
    if hit.sources is not None:
        replies.append(Sources(query_id=query_id, seq=len(replies), sources=hit.sources))
    if hit.answer:
        replies.append(
            TokenChunk(
                query_id=query_id,
                seq=len(replies),
                text=hit.answer,
                tokens=hit.usage.completion_tokens,
            )
        )
    elapsed_ms = (time.monotonic() - started) * 1000
    usage = Usage(
        prompt_tokens=hit.usage.prompt_tokens,
        completion_tokens=hit.usage.completion_tokens,
        latency_ms=elapsed_ms,
        ttft_ms=elapsed_ms,
    )
    replies.append(
        Done(
            query_id=query_id,
            seq=len(replies),
            model=hit.model,
            variant=hit.variant,
            finish_reason=hit.finish_reason,
            usage=usage,
            cached=True,
        )
    )
    for reply in replies:
        query.add(reply)
    return query


def log_record(
    request: QueryRequested, hit: CachedAnswer, usage: Usage, *, worker_id: str
) -> QueryCompleted:
    """The query-log record of an answer served from the cache."""
    return QueryCompleted(
        query_id=request.query_id,
        user_id=request.user_id,
        tier=request.tier,
        question=request.question,
        answer=hit.answer,
        model=hit.model,
        variant=hit.variant,
        worker_id=worker_id,
        finish_reason=hit.finish_reason,
        latency_ms=usage.latency_ms,
        ttft_ms=usage.ttft_ms,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        retrieved=[RetrievedRef(article_id=s.article_id, score=s.score) for s in hit.sources or []],
        cached=True,
    )


def answer_cache(state: Any) -> AnswerCache | None:
    """The app's cache, created on first use from the gateway settings on `state`."""
    if state is None or not hasattr(state, "settings"):
        return None
    cache: AnswerCache | None = getattr(state, "answer_cache", None)
    if cache is None:
        settings = state.settings
        cache = AnswerCache(ttl_s=settings.answer_cache_ttl_s, capacity=settings.answer_cache_size)
        state.answer_cache = cache
    return cache


async def get_cache(request: Request) -> AnswerCache:
    # async: FastAPI runs a plain def dependency in its thread pool (gateway.deps)
    cache = answer_cache(request.app.state)
    assert cache is not None  # the lifespan always sets app.state.settings
    return cache


CacheDep = Annotated[AnswerCache, Depends(get_cache)]
