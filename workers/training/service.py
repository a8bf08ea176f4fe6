"""Runs one job at a time off the event loop and turns its ending into an event.

Plain logic: the transport hands it a `Publish` callable. The training loop runs in a single
worker thread; its progress crosses into the event loop through a queue and is published from
there, so a slow broker never blocks a training step.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from schemas.envelope import Payload
from schemas.training import TrainingCompleted, TrainingFailed, TrainingProgress, TrainingRequested
from workers.training.errors import JobBusy, JobInterrupted, JobRejected
from workers.training.job import JobConfig, run_job
from workers.training.telemetry import TrainingTelemetry

logger = logging.getLogger(__name__)

Publish = Callable[[Payload], Awaitable[None]]
JobRunner = Callable[..., Payload]


@dataclass
class TrainingService:
    """One job at a time; `stop` checkpoints the running job so it can be redelivered."""

    config: JobConfig
    runner: JobRunner = run_job
    stop: threading.Event = field(default_factory=threading.Event)
    current: str | None = None
    telemetry: TrainingTelemetry = field(default_factory=TrainingTelemetry)

    def __post_init__(self) -> None:
        # One thread: a worker trains one job at a time; further requests wait in Kafka.
        self._executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="training")

    async def handle(self, request: TrainingRequested, publish: Publish) -> None:
        """Train the request and publish completed or failed.

        JobInterrupted and JobBusy propagate: the transport must not commit, so the request comes
        back (to this worker or another) and resumes from its checkpoint.
        """
        loop = asyncio.get_running_loop()
        progress: asyncio.Queue[TrainingProgress | None] = asyncio.Queue()
        pump = asyncio.create_task(_pump(progress, publish), name=f"progress-{request.job_id}")
        metrics = self.telemetry.job(request.job_id)

        def on_progress(update: TrainingProgress) -> None:
            metrics.progress(update)
            loop.call_soon_threadsafe(progress.put_nowait, update)

        self.current = request.job_id
        logger.info("job %s: %s on %s", request.job_id, request.method, request.base_model)
        try:
            outcome: Payload = await loop.run_in_executor(
                self._executor,
                lambda: self.runner(request, self.config, on_progress=on_progress, stop=self.stop),
            )
        except (JobInterrupted, JobBusy):
            metrics.ended(None)
            raise
        except JobRejected as exc:
            logger.warning("job %s rejected: %s", request.job_id, exc)
            outcome = TrainingFailed(job_id=request.job_id, reason=str(exc), retryable=False)
        except Exception as exc:
            # Logged once here; the requester learns why, and the same idempotency key resumes
            # from the last checkpoint if it is sent again.
            logger.exception("job %s failed", request.job_id)
            outcome = TrainingFailed(
                job_id=request.job_id, reason=f"{type(exc).__name__}: {exc}", retryable=True
            )
        finally:
            self.current = None
            progress.put_nowait(None)
            await pump
        metrics.ended("completed" if isinstance(outcome, TrainingCompleted) else "failed")
        loop.call_later(self.telemetry.retain_s, self.telemetry.forget, request.job_id)
        await publish(outcome)

    def close(self) -> None:
        """Ask the running job to checkpoint and stop; wait for nothing."""
        self.stop.set()
        self._executor.shutdown(wait=False)


async def _pump(queue: asyncio.Queue[TrainingProgress | None], publish: Publish) -> None:
    while (update := await queue.get()) is not None:
        try:
            await publish(update)
        except Exception:
            # Progress is advisory; the job goes on and the next update supersedes this one.
            logger.warning("could not publish progress of %s", update.job_id, exc_info=True)
