"""What `melancia train` shows while a job runs: a progress bar fed by TrainingProgress."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from typing import Any

from tqdm import tqdm

from schemas.envelope import Payload
from schemas.training import TrainingProgress, TrainingRequested


class Bar:
    """A tqdm bar over optimizer steps; losses, tokens/s and ETA in its postfix."""

    def __init__(self, job_id: str) -> None:
        self.bar = tqdm(total=None, desc=job_id, unit="step", dynamic_ncols=True)
        self._lock = threading.Lock()

    def update(self, progress: TrainingProgress) -> None:
        with self._lock:
            if progress.total_steps and self.bar.total != progress.total_steps:
                self.bar.total = progress.total_steps
            self.bar.n = progress.step
            self.bar.set_postfix(
                {
                    k: v
                    for k, v in {
                        "phase": progress.phase,
                        "loss": _fmt(progress.loss),
                        "eval": _fmt(progress.eval_loss),
                        "tok/s": _fmt(progress.tokens_per_s, 0),
                        "eta": f"{progress.eta_s:.0f}s" if progress.eta_s is not None else None,
                    }.items()
                    if v is not None
                },
                refresh=True,
            )

    def close(self) -> None:
        self.bar.close()


def _fmt(value: float | None, digits: int = 4) -> str | None:
    return None if value is None else f"{value:.{digits}f}"


def run_local(request: TrainingRequested) -> Payload:
    """Train in this process (also the entry point under `accelerate launch`/`torchrun`)."""
    from schemas.training import TrainingFailed
    from workers.training.app import job_config
    from workers.training.errors import JobRejected
    from workers.training.job import run_job
    from workers.training.settings import TrainingSettings

    settings = TrainingSettings()
    if settings.torch_threads:
        import torch

        torch.set_num_threads(settings.torch_threads)
    bar = Bar(request.job_id)
    try:
        return run_job(request, job_config(settings), on_progress=bar.update)
    except JobRejected as exc:
        return TrainingFailed(job_id=request.job_id, reason=str(exc))
    finally:
        bar.close()


def follow_bus(request: TrainingRequested, *, timeout_s: float) -> Payload:
    """Publish the request, show its progress, return its completed or failed event."""
    return asyncio.run(_follow(request, timeout_s))


async def _follow(request: TrainingRequested, timeout_s: float) -> Payload:
    from faststream import AckPolicy

    from events.broker import build_broker
    from events.bus import emit
    from events.settings import BusSettings
    from events.topics import (
        TRAINING_COMPLETED,
        TRAINING_FAILED,
        TRAINING_PROGRESS,
        TRAINING_REQUESTED,
    )
    from schemas.envelope import Envelope, make_event
    from schemas.training import TrainingCompleted, TrainingFailed

    broker, _ = build_broker(BusSettings(), service="cli")
    bar = Bar(request.job_id)
    outcome: asyncio.Future[Payload] = asyncio.get_running_loop().create_future()
    # No group and from the earliest offset: nothing this job says can be missed.
    follow: dict[str, Any] = {"auto_offset_reset": "earliest", "ack_policy": AckPolicy.ACK_FIRST}

    @broker.subscriber(TRAINING_PROGRESS, **follow)
    async def on_progress(event: Envelope[TrainingProgress]) -> None:
        if event.data.job_id == request.job_id:
            bar.update(event.data)

    @broker.subscriber(TRAINING_COMPLETED, **follow)
    async def on_completed(event: Envelope[TrainingCompleted]) -> None:
        if event.data.job_id == request.job_id and not outcome.done():
            outcome.set_result(event.data)

    @broker.subscriber(TRAINING_FAILED, **follow)
    async def on_failed(event: Envelope[TrainingFailed]) -> None:
        if event.data.job_id == request.job_id and not outcome.done():
            outcome.set_result(event.data)

    await broker.start()
    try:
        event = make_event(request, source="cli", correlation_id=request.job_id)
        await emit(broker, TRAINING_REQUESTED, event, key=request.job_id)
        return await asyncio.wait_for(outcome, timeout_s)
    finally:
        bar.close()
        with contextlib.suppress(Exception):
            await broker.stop()


def publish(outcome: Payload) -> None:
    """Send a local job's outcome to the bus, as the worker would (rank 0 only)."""
    from accelerate import PartialState

    if PartialState().is_main_process:
        asyncio.run(_publish(outcome))


async def _publish(outcome: Payload) -> None:
    from events.broker import build_broker
    from events.bus import emit
    from events.settings import BusSettings
    from schemas.envelope import make_event
    from workers.training.handlers import topic_of

    broker, _ = build_broker(BusSettings(), service="cli")
    await broker.connect()
    try:
        job_id = str(getattr(outcome, "job_id", ""))
        event = make_event(outcome, source="cli", correlation_id=job_id)
        await emit(broker, topic_of(outcome), event, key=job_id)
    finally:
        await broker.stop()
