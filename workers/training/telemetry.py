"""Training worker metrics, on the worker's registry (docs/metrics.md lists them all).

| name | type | labels | meaning |
|---|---|---|---|
| melancia_training_jobs_total | counter | status | jobs by outcome: started, completed, failed |
| melancia_training_jobs_running | gauge | | jobs in progress |
| melancia_training_progress_ratio | gauge | job_id | done steps / total steps, 0 to 1 |
| melancia_training_step | gauge | job_id | optimizer steps done |
| melancia_training_loss | gauge | job_id, split | last loss; split train or eval |
| melancia_training_duration_seconds | histogram | status | wall time of finished jobs |

A job counts as started at its first progress update, which the job sends once its checks
passed and it begins loading the model: a request that another worker is already training
(redelivered every few seconds) never starts here. The per-job series are removed
`retain_s` after the job ends, so the few recent jobs stay visible and the labels stay bounded.
"""

from __future__ import annotations

import threading
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from schemas.training import TrainingProgress

DURATION_BUCKETS = (60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 28800)
RETAIN_S = 3600.0


class TrainingTelemetry:
    """The training worker's Prometheus instruments."""

    def __init__(self, registry: CollectorRegistry | None = None, *, retain_s: float = RETAIN_S):
        self.registry = r = registry or CollectorRegistry()
        self.retain_s = retain_s
        self.jobs = Counter(
            "melancia_training_jobs", "Training jobs by outcome", ["status"], registry=r
        )
        self.running = Gauge("melancia_training_jobs_running", "Jobs in progress", registry=r)
        self.progress_ratio = Gauge(
            "melancia_training_progress_ratio", "Done steps / total steps", ["job_id"], registry=r
        )
        self.step = Gauge("melancia_training_step", "Optimizer steps done", ["job_id"], registry=r)
        self.loss = Gauge("melancia_training_loss", "Last loss", ["job_id", "split"], registry=r)
        self.duration = Histogram(
            "melancia_training_duration_seconds",
            "Wall time of finished jobs",
            ["status"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self._active: set[str] = set()
        self._lock = threading.Lock()

    def job(self, job_id: str) -> JobTelemetry:
        """What one run of a job records (progress arrives from the training thread)."""
        return JobTelemetry(self, job_id)

    def forget(self, job_id: str) -> None:
        """Remove a finished job's series (not while it runs again, e.g. after a redelivery)."""
        with self._lock:
            if job_id in self._active:
                return
        self.progress_ratio.remove(job_id)
        self.step.remove(job_id)
        for split in ("train", "eval"):
            self.loss.remove(job_id, split)


class JobTelemetry:
    """One run of one job: started at its first progress update, ended once."""

    def __init__(self, owner: TrainingTelemetry, job_id: str) -> None:
        self.owner, self.job_id = owner, job_id
        self.began = time.monotonic()
        self.started = False

    def progress(self, update: TrainingProgress) -> None:
        owner, job_id = self.owner, self.job_id
        if not self.started:
            self.started = True
            with owner._lock:
                owner._active.add(job_id)
            owner.jobs.labels("started").inc()
            owner.running.inc()
        owner.step.labels(job_id).set(update.step)
        if update.total_steps > 0:
            owner.progress_ratio.labels(job_id).set(min(update.step / update.total_steps, 1.0))
        if update.loss is not None:
            owner.loss.labels(job_id, "train").set(update.loss)
        if update.eval_loss is not None:
            owner.loss.labels(job_id, "eval").set(update.eval_loss)

    def ended(self, status: str | None) -> None:
        """The run is over: `completed` or `failed`, or None when it stopped to be redelivered."""
        owner = self.owner
        if self.started:
            owner.running.dec()
            with owner._lock:
                owner._active.discard(self.job_id)
        if status is not None:
            owner.jobs.labels(status).inc()
            if self.started:  # a rejected or already-trained request trained nothing
                owner.duration.labels(status).observe(time.monotonic() - self.began)
