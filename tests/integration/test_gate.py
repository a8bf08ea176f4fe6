"""Train → evaluate → gate → live swap → rollback, through a real broker and real processes.

A tiny LoRA job on SmolLM2-135M (two steps) yields a candidate. An evaluation worker whose gate
cannot be passed rejects it; the same `training.completed`, replayed into an evaluation worker
whose gate always passes, promotes it. A stream started before the promotion finishes on the
model it started with while the inference worker loads the new adapter; the next answer comes
from the new version (the `done` event's variant names it); `melancia model rollback` brings
the previous one back.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from events.embedded import free_port
from events.topics import (
    EVALUATION_COMPLETED,
    MODEL_PROMOTED,
    MODEL_ROLLED_BACK,
    TRAINING_COMPLETED,
    TRAINING_FAILED,
)
from tests.integration.harness import ROOT, Fleet, healthy, parse_sse, service_env, wait_until
from tests.integration.kafka_io import collect, produce
from tests.integration.loop_support import TINY_EVAL_ENV, TINY_TRAINING, isolated_kafka

pytestmark = pytest.mark.integration
MODEL = "smollm2-135m"
EVAL_ENV = {**TINY_EVAL_ENV, "MELANCIA_GATE_CATEGORY_TOLERANCE": "1.0"}


@dataclass
class Loop:
    base: str
    bootstrap: str
    env: dict[str, str]
    fleet: Fleet
    found: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Iterator[Loop]:
    home = tmp_path_factory.mktemp("home")
    # A registry of the test's own, with the converted weights of the shared cache.
    (home / "models").symlink_to(models_dir.resolve(), target_is_directory=True)
    port = free_port()
    with isolated_kafka() as bootstrap:
        env = service_env(
            bootstrap,
            MELANCIA_HOME=str(home),
            MELANCIA_BASE_MODEL=MODEL,
            MELANCIA_RETRIEVAL="false",
            MELANCIA_INFERENCE_CONCURRENCY="2",
            MELANCIA_TORCH_THREADS="1",
            MELANCIA_HEARTBEAT_S="1",
            MELANCIA_MAX_NEW_TOKENS_CAP="2048",
            MELANCIA_ANSWER_CACHE_TTL_S="0",
            MELANCIA_REGISTER_SHIPPED_ADAPTER="false",
            MELANCIA_PORT=str(port),
        )
        fleet = Fleet(tmp_path_factory.mktemp("logs"))
        fleet.start("inference", ["worker", "inference"], env)
        fleet.start("gateway", ["gateway"], env)
        fleet.start("training", ["worker", "training"], env)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: healthy(base), 300, "gateway healthy with a worker")
            yield Loop(base, bootstrap, env, fleet)
        except BaseException:
            print(fleet.logs())
            raise
        finally:
            fleet.stop()


def _ask(base: str, question: str, **extra: object) -> dict[str, Any]:
    """Stream one answer and return its `done` event (asserting there is exactly one)."""
    body = {"question": question, "max_new_tokens": 8, "user_id": "u-gate", **extra}
    with httpx.stream("POST", f"{base}/api/v1/query/stream", json=body, timeout=600) as response:
        assert response.status_code == 200, response.read()
        events = list(parse_sse(response.iter_lines()))
    kinds = [e.event for e in events]
    assert kinds.count("done") == 1 and "error" not in kinds, kinds
    return events[-1].data


def _melancia(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "melancia", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_candidate_that_cannot_pass_the_gate_is_rejected(loop: Loop) -> None:
    before = _ask(loop.base, "O que é ACOS?")
    assert before["variant"] == "champion"  # the base model: nothing promoted yet
    loop.found["before"] = before["variant"]
    started = httpx.post(
        f"{loop.base}/api/v1/finetune/start",
        json={"base_model": MODEL, "hyperparameters": TINY_TRAINING},
        timeout=30,
    )
    assert started.status_code == 202, started.text
    job_id = started.json()["job_id"]
    outcomes = collect(
        loop.bootstrap, TRAINING_COMPLETED, lambda v: v["data"]["job_id"] == job_id, timeout_s=600
    ) or collect(loop.bootstrap, TRAINING_FAILED, lambda v: v["data"]["job_id"] == job_id)
    assert outcomes and outcomes[0]["type"] == "training.completed", outcomes
    loop.found["completed"] = outcomes[0]

    strict = loop.fleet.start(
        "evaluation-strict",
        ["worker", "evaluation"],
        {**loop.env, **EVAL_ENV, "MELANCIA_GATE_MIN_IMPROVEMENT": "10"},
    )
    [verdict] = collect(
        loop.bootstrap,
        EVALUATION_COMPLETED,
        lambda v: v["data"].get("job_id") == job_id,
        timeout_s=600,
    )
    strict.stop()
    data = verdict["data"]
    assert data["decision"] == "rejected" and "not better by the margin" in data["reason"]
    assert data["champion_version"] is None  # compared with the base model
    assert {"rougeL", "rouge1", "token_f1", "perplexity", "latency_mean_s"} <= set(
        data["candidate_metrics"]
    )
    status = _melancia(["model", "status"], loop.env)
    assert "rejected" in status and "aliases: none" in status


def test_a_promotion_swaps_the_adapter_live_without_breaking_a_running_stream(loop: Loop) -> None:
    completed = loop.found.get("completed")
    if completed is None:
        pytest.skip("needs the training job above")
    # The lenient worker starts first: it resumes after the event the strict one committed.
    loop.fleet.start(
        "evaluation-lenient",
        ["worker", "evaluation"],
        {**loop.env, **EVAL_ENV, "MELANCIA_GATE_MIN_IMPROVEMENT": "-10"},
    )
    # A long answer starts on the current model (SmolLM2 counts without stopping)...
    long_stream: dict[str, Any] = {}
    first_token = threading.Event()

    def stream_long() -> None:
        body = {
            "question": "Count from 1 to 2000, separated by commas.",
            "max_new_tokens": 1024,
            "user_id": "u-long",
            "tier": "premium",
        }
        with httpx.stream(
            "POST", f"{loop.base}/api/v1/query/stream", json=body, timeout=900
        ) as response:
            events = []
            for event in parse_sse(response.iter_lines()):
                events.append(event)
                if event.event == "token":
                    first_token.set()
        long_stream["events"] = events

    runner = threading.Thread(target=stream_long)
    runner.start()
    assert first_token.wait(120), "the long stream never started"
    # ...then the same training.completed comes again, as `melancia replay` would send it.
    replayed = {**completed, "event_id": str(uuid.uuid4())}
    produce(loop.bootstrap, TRAINING_COMPLETED, json.dumps(replayed).encode())
    [promotion] = collect(loop.bootstrap, MODEL_PROMOTED, lambda v: True, timeout_s=600)
    stream_open_at_promotion = runner.is_alive()
    version = promotion["data"]["version"]
    runner.join(900)  # the worker loads the new adapter once the running answers are done

    events = long_stream["events"]
    kinds = [e.event for e in events]
    assert kinds.count("done") == 1 and "error" not in kinds, kinds[-5:]
    assert stream_open_at_promotion, "the stream ended before the promotion: no overlap"
    assert events[-1].data["variant"] == loop.found["before"]  # finished on the old model
    assert events[-1].data["finish_reason"] == "length"

    def advertised() -> bool:
        models = httpx.get(f"{loop.base}/api/v1/models", timeout=5).json()["models"]
        return any(v["label"] == f"champion@{version}" for m in models for v in m["variants"])

    wait_until(advertised, 60, "the worker to advertise the new champion")
    after = _ask(loop.base, "Qual a diferença entre ROAS e ACOS?")
    assert after["variant"] == f"champion@{version}"


def test_rollback_restores_the_previous_champion(loop: Loop) -> None:
    if "completed" not in loop.found:
        pytest.skip("needs the training job above")
    out = _melancia(["model", "rollback", "--reason", "integration test"], loop.env)
    assert "model.rolled_back published" in out
    [rolled] = collect(loop.bootstrap, MODEL_ROLLED_BACK, lambda v: True, timeout_s=60)
    assert rolled["data"]["version"] == "base"
    wait_until(
        lambda: (
            _ask(loop.base, f"O que é CPC? {uuid.uuid4().hex[:4]}")["variant"]
            == loop.found["before"]
        ),
        120,
        "the previous champion to answer again",
        interval_s=1.0,
    )
    card = _melancia(["model", "card", "1"], loop.env)
    assert "## Evaluation" in card and "Gate: **promoted**" in card
