"""The streaming slice through a real broker, the real gateway over HTTP and real models."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from events.embedded import free_port
from events.topics import QUERY_COMPLETED, QUERY_REQUESTED, dead_letter_topic
from tests.integration.harness import Fleet, healthy, parse_sse, service_env, wait_until
from tests.integration.kafka_io import collect, produce

pytestmark = pytest.mark.integration
MODEL = "smollm2-135m"


@dataclass(frozen=True)
class System:
    base: str
    bootstrap: str


@pytest.fixture(scope="module")
def system(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """Two inference workers (one consumer group) and a gateway on a free port."""
    fleet = Fleet(tmp_path_factory.mktemp("logs"))
    port = free_port()
    worker_env = service_env(
        kafka_bootstrap,
        MELANCIA_BASE_MODEL=MODEL,
        MELANCIA_INFERENCE_CONCURRENCY="2",
        MELANCIA_TORCH_THREADS="1",
        MELANCIA_HEARTBEAT_S="1",
    )
    for i in range(2):
        fleet.start(
            f"worker-{i}", ["worker", "inference"], {**worker_env, "MELANCIA_WORKER_INDEX": str(i)}
        )
    # No answer cache: these tests compare the worker's streamed and non-streamed paths.
    gateway_env = service_env(
        kafka_bootstrap, MELANCIA_PORT=str(port), MELANCIA_ANSWER_CACHE_TTL_S="0"
    )
    fleet.start("gateway", ["gateway"], gateway_env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: healthy(base, workers=2), 300, "gateway healthy with two workers")
        yield System(base, kafka_bootstrap)
    except BaseException:
        print(fleet.logs())
        raise
    finally:
        fleet.stop()


def stream(base: str, body: dict[str, object]) -> list:  # type: ignore[type-arg]
    with httpx.stream("POST", f"{base}/api/v1/query/stream", json=body, timeout=120) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        return list(parse_sse(response.iter_lines()))


def test_streamed_tokens_equal_the_non_streamed_answer_with_exactly_one_done(
    system: System,
) -> None:
    body = {"question": "What is ACOS in advertising?", "max_new_tokens": 24, "temperature": 0}
    whole = httpx.post(f"{system.base}/api/v1/query", json=body, timeout=120)
    assert whole.status_code == 200, whole.text
    events = stream(system.base, body)
    kinds = [e.event for e in events]
    assert kinds.count("done") == 1 and kinds[-1] == "done"
    assert "error" not in kinds
    ids = [int(e.id) for e in events if e.id is not None]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    tokens = [e for e in events if e.event == "token"]
    assert tokens, "no token events"
    streamed = "".join(str(e.data["text"]) for e in tokens)
    assert streamed == whole.json()["answer"]
    done = events[-1].data
    assert done["usage"]["completion_tokens"] == whole.json()["completion_tokens"]  # type: ignore[index]
    assert whole.json()["model"] == MODEL


def test_the_query_log_records_the_answer(system: System) -> None:
    reply = httpx.post(
        f"{system.base}/api/v1/query",
        json={
            "question": "Define ROAS.",
            "max_new_tokens": 8,
            "user_id": "u-log",
            "tier": "premium",
        },
        timeout=120,
    ).json()
    [record] = collect(
        system.bootstrap, QUERY_COMPLETED, lambda v: v["data"]["query_id"] == reply["query_id"]
    )
    data = record["data"]
    assert data["answer"] == reply["answer"]
    assert (data["user_id"], data["tier"], data["model"]) == ("u-log", "premium", MODEL)
    assert data["completion_tokens"] == reply["completion_tokens"]
    assert data["ttft_ms"] is not None and data["latency_ms"] >= data["ttft_ms"]


def test_a_disconnected_stream_cancels_generation_early(system: System) -> None:
    limit = 400
    body = {"question": "Write a long essay about marketplaces.", "max_new_tokens": limit}
    with httpx.stream(
        "POST", f"{system.base}/api/v1/query/stream", json=body, timeout=120
    ) as response:
        query_id = response.headers["x-query-id"]
        for event in parse_sse(response.iter_lines()):
            if event.event == "token":
                break  # the client goes away after the first token
    [record] = collect(
        system.bootstrap, QUERY_COMPLETED, lambda v: v["data"]["query_id"] == query_id, timeout_s=60
    )
    assert record["data"]["finish_reason"] == "cancelled"
    assert record["data"]["completion_tokens"] < limit
    status = httpx.get(f"{system.base}/api/v1/query/{query_id}").json()
    assert status["status"] == "cancelled"


def test_a_stream_resumes_after_last_event_id(system: System) -> None:
    body = {"question": "What is CPC?", "max_new_tokens": 16}
    full = stream(system.base, body)
    query_id = str(full[0].data["query_id"])
    resumed_url = f"{system.base}/api/v1/query/{query_id}/stream"
    with httpx.stream("GET", resumed_url, headers={"Last-Event-ID": "1"}, timeout=60) as response:
        assert response.status_code == 200
        resumed = list(parse_sse(response.iter_lines()))
    assert [e.id for e in resumed] == [e.id for e in full if e.id is not None and int(e.id) > 1]
    assert resumed[-1].event == "done"


def test_a_malformed_event_is_dead_lettered_and_the_workers_keep_going(system: System) -> None:
    marker = uuid.uuid4().hex
    bad = json.dumps({"source": "test", "data": {"query_id": marker, "question": ""}}).encode()
    produce(system.bootstrap, QUERY_REQUESTED, bad, key=marker.encode())
    produce(system.bootstrap, QUERY_REQUESTED, b"\xff not json " + marker.encode())
    letters = collect(
        system.bootstrap,
        dead_letter_topic(QUERY_REQUESTED),
        lambda v: marker in v["data"]["original_value"],
        count=2,
        timeout_s=60,
    )
    assert len(letters) == 2
    reasons = sorted(letter["data"]["error"] for letter in letters)
    assert any("data.question" in r for r in reasons)
    assert all(letter["data"]["consumer_group"] == "inference" for letter in letters)
    after = httpx.post(
        f"{system.base}/api/v1/query", json={"question": "Hi", "max_new_tokens": 4}, timeout=120
    )
    assert after.status_code == 200


def test_two_workers_in_one_group_share_the_work(system: System) -> None:
    ids = []
    for i in range(12):
        response = httpx.post(
            f"{system.base}/api/v1/query",
            json={"question": f"Question {i}", "max_new_tokens": 2},
            timeout=120,
        )
        assert response.status_code == 200
        ids.append(response.json()["query_id"])
    records = collect(
        system.bootstrap, QUERY_COMPLETED, lambda v: v["data"]["query_id"] in ids, count=len(ids)
    )
    workers = {r["data"]["worker_id"] for r in records}
    assert len(workers) == 2, workers


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"question": ""}, "question"),
        ({"question": "x" * 4001}, "question"),
        ({"question": "ok", "colour": "red"}, "colour"),
        ({"question": "ok", "max_new_tokens": "lots"}, "max_new_tokens"),
        ({"question": ["not", "text"]}, "question"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    system: System, body: dict[str, object], field: str
) -> None:
    for path in ("/api/v1/query", "/api/v1/query/stream"):
        response = httpx.post(f"{system.base}{path}", json=body, timeout=10)
        assert response.status_code == 422
        assert field in response.json()["detail"]


def test_unknown_query_is_404_and_metrics_are_exposed(system: System) -> None:
    assert httpx.get(f"{system.base}/api/v1/query/nope").status_code == 404
    metrics = httpx.get(f"{system.base}/metrics").text
    assert "melancia_gateway_ttft_seconds_bucket" in metrics
    assert "melancia_gateway_requests_total" in metrics
    models = httpx.get(f"{system.base}/api/v1/models").json()["models"]
    assert any(m["name"] == MODEL and m["workers"] == 2 for m in models)
