"""Fine-tuning endpoints: start a job, read its status, follow its progress as SSE.

The gateway never trains: it publishes `training.requested` and follows `training.*` (every
gateway instance reads every event from the start of the topics, so any instance answers for
any job, also after a restart).
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Header, HTTPException, Request
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from sse_starlette import EventSourceResponse, ServerSentEvent

from data.pipeline import dataset_version
from events.pacing import Pace, PacedSubscriber, read_to_end, subscriber_consumers
from events.topics import (
    TRAINING_COMPLETED,
    TRAINING_FAILED,
    TRAINING_PROGRESS,
    TRAINING_REQUESTED,
)
from gateway.bus import BusUnavailable
from gateway.deps import BusDep, SettingsDep
from schemas.api import ErrorResponse
from schemas.envelope import Envelope, make_event
from schemas.training import (
    FinetuneAccepted,
    FinetuneStart,
    FinetuneStatus,
    JobState,
    TrainingCompleted,
    TrainingFailed,
    TrainingProgress,
    TrainingRequested,
)

router = APIRouter(prefix="/api/v1/finetune", tags=["finetune"])
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (404, 422, 503)
}
_TERMINAL = ("completed", "failed")
_MAX_JOBS = 1000
_MAX_EVENTS = 2000
PROGRESS_CATCH_UP_S = 5.0  # a terminal event waits at most this long for earlier progress
logger = logging.getLogger(__name__)


@dataclass
class Job:
    """What the gateway knows about one job, and its event history for SSE resume."""

    status: FinetuneStatus
    idempotency_key: str
    events: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    seq: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def done(self) -> bool:
        return self.status.status in _TERMINAL

    def add(self, kind: str, data: dict[str, Any], **status: Any) -> None:
        self.status = self.status.model_copy(update={**status, "updated_at": datetime.now(UTC)})
        self.seq += 1
        self.events.append((self.seq, kind, data))
        del self.events[:-_MAX_EVENTS]
        self.changed.set()
        self.changed = asyncio.Event()


class JobBook:
    """Recent jobs by id (bounded, oldest forgotten first)."""

    def __init__(self) -> None:
        self.jobs: OrderedDict[str, Job] = OrderedDict()

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def running(self) -> bool:
        """Some job has not ended: its progress is due."""
        return any(not job.done for job in self.jobs.values())

    def by_key(self, key: str) -> Job | None:
        return next((j for j in self.jobs.values() if j.idempotency_key == key), None)

    def requested(self, request: TrainingRequested) -> Job:
        job = self.jobs.get(request.job_id)
        if job is None:
            status = FinetuneStatus(
                job_id=request.job_id,
                status="queued",
                base_model=request.base_model,
                method=request.method,
                dataset_version=request.dataset_version,
                updated_at=datetime.now(UTC),
            )
            job = self.jobs[request.job_id] = Job(status, request.idempotency_key)
            job.add("queued", {"job_id": request.job_id})
            while len(self.jobs) > _MAX_JOBS:
                self.jobs.popitem(last=False)
        return job

    def _job(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:  # started elsewhere before this gateway saw the request
            status = FinetuneStatus(job_id=job_id, status="running")
            job = self.jobs[job_id] = Job(status, job_id)
        return job

    def progress(self, update: TrainingProgress) -> None:
        job = self._job(update.job_id)
        if job.done:
            return
        figures = update.model_dump(exclude={"job_id", "resumed_from_step"})
        job.add("progress", update.model_dump(mode="json"), status="running", **figures)

    def completed(self, done: TrainingCompleted) -> None:
        self._job(done.job_id).add(
            "completed",
            done.model_dump(mode="json"),
            status="completed",
            adapter_uri=done.adapter_uri,
            model_name=done.model_name,
            model_version=done.model_version,
            run_id=done.run_id,
            metrics=done.metrics,
            eval_loss=done.metrics.get("eval_loss"),
            eta_s=0.0,
        )

    def failed(self, failure: TrainingFailed) -> None:
        self._job(failure.job_id).add(
            "failed", failure.model_dump(mode="json"), status="failed", error=failure.reason
        )


def book_of(state: Any) -> JobBook:
    """The gateway's job book, created on first use."""
    if not hasattr(state, "finetune_jobs"):
        state.finetune_jobs = JobBook()
    book: JobBook = state.finetune_jobs
    return book


