"""OpenAI format conversion: chat request → query, answer → chat.completion, replies → chunks."""

from __future__ import annotations

import json

import pytest

from gateway.openai_compat import (
    DONE_SENTINEL,
    ChunkStream,
    InvalidChat,
    to_completion,
    to_query_request,
)
from schemas.api import QueryResponse
from schemas.common import Source, Usage
from schemas.openai import ChatCompletionRequest
from schemas.query import Done, Failed, Sources, Started, TokenChunk

SOURCE = Source(article_id="metricas-acos", title="ACOS", snippet="…", score=0.8)


def chat(*messages: tuple[str, object], **fields: object) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate(
        {
            "model": "melancia",
            "messages": [{"role": r, "content": c} for r, c in messages],
            **fields,
        }
    )


def test_the_last_user_message_is_the_question_and_earlier_turns_the_history() -> None:
    request = to_query_request(
        chat(
            ("system", "You are a pirate."),
            ("user", "O que é ACOS?"),
            ("assistant", "É investimento ÷ receita."),
            ("user", [{"type": "text", "text": "E o ROAS?"}]),
            max_tokens=64,
            temperature=0.5,
            seed=7,
            user="u-9",
        )
    )
    assert request.question == "E o ROAS?"
    assert [(t.role, t.content) for t in request.history] == [
        ("user", "O que é ACOS?"),
        ("assistant", "É investimento ÷ receita."),
    ]
    assert request.model is None  # "melancia" routes to whatever is served
    assert (request.max_new_tokens, request.temperature, request.seed) == (64, 0.5, 7)
    assert request.user_id == "u-9"


def test_a_named_model_and_max_completion_tokens_pass_through() -> None:
    request = to_query_request(
        chat(("user", "Oi"), model="smollm2-135m", max_tokens=10, max_completion_tokens=20)
    )
    assert request.model == "smollm2-135m" and request.max_new_tokens == 20
    assert to_query_request(chat(("user", "Oi"))).temperature == 0.0  # MelancIA's default


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        ([("user", "Oi"), ("assistant", "Olá")], "messages"),
        ([("system", "only a system prompt")], "messages"),
        ([("tool", "{}"), ("user", "Oi")], "messages[0].role"),
        ([("user", [{"type": "image_url"}])], "messages[0].content"),
        ([("user", "   ")], "messages[0].content"),
        ([("user", "x" * 4001)], "messages[0].content"),
    ],
)
def test_requests_that_are_not_a_question_name_the_parameter(
    messages: list[tuple[str, object]], param: str
) -> None:
    with pytest.raises(InvalidChat) as caught:
        to_query_request(chat(*messages))
    assert caught.value.param == param


def test_a_whole_answer_becomes_a_chat_completion() -> None:
    response = QueryResponse(
        query_id="abc",
        answer="ACOS = 25%.",
        model="smollm2-135m",
        variant="default",
        finish_reason="length",
        latency_ms=120.0,
        ttft_ms=30.0,
        prompt_tokens=40,
        completion_tokens=5,
        sources=[SOURCE],
        cached=True,
    )
    body = to_completion(response, created=1700000000).model_dump(mode="json")
    assert body["object"] == "chat.completion" and body["id"] == "chatcmpl-abc"
    assert body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "ACOS = 25%."},
            "finish_reason": "length",
            "logprobs": None,
        }
    ]
    assert body["usage"] == {"prompt_tokens": 40, "completion_tokens": 5, "total_tokens": 45}
    assert body["melancia"]["cached"] is True
    assert body["melancia"]["sources"][0]["article_id"] == "metricas-acos"


def test_replies_become_chunks_with_role_first_finish_last_then_done() -> None:
    stream = ChunkStream("abc", created=1, include_usage=True)
    usage = Usage(prompt_tokens=10, completion_tokens=3, latency_ms=50)
    replies = [
        Started(query_id="abc", seq=0, worker_id="w", model="smollm2-135m"),
        Sources(query_id="abc", seq=1, sources=[SOURCE]),
        TokenChunk(query_id="abc", seq=2, text="AC", tokens=1),
        TokenChunk(query_id="abc", seq=3, text="OS", tokens=2),
        Done(query_id="abc", seq=4, model="smollm2-135m", finish_reason="stop", usage=usage),
    ]
    payloads = [p for r in replies for p in stream.payloads(r)]
    assert payloads[-1] == DONE_SENTINEL
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert {c["id"] for c in chunks} == {"chatcmpl-abc"}
    assert {c["model"] for c in chunks} == {"smollm2-135m"}
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [c["choices"][0]["delta"] for c in chunks[1:3]] == [{"content": "AC"}, {"content": "OS"}]
    assert [c["choices"][0]["finish_reason"] for c in chunks[:3]] == [None, None, None]
    closing = chunks[3]
    assert closing["choices"][0] == {
        "index": 0,
        "delta": {},
        "finish_reason": "stop",
        "logprobs": None,
    }
    assert closing["melancia"]["sources"][0]["article_id"] == "metricas-acos"
    assert chunks[4]["choices"] == [] and chunks[4]["usage"]["total_tokens"] == 13


def test_without_include_usage_there_is_no_usage_chunk_and_cancel_maps_to_stop() -> None:
    stream = ChunkStream("abc", created=1)
    usage = Usage(prompt_tokens=1, completion_tokens=1, latency_ms=1)
    done = Done(query_id="abc", seq=1, model="m", finish_reason="cancelled", usage=usage)
    payloads = stream.payloads(done)
    assert len(payloads) == 2 and payloads[-1] == DONE_SENTINEL
    assert json.loads(payloads[0])["choices"][0]["finish_reason"] == "stop"


def test_a_failure_inside_the_stream_is_an_openai_error_object() -> None:
    [payload] = ChunkStream("abc").payloads(
        Failed(query_id="abc", seq=3, error="boom", code="generation_failed")
    )
    assert json.loads(payload) == {
        "error": {
            "message": "boom",
            "type": "server_error",
            "param": None,
            "code": "generation_failed",
        }
    }
