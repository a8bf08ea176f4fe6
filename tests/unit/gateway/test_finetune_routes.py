"""Fine-tuning endpoints without a broker: validation, honest 503/404, the job book and SSE."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from events.embedded import free_port
from events.settings import BusSettings
from gateway.main import create_app
from gateway.routes.finetune import JobBook, follow
from gateway.settings import GatewaySettings
from schemas.training import (
    TrainingCompleted,
    TrainingFailed,
    TrainingProgress,
    TrainingRequested,
)


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = GatewaySettings(env="development", connect_retry_s=0.2)
    unreachable = BusSettings(bootstrap=f"127.0.0.1:{free_port()}")
    with TestClient(create_app(settings, unreachable)) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"hyperparameters": {"rank": 0}}, "hyperparameters.rank: Input should be greater than"),
        ({"method": "full"}, "method: Input should be 'lora', 'qlora', 'dora'"),
        ({"hyperparameters": {"ranks": 8}}, "hyperparameters.ranks: Extra inputs"),
        ({"hyperparameters": {"learning_rate": -1}}, "hyperparameters.learning_rate"),
        ({"dataset_version": "ds-nope"}, "dataset_version 'ds-nope' does not exist"),
    ],
)
def test_bad_requests_are_422_with_a_clear_reason(
    client: TestClient, body: dict[str, object], expected: str
) -> None:
    response = client.post("/api/v1/finetune/start", json=body)
    assert response.status_code == 422
    assert expected in response.json()["detail"]


def test_a_valid_request_with_the_broker_down_is_503(client: TestClient) -> None:
    response = client.post("/api/v1/finetune/start", json={"hyperparameters": {"rank": 4}})
    assert response.status_code == 503
    assert "cannot queue the job" in response.json()["detail"]


def test_an_unknown_job_is_404(client: TestClient) -> None:
    assert client.get("/api/v1/finetune/ft-unknown").status_code == 404
    assert client.get("/api/v1/finetune/ft-unknown/events").status_code == 404


async def test_the_book_tracks_status_and_replays_events_after_last_event_id() -> None:
    book = JobBook()
    book.requested(TrainingRequested(job_id="j", base_model="tiny", dataset_version="v"))
    book.progress(
        TrainingProgress(job_id="j", step=1, total_steps=2, epoch=0.5, loss=2.0, eta_s=3.0)
    )
    job = book.get("j")
    assert job is not None
    assert (job.status.status, job.status.step, job.status.loss) == ("running", 1, 2.0)

    async def finish() -> None:
        await asyncio.sleep(0.05)
        book.progress(TrainingProgress(job_id="j", step=2, total_steps=2, epoch=1.0))
        book.completed(
            TrainingCompleted(
                job_id="j",
                base_model="tiny",
                method="lora",
                dataset_version="v",
                adapter_uri="file:///a",
                model_name="melancia",
                model_version="3",
                metrics={"eval_loss": 1.5},
            )
        )

    task = asyncio.create_task(finish())
    seen = [(e.event, e.id) async for e in follow(job, after=1)]
    await task
    assert seen == [("progress", "2"), ("progress", "3"), ("completed", "4")]
    assert job.status.status == "completed" and job.status.model_version == "3"
    assert job.status.eval_loss == 1.5
    assert book.by_key("j") is job


def test_the_book_runs_while_some_job_has_not_ended() -> None:
    book = JobBook()
    assert not book.running()
    book.requested(TrainingRequested(job_id="a", base_model="tiny", dataset_version="v"))
    book.requested(TrainingRequested(job_id="b", base_model="tiny", dataset_version="v"))
    assert book.running()
    book.completed(
        TrainingCompleted(
            job_id="a",
            base_model="tiny",
            method="lora",
            dataset_version="v",
            adapter_uri="file:///a",
            model_name="m",
        )
    )
    assert book.running()  # b has not ended
    book.failed(TrainingFailed(job_id="b", reason="out of memory"))
    assert not book.running()
