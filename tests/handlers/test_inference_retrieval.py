"""Grounded answers under TestKafkaBroker: the real tiny model and the real embedder."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from faststream.kafka import TestKafkaBroker
from qdrant_client import QdrantClient

from data.pipeline import load_corpus
from events.bus import emit
from events.settings import BusSettings
from events.topics import QUERY_CANCELLED, QUERY_COMPLETED, QUERY_REQUESTED
from schemas.envelope import Envelope, make_event
from schemas.query import QueryCancelled, QueryCompleted, QueryReply, QueryRequested
from workers.inference.app import create_app, load_service
from workers.inference.embedding import UseEmbedder
from workers.inference.index import update_index
from workers.inference.retrieval import Retriever
from workers.inference.service import OUT_OF_SCOPE_ANSWER, InferenceService
from workers.inference.settings import InferenceSettings

ARTICLES = {"metricas-acos", "metricas-roas", "metricas-cpc", "plataformas-shopee-ads"}


@pytest.fixture(scope="module")
def settings(models_dir: Path) -> InferenceSettings:
    return InferenceSettings(
        base_model="tiny", home=models_dir.parent, worker_id="w-rag", retrieval=False
    )


@pytest.fixture(scope="module")
def service(settings: InferenceSettings) -> InferenceService:
    service = load_service(settings)
    client = QdrantClient(":memory:")
    embedder = UseEmbedder()
    articles = [a for a in load_corpus() if a.id in ARTICLES]
    update_index(client, "corpus", articles, embedder, size=120, overlap=30)
    service.retriever = Retriever(client, "corpus", embedder, top_k=2, min_score=0.27)
    return service


async def _ask(settings: InferenceSettings, service: InferenceService, question: str):  # type: ignore[no-untyped-def]
    _, broker, runtime = create_app(settings, BusSettings(bootstrap="localhost:9092"))
    runtime.service = service
    reply_topic = f"query.tokens.test-{uuid.uuid4().hex[:8]}"

    @broker.subscriber(reply_topic)
    async def replies(event: Envelope[QueryReply]) -> None: ...

    @broker.subscriber(QUERY_COMPLETED)
    async def log(event: Envelope[QueryCompleted]) -> None: ...

    query_id = uuid.uuid4().hex
    request = QueryRequested(
        query_id=query_id, question=question, reply_to=reply_topic, params={"max_new_tokens": 8}
    )
    async with TestKafkaBroker(broker) as br:
        await emit(br, QUERY_REQUESTED, make_event(request, source="test"), key=query_id)
        sent = [c.args[0]["data"] for c in replies.mock.call_args_list]
        [logged] = [
            Envelope[QueryCompleted].model_validate(c.args[0]).data for c in log.mock.call_args_list
        ]
    return sent, logged


async def test_sources_go_out_before_the_tokens_and_the_log_records_them(
    settings: InferenceSettings, service: InferenceService
) -> None:
    sent, logged = await _ask(settings, service, "Como calculo o ACOS da minha campanha?")
    kinds = [r["kind"] for r in sent]
    assert kinds[:2] == ["started", "sources"] and kinds[-1] == "done"
    assert kinds.count("sources") == 1 and "token" in kinds[2:]
    sources = sent[1]["sources"]
    assert sources[0]["article_id"] == "metricas-acos"
    assert all(s["title"] and s["snippet"] and s["score"] > 0 for s in sources)
    assert [(r.article_id, r.score) for r in logged.retrieved] == [
        (s["article_id"], s["score"]) for s in sources
    ]
    assert not logged.out_of_scope and logged.finish_reason in ("stop", "length")


async def test_an_out_of_scope_question_gets_the_fixed_answer_not_a_generated_one(
    settings: InferenceSettings, service: InferenceService
) -> None:
    sent, logged = await _ask(settings, service, "Qual é a capital da Austrália?")
    assert [r["kind"] for r in sent] == ["started", "sources", "token", "done"]
    assert sent[1]["sources"] == []
    assert sent[2]["text"] == OUT_OF_SCOPE_ANSWER
    assert sent[3]["finish_reason"] == "stop" and sent[3]["usage"]["prompt_tokens"] == 0
    assert logged.answer == OUT_OF_SCOPE_ANSWER and logged.out_of_scope
    assert logged.retrieved  # the near misses are logged, for tuning the threshold


def test_the_prompt_carries_the_passages_and_drops_the_last_ones_when_it_must(
    service: InferenceService, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert service.retriever is not None
    request = QueryRequested(query_id="q", question="O que é ROAS?", params={"max_new_tokens": 64})
    retrieval = service.retriever.search(request.question)
    assert len(retrieval.passages) == 2
    prompt = service.grounded_prompt(request, retrieval)
    assert all(p.text.split("\n", 1)[1][:60] in prompt for p in retrieval.passages)
    bare = service.engine.count_tokens(service.prompt_for(request))
    one = service.engine.count_tokens(service.prompt_for(request, [retrieval.passages[0].text]))
    monkeypatch.setattr(type(service.engine), "context_length", property(lambda _: one + 64))
    trimmed = service.grounded_prompt(request, retrieval)
    assert retrieval.passages[0].text.split("\n", 1)[1][:60] in trimmed
    assert retrieval.passages[1].text.split("\n", 1)[1][:60] not in trimmed
    monkeypatch.setattr(type(service.engine), "context_length", property(lambda _: bare + 64))
    assert service.grounded_prompt(request, retrieval) == service.prompt_for(request)


def test_follow_up_questions_search_with_the_previous_user_turn(service: InferenceService) -> None:
    request = QueryRequested(
        query_id="q",
        question="E como eu reduzo?",
        history=[
            {"role": "user", "content": "Meu CPC está alto"},
            {"role": "assistant", "content": "Entendi."},
        ],
    )
    assert service.retrieval_query(request) == "Meu CPC está alto\nE como eu reduzo?"


async def test_a_cancel_that_arrives_first_wins_over_the_out_of_scope_answer(
    settings: InferenceSettings, service: InferenceService
) -> None:
    _, broker, runtime = create_app(settings, BusSettings(bootstrap="localhost:9092"))
    runtime.service = service

    @broker.subscriber(QUERY_COMPLETED)
    async def log(event: Envelope[QueryCompleted]) -> None: ...

    request = QueryRequested(query_id="q-oos-cancel", question="Qual é a capital da Austrália?")
    async with TestKafkaBroker(broker) as br:
        cancel = QueryCancelled(query_id=request.query_id)
        await emit(br, QUERY_CANCELLED, make_event(cancel, source="t"), key=request.query_id)
        await emit(br, QUERY_REQUESTED, make_event(request, source="t"), key=request.query_id)
        logged = Envelope[QueryCompleted].model_validate(log.mock.call_args.args[0]).data
    assert logged.finish_reason == "cancelled" and logged.answer == ""
