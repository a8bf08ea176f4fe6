"""The gateway's training-event subscribers under TestKafkaBroker: the job book and the pace of
the progress consumer (control pace while a job runs, background pace otherwise)."""

from __future__ import annotations

import types
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker

from events.bus import emit
from events.settings import BusSettings
from events.topics import TRAINING_COMPLETED, TRAINING_PROGRESS, TRAINING_REQUESTED
from gateway.routes import finetune
from schemas.envelope import make_event
from schemas.training import TrainingCompleted, TrainingProgress, TrainingRequested


class Recorder:
    """Stands in for the PacedSubscriber: the consumers do not exist under TestKafkaBroker."""

    def __init__(self, subscriber: Any, *, fast_ms: int, slow_ms: int, pace: str) -> None:
        self.waits = {"fast": fast_ms, "slow": slow_ms}
        self.pace = pace
        self.paces: list[str] = []

    def set(self, pace: str) -> None:
        self.pace = pace
        self.paces.append(pace)


@pytest.fixture
def followed(monkeypatch: pytest.MonkeyPatch) -> tuple[KafkaBroker, Any, list[Recorder]]:
    made: list[Recorder] = []

    def recorder(*args: Any, **kwargs: Any) -> Recorder:
        made.append(Recorder(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(finetune, "PacedSubscriber", recorder)
    settings = BusSettings(control_fetch_wait_ms=250, background_fetch_wait_ms=1000)
    state = types.SimpleNamespace(bus=types.SimpleNamespace(settings=settings))
    broker = KafkaBroker("localhost:9092")
    finetune.subscribe(broker, state)
    return broker, state, made


async def test_progress_is_fetched_fast_only_while_a_job_runs(
    followed: tuple[KafkaBroker, Any, list[Recorder]],
) -> None:
    broker, state, made = followed
    (paced,) = made
    assert paced.pace == "slow" and paced.waits == {"fast": 250, "slow": 1000}
    job = TrainingRequested(job_id="j1", base_model="tiny", dataset_version="ds-1")
    async with TestKafkaBroker(broker) as br:
        await emit(br, TRAINING_REQUESTED, make_event(job, source="gw"), key="j1")
        assert paced.paces == ["fast"]
        step = TrainingProgress(job_id="j1", step=1, total_steps=2, epoch=0.5, loss=2.0)
        await emit(br, TRAINING_PROGRESS, make_event(step, source="trainer"), key="j1")
        assert paced.paces == ["fast"]  # unchanged pace: the consumers are left alone
        done = TrainingCompleted(
            job_id="j1",
            base_model="tiny",
            method="lora",
            dataset_version="ds-1",
            adapter_uri="file:///a",
            model_name="melancia-tiny",
            model_version="1",
            run_id="r",
            metrics={"eval_loss": 1.0},
        )
        await emit(br, TRAINING_COMPLETED, make_event(done, source="trainer"), key="j1")
    assert paced.paces == ["fast", "slow"]
    assert state.finetune_jobs.get("j1").status.status == "completed"


async def test_progress_of_a_job_whose_request_was_not_seen_turns_the_pace_fast(
    followed: tuple[KafkaBroker, Any, list[Recorder]],
) -> None:
    broker, _, made = followed
    step = TrainingProgress(job_id="j2", step=1, total_steps=9, epoch=0.1, loss=3.0)
    async with TestKafkaBroker(broker) as br:
        await emit(br, TRAINING_PROGRESS, make_event(step, source="trainer"), key="j2")
    assert made[0].paces == ["fast"]
