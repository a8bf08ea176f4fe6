"""The closed loop through a real broker and real processes:

shifted traffic replayed into the live system → drift.detected → training.requested (a tiny
training config) → alerts on a webhook; then the retrain runs: training.completed →
evaluation.completed → the gate's decision → its alert on the same webhook.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from events.embedded import free_port
from events.topics import (
    DRIFT_DETECTED,
    EVALUATION_COMPLETED,
    MODEL_PROMOTED,
    QUERY_COMPLETED,
    TRAINING_COMPLETED,
    TRAINING_FAILED,
    TRAINING_REQUESTED,
)
from schemas.envelope import make_event
from tests.integration.harness import Fleet, service_env, wait_until
from tests.integration.kafka_io import collect
from tests.integration.loop_support import (
    TINY_EVAL_ENV,
    TINY_TRAINING,
    isolated_kafka,
    melancia,
    produce_events,
)
from tests.servers import Receiver, webhook_receiver
from workers.drift import checkpoint
from workers.drift.app import current_dataset_version
from workers.drift.synthetic import Regime, traffic

pytestmark = pytest.mark.integration
SHIFTED = Regime(latency_ms=3600.0, topics=("sazonalidade", "logistica"))
# A margin no candidate can pass makes the verdict independent of what the random model answers.
EVAL_ENV = {**TINY_EVAL_ENV, "MELANCIA_GATE_MIN_IMPROVEMENT": "10"}


@dataclass
class Loop:
    bootstrap: str
    env: dict[str, str]
    home: Path
    fleet: Fleet
    alerts: Receiver
    metrics_url: str
    found: dict[str, Any] = field(default_factory=dict)

    def applied(self) -> float:
        """Events the drift worker has applied so far (its Prometheus counter)."""
        try:
            text = httpx.get(self.metrics_url, timeout=3).text
        except httpx.HTTPError:
            return 0.0
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("melancia_drift_events_total")
        )


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Iterator[Loop]:
    home = tmp_path_factory.mktemp("home")
    # A registry of the test's own, with the converted weights of the shared cache.
    (home / "models").symlink_to(models_dir.resolve(), target_is_directory=True)
    metrics_port = free_port()
    with isolated_kafka() as bootstrap, webhook_receiver() as receiver:
        env = service_env(
            bootstrap,
            MELANCIA_HOME=str(home),
            MELANCIA_DRIFT_METRICS_PORT=str(metrics_port),
            MELANCIA_DRIFT_REFERENCE_SIZE="150",
            MELANCIA_RETRAIN_DETECTIONS="2",
            MELANCIA_RETRAIN_BASE_MODEL="tiny",
            MELANCIA_RETRAIN_HYPERPARAMETERS=json.dumps(TINY_TRAINING),
            MELANCIA_ALERTS_WEBHOOK_URL=receiver.url,
            MELANCIA_ALERTS_BACKOFF_S="0.1",
            MELANCIA_TORCH_THREADS="1",
            MELANCIA_MLFLOW_SYSTEM_METRICS="false",
            MELANCIA_REGISTER_SHIPPED_ADAPTER="false",
        )
        fleet = Fleet(tmp_path_factory.mktemp("logs"))
        fleet.start("drift", ["worker", "drift"], env)
        fleet.start("alerts", ["worker", "alerts"], env)
        try:
            yield Loop(
                bootstrap, env, home, fleet, receiver, f"http://127.0.0.1:{metrics_port}/metrics"
            )
        except BaseException:
            print(fleet.logs())
            raise
        finally:
            fleet.stop()


def test_replayed_shifted_traffic_is_detected_and_a_small_retrain_is_requested(loop: Loop) -> None:
    # Normal traffic: the drift worker learns its references from it.
    normal = [make_event(q, source="w") for q in traffic(Regime(), 250, seed=11, prefix="base")]
    produce_events(loop.bootstrap, QUERY_COMPLETED, normal, key="query_id")
    # Partitions are consumed side by side: let the normal traffic in before the shifted one,
    # so the references are the normal traffic's and every detection is about the shift.
    wait_until(lambda: loop.applied() >= 250, 90, "the drift worker to apply the normal traffic")
    # Traffic recorded elsewhere (say, a canary after a catalogue change), replayed into the
    # live query log: slower answers, questions on other topics.
    capture = f"capture.shifted-{uuid.uuid4().hex[:8]}"
    shifted = [make_event(q, source="w") for q in traffic(SHIFTED, 300, seed=12, prefix="shift")]
    produce_events(loop.bootstrap, capture, shifted, key="query_id")
    summary = melancia(
        [
            "replay",
            "--topic",
            capture,
            "--from-offset",
            "0",
            "--to",
            QUERY_COMPLETED,
            "--rate",
            "2000/s",
        ],
        loop.env,
    )
    assert summary.startswith(
        f"replayed 300 of 300 events from kafka:{capture} to {QUERY_COMPLETED}"
    )

    detections = collect(loop.bootstrap, DRIFT_DETECTED, lambda v: True, count=2, timeout_s=90)
    signals = {d["data"]["signal"] for d in detections}
    assert signals & {"latency_ms", "ttft_ms", "question_embedding"}, signals
    for d in detections:
        assert all(ex["query_id"].startswith("shift-") for ex in d["data"]["examples"]), d["data"]
    [request] = collect(
        loop.bootstrap,
        TRAINING_REQUESTED,
        lambda v: v["data"]["requested_by"] == "drift-policy",
        timeout_s=60,
    )
    data = request["data"]
    assert data["reason"].startswith("drift: 2 detections")
    assert data["base_model"] == "tiny" and data["dataset_version"] == current_dataset_version()
    assert {k: data["hyperparameters"][k] for k in TINY_TRAINING} == TINY_TRAINING
    detection_ids = {
        d["event_id"]
        for d in collect(loop.bootstrap, DRIFT_DETECTED, lambda v: True, count=10, timeout_s=3)
    }
    assert {d["event_id"] for d in data["evidence"]["detections"]} <= detection_ids
    loop.found["job_id"] = data["job_id"]

    texts = [b["text"] for b in loop.alerts.wait_for(3, timeout_s=30)]
    assert any("Drift detected" in t for t in texts), texts
    assert any(data["job_id"] in t for t in texts), texts
    assert all(isinstance(b.get("blocks"), list) for b in loop.alerts.bodies)


def test_the_drift_state_is_checkpointed_when_the_worker_stops(loop: Loop) -> None:
    if "job_id" not in loop.found:
        pytest.skip("needs the closed loop above")
    [drift] = [p for p in loop.fleet.processes if p.name == "drift"]
    drift.stop()
    state = checkpoint.load(loop.home / "drift" / "state.pkl")
    assert state is not None
    assert state.engine.events == 550
    assert state.policy.last_request_at is not None
    assert ("query.completed", 0) in state.engine.offsets or state.engine.offsets


def test_the_gate_decides_on_the_retrained_candidate(loop: Loop) -> None:
    job_id = loop.found.get("job_id")
    if job_id is None:
        pytest.skip("needs the closed loop above")
    loop.fleet.start("training", ["worker", "training"], loop.env)
    loop.fleet.start("evaluation", ["worker", "evaluation"], {**loop.env, **EVAL_ENV})
    outcomes = collect(
        loop.bootstrap,
        (TRAINING_COMPLETED, TRAINING_FAILED),
        lambda v: v["data"]["job_id"] == job_id,
        timeout_s=240,
    )
    assert outcomes, "the retrain produced neither training.completed nor training.failed"
    if outcomes[0]["type"] == "training.failed":
        pytest.fail(f"the drift retrain failed: {outcomes[0]['data']['reason']}")
    trained = outcomes[0]["data"]
    assert trained["base_model"] == "tiny" and trained["model_version"], trained

    [evaluation] = collect(
        loop.bootstrap,
        EVALUATION_COMPLETED,
        lambda v: v["data"].get("job_id") == job_id,
        timeout_s=240,
    )
    data = evaluation["data"]
    assert data["candidate_version"] == trained["model_version"]
    assert data["champion_version"] is None  # nothing promoted yet: compared with the base model
    assert data["decision"] == "rejected", data["reason"]
    assert data["reason"].startswith("not better by the margin: rougeL"), data["reason"]
    assert "vs base model tiny" in data["reason"] and "margin +10.0000" in data["reason"]

    def rejection_alerts() -> list[str]:
        return [b["text"] for b in loop.alerts.bodies if "Gate rejected" in b["text"]]

    [text] = wait_until(rejection_alerts, 30, "the gate's rejection on the webhook")
    assert f"melancia v{data['candidate_version']}: {data['reason']}" in text
    assert not collect(loop.bootstrap, MODEL_PROMOTED, lambda v: True, timeout_s=3)
