import gc
import json
import uuid

import pytest
from pydantic import TypeAdapter, ValidationError

from schemas.api import QueryRequest
from schemas.catalog import PAYLOADS
from schemas.common import MAX_QUESTION_CHARS
from schemas.envelope import SCHEMA_VERSION, Envelope, envelope_type, make_event
from schemas.query import QueryReply, QueryRequested, TokenChunk
from schemas.training import Hyperparameters, TrainingRequested


def test_envelope_round_trip_keeps_identity_and_type() -> None:
    event = make_event(QueryRequested(query_id="q1", question="O que é ACOS?"), source="test")
    back = Envelope[QueryRequested].model_validate_json(event.model_dump_json())
    assert back.event_id == event.event_id
    assert back.type == "query.requested"
    assert back.schema_version == SCHEMA_VERSION
    assert back.data.question == "O que é ACOS?"


def test_a_parametrized_envelope_outlives_the_garbage_collector() -> None:
    # Pydantic keeps Envelope[X] weakly; rebuilding it once per query cost ~1 ms.
    built = envelope_type(TokenChunk)
    gc.collect()
    assert envelope_type(TokenChunk) is built
    event = make_event(TokenChunk(query_id="q", seq=0, text="oi", tokens=1), source="test")
    assert type(event) is built
    assert Envelope[TokenChunk].model_validate_json(event.model_dump_json()) == event


def test_envelope_rejects_a_type_that_does_not_match_the_payload() -> None:
    raw = {"type": "query.cancelled", "source": "x", "data": {"query_id": "q", "question": "a"}}
    with pytest.raises(ValidationError, match="does not match payload"):
        Envelope[QueryRequested].model_validate(raw)


def test_envelope_rejects_an_unsupported_schema_version() -> None:
    raw = {"source": "x", "schema_version": "2", "data": {"query_id": "q", "question": "a"}}
    with pytest.raises(ValidationError, match="unsupported schema_version"):
        Envelope[QueryRequested].model_validate(raw)


def test_payloads_ignore_unknown_fields_for_forward_compatibility() -> None:
    raw = {"source": "x", "data": {"query_id": "q", "question": "a", "new_field": 1}}
    assert Envelope[QueryRequested].model_validate(raw).data.question == "a"


def test_reply_union_is_discriminated_by_kind() -> None:
    chunk = make_event(TokenChunk(query_id="q", seq=3, text="oi", tokens=1), source="w")
    parsed = TypeAdapter(Envelope[QueryReply]).validate_json(chunk.model_dump_json())
    assert isinstance(parsed.data, TokenChunk)
    assert parsed.data.seq == 3


def test_every_payload_has_a_distinct_event_type_and_a_json_schema() -> None:
    types = [p.EVENT_TYPE for p in PAYLOADS]
    assert all(types)
    assert len(set(types)) == len(types)
    for payload in PAYLOADS:
        schema = TypeAdapter(Envelope[payload]).json_schema()  # type: ignore[valid-type]
        assert set(schema["properties"]) >= {"event_id", "type", "source", "time", "data"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"question": ""}, "question"),
        ({"question": "   "}, "question"),
        ({"question": "x" * (MAX_QUESTION_CHARS + 1)}, "question"),
        ({"question": "ok", "surprise": 1}, "surprise"),
        ({"question": "ok", "max_new_tokens": "many"}, "max_new_tokens"),
        ({"question": "ok", "temperature": -1}, "temperature"),
        ({"question": 42}, "question"),
    ],
)
def test_bad_query_requests_name_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        QueryRequest.model_validate(body)
    assert any(field in e["loc"] for e in info.value.errors())


def test_training_request_defaults_idempotency_key_to_job_id_and_bounds_rank() -> None:
    request = TrainingRequested(job_id="j1", base_model="tiny", dataset_version="v1")
    assert request.idempotency_key == "j1"
    with pytest.raises(ValidationError, match="rank"):
        Hyperparameters(rank=0)


def test_event_ids_are_unique_and_json_serialisable() -> None:
    a = make_event(QueryRequested(query_id="q", question="a"), source="s")
    b = make_event(QueryRequested(query_id="q", question="a"), source="s")
    assert a.event_id != b.event_id
    assert uuid.UUID(json.loads(a.model_dump_json())["event_id"])
