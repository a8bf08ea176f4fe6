"""The training worker's metrics, recorded by running jobs through the service."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from schemas.envelope import Payload
from schemas.training import TrainingCompleted, TrainingProgress, TrainingRequested
from workers.training.errors import JobInterrupted, JobRejected
from workers.training.job import JobConfig
from workers.training.service import TrainingService
from workers.training.telemetry import TrainingTelemetry


def request(job_id: str) -> TrainingRequested:
    return TrainingRequested(job_id=job_id, base_model="tiny", dataset_version="ds-x")


def completed(req: TrainingRequested) -> TrainingCompleted:
    return TrainingCompleted(
        job_id=req.job_id,
        base_model=req.base_model,
        method=req.method,
        dataset_version=req.dataset_version,
        adapter_uri="file:///a",
        model_name="melancia",
    )


def service(tmp_path: Path, runner: Any, registry: CollectorRegistry, **kw: Any) -> TrainingService:
    telemetry = TrainingTelemetry(registry, **kw)
    return TrainingService(JobConfig(home=tmp_path), runner=runner, telemetry=telemetry)


async def ignore(_: Payload) -> None: ...


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


async def test_a_job_reports_progress_losses_and_its_outcome(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    seen_while_running: list[float | None] = []

    def runner(req: TrainingRequested, config: JobConfig, *, on_progress: Any, stop: Any) -> Any:
        on_progress(
            TrainingProgress(epoch=0, job_id=req.job_id, step=0, total_steps=0, phase="loading")
        )
        on_progress(TrainingProgress(epoch=0, job_id=req.job_id, step=5, total_steps=20, loss=2.5))
        on_progress(
            TrainingProgress(
                epoch=0, job_id=req.job_id, step=10, total_steps=20, loss=2.0, eval_loss=2.2
            )
        )
        seen_while_running.append(value(registry, "melancia_training_jobs_running"))
        return completed(req)

    await service(tmp_path, runner, registry).handle(request("j1"), ignore)

    assert seen_while_running == [1.0]
    assert value(registry, "melancia_training_jobs_running") == 0
    assert value(registry, "melancia_training_jobs_total", status="started") == 1
    assert value(registry, "melancia_training_jobs_total", status="completed") == 1
    assert value(registry, "melancia_training_step", job_id="j1") == 10
    assert value(registry, "melancia_training_progress_ratio", job_id="j1") == 0.5
    assert value(registry, "melancia_training_loss", job_id="j1", split="train") == 2.0
    assert value(registry, "melancia_training_loss", job_id="j1", split="eval") == 2.2
    assert value(registry, "melancia_training_duration_seconds_count", status="completed") == 1


async def test_a_rejected_job_fails_without_having_started(tmp_path: Path) -> None:
    registry = CollectorRegistry()

    def runner(req: TrainingRequested, config: JobConfig, **_: Any) -> Any:
        raise JobRejected("QLoRA needs a CUDA GPU")

    await service(tmp_path, runner, registry).handle(request("j2"), ignore)

    assert value(registry, "melancia_training_jobs_total", status="failed") == 1
    assert value(registry, "melancia_training_jobs_total", status="started") is None
    assert value(registry, "melancia_training_jobs_running") == 0
    assert value(registry, "melancia_training_duration_seconds_count", status="failed") is None


async def test_an_interrupted_job_stops_running_but_has_no_outcome(tmp_path: Path) -> None:
    registry = CollectorRegistry()

    def runner(req: TrainingRequested, config: JobConfig, *, on_progress: Any, stop: Any) -> Any:
        on_progress(TrainingProgress(epoch=0, job_id=req.job_id, step=3, total_steps=9))
        raise JobInterrupted("stopped at step 3")

    with pytest.raises(JobInterrupted):
        await service(tmp_path, runner, registry).handle(request("j3"), ignore)

    assert value(registry, "melancia_training_jobs_running") == 0
    assert value(registry, "melancia_training_jobs_total", status="started") == 1
    assert value(registry, "melancia_training_jobs_total", status="completed") is None
    # Kept for the redelivery that resumes it.
    assert value(registry, "melancia_training_step", job_id="j3") == 3


async def test_a_finished_jobs_series_are_removed_after_the_retention(tmp_path: Path) -> None:
    registry = CollectorRegistry()

    def runner(req: TrainingRequested, config: JobConfig, *, on_progress: Any, stop: Any) -> Any:
        on_progress(TrainingProgress(epoch=0, job_id=req.job_id, step=1, total_steps=1, loss=1.0))
        return completed(req)

    await service(tmp_path, runner, registry, retain_s=0.01).handle(request("j4"), ignore)
    assert value(registry, "melancia_training_step", job_id="j4") == 1

    async with asyncio.timeout(5):
        while value(registry, "melancia_training_step", job_id="j4") is not None:
            await asyncio.sleep(0.01)
    assert value(registry, "melancia_training_loss", job_id="j4", split="train") is None
    assert value(registry, "melancia_training_jobs_total", status="completed") == 1


def test_a_job_running_again_keeps_its_series() -> None:
    registry = CollectorRegistry()
    telemetry = TrainingTelemetry(registry)
    job = telemetry.job("j5")
    job.progress(TrainingProgress(epoch=0, job_id="j5", step=4, total_steps=8))

    telemetry.forget("j5")  # the timer of an earlier run of the same job

    assert value(registry, "melancia_training_step", job_id="j5") == 4
    job.ended("completed")
    telemetry.forget("j5")
    assert value(registry, "melancia_training_step", job_id="j5") is None