def subscribe(broker: KafkaBroker, state: Any) -> None:
    """Follow every training event (no group: every gateway instance needs all of them).

    The four topics are read by separate consumers, with no order between them. A worker
    publishes a job's last progress before its terminal event, so on a terminal event the
    gateway first reads the progress topic up to where it ended at that moment; then the
    terminal event goes into the book (progress after it would be dropped). Progress, which
    followers stream live, is fetched at the control pace while some job runs and at the
    background pace, like the other topics, while none does (events.pacing).
    """
    book = book_of(state)
    bus = getattr(state, "bus", None)

    @broker.subscriber(
        TRAINING_REQUESTED, auto_offset_reset="earliest", ack_policy=AckPolicy.ACK_FIRST
    )
    async def on_requested(event: Envelope[TrainingRequested]) -> None:
        book.requested(event.data)
        repace()

    progress = broker.subscriber(
        TRAINING_PROGRESS, auto_offset_reset="earliest", ack_policy=AckPolicy.ACK_FIRST
    )
    paced = (
        PacedSubscriber(
            progress,
            fast_ms=bus.settings.control_fetch_wait_ms,
            slow_ms=bus.settings.background_fetch_wait_ms,
            pace="slow",
        )
        if bus is not None
        else None
    )

    def repace() -> None:
        pace: Pace = "fast" if book.running() else "slow"
        if paced is not None and paced.pace != pace:
            paced.set(pace)

    @progress
    async def on_progress(event: Envelope[TrainingProgress]) -> None:
        book.progress(event.data)
        repace()  # a job started elsewhere before this gateway saw its request

    async def progress_read(job_id: str) -> None:
        if not await read_to_end(subscriber_consumers(progress), timeout_s=PROGRESS_CATCH_UP_S):
            logger.warning("progress of %s not read up to its end; ending the job anyway", job_id)

    @broker.subscriber(
        TRAINING_COMPLETED, auto_offset_reset="earliest", ack_policy=AckPolicy.ACK_FIRST
    )
    async def on_completed(event: Envelope[TrainingCompleted]) -> None:
        await progress_read(event.data.job_id)
        book.completed(event.data)
        repace()

    @broker.subscriber(
        TRAINING_FAILED, auto_offset_reset="earliest", ack_policy=AckPolicy.ACK_FIRST
    )
    async def on_failed(event: Envelope[TrainingFailed]) -> None:
        await progress_read(event.data.job_id)
        book.failed(event.data)
        repace()


def resolve_dataset_version(requested: str | None) -> str:
    """The requested dataset version if it is built here (default: the built one); else 422."""
    try:
        available = dataset_version()
    except FileNotFoundError as exc:
        raise HTTPException(422, "no dataset is built; run `melancia dataset build`") from exc
    if requested is not None and requested != available:
        raise HTTPException(
            422, f"dataset_version {requested!r} does not exist; available: [{available!r}]"
        )
    return available


@router.post("/start", status_code=202, response_model=FinetuneAccepted, responses=ERRORS)
async def start(body: FinetuneStart, request: Request, bus: BusDep) -> FinetuneAccepted:
    """Queue a fine-tuning job; hyperparameters left out come from the default recipe."""
    version = resolve_dataset_version(body.dataset_version)
    book = book_of(request.app.state)
    existing = book.by_key(body.idempotency_key) if body.idempotency_key else None
    if existing is not None:
        return _accepted(existing.status.job_id, existing.status.status, existing.idempotency_key)
    job_id = f"ft-{uuid.uuid4().hex[:12]}"
    training = TrainingRequested(
        job_id=job_id,
        idempotency_key=body.idempotency_key or job_id,
        base_model=body.base_model,
        dataset_version=version,
        method=body.method,
        hyperparameters=body.hyperparameters,
        reason=body.reason,
        requested_by=body.requested_by,
    )
    try:
        await bus.publish(
            TRAINING_REQUESTED,
            make_event(training, source=f"gateway-{bus.instance}", correlation_id=job_id),
            key=job_id,
        )
    except BusUnavailable as exc:
        raise HTTPException(503, f"cannot queue the job: {exc}") from exc
    book.requested(training)
    return _accepted(job_id, "queued", training.idempotency_key)


def _accepted(job_id: str, status: JobState, key: str) -> FinetuneAccepted:
    return FinetuneAccepted(
        job_id=job_id,
        status=status,
        idempotency_key=key,
        status_url=f"/api/v1/finetune/{job_id}",
        events_url=f"/api/v1/finetune/{job_id}/events",
    )


def _known(request: Request, job_id: str) -> Job:
    job = book_of(request.app.state).get(job_id)
    if job is None:
        raise HTTPException(404, f"fine-tuning job {job_id} is unknown")
    return job


@router.get("/{job_id}", response_model=FinetuneStatus, responses=ERRORS)
async def status(job_id: str, request: Request) -> FinetuneStatus:
    """Status and latest figures (step, losses, learning rate, tokens/s, ETA) of a job."""
    return _known(request, job_id).status


@router.get(
    "/{job_id}/events",
    responses={200: {"content": {"text/event-stream": {}}}, **ERRORS},
    response_class=EventSourceResponse,
)
async def events(
    job_id: str,
    request: Request,
    settings: SettingsDep,
    last_event_id: int = Header(default=0, alias="Last-Event-ID"),
) -> EventSourceResponse:
    """SSE: `queued`, `progress` events, then one `completed` or `failed`; resumable by id."""
    job = _known(request, job_id)
    return EventSourceResponse(follow(job, after=last_event_id), ping=settings.ping_interval_s)


async def follow(job: Job, *, after: int) -> AsyncIterator[ServerSentEvent]:
    """The job's events after id `after`, live, until its terminal event."""
    seen = after
    while True:
        changed = job.changed
        for seq, kind, data in [e for e in job.events if e[0] > seen]:
            seen = seq
            yield ServerSentEvent(
                json.dumps(data, ensure_ascii=False, separators=(",", ":")), event=kind, id=str(seq)
            )
            if kind in _TERMINAL:
                return
        if job.done:
            return
        await changed.wait()
