"""Training subscriber under TestKafkaBroker: progress then one outcome, and redelivery paths."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from faststream.kafka import TestKafkaBroker

from events.bus import emit
from events.settings import BusSettings
from events.topics import (
    TRAINING_COMPLETED,
    TRAINING_FAILED,
    TRAINING_PROGRESS,
    TRAINING_REQUESTED,
)
from schemas.envelope import Envelope, make_event
from schemas.training import (
    TrainingCompleted,
    TrainingFailed,
    TrainingProgress,
    TrainingRequested,
)
from workers.training.app import create_app
from workers.training.errors import JobInterrupted, JobRejected
from workers.training.job import JobConfig
from workers.training.methods import Hardware
from workers.training.service import TrainingService
from workers.training.settings import TrainingSettings

REQUEST = TrainingRequested(job_id="j1", base_model="tiny", dataset_version="ds-x")


def _service(tmp_path: Path, runner: Any) -> TrainingService:
    return TrainingService(JobConfig(home=tmp_path), runner=runner)


def _app(service: TrainingService, tmp_path: Path) -> Any:
    settings = TrainingSettings(
        home=tmp_path, register_shipped_adapter=False, training_busy_retry_s=0.01
    )
    _, broker, _ = create_app(settings, BusSettings(bootstrap="localhost:9092"), service)

    @broker.subscriber(TRAINING_PROGRESS)
    async def progress(event: Envelope[TrainingProgress]) -> None: ...

    @broker.subscriber(TRAINING_COMPLETED)
    async def completed(event: Envelope[TrainingCompleted]) -> None: ...

    @broker.subscriber(TRAINING_FAILED)
    async def failed(event: Envelope[TrainingFailed]) -> None: ...

    return broker, progress, completed, failed


def _completed(request: TrainingRequested) -> TrainingCompleted:
    return TrainingCompleted(
        job_id=request.job_id,
        base_model=request.base_model,
        method=request.method,
        dataset_version=request.dataset_version,
        adapter_uri="file:///a",
        model_name="melancia",
        model_version="1",
        metrics={"eval_loss": 1.0},
    )


async def test_progress_goes_out_while_the_job_runs_then_one_completed(tmp_path: Path) -> None:
    seen_threads: list[str] = []

    def runner(request: TrainingRequested, config: JobConfig, *, on_progress: Any, stop: Any):  # type: ignore[no-untyped-def]
        seen_threads.append(threading.current_thread().name)
        for step in (1, 2, 3):
            on_progress(TrainingProgress(job_id=request.job_id, step=step, total_steps=3, epoch=0))
        return _completed(request)

    broker, progress, completed, failed = _app(_service(tmp_path, runner), tmp_path)
    async with TestKafkaBroker(broker) as br:
        await emit(br, TRAINING_REQUESTED, make_event(REQUEST, source="t"), key="j1")
        steps = [c.args[0]["data"]["step"] for c in progress.mock.call_args_list]
        assert steps == [1, 2, 3]
        [done] = [
            Envelope[TrainingCompleted].model_validate(c.args[0])
            for c in completed.mock.call_args_list
        ]
        assert done.data.model_version == "1"
        assert done.correlation_id == "j1"
        failed.mock.assert_not_called()
    # The training loop ran off the event loop, in the worker's training thread.
    assert seen_threads[0].startswith("training")


async def test_a_rejected_job_is_one_failed_event_with_the_reason(tmp_path: Path) -> None:
    def runner(request: TrainingRequested, config: JobConfig, **_: Any) -> Any:
        raise JobRejected("QLoRA (4-bit NF4 base weights) needs a CUDA GPU")

    broker, _, completed, failed = _app(_service(tmp_path, runner), tmp_path)
    async with TestKafkaBroker(broker) as br:
        await emit(br, TRAINING_REQUESTED, make_event(REQUEST, source="t"), key="j1")
        [event] = [
            Envelope[TrainingFailed].model_validate(c.args[0]) for c in failed.mock.call_args_list
        ]
        assert "needs a CUDA GPU" in event.data.reason
        assert event.data.retryable is False
        completed.mock.assert_not_called()


async def test_qlora_on_this_cpu_worker_fails_fast_through_the_real_job(tmp_path: Path) -> None:
    from workers.training.job import run_job

    def runner(request: TrainingRequested, config: JobConfig, **kwargs: Any) -> Any:
        return run_job(request, config, hardware=Hardware(False, False, False), **kwargs)

    broker, progress, _, failed = _app(_service(tmp_path, runner), tmp_path)
    qlora = REQUEST.model_copy(update={"method": "qlora"})
    async with TestKafkaBroker(broker) as br:
        await emit(br, TRAINING_REQUESTED, make_event(qlora, source="t"), key="j1")
        [event] = [
            Envelope[TrainingFailed].model_validate(c.args[0]) for c in failed.mock.call_args_list
        ]
        assert "QLoRA" in event.data.reason and "CUDA" in event.data.reason
        progress.mock.assert_not_called()  # refused before loading anything
    assert not (tmp_path / "mlflow").exists()


async def test_an_unexpected_error_is_a_retryable_failure(tmp_path: Path) -> None:
    def runner(request: TrainingRequested, config: JobConfig, **_: Any) -> Any:
        raise RuntimeError("out of memory")

    broker, _, _, failed = _app(_service(tmp_path, runner), tmp_path)
    async with TestKafkaBroker(broker) as br:
        await emit(br, TRAINING_REQUESTED, make_event(REQUEST, source="t"), key="j1")
        [event] = [
            Envelope[TrainingFailed].model_validate(c.args[0]) for c in failed.mock.call_args_list
        ]
        assert event.data.reason == "RuntimeError: out of memory"
        assert event.data.retryable is True


async def test_an_interrupted_job_publishes_no_outcome_and_is_left_for_redelivery(
    tmp_path: Path,
) -> None:
    calls: list[int] = []

    def runner(request: TrainingRequested, config: JobConfig, **_: Any) -> Any:
        calls.append(1)
        raise JobInterrupted("stopped at step 2")

    service = _service(tmp_path, runner)
    with pytest.raises(JobInterrupted):
        await service.handle(REQUEST, publish=_ignore)

    broker, _, completed, failed = _app(_service(tmp_path, runner), tmp_path)
    async with TestKafkaBroker(broker) as br:
        await emit(br, TRAINING_REQUESTED, make_event(REQUEST, source="t"), key="j1")
        # Nacked, not retried in-process or dead-lettered: the broker redelivers it later.
        assert len(calls) == 2
        failed.mock.assert_not_called()
        completed.mock.assert_not_called()


async def _ignore(_: Any) -> None: ...
