"""Web chat, feedback, answer cache and OpenAI routes over HTTP, with a stand-in worker.

The bus is replaced by a recorder that answers `query.requested` the way a worker does (into
the gateway's reply book), so these tests need no broker and no model.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from events.embedded import free_port
from events.settings import BusSettings
from events.topics import FEEDBACK_SUBMITTED, QUERY_COMPLETED, QUERY_REQUESTED
from gateway.cli import ask
from gateway.main import create_app
from gateway.settings import GatewaySettings
from schemas.common import Source, Usage
from schemas.envelope import Envelope
from schemas.ops import WorkerHeartbeat
from schemas.query import Done, Failed, QueryRequested, Sources, Started, TokenChunk
from tests.integration.harness import parse_sse

MODEL = "fake-model"
SOURCE = Source(article_id="metricas-acos", title="ACOS", snippet="trecho", score=0.9)


class _StubBroker:
    async def stop(self) -> None:
        return None


@dataclass
class FakeWorker:
    """Records what the gateway publishes and answers each query through the reply book."""

    state: Any
    published: list[tuple[str, Envelope[Any]]] = field(default_factory=list)

    def topics(self, topic: str) -> list[Any]:
        return [event.data for t, event in self.published if t == topic]

    async def publish(self, topic: str, event: Envelope[Any], *, key: str) -> None:
        self.published.append((topic, event))
        if topic == QUERY_REQUESTED:
            asyncio.get_running_loop().call_soon(self._answer, event.data)

    def _answer(self, request: QueryRequested) -> None:
        book, qid = self.state.book, request.query_id
        book.deliver(Started(query_id=qid, seq=0, worker_id="w1", model=MODEL))
        book.deliver(Sources(query_id=qid, seq=1, sources=[SOURCE]))
        if "falha" in request.question:
            book.deliver(Failed(query_id=qid, seq=2, error="modelo caiu"))
            return
        words = f"Resposta a: {request.question}".split(" ")
        for i, word in enumerate(words):
            text = word if i == 0 else f" {word}"
            book.deliver(TokenChunk(query_id=qid, seq=2 + i, text=text, tokens=1))
        usage = Usage(prompt_tokens=30, completion_tokens=len(words), latency_ms=12.5)
        book.deliver(
            Done(query_id=qid, seq=2 + len(words), model=MODEL, finish_reason="stop", usage=usage)
        )


def _settings(**overrides: Any) -> GatewaySettings:
    return GatewaySettings(
        env="development", worker_wait_s=0.3, connect_retry_s=30, cancel_grace_s=0, **overrides
    )


@pytest.fixture
def gateway() -> Iterator[tuple[TestClient, FakeWorker]]:
    app = create_app(_settings(), BusSettings(bootstrap=f"127.0.0.1:{free_port()}"))
    with TestClient(app) as client:
        worker = FakeWorker(app.state)
        app.state.bus.broker = _StubBroker()
        app.state.bus.publish = worker.publish
        beat = WorkerHeartbeat(
            worker_id="w1",
            models=[MODEL],
            variants={"default": MODEL},
            in_flight=0,
            capacity=2,
            interval_s=600,
            started_at=datetime.now(UTC),
        )
        app.state.tracker.see(beat, datetime.now(UTC))
        yield client, worker


def _sse(client: TestClient, body: dict[str, Any]) -> list[Any]:
    with client.stream("POST", "/api/v1/query/stream", json=body) as response:
        assert response.status_code == 200
        return list(parse_sse(response.iter_lines()))


# --- web chat -----------------------------------------------------------------------------


def test_the_chat_page_and_its_assets_are_served(gateway: tuple[TestClient, FakeWorker]) -> None:
    client, _ = gateway
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert 'lang="pt-BR"' in html and 'for="pergunta"' in html and 'role="log"' in html
    script = client.get("/static/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "/api/v1/query/stream" in script.text and "AbortController" in script.text
    assert client.get("/static/app.css").status_code == 200
    for bad in ("/static/index.html", "/static/nope.js", "/static/..%2Fcache.py"):
        assert client.get(bad).status_code == 404


# --- feedback -----------------------------------------------------------------------------


def test_feedback_on_a_served_answer_is_published(gateway: tuple[TestClient, FakeWorker]) -> None:
    client, worker = gateway
    answer = client.post("/api/v1/query", json={"question": "O que é ACOS?"}).json()
    for rating, value in (("up", 1), ("down", -1)):
        response = client.post(
            "/api/v1/feedback",
            json={"query_id": answer["query_id"], "rating": rating, "comment": " útil "},
        )
        assert response.status_code == 202
        assert response.json() == {
            "query_id": answer["query_id"],
            "rating": value,
            "status": "accepted",
        }
    events = worker.topics(FEEDBACK_SUBMITTED)
    assert [(e.query_id, e.rating, e.comment) for e in events] == [
        (answer["query_id"], 1, "útil"),
        (answer["query_id"], -1, "útil"),
    ]


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({"query_id": "never-asked", "rating": "up"}, 404, "unknown"),
        ({"query_id": "x", "rating": "meh"}, 422, "rating"),
        ({"query_id": "bad id!", "rating": "up"}, 422, "query_id"),
        ({"rating": "up"}, 422, "query_id"),
        ({"query_id": "x", "rating": "up", "comment": "c" * 2001}, 422, "comment"),
        ({"query_id": "x", "rating": "up", "stars": 5}, 422, "stars"),
    ],
)
def test_bad_feedback_is_a_4xx_with_a_message(
    gateway: tuple[TestClient, FakeWorker], body: dict[str, Any], status: int, needle: str
) -> None:
    client, worker = gateway
    response = client.post("/api/v1/feedback", json=body)
    assert response.status_code == status
    assert needle in response.json()["detail"]
    assert worker.topics(FEEDBACK_SUBMITTED) == []


# --- answer cache -------------------------------------------------------------------------


def test_an_identical_greedy_question_is_answered_from_the_cache_and_still_logged(
    gateway: tuple[TestClient, FakeWorker],
) -> None:
    client, worker = gateway
    first = client.post("/api/v1/query", json={"question": "O que é ACOS?"}).json()
    second = client.post("/api/v1/query", json={"question": "  o que é ACOS "}).json()
    assert not first["cached"] and second["cached"]
    assert second["answer"] == first["answer"] and second["sources"] == first["sources"]
    assert second["query_id"] != first["query_id"]
    assert len(worker.topics(QUERY_REQUESTED)) == 1  # the hit never reached the bus's queue
    [logged] = worker.topics(QUERY_COMPLETED)
    assert logged.cached and logged.query_id == second["query_id"]
    assert logged.answer == first["answer"] and logged.worker_id.startswith("cache@")
    status = client.get(f"/api/v1/query/{second['query_id']}").json()
    assert status["status"] == "completed" and status["answer"] == first["answer"]

    events = _sse(client, {"question": "O que é ACOS"})
    assert [e.event for e in events] == ["started", "sources", "token", "done"]
    assert events[-1].data["cached"] is True
    assert events[1].data["sources"][0]["article_id"] == "metricas-acos"
    registry = client.app.state.metrics.registry  # type: ignore[attr-defined]
    lookups = "melancia_gateway_cache_requests_total"
    assert registry.get_sample_value(lookups, {"result": "miss"}) == 1
    assert registry.get_sample_value(lookups, {"result": "hit"}) == 2


def test_sampled_answers_are_not_cached_and_clear_empties_the_cache(
    gateway: tuple[TestClient, FakeWorker],
) -> None:
    client, worker = gateway
    for _ in range(2):
        client.post("/api/v1/query", json={"question": "Oi", "temperature": 0.8})
    assert len(worker.topics(QUERY_REQUESTED)) == 2
    client.post("/api/v1/query", json={"question": "O que é CPC?"})
    assert client.post("/api/v1/query", json={"question": "O que é CPC?"}).json()["cached"]
    assert client.post("/api/v1/cache/clear").json() == {"cleared": 1}
    assert not client.post("/api/v1/query", json={"question": "O que é CPC?"}).json()["cached"]
    assert len(worker.topics(QUERY_REQUESTED)) == 4


def test_failed_answers_are_not_cached(gateway: tuple[TestClient, FakeWorker]) -> None:
    client, worker = gateway
    for _ in range(2):
        assert client.post("/api/v1/query", json={"question": "uma falha"}).status_code == 502
    assert len(worker.topics(QUERY_REQUESTED)) == 2


# --- OpenAI-compatible API ----------------------------------------------------------------


def _chat(**fields: Any) -> dict[str, Any]:
    return {
        "model": "melancia",
        "messages": [{"role": "user", "content": "O que é ROAS?"}],
        **fields,
    }


def test_chat_completions_whole_and_streamed_carry_the_same_text(
    gateway: tuple[TestClient, FakeWorker],
) -> None:
    client, _ = gateway
    whole = client.post("/v1/chat/completions", json=_chat())
    assert whole.status_code == 200
    body = whole.json()
    assert body["object"] == "chat.completion" and body["model"] == MODEL
    assert body["choices"][0]["finish_reason"] == "stop"
    text = body["choices"][0]["message"]["content"]
    client.post("/api/v1/cache/clear")
    with client.stream(
        "POST",
        "/v1/chat/completions",
        json=_chat(stream=True, stream_options={"include_usage": True}),
    ) as response:
        assert response.status_code == 200
        data = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    streamed = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert streamed == text
    assert chunks[-1]["usage"]["completion_tokens"] == body["usage"]["completion_tokens"]


def test_models_lists_the_alias_and_the_served_models(
    gateway: tuple[TestClient, FakeWorker],
) -> None:
    client, _ = gateway
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == [MODEL, "melancia"]
    assert all(m["object"] == "model" and m["owned_by"] == "melancia" for m in body["data"])


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": "melancia"}, 400, "messages"),
        (_chat(messages=[]), 400, "messages"),
        (_chat(messages=[{"role": "assistant", "content": "Olá"}]), 400, "messages"),
        (_chat(messages=[{"role": "robot", "content": "x"}]), 400, "messages.0.role"),
        (_chat(n=2), 400, "n"),
        (_chat(temperature=3), 400, "temperature"),
        (_chat(max_tokens=0), 400, "max_tokens"),
        (_chat(model="gpt-4o"), 404, "model"),
    ],
)
def test_bad_chat_requests_get_openai_errors(
    gateway: tuple[TestClient, FakeWorker], body: dict[str, Any], status: int, param: str
) -> None:
    client, worker = gateway
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["param"] == param and error["message"] and error["type"]
    assert worker.topics(QUERY_REQUESTED) == []


def test_a_failed_generation_is_a_502_in_openai_form(
    gateway: tuple[TestClient, FakeWorker],
) -> None:
    client, _ = gateway
    body = _chat(messages=[{"role": "user", "content": "uma falha"}])
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 502
    assert "modelo caiu" in response.json()["error"]["message"]
    with client.stream("POST", "/v1/chat/completions", json={**body, "stream": True}) as stream:
        data = [line[6:] for line in stream.iter_lines() if line.startswith("data: ")]
    assert json.loads(data[-1])["error"]["message"] == "modelo caiu"


def test_with_the_broker_down_every_new_endpoint_says_so() -> None:
    app = create_app(_settings(), BusSettings(bootstrap=f"127.0.0.1:{free_port()}"))
    with TestClient(app) as client:
        response = client.post("/v1/chat/completions", json=_chat())
        assert response.status_code == 503 and "unreachable" in response.json()["error"]["message"]
        assert "Retry-After" in response.headers
        assert client.get("/v1/models").json() == {"object": "list", "data": []}
        assert client.post("/api/v1/cache/clear").json() == {"cleared": 0}
        assert client.get("/").status_code == 200


# --- terminal chat ------------------------------------------------------------------------


def test_the_terminal_chat_prints_the_streamed_answer_then_the_sources(
    gateway: tuple[TestClient, FakeWorker],
) -> None:
    client, _ = gateway
    args = argparse.Namespace(max_new_tokens=32, temperature=0.0, model=None)
    out = io.StringIO()
    answer = ask(client, "O que é TACoS?", [], args, out)
    assert answer == "Resposta a: O que é TACoS?"
    lines = out.getvalue().splitlines()
    assert lines[0] == answer
    assert lines[1] == "  [1] ACOS (metricas-acos, 0.90)"
    assert MODEL in lines[2] and "tokens" in lines[2]
    refused = io.StringIO()
    assert ask(client, " ", [], args, refused) is None
    assert refused.getvalue().startswith("erro 422")


def test_missing_credentials_on_the_openai_api_are_an_openai_401() -> None:
    settings = GatewaySettings(env="production", jwt_secret="s" * 40, worker_wait_s=0.3)
    app = create_app(settings, BusSettings(bootstrap=f"127.0.0.1:{free_port()}"))
    with TestClient(app) as client:
        response = client.get("/v1/models")
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "authentication_error"
        assert "WWW-Authenticate" in response.headers
        assert client.get("/").status_code == 200  # the chat page itself is public
        assert client.post("/api/v1/cache/clear").status_code == 401


def test_a_body_that_is_not_json_is_a_4xx_on_every_new_endpoint(
    gateway: tuple[TestClient, FakeWorker],
) -> None:
    client, _ = gateway
    headers = {"content-type": "application/json"}
    chat = client.post("/v1/chat/completions", content=b"{not json", headers=headers)
    assert chat.status_code == 400 and "JSON" in chat.json()["error"]["message"]
    feedback = client.post("/api/v1/feedback", content=b"{not json", headers=headers)
    assert feedback.status_code == 422 and "JSON" in feedback.json()["detail"]
    assert client.get("/api/v1/cache/clear").status_code == 405
