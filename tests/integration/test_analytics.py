"""The analytics sink through a real broker and processes: idempotent archive, poison, stats,
replay from Kafka and from the archive."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest

from events.embedded import free_port
from events.topics import FEEDBACK_SUBMITTED, QUERY_COMPLETED, dead_letter_topic
from schemas.envelope import make_event
from schemas.query import FeedbackSubmitted
from tests.integration.harness import Fleet, service_env, wait_until
from tests.integration.kafka_io import collect
from tests.integration.loop_support import (
    get_json,
    isolated_kafka,
    melancia,
    produce_events,
    produce_raw,
)
from workers.drift.synthetic import Regime, traffic

pytestmark = pytest.mark.integration
PRICES = {"gemma3-270m": 0.002, "tiny": 0.0, "*": 0.001}


@dataclass(frozen=True)
class System:
    bootstrap: str
    gateway: str
    sink: str
    env: dict[str, str]


@pytest.fixture(scope="module")
def system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    home = tmp_path_factory.mktemp("home")
    with isolated_kafka() as bootstrap:
        fleet = Fleet(tmp_path_factory.mktemp("logs"))
        sink_port, gateway_port = free_port(), free_port()
        env = service_env(
            bootstrap,
            MELANCIA_HOME=str(home),
            MELANCIA_ANALYTICS_PORT=str(sink_port),
            MELANCIA_ANALYTICS_BATCH_TIMEOUT_MS="100",
            MELANCIA_TOKEN_PRICES=json.dumps(PRICES),
            MELANCIA_PORT=str(gateway_port),
        )
        fleet.start("analytics", ["worker", "analytics"], env)
        fleet.start("gateway", ["gateway"], env)
        system = System(
            bootstrap, f"http://127.0.0.1:{gateway_port}", f"http://127.0.0.1:{sink_port}", env
        )
        try:
            wait_until(lambda: get_json(f"{system.sink}/health"), 60, "analytics endpoint")
            yield system
        except BaseException:
            print(fleet.logs())
            raise
        finally:
            fleet.stop()


def ingest(system: System) -> dict[str, int]:
    return get_json(f"{system.sink}/health")["ingest"]  # type: ignore[no-any-return]


def test_the_query_log_is_archived_once_poison_is_dead_lettered_and_stats_match(
    system: System,
) -> None:
    marker = uuid.uuid4().hex
    queries = list(traffic(Regime(), 120, seed=5, prefix=f"a{marker[:6]}"))
    queries += list(traffic(Regime(model="tiny", latency_ms=300), 40, seed=6, prefix="t"))
    queries = [
        q.model_copy(update={"finish_reason": "error", "error": "boom"}) if i % 17 == 0 else q
        for i, q in enumerate(queries)
    ]
    events = [make_event(q, source="w") for q in queries]
    produce_events(system.bootstrap, QUERY_COMPLETED, events[:80], key="query_id")
    # A poison record in the middle of the stream: dead-lettered, and the sink keeps going.
    produce_raw(system.bootstrap, QUERY_COMPLETED, [f"not json {marker}".encode()])
    produce_events(system.bootstrap, QUERY_COMPLETED, events[80:], key="query_id")
    ratings = [
        FeedbackSubmitted(query_id=q.query_id, rating=1 if i % 3 else -1)
        for i, q in enumerate(queries[:30])
    ]
    produce_events(
        system.bootstrap,
        FEEDBACK_SUBMITTED,
        [make_event(r, source="g") for r in ratings],
        key="query_id",
    )

    def stats() -> dict | None:  # type: ignore[type-arg]
        body = get_json(f"{system.gateway}/api/v1/stats", hours=1)
        return body if body and body["total"]["queries"] >= len(queries) else None

    body = wait_until(stats, 60, "the sink to archive every query")
    # Other consumers of the query log (the gateway follows it too) dead-letter it as well.
    [letter] = collect(
        system.bootstrap,
        dead_letter_topic(QUERY_COMPLETED),
        lambda v: (
            marker in v["data"]["original_value"] and v["data"]["consumer_group"] == "analytics"
        ),
    )
    assert letter["data"]["error_type"] == "ValidationError"

    # Every figure, recomputed from the events themselves.
    total = body["total"]
    assert total["queries"] == len(queries)
    assert total["errors"] == sum(q.finish_reason == "error" for q in queries)
    assert total["prompt_tokens"] == sum(q.prompt_tokens for q in queries)
    assert total["completion_tokens"] == sum(q.completion_tokens for q in queries)
    latencies = np.array([q.latency_ms for q in queries])
    for p in (50, 95, 99):
        assert total["latency_ms"][f"p{p}"] == pytest.approx(np.percentile(latencies, p))
    ttft = np.array([q.ttft_ms for q in queries])
    assert total["ttft_ms"]["p95"] == pytest.approx(np.percentile(ttft, 95))
    by_model = {g["key"]: g for g in body["by_model"]}
    assert {k: g["queries"] for k, g in by_model.items()} == {"gemma3-270m": 120, "tiny": 40}
    gemma = [q for q in queries if q.model == "gemma3-270m"]
    gemma_cost = sum((q.prompt_tokens + q.completion_tokens) / 1000 * 0.002 for q in gemma)
    assert by_model["gemma3-270m"]["cost"] == pytest.approx(gemma_cost)
    assert by_model["tiny"]["cost"] == 0.0
    assert sum(g["queries"] for g in body["by_tier"]) == len(queries)
    assert sum(h["queries"] for h in body["per_hour"]) == len(queries)
    assert body["feedback"] == {"up": 20, "down": 10}

    # `melancia stats` prints the same figures.
    printed = melancia(["stats", "--hours", "1"], system.env)
    assert f"{len(queries):>8}" in printed.splitlines()[3]
    as_json = json.loads(melancia(["stats", "--hours", "1", "--json"], system.env))
    assert as_json["total"] == body["total"]


def test_replaying_a_topic_twice_leaves_the_counts_unchanged(system: System) -> None:
    wait_until(lambda: ingest(system)["inserted"] > 0, 60, "the first test's events")
    before = get_json(f"{system.gateway}/api/v1/stats", hours=1)
    rows_before = get_json(f"{system.sink}/health")["rows"]
    duplicates = ingest(system)["duplicate"]
    summaries = [
        melancia(["replay", "--topic", QUERY_COMPLETED, "--from-offset", "0"], system.env)
        for _ in range(2)
    ]
    replayed = int(summaries[0].split()[1])
    assert replayed >= 160 and "unparseable (not replayed): 1" in summaries[0]
    wait_until(
        lambda: ingest(system)["duplicate"] >= duplicates + replayed * 3,
        60,
        "the sink to see every replayed event (original + 2 replays of the first replay)",
    )
    after = get_json(f"{system.gateway}/api/v1/stats", hours=1)
    assert after["total"] == before["total"] and after["by_model"] == before["by_model"]
    assert (
        get_json(f"{system.sink}/health")["rows"]["query_completed"]
        == rows_before["query_completed"]
    )
    replayed_events = collect(
        system.bootstrap, QUERY_COMPLETED, lambda v: v.get("replayed") is True, count=replayed
    )
    assert len(replayed_events) >= replayed


def test_replay_from_the_archive_when_kafka_no_longer_has_the_events(system: System) -> None:
    wait_until(lambda: ingest(system)["inserted"] > 0, 60, "archived events")
    dry = melancia(
        ["replay", "--topic", FEEDBACK_SUBMITTED, "--since", "1h", "--from-archive", "--dry-run"],
        system.env,
    )
    assert dry.startswith("would replay 30 of 30 events from archive:feedback.submitted")
    target = f"replayed-{uuid.uuid4().hex[:8]}"
    out = melancia(
        [
            "replay",
            "--topic",
            FEEDBACK_SUBMITTED,
            "--since",
            "1h",
            "--from-archive",
            "--to",
            target,
            "--rate",
            "500/s",
        ],
        system.env,
    )
    assert out.startswith(f"replayed 30 of 30 events from archive:{FEEDBACK_SUBMITTED} to {target}")
    copies = collect(system.bootstrap, target, lambda v: True, count=30)
    originals = collect(system.bootstrap, FEEDBACK_SUBMITTED, lambda v: True, count=30)
    assert {c["event_id"] for c in copies} == {o["event_id"] for o in originals}
    assert all(c["replayed"] is True for c in copies)
