"""The answer cache: keys, normalization, TTL, LRU, harvesting finished streams, replay."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.cache import AnswerCache, cache_key, fleet_of, log_record, normalize, replay
from gateway.queries import QueryBook, QueryStream
from schemas.common import Source, Usage
from schemas.ops import WorkerHeartbeat
from schemas.query import Done, QueryRequested, Sources, Started, TokenChunk

FLEET = ["smollm2-135m|default|smollm2-135m"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def answered(query_id: str = "q1", *, finish: str = "stop", sources: bool = True) -> QueryStream:
    stream = QueryStream(query_id=query_id, question="O que é ACOS?")
    replies = [Started(query_id=query_id, seq=0, worker_id="w", model="m")]
    if sources:
        src = Source(article_id="metricas-acos", title="ACOS", snippet="...", score=0.8)
        replies.append(Sources(query_id=query_id, seq=1, sources=[src]))
    replies += [
        TokenChunk(query_id=query_id, seq=2, text="ACOS é ", tokens=2),
        TokenChunk(query_id=query_id, seq=3, text="investimento ÷ receita.", tokens=4),
        Done(
            query_id=query_id,
            seq=4,
            model="m",
            variant="v1",
            finish_reason=finish,  # type: ignore[arg-type]
            usage=Usage(prompt_tokens=50, completion_tokens=6, latency_ms=900, ttft_ms=100),
        ),
    ]
    for reply in replies:
        stream.add(reply)
    return stream


def request(question: str = "O que é ACOS?", **fields: object) -> QueryRequested:
    return QueryRequested.model_validate({"query_id": "q", "question": question, **fields})


def key(question: str = "O que é ACOS?", **fields: object) -> str:
    found = cache_key(request(question, **fields), FLEET)
    assert found is not None
    return found


def test_normalize_ignores_case_spacing_and_trailing_punctuation() -> None:
    assert normalize("  O que é   ACOS?? ") == normalize("o que é acos") == "o que é acos"
    assert normalize("O que é ACOS?") != normalize("O que é ROAS?")


def test_the_key_covers_params_history_model_and_fleet_and_needs_temperature_zero() -> None:
    assert key() == key("o que é  acos")
    assert key() == key(stream=False, user_id="someone-else", query_id="other")
    assert key() != key(params={"max_new_tokens": 64})
    assert key() != key(model="challenger")  # the variant the gateway routed to
    assert key() != key(history=[{"role": "user", "content": "oi"}])
    assert cache_key(request(), ["other|default|x"]) != key()
    assert cache_key(request(params={"temperature": 0.7}), FLEET) is None


def test_fleet_lists_model_variant_and_adapter() -> None:
    beat = WorkerHeartbeat(
        worker_id="w",
        models=["m"],
        variants={"default": "m", "champion": "adapter-v3"},
        in_flight=0,
        capacity=1,
        interval_s=1,
        started_at=datetime.now(UTC),
    )
    assert fleet_of([beat, beat]) == ["m|champion|adapter-v3", "m|default|m"]


def test_a_watched_query_is_harvested_once_done_and_expires_after_the_ttl() -> None:
    clock = Clock()
    cache = AnswerCache(ttl_s=60, capacity=10, clock=clock)
    pending = QueryStream(query_id="q1", question="O que é ACOS?")
    cache.watch("k", pending)
    assert cache.get("k") is None  # still running: a miss, and it stays watched
    for reply in answered().replies:
        pending.add(reply)
    hit = cache.get("k")
    assert hit is not None and hit.answer == "ACOS é investimento ÷ receita."
    assert hit.model == "m" and hit.variant == "v1" and hit.sources and len(cache) == 1
    clock.now += 61
    assert cache.get("k") is None and len(cache) == 0


def test_failed_cancelled_or_unfinished_answers_are_not_cached() -> None:
    cache = AnswerCache(ttl_s=60, capacity=10)
    cache.watch("cancelled", answered(finish="cancelled"))
    assert cache.get("cancelled") is None
    failed = QueryStream(query_id="q", question="x")
    failed.fail("boom", "generation_failed")
    cache.watch("failed", failed)
    assert cache.get("failed") is None
    cache.watch("length", answered(finish="length"))
    assert cache.get("length") is not None  # cut at max_new_tokens: same params, same text


def test_the_cache_is_bounded_and_clear_empties_it() -> None:
    cache = AnswerCache(ttl_s=60, capacity=2)
    for name in ("a", "b", "c"):
        cache.watch(name, answered(name))
        cache.get(name)
    assert len(cache) == 2 and cache.get("a") is None
    assert cache.clear() == 2 and len(cache) == 0 and cache.get("c") is None
    assert not AnswerCache(ttl_s=0, capacity=5).enabled


def test_replay_rebuilds_the_stream_with_a_cached_done_and_a_log_record() -> None:
    cache = AnswerCache(ttl_s=60, capacity=10)
    cache.watch("k", answered())
    hit = cache.get("k")
    assert hit is not None
    book = QueryBook(capacity=10, resume_window_s=60)
    query = replay(book, "q2", "o que é acos", hit, worker_id="cache@gw")
    assert book.get("q2") is query
    assert [r.kind for r in query.replies] == ["started", "sources", "token", "done"]
    done = query.terminal
    assert isinstance(done, Done) and done.cached and done.finish_reason == "stop"
    assert "".join(query.answer) == hit.answer and query.sources == hit.sources
    asked = QueryRequested(query_id="q2", question="o que é acos", user_id="u")
    record = log_record(asked, hit, done.usage, worker_id="cache@gw")
    assert record.cached and record.worker_id == "cache@gw" and record.user_id == "u"
    assert [r.article_id for r in record.retrieved] == ["metricas-acos"]


def test_an_answer_from_a_worker_without_retrieval_replays_without_sources() -> None:
    cache = AnswerCache(ttl_s=60, capacity=10)
    cache.watch("k", answered(sources=False))
    hit = cache.get("k")
    assert hit is not None and hit.sources is None
    query = replay(QueryBook(capacity=10, resume_window_s=60), "q3", "x", hit, worker_id="c")
    assert [r.kind for r in query.replies] == ["started", "token", "done"]
