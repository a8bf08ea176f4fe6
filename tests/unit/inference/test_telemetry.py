"""The inference worker's metrics, recorded by answering real queries on the tiny model."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from qdrant_client import QdrantClient

from schemas.query import QueryReply, QueryRequested, Sources
from tests.unit.inference.fakes import ACOS, FRETE, ROAS, HashingEmbedder
from workers.inference.engine import GenerationEngine, PromptTooLong
from workers.inference.index import update_index
from workers.inference.models import LoadedModel, load_model
from workers.inference.retrieval import Retriever
from workers.inference.service import FirstTokenClock, InferenceService
from workers.inference.telemetry import InferenceTelemetry, error_type
from workers.inference.variants import Arm

CACHE_DIR = Path(__file__).resolve().parents[3] / "var" / "models"
MODEL = "tiny-model"


class ListSink:
    def __init__(self) -> None:
        self.replies: list[QueryReply] = []

    async def send(self, reply: QueryReply) -> None:
        self.replies.append(reply)


@pytest.fixture(scope="module")
def tiny() -> LoadedModel:
    return load_model("tiny", CACHE_DIR)


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def retriever() -> Iterator[Retriever]:
    client = QdrantClient(":memory:")
    update_index(client, "t", [ACOS, ROAS, FRETE], HashingEmbedder(), size=12, overlap=3)
    yield Retriever(client, "t", HashingEmbedder(), top_k=2, min_score=0.2)
    client.close()


def service_for(
    tiny: LoadedModel, registry: CollectorRegistry, retriever: Retriever | None = None
) -> InferenceService:
    return InferenceService(
        engine=GenerationEngine(tiny, max_concurrency=2),
        model_name=MODEL,
        worker_id="w-test",
        coalesce_s=0.0,
        max_new_tokens_cap=64,
        few_shot=False,
        retriever=retriever,
        telemetry=InferenceTelemetry(registry),
    )


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


async def test_an_answered_query_counts_with_its_tokens_and_timings(
    tiny: LoadedModel, registry: CollectorRegistry
) -> None:
    service = service_for(tiny, registry)
    request = QueryRequested(
        query_id="q1", question="O que é ACOS?", tier="premium", params={"max_new_tokens": 8}
    )

    record = await service.answer(request, ListSink())

    assert record.finish_reason in ("stop", "length")
    answered = {"model": MODEL, "variant": "champion"}
    assert (
        value(
            registry,
            "melancia_inference_queries_total",
            **answered,
            tier="premium",
            finish_reason=record.finish_reason,
        )
        == 1
    )
    tokens = "melancia_inference_tokens_total"
    assert value(registry, tokens, **answered, kind="prompt") == record.prompt_tokens > 0
    assert value(registry, tokens, **answered, kind="completion") == record.completion_tokens > 0
    latency = value(registry, "melancia_inference_latency_seconds_sum", **answered)
    assert latency == pytest.approx(record.latency_ms / 1000)
    assert value(registry, "melancia_inference_ttft_seconds_count", **answered) == 1
    assert value(registry, "melancia_inference_in_flight") == 0
    assert value(registry, "melancia_inference_cancellations_total", **answered) == 0


async def test_a_cancelled_query_counts_as_a_cancellation_not_as_a_latency(
    tiny: LoadedModel, registry: CollectorRegistry
) -> None:
    service = service_for(tiny, registry)
    service.cancellations.cancel("q-cancel")  # the cancel arrived before the query

    record = await service.answer(QueryRequested(query_id="q-cancel", question="Oi"), ListSink())

    assert record.finish_reason == "cancelled"
    labels = {"model": MODEL, "variant": "champion"}
    assert value(registry, "melancia_inference_cancellations_total", **labels) == 1
    assert (
        value(
            registry,
            "melancia_inference_queries_total",
            **labels,
            tier="free",
            finish_reason="cancelled",
        )
        == 1
    )
    assert value(registry, "melancia_inference_latency_seconds_count", **labels) == 0


async def test_a_failed_generation_counts_an_error_by_kind(
    tiny: LoadedModel, registry: CollectorRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = service_for(tiny, registry)

    def out_of_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError("no room for the KV cache")

    monkeypatch.setattr(service.engine, "astream", out_of_memory)
    sink = ListSink()

    record = await service.answer(QueryRequested(query_id="q-oom", question="Oi"), sink)

    assert record.finish_reason == "error" and sink.replies[-1].kind == "error"
    assert value(registry, "melancia_inference_errors_total", model=MODEL, type="oom") == 1
    assert value(registry, "melancia_inference_in_flight") == 0
    errors = {"model": MODEL, "variant": "champion", "tier": "free", "finish_reason": "error"}
    assert value(registry, "melancia_inference_queries_total", **errors) == 1


def test_error_kinds_are_bounded_names() -> None:
    assert error_type(PromptTooLong("too long")) == "prompt_too_long"
    assert error_type(MemoryError()) == "oom"
    assert error_type(type("OutOfMemoryError", (RuntimeError,), {})("CUDA")) == "oom"
    assert error_type(ValueError("anything else")) == "exception"


async def test_retrieval_is_timed_once_per_query(
    tiny: LoadedModel, registry: CollectorRegistry, retriever: Retriever
) -> None:
    service = service_for(tiny, registry, retriever)

    await service.answer(
        QueryRequested(query_id="q-r1", question="Como calcular o ACOS?"), ListSink()
    )
    await service.answer(
        QueryRequested(query_id="q-r2", question="Qual é a capital da Austrália?"), ListSink()
    )

    assert value(registry, "melancia_retrieval_latency_seconds_count") == 2
    assert value(registry, "melancia_retrieval_latency_seconds_sum") > 0


def test_queue_time_is_the_event_age_at_pickup_and_replays_do_not_count() -> None:
    registry = CollectorRegistry()
    telemetry = InferenceTelemetry(registry)
    now = datetime.now(UTC)

    telemetry.picked_up(MODEL, now - timedelta(seconds=2))
    telemetry.picked_up(MODEL, now + timedelta(seconds=5))  # a sender whose clock runs ahead
    telemetry.picked_up(MODEL, now - timedelta(days=3), replayed=True)

    assert value(registry, "melancia_inference_queue_seconds_count", model=MODEL) == 2
    waited = value(registry, "melancia_inference_queue_seconds_sum", model=MODEL)
    assert 2 <= waited < 3


def test_model_info_follows_what_the_variants_serve(
    tiny: LoadedModel, registry: CollectorRegistry
) -> None:
    service = service_for(tiny, registry)
    service.report_serving()
    info = "melancia_inference_model_info"
    assert value(registry, info, model=MODEL, variant="champion", adapter="none", version="none")
    assert value(registry, info, model=MODEL, variant="base", adapter="none", version="none")

    # What a promotion leaves behind: the champion on a registry version's adapter.
    service.telemetry.serving(MODEL, {"champion": Arm("melancia-v7", "7"), "base": Arm("__base__")})

    assert value(
        registry, info, model=MODEL, variant="champion", adapter="melancia-v7", version="7"
    )
    old = {"model": MODEL, "variant": "champion", "adapter": "none", "version": "none"}
    assert registry.get_sample_value(info, old) is None


async def test_sources_carry_the_first_token_estimate_learnt_from_uncontended_answers(
    tiny: LoadedModel, registry: CollectorRegistry, retriever: Retriever
) -> None:
    service = service_for(tiny, registry, retriever)

    def sources_of(sink: ListSink) -> Sources:
        return next(r for r in sink.replies if isinstance(r, Sources))

    first, second = ListSink(), ListSink()
    ask = {"question": "Como calcular o ACOS?", "params": {"max_new_tokens": 4}}
    await service.answer(QueryRequested(query_id="q-e1", **ask), first)
    assert sources_of(first).first_token_eta_ms is None  # nothing learnt yet
    rate = service.first_token.per_token_s
    assert rate is not None and rate > 0

    await service.answer(QueryRequested(query_id="q-e2", **ask), second)
    prompt = service.grounded_prompt(
        QueryRequested(query_id="q-e2", **ask), retriever.search(ask["question"])
    )
    tokens = service.engine.uncached_tokens(prompt)
    assert 0 < tokens < service.engine.count_tokens(prompt)  # the shared prefix is cached
    assert sources_of(second).first_token_eta_ms == pytest.approx(rate * tokens * 1000, abs=0.1)

    # Two answers at once: the estimate is neither learnt from them nor sent when off-topic.
    before = service.first_token.per_token_s
    both = [ListSink(), ListSink()]
    await asyncio.gather(
        service.answer(QueryRequested(query_id="q-e3", **ask), both[0]),
        service.answer(QueryRequested(query_id="q-e4", **ask), both[1]),
    )
    assert service.first_token.per_token_s == before
    off_topic = ListSink()
    await service.answer(
        QueryRequested(query_id="q-e5", question="Qual é a capital da Austrália?"), off_topic
    )
    assert sources_of(off_topic).first_token_eta_ms is None


def test_the_first_token_clock_scales_the_quick_case_to_the_prompt() -> None:
    clock = FirstTokenClock(window=5, quantile=0.25)
    assert clock.eta_ms(100) is None
    for seconds in (0.30, 0.20, 0.25, 0.60, 0.22):  # per 100 tokens; one slow draw
        clock.observe(seconds, 100)
    assert clock.eta_ms(100) == pytest.approx(220.0)  # a low quantile, not the mean
    assert clock.eta_ms(200) == pytest.approx(440.0)  # twice the tokens to prefill
    for _ in range(5):
        clock.observe(0.5, 100)  # only the last answers count
    assert clock.eta_ms(100) == pytest.approx(500.0)
