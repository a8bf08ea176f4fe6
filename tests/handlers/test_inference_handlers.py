"""Inference subscribers under TestKafkaBroker, with the real tiny model."""

from __future__ import annotations

import uuid
from pathlib import Path
from unittest.mock import patch

import pytest
from faststream.kafka import TestKafkaBroker

from events.bus import emit
from events.settings import BusSettings
from events.topics import QUERY_CANCELLED, QUERY_COMPLETED, QUERY_REQUESTED
from schemas.envelope import Envelope, make_event
from schemas.query import QueryCancelled, QueryCompleted, QueryReply, QueryRequested
from workers.inference.app import create_app, load_service
from workers.inference.settings import InferenceSettings


@pytest.fixture(scope="module")
def settings(models_dir: Path) -> InferenceSettings:
    return InferenceSettings(base_model="tiny", home=models_dir.parent, worker_id="w-test")


@pytest.fixture(scope="module")
def service(settings: InferenceSettings):  # type: ignore[no-untyped-def]
    return load_service(settings)


async def test_a_query_streams_replies_to_its_reply_topic_and_logs_completion(
    settings: InferenceSettings, service
) -> None:  # type: ignore[no-untyped-def]
    _, broker, runtime = create_app(settings, BusSettings(bootstrap="localhost:9092"))
    runtime.service = service
    reply_topic = f"query.tokens.test-{uuid.uuid4().hex[:8]}"

    @broker.subscriber(reply_topic)
    async def replies(event: Envelope[QueryReply]) -> None: ...

    @broker.subscriber(QUERY_COMPLETED)
    async def log(event: Envelope[QueryCompleted]) -> None: ...

    request = QueryRequested(
        query_id="q1", question="O que é ACOS?", reply_to=reply_topic, user_id="u1"
    )
    async with TestKafkaBroker(broker) as br:
        await emit(br, QUERY_REQUESTED, make_event(request, source="test"), key="q1")
        kinds = [c.args[0]["data"]["kind"] for c in replies.mock.call_args_list]
        assert kinds[0] == "started"
        assert kinds[-1] == "done"
        assert kinds.count("done") == 1
        assert "token" in kinds
        streamed = "".join(
            c.args[0]["data"]["text"]
            for c in replies.mock.call_args_list
            if c.args[0]["data"]["kind"] == "token"
        )
        [logged] = [
            Envelope[QueryCompleted].model_validate(c.args[0]) for c in log.mock.call_args_list
        ]
        assert logged.data.answer == streamed
        assert logged.data.user_id == "u1"
        assert logged.data.worker_id == "w-test"
        assert logged.correlation_id == "q1"
    # The answer prefilled the shared prompt prefix once; later answers reuse it.
    with patch.object(service.engine, "cache_prefix", side_effect=AssertionError("prefilled")):
        assert service.engine.ensure_prefix(service.prompt_prefix()) > 0


async def test_a_cancel_that_arrives_first_stops_the_query_at_once(
    settings: InferenceSettings, service
) -> None:  # type: ignore[no-untyped-def]
    _, broker, runtime = create_app(settings, BusSettings(bootstrap="localhost:9092"))
    runtime.service = service

    @broker.subscriber(QUERY_COMPLETED)
    async def log(event: Envelope[QueryCompleted]) -> None: ...

    request = QueryRequested(query_id="q-cancel", question="Oi", params={"max_new_tokens": 500})
    async with TestKafkaBroker(broker) as br:
        await emit(
            br,
            QUERY_CANCELLED,
            make_event(QueryCancelled(query_id="q-cancel"), source="t"),
            key="q-cancel",
        )
        await emit(br, QUERY_REQUESTED, make_event(request, source="t"), key="q-cancel")
        logged = Envelope[QueryCompleted].model_validate(log.mock.call_args.args[0]).data
        assert logged.finish_reason == "cancelled"
        assert logged.completion_tokens < 500
